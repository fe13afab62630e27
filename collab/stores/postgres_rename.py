"""Renaming a document in the PostgreSQL store (:class:`PostgresRename`, see
:meth:`collab.stores.base.DocumentStore.rename`)."""

from __future__ import annotations

import time

from collab.stores.base import NameTaken, StoredDocument
from collab.stores.folding import tombstones_of_rename
from collab.stores.postgres_connection import Connection
from collab.stores.postgres_outbox import renamed_in_transaction

__all__ = ["MOVED_TABLES", "PostgresRename"]

MOVED_TABLES = ("documents", "updates", "snapshots", "versions", "quarantine")
"""The tables whose rows of a document move with it on a rename (the tombstones stay)."""


class PostgresRename:
    """The rename of the PostgreSQL store."""

    db: Connection

    def load(self, name: str) -> StoredDocument:  # pragma: no cover - PostgresReads has it
        raise NotImplementedError

    def rename(self, old: str, new: str) -> bool:
        """Give document ``old`` the name ``new`` in one transaction, both names' advisory
        locks held (taken in name order, so two renames never deadlock; see
        :meth:`~collab.stores.base.DocumentStore.rename`).

        Returns:
            ``True`` when ``old`` existed.

        Raises:
            NameTaken: ``new`` is a stored document; nothing changed.
            StoreError: on a database failure; nothing changed.
        """
        with self.db.session("rename") as conn, conn.transaction():
            for name in sorted((old, new)):
                conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [name])
            found = {
                row[0]
                for row in conn.execute(
                    "SELECT name FROM documents WHERE name = ANY(%s)", [[old, new]]
                )
            }
            if old not in found:
                return False
            if new in found:
                raise NameTaken(new)
            row = conn.execute("SELECT data FROM tombstones WHERE name = %s", [new]).fetchone()
            left, kept = tombstones_of_rename(self.load(old), row[0] if row else None)
            now = time.time()
            conn.execute(
                "INSERT INTO tombstones (name, data, deleted_at) VALUES (%s, %s, %s)"
                " ON CONFLICT (name) DO UPDATE SET data = excluded.data,"
                " deleted_at = excluded.deleted_at",
                [old, left, now],
            )
            if kept is None:
                conn.execute("DELETE FROM tombstones WHERE name = %s", [new])
            for table in MOVED_TABLES:
                conn.execute(f"UPDATE {table} SET name = %s WHERE name = %s", [new, old])
            renamed_in_transaction(conn, old, new, now)
        return True
