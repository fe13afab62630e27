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
import logging
import sqlite3
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pycrdt import Doc
from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from collab.integrator import apply_all, replay
from collab.updates import EMPTY_UPDATE, InvalidUpdate, holds_back, same_document

log = logging.getLogger("collab.store")

__all__ = [
    "SCHEMA_VERSION",
    "DocumentRecord",
    "Store",
    "StoreBusy",
    "StoreError",
    "StoredDocument",
]

migrations = Migrations("collab")


@migrations()
def m001_initial(db: Database) -> None:
    """Documents, the update log and snapshots."""
    db.table("documents").create(
        {"name": str, "created_at": float, "updated_at": float, "size_bytes": int, "updates": int},
        pk="name",
        not_null={"created_at", "updated_at", "size_bytes", "updates"},
    )
    db.table("documents").create_index(["updated_at"])
    # AUTOINCREMENT until m004 (which says why it went).
    db.execute(
        "CREATE TABLE updates (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL,"
        " data BLOB NOT NULL, created_at FLOAT NOT NULL)"
    )
    db.table("updates").create_index(["name", "id"])
    db.table("snapshots").create(
        {"name": str, "data": bytes, "created_at": float, "last_update_id": int},
        pk="name",
        not_null={"data", "created_at", "last_update_id"},
    )


@migrations()
def m002_tombstones(db: Database) -> None:
    """Merged state of deleted documents, checked when a document is written again."""
    db.table("tombstones").create(
        {"name": str, "data": bytes, "deleted_at": float}, pk="name", not_null={"data"}
    )


@migrations()
def m003_snapshot_covers(db: Database) -> None:
    """``snapshots.covers_until``: the ``created_at`` of the newest update merged into the
    snapshot, so ``collab export --at`` knows which moments the history still covers. NULL for
    snapshots written before this migration (readers then use the snapshot's ``created_at``,
    which is later than every update merged into it)."""
    db.table("snapshots").add_column("covers_until", float)


@migrations()
def m004_log_ids_without_autoincrement(db: Database) -> None:
    """``updates.id`` becomes a plain rowid: AUTOINCREMENT rewrote ``sqlite_sequence`` in every
    commit, a third page for a one-update commit (measured per commit: 22 to 18 us of CPU back
    to back, about 60-75 to 50 us with the caches cold between commits). Rows keep their ids;
    a new row's id is above every row in the log, so each document's rows stay in arrival
    order (see the module docstring)."""
    db.table("updates_log").create(
        {"id": int, "name": str, "data": bytes, "created_at": float},
        pk="id",
        not_null={"name", "data", "created_at"},
    )
    db.execute(
        "INSERT INTO updates_log (id, name, data, created_at)"
        " SELECT id, name, data, created_at FROM updates"
    )
    db.table("updates").drop()  # with its index and its sqlite_sequence row
    db.rename_table("updates_log", "updates")
    db.table("updates").create_index(["name", "id"])


@migrations()
def m005_meta(db: Database) -> None:
    """``meta``: facts about the database itself; ``schema_written_by`` is the collab version
    that last applied migrations, named when an older collab refuses the file."""
    db.table("meta").create({"key": str, "value": str}, pk="key", not_null={"value"})


SCHEMA_VERSION = len(migrations._migrations)


def collab_version() -> str:
    """This collab's version (its installed distribution's), or ``unknown``."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("collab")
    except PackageNotFoundError:
        return "unknown"


def _refuse_newer(db: Database, path: Path) -> None:
    """Refuse a database a newer collab migrated: this version would misread it.

    Raises:
        StoreError: naming the migrations this version does not know and who wrote them.
    """
    known = {m.name for m in migrations._migrations}
    unknown = [m.name for m in migrations.applied(db) if m.name not in known]
    if not unknown:
        return
    writer = "a newer collab"
    if db["meta"].exists():
        row = db.execute("SELECT value FROM meta WHERE key = 'schema_written_by'").fetchone()
        if row:
            writer = f"collab {row[0]}"
    raise StoreError(
        f"{path} was written by {writer} (schema migration {', '.join(unknown)}), which this"
        f" collab {collab_version()} does not know: refusing to open it (upgrade collab)"
    )


def _check_files(path: Path) -> bool:
    """Check the database's files before SQLite maps them; whether the database file
    exists and is empty (SQLite then starts a new database in it).

    Raises:
        StoreError: when the shared-memory file (``-shm``) exists but cannot be written:
            SQLite maps it, and a write to the mapping kills the process with SIGBUS.
    """
    shm = path.with_name(path.name + "-shm")
    if shm.exists():
        try:
            with open(shm, "r+b"):
                pass
        except OSError as exc:
            raise StoreError(
                f"cannot write {shm} ({exc.strerror}): SQLite needs it writable"
            ) from exc
    return path.exists() and path.stat().st_size == 0


SortKey = Literal["name", "updated_at"]

LogRows = list[tuple[int, bytes]]
"""Update log rows ``(id, Yjs v1 update)``."""


class StoreError(RuntimeError):
    """The database failed (disk full, locked, corrupt, unreadable); the message says how."""


class StoreBusy(StoreError):
    """Another connection holds the database's write lock, and the call was not to wait for
    it (``Store.append(..., wait=False)``); nothing was written."""


BUSY_TIMEOUT = 5.0
"""Seconds a statement waits for another connection's lock before it fails."""


@dataclass(frozen=True, slots=True)
class DocumentRecord:
    """A document's row: timestamps in Unix seconds, sizes in bytes."""

    name: str
    created_at: float
    updated_at: float
    size_bytes: int
    updates: int


@dataclass(frozen=True, slots=True)
class StoredDocument:
    """What a room loads: the snapshot (if any), the log after it, the deleted-state tombstone."""

    snapshot: bytes | None
    updates: list[bytes]
    tombstone: bytes | None

    def updates_in_order(self) -> list[bytes]:
        """The snapshot then the log: applying them in order rebuilds the document."""
        return ([self.snapshot] if self.snapshot else []) + self.updates


@dataclass(frozen=True, slots=True)
class Compaction:
    """The result of one compaction: rows merged and bytes before and after."""

    name: str
    rows: int
    log_bytes: int
    bytes_before: int
    bytes_after: int


class Store:
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
        self, path: str | Path, *, synchronous: str = "NORMAL", autocheckpoint: bool = True
    ) -> None:
        self.path = Path(path)
        self.synchronous = _checked_synchronous(synchronous)
        empty = _check_files(self.path)
        try:
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
            _refuse_newer(self.db, self.path)
            if empty:
                log.warning("database file %s was empty: starting a new database", self.path)
            if migrations.pending(self.db):
                migrations.apply(self.db)
                self.db["meta"].upsert(  # type: ignore[union-attr]
                    {"key": "schema_written_by", "value": collab_version()}, pk="key"
                )
            if self.db.execute("PRAGMA user_version").fetchone()[0] == _COUNTS_PENDING:
                with self.db.atomic():  # not closed cleanly: counters may be missing
                    self.db.execute(_RECOUNT)
                    self.db.execute("PRAGMA user_version = 0")
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(f"cannot open database {self.path}: {exc}") from exc
        # Appended but not yet in `documents`: name -> [updates, bytes, newest created_at].
        self._counts: dict[str, list[float]] = {}
        self._known: set[str] = set()  # names whose `documents` row exists
        self._marked = False  # user_version set to _COUNTS_PENDING since opening
        self._waits = True  # statements wait BUSY_TIMEOUT for a lock (see append's wait)

    def close(self) -> None:
        """Write the document counters, then close the connection (after a WAL checkpoint,
        so the file stands alone)."""
        with contextlib.suppress(StoreError, sqlite3.Error):
            if not self._waits:
                self._wait_for_locks(True)
            self._write_counts()
            if self._marked:
                self.db.execute("PRAGMA user_version = 0")
        with contextlib.suppress(sqlite3.Error):
            self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self.db.close()

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
            tombstone = self.db.execute(
                "SELECT data FROM tombstones WHERE name = ?", [name]
            ).fetchone()
        return StoredDocument(
            snapshot=snapshot_row[0] if snapshot_row else None,
            updates=[data for _, data in rows],
            tombstone=tombstone[0] if tombstone else None,
        )

    def state(self, name: str) -> bytes:
        """Document ``name``'s whole state as one compact v1 update (empty when unknown).

        Raises:
            StoreError: on a database failure or an unreadable stored update.
        """
        parts = self.load(name).updates_in_order()
        try:
            return replay(Doc(), parts).state_update() if parts else EMPTY_UPDATE
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
            sql, params = _APPEND_ONE, (name, blob, now)
        else:
            sql, params, per_doc = _many_rows(batch, now)
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
                        execute(_CREATE_DOCUMENTS, [now, json.dumps(new)])
                    if not self._marked:
                        execute(f"PRAGMA user_version = {_COUNTS_PENDING}")
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
            self.db.execute(_COUNT_UPDATES, [json.dumps(counts)])
        self._counts.clear()

    def _log(self, name: str) -> LogRows:
        """Document ``name``'s log rows ``(id, update)`` in id order, read in one step."""
        row = self.db.execute(
            "SELECT json_group_array(json_array(id, hex(data))) FROM updates WHERE name = ?",
            [name],
        ).fetchone()
        return sorted((row_id, bytes.fromhex(data)) for row_id, data in json.loads(row[0]))


def _many_rows(
    batch: Sequence[tuple[str, bytes]], now: float
) -> tuple[str, tuple[object, ...], dict[str, tuple[int, int]]]:
    """The one INSERT statement and its parameters for a batch of several updates, and the
    ``(updates, bytes)`` each document gets from it."""
    updates = [update for _, update in batch]
    blob = b"".join(updates)
    names = {name for name, _ in batch}
    if len(names) == 1:
        (name,) = names
        lengths = json.dumps([*map(len, updates)])
        return _APPEND_TO_ONE, (name, blob, now, lengths), {name: (len(batch), len(blob))}
    per_doc: dict[str, tuple[int, int]] = {}
    for name, update in batch:
        count, size = per_doc.get(name, (0, 0))
        per_doc[name] = (count + 1, size + len(update))
    rows = json.dumps([[name, len(update)] for name, update in batch])
    return _APPEND_UPDATES, (blob, now, rows), per_doc


_APPEND_ONE = "INSERT INTO updates (name, data, created_at) VALUES (?, ?, ?)"
"""One update ``(name, data, created_at)``."""

_APPEND_UPDATES = (
    "INSERT INTO updates (name, data, created_at)"
    " SELECT name, substr(?1, start, size), ?2 FROM (SELECT key, json_extract(value, '$[0]')"
    " AS name, json_extract(value, '$[1]') AS size, 1 + sum(json_extract(value, '$[1]'))"
    " OVER (ORDER BY key) - json_extract(value, '$[1]') AS start FROM json_each(?3))"
    " ORDER BY key"
)
"""Append the updates concatenated in blob ?1 at time ?2; ?3 is a JSON array of
``[name, length]``, one per update in log order (each update starts where the previous one
ended: a running sum; ``substr`` of a blob counts bytes from 1 and gives a blob)."""

_APPEND_TO_ONE = (
    "INSERT INTO updates (name, data, created_at)"
    " SELECT ?1, substr(?2, start, size), ?3 FROM (SELECT key, value AS size,"
    " 1 + sum(value) OVER (ORDER BY key) - value AS start FROM json_each(?4)) ORDER BY key"
)
""":data:`_APPEND_UPDATES` for updates of one document ?1: ?4 is a JSON array of lengths."""

_COUNTS_PENDING = 1
"""``PRAGMA user_version`` while counters may wait in memory (see the module docstring)."""

_RECOUNT = (
    "UPDATE documents SET"
    " updates = (SELECT count(*) FROM updates u WHERE u.name = documents.name),"
    " size_bytes = coalesce((SELECT length(data) FROM snapshots s WHERE s.name = documents.name),"
    " 0) + coalesce((SELECT sum(length(data)) FROM updates u WHERE u.name = documents.name), 0),"
    " updated_at = max(updated_at,"
    " coalesce((SELECT max(created_at) FROM updates u WHERE u.name = documents.name), 0))"
)
"""Set every document's counters from its snapshot and log (one statement, one step)."""

_CREATE_DOCUMENTS = (
    "INSERT INTO documents (name, created_at, updated_at, size_bytes, updates)"
    " SELECT value, ?1, ?1, 0, 0 FROM json_each(?2) WHERE true ON CONFLICT(name) DO NOTHING"
)
"""Create the rows of documents written for the first time at ?1; ?2 is a JSON array of
names (``WHERE true`` lets SQLite parse an upsert after a SELECT)."""

_COUNT_UPDATES = (
    "UPDATE documents SET updates = updates + json_extract(value, '$[1]'),"
    " size_bytes = size_bytes + json_extract(value, '$[2]'),"
    " updated_at = max(updated_at, json_extract(value, '$[3]'))"
    " FROM json_each(?1) WHERE documents.name = json_extract(value, '$[0]')"
)
"""Add appended updates to their documents' counters; ?1 is a JSON array of
``[name, updates, bytes, newest created_at]``."""


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
