"""The PostgreSQL store: the SQLite store's semantics on a database server (psycopg 3).

Schema and migrations: :mod:`collab.stores.postgres_schema`. Every method is blocking and is
called from one thread at a time (the hub's database thread), except :meth:`ping`, which any
thread may call. The store holds one connection (autocommit) taken from a psycopg-pool
:class:`~psycopg_pool.ConnectionPool`; when the connection breaks (the server restarted, the
network failed) the call fails with :class:`StoreError`, the connection goes back to the pool,
which discards it, and the next call takes a new one: collab reconnects by itself when the
database comes back. A connection idle for :data:`IDLE_CHECK_SECONDS` is checked with an empty
query before use, so that a server restarted while collab was idle costs no failed commit.

Durability: a write returns once PostgreSQL acknowledged its ``COMMIT``; with the server's
default ``synchronous_commit = on`` the transaction is then flushed to the server's WAL on
disk (and to synchronous standbys when configured).

The password of the connection string never appears in a message: errors name the database
by its masked URL and the driver's messages are scrubbed (:mod:`collab.stores.dsn`).
"""

from __future__ import annotations

import builtins
import contextlib
import logging
import time
from collections.abc import Iterator, Sequence
from typing import Any

import psycopg
import psycopg_pool
from psycopg import errors as pg_errors
from pycrdt import Doc

from collab.store import (
    Compaction,
    DocumentRecord,
    SortKey,
    StoreBusy,
    StoredDocument,
    StoreError,
    _replayed,
)
from collab.stores import postgres_schema
from collab.stores.dsn import masked, password, scrubbed
from collab.updates import EMPTY_UPDATE, InvalidUpdate, apply_all, replay

__all__ = ["CONNECT_TIMEOUT", "LOCK_TIMEOUT", "PostgresStore"]

CONNECT_TIMEOUT = 5.0
"""Seconds a call waits for a connection (the server down or unreachable) before it fails."""

LOCK_TIMEOUT = 5.0
"""Seconds a statement waits for another transaction's lock before it fails."""

IDLE_CHECK_SECONDS = 2.0
"""A connection unused for this long is checked (an empty query) before it is used."""

_OPTIONS = {
    "connect_timeout": "5",
    # Dead peers and black-holed networks are noticed within seconds, not hours.
    "keepalives": "1",
    "keepalives_idle": "5",
    "keepalives_interval": "2",
    "keepalives_count": "3",
    "tcp_user_timeout": "10000",
    "application_name": "collab",
}

_COLUMNS = "name, created_at, updated_at, size_bytes, updates"


class PostgresStore:
    """The PostgreSQL store of every document (same methods and guarantees as the SQLite
    :class:`collab.store.Store`).

    Args:
        dsn: a libpq connection string, ``postgresql://user:password@host:port/dbname`` or
            ``key=value`` pairs. Missing connection options get collab's defaults (connect
            timeout, TCP keepalives, ``application_name=collab``).
        timeout: seconds a call waits for a connection before it fails.

    Raises:
        StoreError: when the database cannot be reached or migrated (the message names the
            database with its password masked).
    """

    def __init__(self, dsn: str, *, timeout: float = CONNECT_TIMEOUT) -> None:
        self.dsn = dsn
        self.where = masked(dsn)
        self._secret = password(dsn)
        name = f"collab-{id(self):x}"
        self._log_filter = _PoolLog(name, self._secret)
        for logger in _LOGGERS:
            logging.getLogger(logger).addFilter(self._log_filter)
        self._conn: psycopg.Connection | None = None
        self._used = 0.0
        try:
            options = {k: v for k, v in _OPTIONS.items() if k not in _keys(dsn)}
            options["options"] = f"-c lock_timeout={int(LOCK_TIMEOUT * 1000)}"
            self.pool = psycopg_pool.ConnectionPool(
                dsn,
                min_size=1,
                max_size=2,  # the database thread's connection, and one for ping()
                kwargs={"autocommit": True, **options},
                open=False,
                timeout=timeout,
                name=name,
            )
            self.pool.open(wait=True, timeout=timeout)
            with self._session("open") as conn:
                self._schema_version = postgres_schema.migrate(conn)
        except (psycopg.Error, psycopg_pool.PoolTimeout, RuntimeError, StoreError) as exc:
            self._close_pool()
            raise StoreError(f"cannot open database {self.where}: {self._text(exc)}") from None

    # -- lifecycle -------------------------------------------------------------------------

    def close(self) -> None:
        """Give the connection back and close the pool."""
        self._close_pool()

    def _close_pool(self) -> None:
        if self._conn is not None and hasattr(self, "pool"):
            with contextlib.suppress(Exception):
                self.pool.putconn(self._conn)
        self._conn = None
        if hasattr(self, "pool"):
            with contextlib.suppress(Exception):
                self.pool.close(timeout=1.0)
        for logger in _LOGGERS:
            logging.getLogger(logger).removeFilter(self._log_filter)

    @property
    def commits_sync(self) -> bool:
        """Always true: a commit waits for the server's answer over the network, so the hub
        commits on its database thread, never on the event loop."""
        return True

    def checkpoint(self) -> None:
        """Nothing to do: PostgreSQL checkpoints itself, and counters are written with the
        rows they count."""

    def schema_version(self) -> int:
        """How many migrations this database has applied."""
        return self._schema_version

    def ping(self) -> None:
        """Check that the database answers (on a connection of its own: any thread).

        Raises:
            StoreError: when it does not, within the connection timeout.
        """
        try:
            with self.pool.connection() as conn:
                conn.execute("SELECT 1")
        except (psycopg.Error, psycopg_pool.PoolTimeout) as exc:
            raise StoreError(f"database {self.where} unreachable: {self._text(exc)}") from None

    # -- reads -----------------------------------------------------------------------------

    def load(self, name: str) -> StoredDocument:
        """Read everything a room needs to rebuild document ``name`` (empty if unknown), in
        one statement (one consistent view, even while another process compacts).

        Raises:
            StoreError: on a database failure.
        """
        with self._session("load") as conn:
            rows = conn.execute(_LOAD, {"name": name}, binary=True).fetchall()
        snapshot = tombstone = None
        updates = []
        for kind, data in rows:
            if kind == 0:
                snapshot = data
            elif kind == 1:
                updates.append(data)
            else:
                tombstone = data
        return StoredDocument(snapshot=snapshot, updates=updates, tombstone=tombstone)

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
        with self._session("read") as conn:
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM documents WHERE name = %s", [name]
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
        """A page of document records (never loads documents); see
        :meth:`collab.store.Store.list` for the arguments."""
        where: list[str] = []
        params: list[Any] = []
        if prefix:
            where.append("name >= %s AND left(name, %s) = %s")
            params += [prefix, len(prefix), prefix]
        if sort == "name":
            order = "name ASC"
            if after is not None:
                where.append("name > %s")
                params.append(after[1])
        else:
            order = "updated_at DESC, name ASC"
            if after is not None:
                where.append("(updated_at < %s OR (updated_at = %s AND name > %s))")
                params += [after[0], after[0], after[1]]
        sql = f"SELECT {_COLUMNS} FROM documents"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += f" ORDER BY {order} LIMIT %s"
        with self._session("list") as conn:
            rows = conn.execute(sql, [*params, limit]).fetchall()
        return [DocumentRecord(*row) for row in rows]

    def count(self) -> int:
        """How many documents are stored."""
        with self._session("count") as conn:
            row = conn.execute("SELECT count(*) FROM documents").fetchone()
        return int(row[0]) if row else 0

    def log_stats(self, name: str) -> tuple[int, int]:
        """``(rows, bytes)`` of the document's update log since its last compaction."""
        with self._session("read") as conn:
            row = conn.execute(
                "SELECT count(*), coalesce(sum(length(data)), 0) FROM updates WHERE name = %s",
                [name],
            ).fetchone()
        return (int(row[0]), int(row[1])) if row else (0, 0)

    def names(self) -> builtins.list[str]:
        """Every stored document name, in order."""
        with self._session("list") as conn:
            return [row[0] for row in conn.execute("SELECT name FROM documents ORDER BY name")]

    # -- writes ----------------------------------------------------------------------------

    def append(self, batch: Sequence[tuple[str, bytes]], *, wait: bool = True) -> None:
        """Append updates to the log and count them in their documents, in ONE statement
        (one transaction, one round trip: group commit).

        Args:
            batch: ``(document name, Yjs v1 update)`` pairs, in arrival order. Documents that
                do not exist yet are created.
            wait: ``False`` when the caller must not wait (an event loop): a commit over the
                network always waits, so it raises :class:`StoreBusy` and writes nothing.

        Raises:
            StoreBusy: without ``wait``.
            StoreError: on a database failure; then nothing of the batch was written.
        """
        if not batch:
            return
        if not wait:
            raise StoreBusy(f"a commit to {self.where} waits for the network")
        names = [name for name, _ in batch]
        updates = [update for _, update in batch]
        with self._session("commit") as conn:
            conn.execute(
                _APPEND, {"names": names, "updates": updates, "now": time.time()}, binary=True
            )

    def compact(self, name: str, state: bytes | None = None) -> Compaction | None:
        """Fold document ``name``'s snapshot and log into one snapshot, in one transaction;
        see :meth:`collab.store.Store.compact` (rows still waiting for a predecessor are kept,
        the result is checked before anything is written).

        Only the rows read (and merged) are deleted: rows another process commits meanwhile
        stay in the log. Compactions and deletions of one document take turns (an advisory
        lock per document).

        Raises:
            StoreError: on a database failure or when the check fails.
        """
        with self._session("compact") as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [name])
            found = conn.execute(
                "SELECT data FROM snapshots WHERE name = %s", [name], binary=True
            ).fetchone()
            snapshot = bytes(found[0]) if found else b""
            if state is None:
                rows = conn.execute(
                    "SELECT id, data FROM updates WHERE name = %s ORDER BY id", [name], binary=True
                ).fetchall()
                merged, kept = _replayed(name, snapshot, rows) if rows else (b"", {})
                sizes = [(row_id, len(data)) for row_id, data in rows]
            else:
                sizes = conn.execute(
                    "SELECT id, length(data) FROM updates WHERE name = %s ORDER BY id", [name]
                ).fetchall()
                merged, kept = state, {}
            if not sizes:
                return None
            last = sizes[-1][0]
            log_bytes = sum(size for _, size in sizes)
            folded = [row_id for row_id, _ in sizes if row_id not in kept]
            folded_bytes = log_bytes - sum(kept.values())
            conn.execute(
                _SNAPSHOT, {"name": name, "data": merged, "now": time.time(), "last": last}
            )
            conn.execute("DELETE FROM updates WHERE id = ANY(%s)", [folded])
            conn.execute(
                "UPDATE documents SET updates = updates - %s,"
                " size_bytes = size_bytes - %s + %s WHERE name = %s",
                [len(folded), folded_bytes + len(snapshot), len(merged), name],
            )
        return Compaction(name, len(folded), folded_bytes, len(snapshot) + log_bytes, len(merged))

    def delete(self, name: str) -> bool:
        """Delete document ``name``, its log and snapshot, in one transaction, keeping its
        merged state as a tombstone (see :meth:`collab.store.Store.delete`).

        Returns:
            ``True`` when the document existed.
        """
        with self._session("delete") as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [name])
            if conn.execute("SELECT 1 FROM documents WHERE name = %s", [name]).fetchone() is None:
                return False
            stored = self.load(name)
            parts = stored.updates_in_order()
            if stored.tombstone:
                parts.insert(0, stored.tombstone)
            tombstone = apply_all(Doc(), parts).get_update()
            conn.execute(
                "INSERT INTO tombstones (name, data, deleted_at) VALUES (%s, %s, %s)"
                " ON CONFLICT (name) DO UPDATE SET data = excluded.data,"
                " deleted_at = excluded.deleted_at",
                [name, tombstone, time.time()],
            )
            for table in ("updates", "snapshots", "documents"):
                conn.execute(f"DELETE FROM {table} WHERE name = %s", [name])
        return True

    # -- helpers ---------------------------------------------------------------------------

    @contextlib.contextmanager
    def _session(self, action: str) -> Iterator[psycopg.Connection]:
        """The store's connection (taken from the pool, checked after a pause); psycopg and
        pool errors become :class:`StoreError` naming ``action`` and the masked database.
        A connection left broken goes back to the pool, which discards it."""
        try:
            conn = self._connection()
            try:
                yield conn
            finally:
                if conn.broken or conn.closed:
                    self._conn = None
                    self.pool.putconn(conn)
                else:
                    self._used = time.monotonic()
        except pg_errors.LockNotAvailable as exc:
            raise StoreError(
                f"{action} failed on {self.where}: locked ({self._text(exc)})"
            ) from None
        except (psycopg.Error, psycopg_pool.PoolTimeout) as exc:
            raise StoreError(f"{action} failed on {self.where}: {self._text(exc)}") from None

    def _connection(self) -> psycopg.Connection:
        conn = self._conn
        if conn is not None and time.monotonic() - self._used > IDLE_CHECK_SECONDS:
            try:
                conn.execute("")
            except psycopg.Error:
                self._conn = None
                self.pool.putconn(conn)
                conn = None
        if conn is None:
            conn = self._conn = self.pool.getconn()
            self._log_filter.last_error = None
        return conn

    def _text(self, exc: BaseException) -> str:
        text = str(exc).strip() or type(exc).__name__
        if isinstance(exc, psycopg_pool.PoolTimeout):
            reason = self._log_filter.last_error or "is the server running?"
            text = f"no connection within the timeout: {reason}"
        return scrubbed(text, self._secret)


def _keys(dsn: str) -> set[str]:
    """The connection option names written in ``dsn``."""
    try:
        return set(psycopg.conninfo.conninfo_to_dict(dsn))
    except psycopg.Error:
        return set()


_LOGGERS = ("psycopg", "psycopg.pool")


class _PoolLog(logging.Filter):
    """Removes the password from the driver's and the pool's log records, and keeps the
    last reason the pool named ``pool`` gave for failing to connect."""

    def __init__(self, pool: str, secret: str | None) -> None:
        super().__init__()
        self.secret = secret
        self.prefix = f"error connecting in '{pool}': "
        self.last_error: str | None = None

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        clean = scrubbed(text, self.secret)
        if clean != text:
            record.msg, record.args = clean, None
        if clean.startswith(self.prefix):
            self.last_error = clean.removeprefix(self.prefix)
        return True


_LOAD = (
    "SELECT 0, data FROM snapshots WHERE name = %(name)s"
    " UNION ALL SELECT 1, data FROM (SELECT data FROM updates WHERE name = %(name)s"
    " ORDER BY id) log"
    " UNION ALL SELECT 2, data FROM tombstones WHERE name = %(name)s"
)
"""A document's snapshot (kind 0), log in id order (1) and tombstone (2), in one view."""

_APPEND = (
    "WITH batch AS (SELECT name, data, ord FROM unnest(%(names)s::text[], %(updates)s::bytea[])"
    " WITH ORDINALITY AS b(name, data, ord)),"
    " logged AS (INSERT INTO updates (name, data, created_at)"
    " SELECT name, data, %(now)s FROM batch ORDER BY ord)"
    " INSERT INTO documents (name, created_at, updated_at, size_bytes, updates)"
    " SELECT name, %(now)s, %(now)s, sum(length(data)), count(*) FROM batch GROUP BY name"
    " ORDER BY name ON CONFLICT (name) DO UPDATE SET"
    " updates = documents.updates + excluded.updates,"
    " size_bytes = documents.size_bytes + excluded.size_bytes,"
    " updated_at = greatest(documents.updated_at, excluded.updated_at)"
)
"""Append a batch (names and updates in arrival order, at time ``now``) and count it in its
documents (created when new; rows locked in name order, so concurrent writers never
deadlock)."""

_SNAPSHOT = (
    "INSERT INTO snapshots (name, data, created_at, last_update_id, covers_until)"
    " SELECT %(name)s, %(data)s, %(now)s, %(last)s, greatest("
    " (SELECT max(created_at) FROM updates WHERE name = %(name)s AND id <= %(last)s),"
    " (SELECT coalesce(covers_until, created_at) FROM snapshots WHERE name = %(name)s), 0)"
    " ON CONFLICT (name) DO UPDATE SET data = excluded.data, created_at = excluded.created_at,"
    " last_update_id = excluded.last_update_id, covers_until = excluded.covers_until"
)
"""Write the merged snapshot; ``covers_until`` is the newest moment merged (the log's newest
row or the previous snapshot's)."""
