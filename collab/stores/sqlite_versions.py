"""Versions of :class:`~collab.stores.sqlite.SQLiteStore` (its own file): stored states of
documents with a small record, in the ``versions`` table (migration m005). Ids come from
AUTOINCREMENT, so an id is never given twice; versions are kept across compaction and purge,
and deleted with their document (:meth:`SQLiteStore.delete`)."""

from __future__ import annotations

import builtins
import json
import time
from collections.abc import Iterable, Sequence
from typing import Any

from collab.stores.base import VersionRecord
from collab.stores.outbox import VERSION_CREATED, version_event
from collab.stores.sqlite_reads import SQLiteReads

__all__ = ["SQLiteVersions"]


class SQLiteVersions(SQLiteReads):
    """The versions of one SQLite collab database (a base of ``SQLiteStore``); a read-only
    store of a database from before migration m005 has none (``_versions`` false)."""

    _versions: bool

    def add_version(
        self,
        name: str,
        data: bytes,
        *,
        label: str | None = None,
        author: str | None = None,
        automatic: bool = False,
        created_at: float | None = None,
    ) -> VersionRecord:
        """Store ``data`` (a document state, a Yjs v1 update) as a version of document
        ``name``. Versions are kept across compaction and deleted with the document.

        Args:
            created_at: the version's time (Unix seconds); now when ``None``.

        Raises:
            StoreError: on a database failure.
        """
        moment = time.time() if created_at is None else created_at
        with self._errors("add version"), self.db.atomic():
            cursor = self.db.execute(
                "INSERT INTO versions (name, created_at, label, author, automatic, size_bytes,"
                " data) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [name, moment, label, author, int(automatic), len(data), data],
            )
            record = VersionRecord(
                int(cursor.lastrowid or 0), name, moment, label, author, automatic, len(data)
            )
            self.outbox.add_in_transaction(
                name, VERSION_CREATED, version_event(record), time.time()
            )
        return record

    def list_versions(
        self, name: str, *, before: int | None = None, limit: int = 100
    ) -> builtins.list[VersionRecord]:
        """Document ``name``'s versions, newest first (by id), without their states.

        Args:
            before: keyset cursor: only versions with an id below it (the last id of the
                previous page).
            limit: versions to return at most.
        """
        if not self._versions:
            return []
        sql = f"SELECT {_VERSION_COLUMNS} FROM versions WHERE name = ?"
        params: list[object] = [name]
        if before is not None:
            sql += " AND id < ?"
            params.append(before)
        sql += " ORDER BY id DESC LIMIT ?"
        with self._errors("list versions"):
            rows = self.db.execute(sql, [*params, limit]).fetchall()
        return [_version(row) for row in rows]

    def get_version(self, name: str, version_id: int) -> tuple[VersionRecord, bytes] | None:
        """Version ``version_id`` of document ``name`` and its state, or ``None``."""
        if not self._versions:
            return None
        with self._errors("read version"):
            row = self.db.execute(
                f"SELECT {_VERSION_COLUMNS}, data FROM versions WHERE name = ? AND id = ?",
                [name, version_id],
            ).fetchone()
        return (_version(row[:-1]), row[-1]) if row else None

    def version_at(self, name: str, moment: float) -> tuple[VersionRecord, bytes] | None:
        """The newest version of document ``name`` made at or before ``moment`` (Unix
        seconds) and its state, or ``None``."""
        if not self._versions:
            return None
        with self._errors("read version"):
            row = self.db.execute(
                f"SELECT {_VERSION_COLUMNS}, data FROM versions WHERE name = ?"
                " AND created_at <= ? ORDER BY created_at DESC, id DESC LIMIT 1",
                [name, moment],
            ).fetchone()
        return (_version(row[:-1]), row[-1]) if row else None

    def delete_versions(self, name: str, version_ids: Iterable[int]) -> int:
        """Delete versions of document ``name`` by id (a retention policy's choice), in one
        transaction; how many were deleted."""
        ids = json.dumps(sorted(set(version_ids)))
        with self._errors("delete versions"), self.db.atomic():
            cursor = self.db.execute(
                "DELETE FROM versions WHERE name = ? AND id IN (SELECT value FROM json_each(?))",
                [name, ids],
            )
        return int(cursor.rowcount)


_VERSION_COLUMNS = "id, name, created_at, label, author, automatic, size_bytes"


def _version(row: Sequence[Any]) -> VersionRecord:
    return VersionRecord(
        int(row[0]), row[1], float(row[2]), row[3], row[4], bool(row[5]), int(row[6])
    )
