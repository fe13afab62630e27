"""Versions of :class:`~collab.stores.postgres.PostgresStore` (its own file): stored states of
documents with a small record, in the ``versions`` table (migration m003_versions). Ids come
from an identity sequence, so an id is never given twice; versions are kept across compaction
and purge, and deleted with their document (:meth:`PostgresStore.delete`). The same methods
and behaviour as :class:`~collab.stores.sqlite_versions.SQLiteVersions`."""

from __future__ import annotations

import builtins
import time
from collections.abc import Iterable, Sequence
from typing import Any

import psycopg

from collab.stores.base import VersionRecord
from collab.stores.outbox import VERSION_CREATED, version_event
from collab.stores.postgres_connection import Connection
from collab.stores.postgres_outbox import add_in_transaction

__all__ = ["PostgresVersions", "create_versions"]

_COLUMNS = "id, name, created_at, label, author, automatic, size_bytes"


def create_versions(conn: psycopg.Connection) -> None:
    """Migration m003_versions: the ``versions`` table and its index."""
    conn.execute(
        "CREATE TABLE versions (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
        ' name text COLLATE "C" NOT NULL, created_at double precision NOT NULL, label text,'
        " author text, automatic boolean NOT NULL, size_bytes bigint NOT NULL,"
        " data bytea NOT NULL)"
    )
    conn.execute("CREATE INDEX versions_name_id ON versions (name, id)")


class PostgresVersions:
    """The versions of one PostgreSQL collab database (a base of ``PostgresStore``); a store
    opened without migrating a database from before m003_versions has none (``_versions``
    false)."""

    db: Connection
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
        ``name`` made at ``created_at`` (Unix seconds; now when ``None``).

        Raises:
            StoreError: on a database failure.
        """
        moment = time.time() if created_at is None else created_at
        with self.db.session("add version") as conn, conn.transaction():
            row = conn.execute(
                "INSERT INTO versions (name, created_at, label, author, automatic, size_bytes,"
                " data) VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id",
                [name, moment, label, author, automatic, len(data), data],
            ).fetchone()
            assert row is not None
            record = VersionRecord(int(row[0]), name, moment, label, author, automatic, len(data))
            add_in_transaction(conn, name, VERSION_CREATED, version_event(record), time.time())
        return record

    def list_versions(
        self, name: str, *, before: int | None = None, limit: int = 100
    ) -> builtins.list[VersionRecord]:
        """Document ``name``'s versions, newest first (by id), without their states; only ids
        below ``before`` when given (keyset paging), at most ``limit``."""
        if not self._versions:
            return []
        sql = f"SELECT {_COLUMNS} FROM versions WHERE name = %s"
        params: list[object] = [name]
        if before is not None:
            sql += " AND id < %s"
            params.append(before)
        sql += " ORDER BY id DESC LIMIT %s"
        with self.db.session("list versions") as conn:
            rows = conn.execute(sql, [*params, min(limit, 2**62)]).fetchall()
        return [_version(row) for row in rows]

    def get_version(self, name: str, version_id: int) -> tuple[VersionRecord, bytes] | None:
        """Version ``version_id`` of document ``name`` and its state, or ``None``."""
        if not self._versions or not 0 < version_id < 2**63:
            return None
        with self.db.session("read version") as conn:
            row = conn.execute(
                f"SELECT {_COLUMNS}, data FROM versions WHERE name = %s AND id = %s",
                [name, version_id],
            ).fetchone()
        return (_version(row[:-1]), bytes(row[-1])) if row else None

    def version_at(self, name: str, moment: float) -> tuple[VersionRecord, bytes] | None:
        """The newest version of document ``name`` made at or before ``moment`` (Unix
        seconds) and its state, or ``None``."""
        if not self._versions:
            return None
        with self.db.session("read version") as conn:
            row = conn.execute(
                f"SELECT {_COLUMNS}, data FROM versions WHERE name = %s AND created_at <= %s"
                " ORDER BY created_at DESC, id DESC LIMIT 1",
                [name, moment],
            ).fetchone()
        return (_version(row[:-1]), bytes(row[-1])) if row else None

    def delete_versions(self, name: str, version_ids: Iterable[int]) -> int:
        """Delete versions of document ``name`` by id (a retention policy's choice), in one
        statement; how many were deleted."""
        ids = sorted({i for i in version_ids if 0 < i < 2**63})
        if not ids:
            return 0
        with self.db.session("delete versions") as conn:
            cursor = conn.execute(
                "DELETE FROM versions WHERE name = %s AND id = ANY(%s)", [name, ids]
            )
        return int(cursor.rowcount)


def _version(row: Sequence[Any]) -> VersionRecord:
    return VersionRecord(
        int(row[0]), row[1], float(row[2]), row[3], row[4], bool(row[5]), int(row[6])
    )
