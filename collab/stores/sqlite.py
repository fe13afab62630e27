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
* ``versions``: stored states of documents (named or automatic, with a label and author),
  kept across compaction and :meth:`purge`, deleted with their document
  (:mod:`collab.stores.sqlite_versions`).

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
import sqlite3
from pathlib import Path

from sqlite_utils import Database

from collab.stores.base import DatabaseInUse, StoreError
from collab.stores.lock import ProcessLock
from collab.stores.sqlite_outbox import SQLiteOutbox
from collab.stores.sqlite_quarantine import SQLiteQuarantine
from collab.stores.sqlite_read_only import read_only_hint, read_only_uri
from collab.stores.sqlite_reads import BUSY_TIMEOUT
from collab.stores.sqlite_rename import SQLiteRename
from collab.stores.sqlite_schema import (
    COUNTS_PENDING,
    RECOUNT,
    SCHEMA_VERSION,
    check_files,
    log,
    migrate,
    migrations,
)
from collab.stores.sqlite_versions import SQLiteVersions
from collab.stores.sqlite_writes import SQLiteWrites

__all__ = ["BUSY_TIMEOUT", "SCHEMA_VERSION", "SQLiteStore", "Store", "migrations"]


class SQLiteStore(SQLiteQuarantine, SQLiteVersions, SQLiteRename, SQLiteWrites):
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
        lock: take the file's process lock (:class:`~collab.stores.lock.ProcessLock`).
        shared_lock: take it shared: the nodes of one cluster on one machine share the file.

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
        shared_lock: bool = False,
    ) -> None:
        self.path = Path(path)
        self.synchronous = _checked_synchronous(synchronous)
        self.read_only = False
        try:  # the folder first: the lock file lives beside the database
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot open database {self.path}: {exc}") from exc
        # Taken first: a second server is refused before it touches the file.
        self._lock = ProcessLock(self.path, shared=shared_lock) if lock or exclusive else None
        try:
            # One process at a time sets a file up (cluster nodes, workers: ProcessLock).
            with self._lock.setting_up() if self._lock else contextlib.nullcontext():
                empty = check_files(self.path)
                if exclusive:
                    self._ensure_unused()
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
                migrate(self.db, self.path)
                self.outbox = SQLiteOutbox(self.db)
                if empty:
                    log.warning("database file %s was empty: starting a new database", self.path)
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
        self._versions = True

    @classmethod
    def open_read_only(cls, path: str | Path, *, timeout: float = BUSY_TIMEOUT) -> SQLiteStore:
        """Open an existing database read-only (``mode=ro``: no migration, no lock; safe while
        a server writes it, as WAL readers never block the writer; on read-only media see
        :mod:`collab.stores.sqlite_read_only`). Writes raise StoreError.

        Raises:
            StoreError: when the file is missing, unreadable or not a collab database.
        """
        store = cls.__new__(cls)
        store.path, store.synchronous, store.read_only, store._lock = Path(path), "OFF", True, None
        store._init_state()
        uri = read_only_uri(store.path)  # on read-only media too
        try:
            conn = sqlite3.connect(uri, uri=True, timeout=timeout, isolation_level=None)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open database {store.path}: {exc}") from exc
        store.db = Database(conn)
        store.outbox = SQLiteOutbox(store.db)
        try:
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
        except sqlite3.Error as exc:  # not a database at all, locked, or no -shm file
            conn.close()
            if exc.sqlite_errorcode == sqlite3.SQLITE_CANTOPEN and read_only_hint(store.path):
                text = f"cannot read database {store.path}: {exc}{read_only_hint(store.path)}"
                raise StoreError(text) from None  # the message is the store's own (see above)
            raise StoreError(f"cannot read database {store.path}: {exc}") from exc
        with store._errors("read"):
            if not {"documents", "updates", "snapshots"} <= tables:
                conn.close()
                raise StoreError(f"{store.path} is not a collab database")
            columns = {r[1] for r in conn.execute("PRAGMA table_info(snapshots)")}
        if "covers_until" not in columns:  # before m003: its own time bounds what it merged
            store._covers = "created_at"
        store._tombstones = "tombstones" in tables  # before m002: none
        store._versions = "versions" in tables  # before m005: none
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
                    f"database {self.path} is in use by another process", "is a server running?"
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


def _checked_synchronous(value: str) -> str:
    value = value.upper()
    if value not in {"OFF", "NORMAL", "FULL", "EXTRA"}:
        raise StoreError(f"synchronous must be OFF, NORMAL, FULL or EXTRA, not {value!r}")
    return value


Store = SQLiteStore
"""The name this class had before :mod:`collab.stores` (kept for code written against it)."""
