"""Quarantine of stored rows the current code cannot decode (:class:`SQLiteQuarantine`).

A log row or snapshot written by an older version or another tool that no longer decodes
(it would make the whole document unavailable: WebSocket 1011, HTTP 503) is moved, in one
transaction, to the ``quarantine`` table, never deleted silently: ``collab doctor --repair``
and the document's admins through the API list it, and drop or restore it.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from collab.stores.base import QuarantinedRow
from collab.stores.sqlite_compact import SQLiteCompaction

__all__ = ["SQLiteQuarantine"]


class SQLiteQuarantine(SQLiteCompaction):
    """The quarantine methods of the SQLite store."""

    def quarantine(self, name: str, rows: Mapping[int, str], snapshot: str | None) -> int:
        """Move document ``name``'s log rows ``rows`` (id to why it does not decode) and its
        snapshot (unless ``snapshot``, why, is ``None``) to the quarantine, each with its
        reason, in one transaction; how many rows moved.

        Raises:
            StoreError: on a database failure.
        """
        self._write_counts()
        now = time.time()
        moved = 0
        with self._errors("quarantine"), self.db.atomic():
            for row_id, reason in rows.items():
                cursor = self.db.execute(
                    "INSERT INTO quarantine (name, kind, row_id, data, reason, quarantined_at)"
                    " SELECT name, 'update', id, data, ?, ? FROM updates WHERE id = ? AND name = ?",
                    [reason, now, row_id, name],
                )
                moved += cursor.rowcount
                self.db.execute("DELETE FROM updates WHERE id = ? AND name = ?", [row_id, name])
            if snapshot is not None:
                cursor = self.db.execute(
                    "INSERT INTO quarantine (name, kind, row_id, data, reason, quarantined_at)"
                    " SELECT name, 'snapshot', NULL, data, ?, ? FROM snapshots WHERE name = ?",
                    [snapshot, now, name],
                )
                moved += cursor.rowcount
                self.db.execute("DELETE FROM snapshots WHERE name = ?", [name])
            self._recount(name)
        return moved

    def quarantined(self, name: str | None = None) -> list[QuarantinedRow]:
        """The quarantined rows (of document ``name``, or all), oldest first.

        Raises:
            StoreError: on a database failure.
        """
        where, params = ("WHERE name = ?", [name]) if name is not None else ("", [])
        with self._errors("read"):
            rows = self.db.execute(
                "SELECT id, name, kind, length(data), reason, quarantined_at FROM quarantine"
                f" {where} ORDER BY id",
                params,
            ).fetchall()
        return [QuarantinedRow(*row) for row in rows]

    def quarantined_data(self, quarantine_id: int) -> bytes:
        """The bytes of quarantined row ``quarantine_id`` (empty when there is none).

        Raises:
            StoreError: on a database failure.
        """
        with self._errors("read"):
            row = self.db.execute(
                "SELECT data FROM quarantine WHERE id = ?", [quarantine_id]
            ).fetchone()
        return bytes(row[0]) if row else b""

    def release(self, quarantine_id: int, *, restore: bool) -> str | None:
        """Drop quarantined row ``quarantine_id``, or with ``restore`` append it back to its
        document's log (a snapshot too: a state is an update), in one transaction.

        Returns:
            The document's name, or ``None`` when there is no such row.

        Raises:
            StoreError: on a database failure.
        """
        self._write_counts()
        with self._errors("release"), self.db.atomic():
            row = self.db.execute(
                "SELECT name FROM quarantine WHERE id = ?", [quarantine_id]
            ).fetchone()
            if row is None:
                return None
            if restore:
                self.db.execute(
                    "INSERT INTO updates (name, data, created_at)"
                    " SELECT name, data, ? FROM quarantine WHERE id = ?",
                    [time.time(), quarantine_id],
                )
            self.db.execute("DELETE FROM quarantine WHERE id = ?", [quarantine_id])
            self._recount(row[0])
        return str(row[0])

    def _recount(self, name: str) -> None:
        """Set document ``name``'s counters from its snapshot and log."""
        self.db.execute(
            "UPDATE documents SET"
            " updates = (SELECT count(*) FROM updates WHERE name = ?1),"
            " size_bytes = coalesce((SELECT length(data) FROM snapshots WHERE name = ?1), 0)"
            " + coalesce((SELECT sum(length(data)) FROM updates WHERE name = ?1), 0)"
            " WHERE name = ?1",
            [name],
        )
