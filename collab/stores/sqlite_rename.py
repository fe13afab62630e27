"""Renaming a document in the SQLite store (:class:`SQLiteRename`, see
:meth:`collab.stores.base.DocumentStore.rename`)."""

from __future__ import annotations

import time

from collab.stores.base import NameTaken
from collab.stores.folding import tombstones_of_rename
from collab.stores.sqlite_reads import SQLiteReads

__all__ = ["MOVED_TABLES", "SQLiteRename"]

MOVED_TABLES = ("documents", "updates", "snapshots", "versions", "quarantine")
"""The tables whose rows of a document move with it on a rename (the tombstones stay)."""


class SQLiteRename(SQLiteReads):
    """The rename of the SQLite store."""

    def rename(self, old: str, new: str) -> bool:
        """Give document ``old`` the name ``new`` in one transaction (see
        :meth:`~collab.stores.base.DocumentStore.rename`).

        Returns:
            ``True`` when ``old`` existed.

        Raises:
            NameTaken: ``new`` is a stored document; nothing changed.
            StoreError: on a database failure; nothing changed.
        """
        self._write_counts()
        with self._errors("rename"), self._writing():
            if self.get(old) is None:
                return False
            if self.get(new) is not None:
                raise NameTaken(new)
            left, kept = tombstones_of_rename(self.load(old), self._tombstone(new, "data"))
            now = time.time()
            self.db.execute(
                "INSERT INTO tombstones (name, data, deleted_at) VALUES (?, ?, ?)"
                " ON CONFLICT(name) DO UPDATE SET data = excluded.data,"
                " deleted_at = excluded.deleted_at",
                [old, left, now],
            )
            if kept is None:
                self.db.execute("DELETE FROM tombstones WHERE name = ?", [new])
            for table in MOVED_TABLES:
                self.db.execute(f"UPDATE {table} SET name = ? WHERE name = ?", [new, old])
            self.outbox.renamed_in_transaction(old, new, now)
        self._known.discard(old)
        self._known.add(new)
        return True
