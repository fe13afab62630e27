"""Compaction of :class:`~collab.stores.postgres.PostgresStore`: the SQLite store's three
steps (:mod:`collab.stores.sqlite_compact`) on a database server. Compactions and deletions of
one document take turns (an advisory lock per document, in each transaction); only the rows
read (and merged) are deleted, so rows other processes commit meanwhile stay in the log."""

from __future__ import annotations

import time

import psycopg

from collab.stores.base import Compaction, CompactionAbandoned, CompactionInput
from collab.stores.folding import fold
from collab.stores.postgres_connection import Connection

__all__ = ["PostgresCompaction"]

_LOCK = "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))"


class PostgresCompaction:
    """The compaction of one PostgreSQL collab database (a base of ``PostgresStore``)."""

    db: Connection

    def compact(self, name: str, state: bytes | None = None) -> Compaction | None:
        """Fold document ``name``'s snapshot and log into one snapshot; see
        :meth:`collab.stores.sqlite.SQLiteStore.compact` (rows still waiting for a
        predecessor are kept, the result is checked before anything is written).

        Raises:
            StoreError: on a database failure or when the check fails.
            CompactionAbandoned: when the log changed between the read and the write.
        """
        if state is None:
            read = self.read_for_compaction(name)
            if read is None:
                return None
            return self.finish_compaction(read, *fold(name, read.snapshot, read.rows))
        with self.db.session("compact") as conn, conn.transaction():
            conn.execute(_LOCK, [name])
            found = conn.execute(
                "SELECT length(data) FROM snapshots WHERE name = %s", [name]
            ).fetchone()  # its size only: reading it copied the whole previous snapshot
            snapshot_bytes = int(found[0]) if found else 0
            sizes = conn.execute(
                "SELECT id, length(data) FROM updates WHERE name = %s ORDER BY id", [name]
            ).fetchall()
            if not sizes:
                return None
            ids = [row_id for row_id, _ in sizes]
            log_bytes = sum(size for _, size in sizes)
            self._write(conn, name, state, ids, log_bytes + snapshot_bytes)
        return Compaction(name, len(ids), log_bytes, snapshot_bytes + log_bytes, len(state))

    def read_for_compaction(self, name: str) -> CompactionInput | None:
        """Document ``name``'s snapshot and log rows, read in one transaction (``None`` when
        the log is empty).

        Raises:
            StoreError: on a database failure.
        """
        with self.db.session("compact") as conn, conn.transaction():
            conn.execute(_LOCK, [name])
            snapshot = _snapshot(conn, name)
            rows = conn.execute(
                "SELECT id, data FROM updates WHERE name = %s ORDER BY id", [name], binary=True
            ).fetchall()
        if not rows:
            return None
        return CompactionInput(name, snapshot, [(row_id, bytes(data)) for row_id, data in rows])

    def finish_compaction(
        self, read: CompactionInput, merged: bytes, kept: dict[int, int]
    ) -> Compaction:
        """Write ``merged``, the fold of ``read``, as the snapshot and delete the rows it
        merged, in one transaction, after checking that the snapshot and the rows read are
        unchanged.

        Raises:
            CompactionAbandoned: the snapshot or a row read changed (nothing written).
            StoreError: on a database failure.
        """
        name, ids = read.name, [row_id for row_id, _ in read.rows]
        log_bytes = sum(len(data) for _, data in read.rows)
        folded = [row_id for row_id in ids if row_id not in kept]
        folded_bytes = log_bytes - sum(kept.values())
        with self.db.session("compact") as conn, conn.transaction():
            conn.execute(_LOCK, [name])
            rows = conn.execute(
                "SELECT id, data FROM updates WHERE name = %s AND id = ANY(%s) ORDER BY id",
                [name, ids],
                binary=True,
            ).fetchall()
            same = [(row_id, bytes(data)) for row_id, data in rows] == read.rows
            if not same or _snapshot(conn, name) != read.snapshot:
                raise CompactionAbandoned(
                    f"compaction of {name!r} abandoned: the log changed while it was folded"
                )
            self._write(conn, name, merged, folded, folded_bytes + len(read.snapshot), ids[-1])
        before = len(read.snapshot) + log_bytes
        return Compaction(name, len(folded), folded_bytes, before, len(merged))

    @staticmethod
    def _write(
        conn: psycopg.Connection,
        name: str,
        merged: bytes,
        folded: list[int],
        gone: int,
        last: int = 0,
    ) -> None:
        """Write the snapshot ``merged`` (merging the log up to row ``last``, the last of
        ``folded`` when 0), delete the ``folded`` rows, and count ``gone`` bytes (the old
        snapshot and the folded rows) out of the document and ``merged`` in."""
        execute = conn.execute
        last = last or folded[-1]
        execute(_SNAPSHOT, {"name": name, "data": merged, "now": time.time(), "last": last})
        execute("DELETE FROM updates WHERE id = ANY(%s)", [folded])
        execute(
            "UPDATE documents SET updates = updates - %s,"
            " size_bytes = size_bytes - %s + %s WHERE name = %s",
            [len(folded), gone, len(merged), name],
        )


def _snapshot(conn: psycopg.Connection, name: str) -> bytes:
    found = conn.execute(
        "SELECT data FROM snapshots WHERE name = %s", [name], binary=True
    ).fetchone()
    return bytes(found[0]) if found else b""


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
