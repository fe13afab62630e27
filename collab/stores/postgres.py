"""The PostgreSQL store: the SQLite store's semantics on a database server (psycopg 3).

Schema and migrations: :mod:`collab.stores.postgres_schema`; the connection (pool,
reconnection, errors, the password kept out of messages):
:mod:`collab.stores.postgres_connection`; reads: :mod:`collab.stores.postgres_reads`;
compaction: :mod:`collab.stores.postgres_compact`; the
event outbox: :mod:`collab.stores.postgres_outbox`. Every method is blocking and is called from one
thread at a time (the hub's database thread), except :meth:`PostgresStore.ping`.

Durability: a write returns once PostgreSQL acknowledged its ``COMMIT``; with the server's
default ``synchronous_commit = on`` the transaction is then flushed to the server's WAL on
disk (and to synchronous standbys when configured).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Mapping, Sequence

from collab.stores import postgres_schema
from collab.stores.base import DeletedMeanwhile, StoreBusy, StoreError
from collab.stores.folding import tombstone
from collab.stores.outbox import CREATED
from collab.stores.postgres_compact import PostgresCompaction
from collab.stores.postgres_connection import CONNECT_TIMEOUT, Connection
from collab.stores.postgres_outbox import PostgresOutbox, deleted_in_transaction
from collab.stores.postgres_quarantine import PostgresQuarantine
from collab.stores.postgres_reads import PostgresReads
from collab.stores.postgres_rename import PostgresRename
from collab.stores.postgres_versions import PostgresVersions

__all__ = ["PostgresStore"]


class PostgresStore(
    PostgresReads, PostgresCompaction, PostgresVersions, PostgresQuarantine, PostgresRename
):
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

    def append(
        self,
        batch: Sequence[tuple[str, bytes]],
        *,
        wait: bool = True,
        fence: Mapping[str, float | None] | None = None,
    ) -> None:
        """Append updates to the log and count them in their documents, in ONE statement
        (one transaction, one round trip: group commit).

        Args:
            batch: ``(document name, Yjs v1 update)`` pairs, in arrival order. Documents that
                do not exist yet are created.
            wait: ``False`` when the caller must not wait (an event loop): a commit over the
                network always waits, so it raises :class:`StoreBusy` and writes nothing.
            fence: cluster mode (see :meth:`DocumentStore.append`): checked in the append's
                transaction under a shared advisory lock per fenced document, which a delete
                takes exclusively (compactions use another key: appends never wait for them).

        Raises:
            DeletedMeanwhile: a fenced document was deleted since; nothing was written.
            StoreBusy: without ``wait``.
            StoreError: on a database failure; then nothing of the batch was written.
        """
        if not batch:
            return
        if not wait:
            raise StoreBusy(f"a commit to {self.where} waits for the network")
        names = [name for name, _ in batch]
        updates = [update for _, update in batch]
        params = {"names": names, "updates": updates, "now": time.time()}
        with self.db.session("commit") as conn:
            if fence is None:
                conn.execute(_APPEND, params, binary=True)
                return
            with conn.transaction():
                fenced = sorted(fence)
                conn.execute(_FENCE_LOCKS, [fenced])
                found = dict(conn.execute(_FENCE, [fenced]).fetchall())
                gone = [name for name in fenced if found.get(name) != fence[name]]
                if gone:
                    raise DeletedMeanwhile(gone)
                conn.execute(_APPEND, params, binary=True)

    def delete(self, name: str) -> bool:
        """Delete document ``name``, its log, snapshot and versions, in one transaction, keeping its
        merged state as a tombstone (see :meth:`collab.stores.sqlite.SQLiteStore.delete`).

        Returns:
            ``True`` when the document existed.
        """
        with self.db.session("delete") as conn, conn.transaction():
            conn.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended(%(name)s, 0)),"
                " pg_advisory_xact_lock(hashtextextended(%(name)s, 1))",
                {"name": name},
            )  # 0: compactions and deletions take turns; 1: fenced appends wait (cluster)
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

_FENCE_LOCKS = (
    "SELECT pg_advisory_xact_lock_shared(hashtextextended(name, 1))"
    " FROM unnest(%s::text[]) AS f(name)"
)
"""Shared locks on the fenced documents (given in name order: never a deadlock)."""

_FENCE = "SELECT name, deleted_at FROM tombstones WHERE name = ANY(%s)"
"""The tombstones of the fenced documents: their ``deleted_at`` names their lives."""
