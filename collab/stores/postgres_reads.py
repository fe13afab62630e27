"""The reading half of :class:`~collab.stores.postgres.PostgresStore` (one class, two
files): loads, history, records, listings and counts, each one statement or one
repeatable-read transaction on the store's connection."""

from __future__ import annotations

import builtins
import contextlib
from collections.abc import Iterator
from typing import Any

import psycopg

from collab.stores.base import (
    DocumentNotFound,
    DocumentRecord,
    HistoryCompacted,
    NotCreatedYet,
    SortKey,
    StoredDocument,
)
from collab.stores.folding import whole_state
from collab.stores.postgres_connection import Connection

__all__ = ["PostgresReads"]

_COLUMNS = "name, created_at, updated_at, size_bytes, updates"


class PostgresReads:
    """Reads of one PostgreSQL collab database (the base of ``PostgresStore``)."""

    db: Connection

    def load(self, name: str) -> StoredDocument:
        """Read everything a room needs to rebuild document ``name`` (empty if unknown), in
        one statement (one consistent view, even while another process compacts).

        Raises:
            StoreError: on a database failure.
        """
        with self.db.session("load") as conn:
            rows = conn.execute(_LOAD, {"name": name}, binary=True).fetchall()
        snapshot = tombstone = deleted_at = None
        updates, ids = [], []
        for kind, data, when, row_id in rows:
            if kind == 0:
                snapshot = data
            elif kind == 1:
                updates.append(data)
                ids.append(row_id)
            else:
                tombstone, deleted_at = data, when
        return StoredDocument(
            snapshot=snapshot,
            updates=updates,
            tombstone=tombstone,
            update_ids=tuple(ids),  # what the quarantine moves (collab.hub.loading)
            deleted_at=deleted_at,
        )

    def load_at(self, name: str, at: float | None = None) -> StoredDocument:
        """Document ``name`` as it was at Unix time ``at`` (now when ``None``), read in one
        repeatable-read transaction: the snapshot, when it merged nothing written after
        ``at``, and the log rows written at or before ``at``. The tombstone is not read.

        Raises:
            DocumentNotFound: no such document (``deleted_at`` says if one was deleted).
            NotCreatedYet: ``at`` is before the document was created.
            HistoryCompacted: a compaction merged updates written after ``at``.
            StoreError: on a database failure.
        """
        with self.db.session("read") as conn, self._read_view(conn):
            row = conn.execute(_DOCUMENT_AT, [name], binary=True).fetchone()
            if row is None:
                deleted = conn.execute(
                    "SELECT deleted_at FROM tombstones WHERE name = %s", [name]
                ).fetchone()
                raise DocumentNotFound(name, deleted[0] if deleted else None)
            created_at, snapshot, covers = row
            if at is not None:
                if at < created_at:
                    raise NotCreatedYet(name, created_at)
                if snapshot is not None and at < covers:
                    raise HistoryCompacted(name, created_at, covers)
            rows = conn.execute(
                "SELECT data FROM updates WHERE name = %s"
                " AND (%s::float8 IS NULL OR created_at <= %s) ORDER BY id",
                [name, at, at],
                binary=True,
            ).fetchall()
        return StoredDocument(snapshot, [data for (data,) in rows], None)

    @contextlib.contextmanager
    def _read_view(self, conn: psycopg.Connection) -> Iterator[None]:
        """One repeatable-read transaction (a savepoint inside an open transaction)."""
        outside = conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        with conn.transaction():
            if outside:
                conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            yield

    def state(self, name: str) -> bytes:
        """Document ``name``'s whole state as one compact v1 update (empty when unknown).

        Raises:
            StoreError: on a database failure or an unreadable stored update.
        """
        return whole_state(name, self.load(name))

    def get(self, name: str) -> DocumentRecord | None:
        """The record of document ``name``, or ``None`` when it does not exist."""
        with self.db.session("read") as conn:
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
        :meth:`collab.stores.sqlite.SQLiteStore.list` for the arguments."""
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
        with self.db.session("list") as conn:
            rows = conn.execute(sql, [*params, limit]).fetchall()
        return [DocumentRecord(*row) for row in rows]

    def count(self) -> int:
        """How many documents are stored."""
        with self.db.session("count") as conn:
            row = conn.execute("SELECT count(*) FROM documents").fetchone()
        return int(row[0]) if row else 0

    def log_stats(self, name: str) -> tuple[int, int]:
        """``(rows, bytes)`` of the document's update log since its last compaction."""
        with self.db.session("read") as conn:
            row = conn.execute(
                "SELECT count(*), coalesce(sum(length(data)), 0) FROM updates WHERE name = %s",
                [name],
            ).fetchone()
        return (int(row[0]), int(row[1])) if row else (0, 0)

    def names(self) -> builtins.list[str]:
        """Every stored document name, in order."""
        with self.db.session("list") as conn:
            return [row[0] for row in conn.execute("SELECT name FROM documents ORDER BY name")]


_DOCUMENT_AT = (
    "SELECT d.created_at, s.data, coalesce(s.covers_until, s.created_at)"
    " FROM documents d LEFT JOIN snapshots s ON s.name = d.name WHERE d.name = %s"
)
"""A document's creation time, snapshot and the newest moment the snapshot merged."""

_LOAD = (
    "SELECT 0, data, NULL::float8, NULL::bigint FROM snapshots WHERE name = %(name)s"
    " UNION ALL SELECT 1, data, NULL::float8, id FROM (SELECT id, data FROM updates"
    " WHERE name = %(name)s ORDER BY id) log"
    " UNION ALL SELECT 2, data, deleted_at, NULL::bigint FROM tombstones WHERE name = %(name)s"
)
"""A document's snapshot (kind 0), log rows in id order with their ids (1) and tombstone
(2) with its ``deleted_at``, in one view."""
