"""Quarantine of stored rows the current code cannot decode, on PostgreSQL: the same
behaviour as :mod:`collab.stores.sqlite_quarantine` (rows moved aside in one transaction,
never deleted silently, listed, dropped or restored), in the table of migration
``m004_quarantine``."""

from __future__ import annotations

import time
from collections.abc import Mapping

import psycopg

from collab.stores.base import QuarantinedRow
from collab.stores.postgres_connection import Connection

__all__ = ["PostgresQuarantine", "create_quarantine"]


def create_quarantine(conn: psycopg.Connection) -> None:
    """Create the quarantine table (a migration step)."""
    conn.execute(
        "CREATE TABLE quarantine (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
        ' name text COLLATE "C" NOT NULL, kind text NOT NULL, row_id bigint,'
        " data bytea NOT NULL, reason text NOT NULL, quarantined_at double precision NOT NULL)"
    )
    conn.execute("CREATE INDEX quarantine_name ON quarantine (name)")


_RECOUNT = (
    "UPDATE documents SET updates = (SELECT count(*) FROM updates WHERE name = %(n)s),"
    " size_bytes = coalesce((SELECT length(data) FROM snapshots WHERE name = %(n)s), 0)"
    " + coalesce((SELECT sum(length(data)) FROM updates WHERE name = %(n)s), 0)"
    " WHERE name = %(n)s"
)


class PostgresQuarantine:
    """The quarantine methods of the PostgreSQL store (a base of ``PostgresStore``)."""

    db: Connection

    def quarantine(self, name: str, rows: Mapping[int, str], snapshot: str | None) -> int:
        """Move document ``name``'s log rows ``rows`` (id to why it does not decode) and its
        snapshot (unless ``snapshot``, why, is ``None``) to the quarantine, each with its
        reason, in one transaction; how many rows moved.

        Raises:
            StoreError: on a database failure.
        """
        now = time.time()
        moved = 0
        with self.db.session("quarantine") as conn, conn.transaction():
            for row_id, reason in rows.items():
                moved += conn.execute(
                    "WITH gone AS (DELETE FROM updates WHERE name = %s AND id = %s"
                    " RETURNING id, data) INSERT INTO quarantine"
                    " (name, kind, row_id, data, reason, quarantined_at)"
                    " SELECT %s, 'update', id, data, %s, %s FROM gone",
                    [name, row_id, name, reason, now],
                ).rowcount
            if snapshot is not None:
                moved += conn.execute(
                    "WITH gone AS (DELETE FROM snapshots WHERE name = %s RETURNING data)"
                    " INSERT INTO quarantine (name, kind, row_id, data, reason, quarantined_at)"
                    " SELECT %s, 'snapshot', NULL, data, %s, %s FROM gone",
                    [name, name, snapshot, now],
                ).rowcount
            conn.execute(_RECOUNT, {"n": name})
        return moved

    def quarantined(self, name: str | None = None) -> list[QuarantinedRow]:
        """The quarantined rows (of document ``name``, or all), oldest first.

        Raises:
            StoreError: on a database failure.
        """
        with self.db.session("read") as conn:
            rows = conn.execute(
                "SELECT id, name, kind, length(data), reason, quarantined_at FROM quarantine"
                " WHERE %(n)s::text IS NULL OR name = %(n)s ORDER BY id",
                {"n": name},
            ).fetchall()
        return [QuarantinedRow(int(r[0]), r[1], r[2], int(r[3]), r[4], float(r[5])) for r in rows]

    def quarantined_data(self, quarantine_id: int) -> bytes:
        """The bytes of quarantined row ``quarantine_id`` (empty when there is none).

        Raises:
            StoreError: on a database failure.
        """
        with self.db.session("read") as conn:
            row = conn.execute(
                "SELECT data FROM quarantine WHERE id = %s", [quarantine_id]
            ).fetchone()
        return bytes(row[0]) if row else b""

    def release(self, quarantine_id: int, *, restore: bool) -> str | None:
        """Drop quarantined row ``quarantine_id``, or with ``restore`` append it back to its
        document's log, in one transaction.

        Returns:
            The document's name, or ``None`` when there is no such row.

        Raises:
            StoreError: on a database failure.
        """
        with self.db.session("release") as conn, conn.transaction():
            row = conn.execute(
                "DELETE FROM quarantine WHERE id = %s RETURNING name, data", [quarantine_id]
            ).fetchone()
            if row is None:
                return None
            if restore:
                conn.execute(
                    "INSERT INTO updates (name, data, created_at) VALUES (%s, %s, %s)",
                    [row[0], row[1], time.time()],
                )
            conn.execute(_RECOUNT, {"n": row[0]})
        return str(row[0])
