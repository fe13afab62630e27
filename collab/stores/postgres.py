"""The PostgreSQL store: the SQLite store's semantics on a database server (psycopg 3).

Schema and migrations: :mod:`collab.stores.postgres_schema`; the connection (pool,
reconnection, errors, the password kept out of messages):
:mod:`collab.stores.postgres_connection`; reads: :mod:`collab.stores.postgres_reads`; the
event outbox: :mod:`collab.stores.postgres_outbox`. Every method is blocking and is called from one
thread at a time (the hub's database thread), except :meth:`PostgresStore.ping`.

Durability: a write returns once PostgreSQL acknowledged its ``COMMIT``; with the server's
default ``synchronous_commit = on`` the transaction is then flushed to the server's WAL on
disk (and to synchronous standbys when configured).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Sequence

from collab.stores import postgres_schema
from collab.stores.base import Compaction, StoreBusy, StoreError
from collab.stores.folding import fold, tombstone
from collab.stores.outbox import CREATED
from collab.stores.postgres_connection import CONNECT_TIMEOUT, Connection
from collab.stores.postgres_outbox import PostgresOutbox, deleted_in_transaction
from collab.stores.postgres_quarantine import PostgresQuarantine
from collab.stores.postgres_reads import PostgresReads
from collab.stores.postgres_rename import PostgresRename
from collab.stores.postgres_versions import PostgresVersions

__all__ = ["PostgresStore"]


class PostgresStore(PostgresReads, PostgresVersions, PostgresQuarantine, PostgresRename):
    """The PostgreSQL store of every document (same methods and guarantees as the SQLite
    :class:`collab.stores.sqlite.SQLiteStore`).

    Args:
        dsn: a libpq connection string, ``postgresql://user:password@host:port/dbname`` or
            ``key=value`` pairs. Missing connection options get collab's defaults (connect
            timeout, TCP keepalives, ``application_name=collab``).
        timeout: seconds a call waits for a connection before it fails.
        lock: hold the database's advisory lock while open, so that no other collab process
            serves or imports into it (:mod:`collab.stores.postgres_lock`).
        migrate: apply the migrations it lacks (``False``: read an existing database as is).
        shared_lock: with ``lock``, a cluster node's shared lock (other nodes of the cluster
            share the database; a single server is kept out, and keeps them out).

    Raises:
        DatabaseInUse: with ``lock``, when another process serves the database.
        StoreError: when the database cannot be reached or migrated (the message names the
            database with its password masked).
    """

    def __init__(
        self,
        dsn: str,
        *,
        timeout: float = CONNECT_TIMEOUT,
        lock: bool = False,
        migrate: bool = True,
        shared_lock: bool = False,
    ) -> None:
        self.db = Connection(dsn, timeout=timeout, lock=lock, shared_lock=shared_lock)
        self.where = self.db.where
        self.outbox = PostgresOutbox(self.db)
        try:
            with self.db.session("open") as conn:
                if migrate:
                    self._schema_version = postgres_schema.migrate(conn)
                    self._versions = True
                else:
                    done = postgres_schema.applied(conn)
                    self._schema_version = len(done)
                    self._versions = "m003_versions" in done
        except RuntimeError as exc:  # a database of a newer collab
            self.db.close()
            raise StoreError(f"cannot open database {self.where}: {exc}") from None
        except StoreError:
            self.db.close()
            raise
        if not self._schema_version:
            self.db.close()
            raise StoreError(f"cannot open database {self.where}: not a collab database")

    def close(self) -> None:
        """Give the connection back and close the pool."""
        self.db.close()

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
        """Check that the database answers, on a connection of its own (any thread may call).

        Raises:
            StoreError: when it does not within the connection timeout.
        """
        self.db.ping()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """Run the store calls of the ``with`` body as one transaction: all or nothing.

        Raises:
            StoreError: on a database failure; nothing of the body was written then.
        """
        with self.db.session("transaction") as conn, conn.transaction():
            yield

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
        with self.db.session("commit") as conn:
            conn.execute(
                _APPEND, {"names": names, "updates": updates, "now": time.time()}, binary=True
            )

    def compact(self, name: str, state: bytes | None = None) -> Compaction | None:
        """Fold document ``name``'s snapshot and log into one snapshot, in one transaction;
        see :meth:`collab.stores.sqlite.SQLiteStore.compact` (rows still waiting for a
        predecessor are kept, the result is checked before anything is written).

        Only the rows read (and merged) are deleted: rows another process commits meanwhile
        stay in the log. Compactions and deletions of one document take turns (an advisory
        lock per document).

        Raises:
            StoreError: on a database failure or when the check fails.
        """
        with self.db.session("compact") as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [name])
            found = conn.execute(
                "SELECT data FROM snapshots WHERE name = %s", [name], binary=True
            ).fetchone()
            snapshot = bytes(found[0]) if found else b""
            if state is None:
                rows = conn.execute(
                    "SELECT id, data FROM updates WHERE name = %s ORDER BY id", [name], binary=True
                ).fetchall()
                merged, kept = fold(name, snapshot, rows) if rows else (b"", {})
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
        """Delete document ``name``, its log, snapshot and versions, in one transaction, keeping its
        merged state as a tombstone (see :meth:`collab.stores.sqlite.SQLiteStore.delete`).

        Returns:
            ``True`` when the document existed.
        """
        with self.db.session("delete") as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [name])
            if conn.execute("SELECT 1 FROM documents WHERE name = %s", [name]).fetchone() is None:
                return False
            merged = tombstone(self.load(name))
            conn.execute(
                "INSERT INTO tombstones (name, data, deleted_at) VALUES (%s, %s, %s)"
                " ON CONFLICT (name) DO UPDATE SET data = excluded.data,"
                " deleted_at = excluded.deleted_at",
                [name, merged, time.time()],
            )
            for table in ("updates", "snapshots", "documents", "versions"):
                conn.execute(f"DELETE FROM {table} WHERE name = %s", [name])
            deleted_in_transaction(conn, name, time.time())
        return True

    def purge(self, name: str) -> None:
        """Remove document ``name``, its log, snapshot *and* tombstone, in one transaction
        (an import replacing it).

        Raises:
            StoreError: on a database failure.
        """
        with self.db.session("delete") as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [name])
            for table in ("updates", "snapshots", "documents", "tombstones"):
                conn.execute(f"DELETE FROM {table} WHERE name = %s", [name])


_APPEND = (
    "WITH batch AS (SELECT name, data, ord FROM unnest(%(names)s::text[], %(updates)s::bytea[])"
    " WITH ORDINALITY AS b(name, data, ord)),"
    " logged AS (INSERT INTO updates (name, data, created_at)"
    " SELECT name, data, %(now)s FROM batch ORDER BY ord),"
    " counted AS (INSERT INTO documents (name, created_at, updated_at, size_bytes, updates)"
    " SELECT name, %(now)s, %(now)s, sum(length(data)), count(*) FROM batch GROUP BY name"
    " ORDER BY name ON CONFLICT (name) DO UPDATE SET"
    " updates = documents.updates + excluded.updates,"
    " size_bytes = documents.size_bytes + excluded.size_bytes,"
    " updated_at = greatest(documents.updated_at, excluded.updated_at)"
    " RETURNING name, xmax = 0 AS created),"
    " announced AS (INSERT INTO events (name, type, created_at, data)"
    f" SELECT name, '{CREATED}', %(now)s, '{{}}' FROM counted WHERE created ORDER BY name)"
    " INSERT INTO changes (name, marked_at) SELECT DISTINCT name, %(now)s FROM batch"
    " ON CONFLICT (name) DO NOTHING"
)
"""Append a batch (names and updates in arrival order, at time ``now``), count it in its
documents (created when new; rows locked in name order, so concurrent writers never
deadlock), announce the new documents (``document.created``) and mark the changed ones for
their ``document.changed`` event: one statement, one transaction."""

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
