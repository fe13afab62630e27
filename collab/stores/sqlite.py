"""SQLite persistence through sqlite-utils: schema migrations, update log, snapshots, compaction.

Layout (one SQLite file, WAL mode):

* ``documents``: one row per stored document: ``name`` (primary key), ``created_at`` and
  ``updated_at`` (Unix seconds, float), ``size_bytes`` (snapshot plus log bytes),
  ``updates`` (log rows since the last compaction). The row is created in the transaction of
  the document's first update; its counters are kept in memory and written at the next
  :meth:`Store.checkpoint`, read, compaction or close (a commit then writes two pages, not
  four: half the cost of a one-update commit). A crash loses only those counters: the
  database's ``user_version`` is 1 from the first append until a clean :meth:`Store.close`,
  and a store opened on a database left at 1 recounts every document from its log.
* ``updates``: the append-only log of raw Yjs v1 updates, ``id`` ordered, ``name`` indexed.
  ``id`` is a rowid: a new row gets one above every row in the log, so a document's rows are
  in arrival order. Ids of rows that compaction deleted may be given again (nothing compares
  ids across a compaction: it deletes what it merged in the transaction that merged it).
* ``snapshots``: at most one compacted state (a Yjs v1 update) per document, the last log
  id it merged (a record for inspection) and ``covers_until``, the ``created_at`` of the
  newest update merged.
* ``tombstones``: the merged state of deleted documents, so stale editors cannot resurrect
  their content (see :meth:`Store.delete`).

Every method is blocking and must be called from one thread at a time (the hub runs them on
a single worker thread). A write returns only after its transaction committed.

Statements that read or write many rows run as ONE SQLite step (rows travel as JSON or one
concatenated blob): Python's ``sqlite3`` releases the GIL around every step, and a worker
thread must take it back once per row; while the event loop keeps the GIL busy, each of those
waits lasts up to the interpreter's switch interval (measured: 2 ms per row on a busy loop,
against 3 us on an idle one, for an ``executemany`` insert or a ``fetchall``).
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from pycrdt import Doc
from sqlite_utils import Database

from collab.stores.base import (
    Compaction,
    DatabaseInUse,
    DocumentNotFound,
    DocumentRecord,
    HistoryCompacted,
    NotCreatedYet,
    SortKey,
    StoreBusy,
    StoredDocument,
    StoreError,
)
from collab.stores.lock import ProcessLock
from collab.stores.sqlite_schema import (
    APPEND_ONE,
    COUNT_UPDATES,
    COUNTS_PENDING,
    CREATE_DOCUMENTS,
    RECOUNT,
    SCHEMA_VERSION,
    many_rows,
    migrations,
)
from collab.updates import (
    EMPTY_UPDATE,
    InvalidUpdate,
    apply_all,
    holds_back,
    replay,
    same_document,
)

__all__ = ["BUSY_TIMEOUT", "SCHEMA_VERSION", "SQLiteStore", "Store", "migrations"]

LogRows = list[tuple[int, bytes]]
"""Update log rows ``(id, Yjs v1 update)``."""

BUSY_TIMEOUT = 5.0
"""Seconds a statement waits for another connection's lock before it fails."""


class SQLiteStore:
    """The SQLite store of every document.

    Args:
        path: the database file; its folder is created when missing.
        synchronous: SQLite's ``synchronous`` pragma. ``NORMAL`` (the default) in WAL mode
            keeps every committed transaction across a process crash (``kill -9``) but may
            lose the last transactions on power loss; ``FULL`` fsyncs every commit and keeps
            them across power loss too, at some throughput cost.
        autocheckpoint: let SQLite copy the WAL back into the database file during commits
            (every 1,000 pages). With ``False`` the owner calls :meth:`checkpoint` instead, so
            commits never wait for a checkpoint's fsync (the hub does, on its thread).

    Raises:
        StoreError: when the file cannot be opened or migrated.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        synchronous: str = "NORMAL",
        autocheckpoint: bool = True,
        lock: bool = False,
        exclusive: bool = False,
    ) -> None:
        self.path = Path(path)
        self.synchronous = _checked_synchronous(synchronous)
        self.read_only = False
        # Taken first: a second server is refused before it touches the file.
        self._lock = ProcessLock(self.path) if lock or exclusive else None
        try:
            if exclusive:
                self._ensure_unused()
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # Autocommit mode: transactions are explicit (``Database.atomic``), and a write
            # that is one statement runs without BEGIN and COMMIT statements around it.
            conn = sqlite3.connect(
                self.path, check_same_thread=False, timeout=BUSY_TIMEOUT, isolation_level=None
            )
            self.db = Database(conn)
            # Incremental auto-vacuum (takes effect on a new file) lets compaction give pages
            # back; journal_size_limit truncates the WAL file after checkpoints.
            self.db.execute("PRAGMA auto_vacuum=INCREMENTAL")
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute(f"PRAGMA journal_size_limit={8 * 1024 * 1024}")
            self.db.execute(f"PRAGMA synchronous={self.synchronous}")
            if not autocheckpoint:
                self.db.execute("PRAGMA wal_autocheckpoint=0")
            self.db.execute("PRAGMA foreign_keys=ON")
            migrations.apply(self.db)
            if self.db.execute("PRAGMA user_version").fetchone()[0] == COUNTS_PENDING:
                with self.db.atomic():  # not closed cleanly: counters may be missing
                    self.db.execute(RECOUNT)
                    self.db.execute("PRAGMA user_version = 0")
        except (sqlite3.Error, OSError) as exc:
            self._release()
            raise StoreError(f"cannot open database {self.path}: {exc}") from exc
        except BaseException:
            self._release()
            raise
        self._init_state()

    def _init_state(self) -> None:
        # Appended but not yet in `documents`: name -> [updates, bytes, newest created_at].
        self._counts: dict[str, list[float]] = {}
        self._known: set[str] = set()  # names whose `documents` row exists
        self._marked = False  # user_version set to COUNTS_PENDING since opening
        self._waits = True  # statements wait BUSY_TIMEOUT for a lock (see append's wait)
        self._covers = "coalesce(covers_until, created_at)"  # see m003
        self._tombstones = True

    @classmethod
    def open_read_only(cls, path: str | Path, *, timeout: float = BUSY_TIMEOUT) -> SQLiteStore:
        """Open an existing database read-only (``mode=ro``: no migration, no lock; safe while
        a server writes it, as WAL readers never block the writer). Writes raise StoreError.

        Raises:
            StoreError: when the file is missing, unreadable or not a collab database.
        """
        store = cls.__new__(cls)
        store.path, store.synchronous, store.read_only, store._lock = Path(path), "OFF", True, None
        store._init_state()
        uri = store.path.resolve().as_uri() + "?mode=ro"
        try:
            conn = sqlite3.connect(uri, uri=True, timeout=timeout, isolation_level=None)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open database {store.path}: {exc}") from exc
        store.db = Database(conn)
        with store._errors("read"):
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
            if not {"documents", "updates", "snapshots"} <= tables:
                conn.close()
                raise StoreError(f"{store.path} is not a collab database")
            columns = {r[1] for r in conn.execute("PRAGMA table_info(snapshots)")}
        if "covers_until" not in columns:  # before m003: its own time bounds what it merged
            store._covers = "created_at"
        store._tombstones = "tombstones" in tables  # before m002: none
        return store

    def _ensure_unused(self) -> None:
        """Refuse a database another connection has open (a running server, of any version):
        in WAL mode every open connection holds a shared lock, so an exclusive lock succeeds
        only when nobody else has the file open.

        Raises:
            DatabaseInUse: naming the cause.
        """
        if not self.path.exists():
            return
        probe = sqlite3.connect(self.path, timeout=0, isolation_level=None)
        try:
            probe.execute("PRAGMA locking_mode=EXCLUSIVE")
            probe.execute("BEGIN EXCLUSIVE")
            probe.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                raise DatabaseInUse(
                    f"database {self.path} is in use by another process (is the server running?)"
                ) from None
            raise
        finally:
            probe.close()

    def _release(self) -> None:
        if self._lock is not None:
            self._lock.release()

    def close(self) -> None:
        """Write the document counters, then close the connection (after a WAL checkpoint,
        so the file stands alone)."""
        with contextlib.suppress(StoreError, sqlite3.Error):
            if not self._waits:
                self._wait_for_locks(True)
            self._write_counts()
            if self._marked:
                self.db.execute("PRAGMA user_version = 0")
        if self.read_only:
            self.db.close()
            return
        with contextlib.suppress(sqlite3.Error):
            self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self.db.close()
        self._release()

    @property
    def commits_sync(self) -> bool:
        """Whether a commit waits for the disk (an fsync): ``synchronous`` FULL or EXTRA.

        In WAL mode with NORMAL or OFF a commit only writes to the WAL file; the fsyncs
        happen at checkpoints.
        """
        return self.synchronous in {"FULL", "EXTRA"}

    def checkpoint(self) -> None:
        """Copy committed WAL frames back into the database file (a passive checkpoint: it
        never waits for readers, and what it cannot copy now is copied next time).

        Raises:
            StoreError: on a database failure.
        """
        self._write_counts()
        with self._errors("checkpoint"):
            self.db.execute("PRAGMA wal_checkpoint(PASSIVE)")

    def schema_version(self) -> int:
        """How many migrations this database has applied."""
        return len(migrations.applied(self.db))

    # -- reads -----------------------------------------------------------------------------

    def load(self, name: str) -> StoredDocument:
        """Read everything a room needs to rebuild document ``name`` (empty if unknown).

        Raises:
            StoreError: on a database failure.
        """
        with self._errors("load"):
            snapshot_row = self.db.execute(
                "SELECT data FROM snapshots WHERE name = ?", [name]
            ).fetchone()
            # Every remaining row follows the snapshot, or waits for a predecessor.
            rows = self._log(name)
            tombstone = self._tombstone(name, "data")
        return StoredDocument(
            snapshot=snapshot_row[0] if snapshot_row else None,
            updates=[data for _, data in rows],
            tombstone=tombstone,
        )

    def load_at(self, name: str, at: float | None = None) -> StoredDocument:
        """Document ``name`` as it was at Unix time ``at`` (now when ``None``), in one read
        transaction (a compaction committed meanwhile is wholly seen or not at all): the
        snapshot, when it merged nothing written after ``at``, and the log rows written at or
        before ``at`` (those left beside the snapshot follow it, or wait for a predecessor).

        Raises:
            DocumentNotFound: no such document (``deleted_at`` says if one was deleted).
            NotCreatedYet: ``at`` is before the document was created.
            HistoryCompacted: a compaction merged updates written after ``at``.
            StoreError: on a database failure.
        """
        with self._errors("read"), self._read_transaction():
            row = self.db.execute(
                "SELECT created_at FROM documents WHERE name = ?", [name]
            ).fetchone()
            if row is None:
                deleted = self._tombstone(name, "deleted_at")
                raise DocumentNotFound(name, deleted)
            snapshot = self.db.execute(
                f"SELECT data, {self._covers} FROM snapshots WHERE name = ?", [name]
            ).fetchone()
            if at is None:
                rows = self.db.execute(
                    "SELECT data FROM updates WHERE name = ? ORDER BY id", [name]
                ).fetchall()
            else:
                if at < row[0]:
                    raise NotCreatedYet(name, row[0])
                if snapshot and at < snapshot[1]:
                    raise HistoryCompacted(name, row[0], snapshot[1])
                rows = self.db.execute(
                    "SELECT data FROM updates WHERE name = ? AND created_at <= ? ORDER BY id",
                    [name, at],
                ).fetchall()
        return StoredDocument(snapshot[0] if snapshot else None, [r[0] for r in rows], None)

    def _tombstone(self, name: str, column: str) -> Any:
        """The ``data`` or ``deleted_at`` of document ``name``'s tombstone, or ``None``."""
        if not self._tombstones:
            return None
        row = self.db.execute(f"SELECT {column} FROM tombstones WHERE name = ?", [name]).fetchone()
        return row[0] if row else None

    @contextlib.contextmanager
    def _read_transaction(self) -> Iterator[None]:
        """One read transaction (unless one is open already)."""
        if self.db.conn.in_transaction:
            yield
            return
        self.db.execute("BEGIN")
        try:
            yield
        finally:
            self.db.execute("COMMIT")

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """Run the writes of the ``with`` body as one transaction: all of them or none.

        Raises:
            StoreError: on a database failure; nothing of the body was written then.
        """
        with self._errors("transaction"), self.db.atomic():
            yield

    def state(self, name: str) -> bytes:
        """Document ``name``'s whole state as one compact v1 update (empty when unknown).

        Raises:
            StoreError: on a database failure or an unreadable stored update.
        """
        parts = self.load(name).updates_in_order()
        try:
            return replay(Doc(), parts).state() if parts else EMPTY_UPDATE
        except InvalidUpdate as exc:
            raise StoreError(f"document {name!r} cannot be read: {exc}") from exc

    def get(self, name: str) -> DocumentRecord | None:
        """The record of document ``name``, or ``None`` when it does not exist."""
        self._write_counts()
        with self._errors("read"):
            row = self.db.execute(
                "SELECT name, created_at, updated_at, size_bytes, updates FROM documents"
                " WHERE name = ?",
                [name],
            ).fetchone()
        return DocumentRecord(*row) if row else None

    def list(
        self,
        *,
        limit: int = 100,
        after: tuple[Any, str] | None = None,
        sort: SortKey = "name",
        prefix: str = "",
    ) -> list[DocumentRecord]:
        """A page of document records from the ``documents`` table (never loads documents).

        Args:
            limit: rows to return at most.
            after: keyset cursor: the ``(sort value, name)`` of the previous page's last row.
            sort: ``name`` (ascending) or ``updated_at`` (newest first).
            prefix: only names starting with this string.
        """
        where, params = [], []
        if prefix:
            # Range scan on the primary key instead of LIKE (which treats % and _ specially).
            where.append("name >= ? AND substr(name, 1, ?) = ?")
            params += [prefix, len(prefix), prefix]
        if sort == "name":
            order = "name ASC"
            if after is not None:
                where.append("name > ?")
                params.append(after[1])
        else:
            order = "updated_at DESC, name ASC"
            if after is not None:
                where.append("(updated_at < ? OR (updated_at = ? AND name > ?))")
                params += [after[0], after[0], after[1]]
        sql = "SELECT name, created_at, updated_at, size_bytes, updates FROM documents"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += f" ORDER BY {order} LIMIT ?"
        self._write_counts()
        with self._errors("list"):
            rows = self.db.execute(sql, [*params, limit]).fetchall()
        return [DocumentRecord(*row) for row in rows]

    def count(self) -> int:
        """How many documents are stored."""
        self._write_counts()
        with self._errors("count"):
            return int(self.db.execute("SELECT count(*) FROM documents").fetchone()[0])

    def log_stats(self, name: str) -> tuple[int, int]:
        """``(rows, bytes)`` of the document's update log since its last compaction."""
        with self._errors("read"):
            row = self.db.execute(
                "SELECT count(*), coalesce(sum(length(data)), 0) FROM updates WHERE name = ?",
                [name],
            ).fetchone()
        return int(row[0]), int(row[1])

    # -- writes ----------------------------------------------------------------------------

    def append(self, batch: Sequence[tuple[str, bytes]], *, wait: bool = True) -> None:
        """Append updates to the log in ONE transaction (group commit).

        Args:
            batch: ``(document name, Yjs v1 update)`` pairs, in arrival order. Documents that
                do not exist yet are created.
            wait: whether to wait up to :data:`BUSY_TIMEOUT` seconds when another connection
                holds the write lock (an event loop must not: it raises :class:`StoreBusy`
                at once instead). The setting stays until a call that waits (any other
                method does), so commits in a row change it once.

        Raises:
            StoreBusy: without ``wait``, when another connection holds the write lock.
            StoreError: on a database failure; then nothing of the batch was written.
        """
        if not batch:
            return
        if wait != self._waits:
            self._wait_for_locks(wait)
        now = time.time()
        params: tuple[object, ...]
        if len(batch) == 1:  # the common case, kept short: it runs cold at low rates
            name, blob = batch[0]
            per_doc: dict[str, tuple[int, int]] = {name: (1, len(blob))}
            sql, params = APPEND_ONE, (name, blob, now)
        else:
            sql, params, per_doc = many_rows(batch, now)
        new = [name for name in per_doc if name not in self._known]
        execute = self.db.conn.execute
        try:  # what _errors does, inline: this runs once per commit, often cold
            if not new and self._marked:
                # One statement is its own transaction (autocommit): a third less time per
                # commit than BEGIN, INSERT, COMMIT, measured at a few commits per millisecond.
                execute(sql, params)
            else:
                with self.db.atomic():
                    execute(sql, params)
                    if new:
                        execute(CREATE_DOCUMENTS, [now, json.dumps(new)])
                    if not self._marked:
                        execute(f"PRAGMA user_version = {COUNTS_PENDING}")
        except (sqlite3.Error, OSError) as exc:
            if getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_BUSY and not wait:
                raise StoreBusy(f"{self.path} is locked by another connection") from exc
            raise StoreError(f"commit failed on {self.path}: {exc}") from exc
        self._marked = True
        self._known.update(new)
        for name, (count, size) in per_doc.items():
            counts = self._counts.get(name)
            if counts is None:
                self._counts[name] = [count, size, now]
            else:
                counts[0] += count
                counts[1] += size
                counts[2] = now

    def compact(self, name: str, state: bytes | None = None) -> Compaction | None:
        """Fold document ``name``'s snapshot and log into one snapshot, in one transaction.

        Without ``state``, the log is replayed into a document whose ``get_update()`` becomes
        the snapshot: the smallest encoding (per-keystroke structs squashed). ``get_update()``
        leaves out structs still waiting for a missing predecessor, so the log rows carrying
        such structs are kept as they are and fold into a later snapshot once their
        predecessor arrived. Before writing, the snapshot plus the kept rows are replayed and
        must give the same state vector and document as the whole log, or nothing changes.

        Args:
            name: the document.
            state: the document's whole state (``Doc.get_update()``) as of the log's newest
                row, with no structs waiting for a predecessor: the hub passes its room's live
                document, and the log is folded into it without a replay.

        Returns:
            What was compacted, or ``None`` when the log was empty.

        Raises:
            StoreError: on a database failure or when the check fails.
        """
        self._write_counts()
        with self._errors("compact"), self.db.atomic():
            snapshot_row = self.db.execute(
                "SELECT data FROM snapshots WHERE name = ?", [name]
            ).fetchone()
            snapshot = snapshot_row[0] if snapshot_row else b""
            if state is None:
                rows = self._log(name)
                if not rows:
                    return None
                merged, kept = _replayed(name, snapshot, rows)
                last, log_bytes = rows[-1][0], sum(len(data) for _, data in rows)
                folded_rows = len(rows) - len(kept)
            else:
                count, log_bytes, last = self.db.execute(
                    "SELECT count(*), coalesce(sum(length(data)), 0), max(id) FROM updates"
                    " WHERE name = ?",
                    [name],
                ).fetchone()
                if not count:
                    return None
                merged, kept, folded_rows = state, {}, count
            # The newest moment merged: the log's newest row, or the previous snapshot's.
            covers = self.db.execute(
                "SELECT max(coalesce((SELECT max(created_at) FROM updates"
                " WHERE name = ? AND id <= ?), 0), coalesce((SELECT coalesce(covers_until,"
                " created_at) FROM snapshots WHERE name = ?), 0))",
                [name, last, name],
            ).fetchone()[0]
            self.db.execute(
                "INSERT INTO snapshots (name, data, created_at, last_update_id, covers_until)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT(name) DO UPDATE SET data = excluded.data,"
                " created_at = excluded.created_at, last_update_id = excluded.last_update_id,"
                " covers_until = excluded.covers_until",
                [name, merged, time.time(), last, covers],
            )
            self.db.execute(
                "DELETE FROM updates WHERE name = ? AND id <= ?"
                " AND id NOT IN (SELECT value FROM json_each(?))",
                [name, last, json.dumps(list(kept))],
            )
            self.db.execute(
                "UPDATE documents SET size_bytes = ?, updates = ? WHERE name = ?",
                [len(merged) + sum(kept.values()), len(kept), name],
            )
        with self._errors("vacuum"):
            # executescript steps the pragma to the end (execute frees one page per call).
            self.db.conn.executescript("PRAGMA incremental_vacuum;")
        folded_bytes = log_bytes - sum(kept.values())
        before = len(snapshot) + log_bytes
        return Compaction(name, folded_rows, folded_bytes, before, len(merged))

    def delete(self, name: str) -> bool:
        """Delete document ``name``, its log and snapshot, in one transaction.

        Its merged state is kept as a tombstone: an editor that still holds the deleted
        content and reconnects would otherwise send it back (sync step 2) and silently
        resurrect the document. Updates carrying structs the tombstone covers are refused.

        Returns:
            ``True`` when the document existed.
        """
        self._write_counts()
        with self._errors("delete"), self.db.atomic():
            if self.get(name) is None:
                return False
            stored = self.load(name)
            parts = stored.updates_in_order()
            if stored.tombstone:
                parts.insert(0, stored.tombstone)
            tombstone = apply_all(Doc(), parts).get_update()
            self.db.execute(
                "INSERT INTO tombstones (name, data, deleted_at) VALUES (?, ?, ?)"
                " ON CONFLICT(name) DO UPDATE SET data = excluded.data,"
                " deleted_at = excluded.deleted_at",
                [name, tombstone, time.time()],
            )
            for table in ("updates", "snapshots", "documents"):
                self.db.execute(f"DELETE FROM {table} WHERE name = ?", [name])
        self._known.discard(name)
        return True

    def purge(self, name: str) -> None:
        """Remove document ``name``, its log, snapshot *and* tombstone, in one transaction
        (an import replacing it; nothing of the old document stays to refuse its content).

        Raises:
            StoreError: on a database failure.
        """
        self._write_counts()
        with self._errors("delete"), self.db.atomic():
            for table in ("updates", "snapshots", "documents", "tombstones"):
                self.db.execute(f"DELETE FROM {table} WHERE name = ?", [name])
        self._known.discard(name)

    def names(self) -> Iterable[str]:
        """Every stored document name, in order."""
        self._write_counts()
        with self._errors("list"):
            rows = self.db.execute("SELECT name FROM documents ORDER BY name").fetchall()
        return [row[0] for row in rows]

    # -- helpers ---------------------------------------------------------------------------

    def _errors(self, action: str) -> _StoreErrors:
        if not self._waits:  # after append(..., wait=False): every other statement waits
            self._wait_for_locks(True)
        return _StoreErrors(action, self.path)

    def _wait_for_locks(self, wait: bool) -> None:
        """Set SQLite's busy timeout: :data:`BUSY_TIMEOUT`, or none (fail at once)."""
        milliseconds = int(BUSY_TIMEOUT * 1000) if wait else 0
        with _StoreErrors("configure", self.path):
            self.db.execute(f"PRAGMA busy_timeout = {milliseconds}")
        self._waits = wait

    def _write_counts(self) -> None:
        """Add the counters of the updates appended since the last call to ``documents``."""
        if not self._counts:
            return
        counts = [[name, *values] for name, values in self._counts.items()]
        with self._errors("commit"), self.db.atomic():
            self.db.execute(COUNT_UPDATES, [json.dumps(counts)])
        self._counts.clear()

    def _log(self, name: str) -> LogRows:
        """Document ``name``'s log rows ``(id, update)`` in id order, read in one step."""
        row = self.db.execute(
            "SELECT json_group_array(json_array(id, hex(data))) FROM updates WHERE name = ?",
            [name],
        ).fetchone()
        return sorted((row_id, bytes.fromhex(data)) for row_id, data in json.loads(row[0]))


def _replayed(name: str, snapshot: bytes, rows: LogRows) -> tuple[bytes, dict[int, int]]:
    """Replay ``snapshot`` and the log ``rows`` (id, update) of document ``name``.

    Returns:
        The merged state and the rows to keep (id: bytes), those the document keeps pending:
        structs waiting for a missing predecessor, deletions of clocks it does not have.

    Raises:
        StoreError: when the merged state plus the kept rows is not the whole log's document.
    """
    parts = ([snapshot] if snapshot else []) + [data for _, data in rows]
    replayed = apply_all(Doc(), parts)
    merged = replayed.get_update()
    kept = {row_id: data for row_id, data in rows if holds_back(replayed, data)}
    check = apply_all(Doc(), [merged, *kept.values()])
    if not same_document(check, replayed):
        raise StoreError(f"compaction of {name!r} aborted: compacted state differs")
    return merged, {row_id: len(data) for row_id, data in kept.items()}


class _StoreErrors:
    """Turns sqlite3 and OS errors into :class:`StoreError` naming the action."""

    def __init__(self, action: str, path: Path) -> None:
        self.action = action
        self.path = path

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        if isinstance(exc, sqlite3.Error | OSError):
            raise StoreError(f"{self.action} failed on {self.path}: {exc}") from exc


def _checked_synchronous(value: str) -> str:
    value = value.upper()
    if value not in {"OFF", "NORMAL", "FULL", "EXTRA"}:
        raise StoreError(f"synchronous must be OFF, NORMAL, FULL or EXTRA, not {value!r}")
    return value


Store = SQLiteStore
"""The name this class had before :mod:`collab.stores` (kept for code written against it)."""
