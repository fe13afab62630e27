"""The reading half of :class:`~collab.stores.sqlite.SQLiteStore` (one class, two files): loads,
records, listings and counts, and the error wrapping every statement goes through. See
:mod:`collab.stores.sqlite` for the layout and the threading rules."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from collab.stores.base import (
    DeletedMeanwhile,
    DocumentNotFound,
    DocumentRecord,
    HistoryCompacted,
    NotCreatedYet,
    SortKey,
    StoredDocument,
    StoreError,
)
from collab.stores.folding import whole_state
from collab.stores.sqlite_outbox import SQLiteOutbox
from collab.stores.sqlite_schema import COUNT_UPDATES

__all__ = ["BUSY_TIMEOUT", "LogRows", "SQLiteReads"]

LogRows = list[tuple[int, bytes]]
"""Update log rows ``(id, Yjs v1 update)``."""

BUSY_TIMEOUT = 5.0
"""Seconds a statement waits for another connection's lock before it fails."""


class SQLiteReads:
    """Reads of one SQLite collab database (the base of ``SQLiteStore``)."""

    db: Database
    path: Path
    _counts: dict[str, list[float]]
    _known: set[str]
    _marked: bool
    outbox: SQLiteOutbox
    _waits: bool
    _covers: str
    _tombstones: bool

    def load(self, name: str) -> StoredDocument:
        """Read everything a room needs to rebuild document ``name`` (empty if unknown).

        Raises:
            StoreError: on a database failure.
        """
        # One read transaction: another process (a cluster node) compacting between the
        # reads of the snapshot and of the log would leave out what it folded.
        with self._errors("load"), self._read_transaction():
            tombstone, deleted_at = self._tombstone(name, "data, deleted_at") or (None, None)
            snapshot_row = self.db.execute(
                "SELECT data FROM snapshots WHERE name = ?", [name]
            ).fetchone()
            # Every remaining row follows the snapshot, or waits for a predecessor.
            rows = self._log(name)
        return StoredDocument(
            snapshot=snapshot_row[0] if snapshot_row else None,
            updates=[data for _, data in rows],
            tombstone=tombstone,
            update_ids=tuple(row_id for row_id, _ in rows),
            deleted_at=deleted_at,
        )

    def load_at(self, name: str, at: float | None = None) -> StoredDocument:
        """Document ``name`` as it was at Unix time ``at`` (now when ``None``), in one read
        transaction (a compaction committed meanwhile is wholly seen or not at all): the
        snapshot, when it merged nothing written after ``at``, and the log rows written at or
        before ``at`` (those left beside the snapshot follow it, or wait for a predecessor).

        Raises:
            DocumentNotFound: no such document (``deleted_at`` says if one was deleted).
            NotCreatedYet: ``at`` is before the document was created.
            HistoryCompacted: a compaction merged updates written after ``at``.
            StoreError: on a database failure.
        """
        with self._errors("read"), self._read_transaction():
            row = self.db.execute(
                "SELECT created_at FROM documents WHERE name = ?", [name]
            ).fetchone()
            if row is None:
                deleted = self._tombstone(name, "deleted_at")
                raise DocumentNotFound(name, deleted)
            snapshot = self.db.execute(
                f"SELECT data, {self._covers} FROM snapshots WHERE name = ?", [name]
            ).fetchone()
            if at is None:
                rows = self.db.execute(
                    "SELECT data FROM updates WHERE name = ? ORDER BY id", [name]
                ).fetchall()
            else:
                if at < row[0]:
                    raise NotCreatedYet(name, row[0])
                if snapshot and at < snapshot[1]:
                    raise HistoryCompacted(name, row[0], snapshot[1])
                rows = self.db.execute(
                    "SELECT data FROM updates WHERE name = ? AND created_at <= ? ORDER BY id",
                    [name, at],
                ).fetchall()
        return StoredDocument(snapshot[0] if snapshot else None, [r[0] for r in rows], None)

    def _tombstone(self, name: str, column: str) -> Any:
        """The ``data`` or ``deleted_at`` of document ``name``'s tombstone, or ``None``
        (``column`` naming several: the row, or ``None``)."""
        if not self._tombstones:
            return None
        row = self.db.execute(f"SELECT {column} FROM tombstones WHERE name = ?", [name]).fetchone()
        return (row[0] if "," not in column else tuple(row)) if row else None

    def _check_fence(self, fence: Mapping[str, float | None]) -> None:
        """Raise :class:`DeletedMeanwhile` naming the documents whose tombstone's
        ``deleted_at`` is not the one in ``fence`` (deleted since; run in the append's
        write transaction)."""
        if not self._tombstones:
            return
        found = dict(
            self.db.execute(
                "SELECT name, deleted_at FROM tombstones WHERE name IN"
                " (SELECT value FROM json_each(?))",
                [json.dumps(list(fence))],
            ).fetchall()
        )
        gone = sorted(name for name, deleted_at in fence.items() if found.get(name) != deleted_at)
        if gone:
            raise DeletedMeanwhile(gone)

    @contextlib.contextmanager
    def _read_transaction(self) -> Iterator[None]:
        """One read transaction (unless one is open already)."""
        if self.db.conn.in_transaction:
            yield
            return
        self.db.execute("BEGIN")
        try:
            yield
        finally:
            self.db.execute("COMMIT")

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """Run the writes of the ``with`` body as one transaction: all of them or none.

        Raises:
            StoreError: on a database failure; nothing of the body was written then.
        """
        # What appends keep in memory (documents known to exist, counters not written yet)
        # goes back to how it was when the transaction rolls back.
        known, marked = set(self._known), self._marked
        counts = {name: list(values) for name, values in self._counts.items()}
        try:
            with self._errors("transaction"), self.db.atomic():
                yield
        except BaseException:
            self._known, self._marked, self._counts = known, marked, counts
            raise

    def state(self, name: str) -> bytes:
        """Document ``name``'s whole state as one compact v1 update (empty when unknown).

        Raises:
            StoreError: on a database failure or an unreadable stored update.
        """
        return whole_state(name, self.load(name))

    def get(self, name: str) -> DocumentRecord | None:
        """The record of document ``name``, or ``None`` when it does not exist."""
        self._write_counts()
        with self._errors("read"):
            row = self.db.execute(
                "SELECT name, created_at, updated_at, size_bytes, updates FROM documents"
                " WHERE name = ?",
                [name],
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
        """A page of document records from the ``documents`` table (never loads documents).

        Args:
            limit: rows to return at most.
            after: keyset cursor: the ``(sort value, name)`` of the previous page's last row.
            sort: ``name`` (ascending) or ``updated_at`` (newest first).
            prefix: only names starting with this string.
        """
        where, params = [], []
        if prefix:
            # Range scan on the primary key instead of LIKE (which treats % and _ specially).
            where.append("name >= ? AND substr(name, 1, ?) = ?")
            params += [prefix, len(prefix), prefix]
        if sort == "name":
            order = "name ASC"
            if after is not None:
                where.append("name > ?")
                params.append(after[1])
        else:
            order = "updated_at DESC, name ASC"
            if after is not None:
                where.append("(updated_at < ? OR (updated_at = ? AND name > ?))")
                params += [after[0], after[0], after[1]]
        sql = "SELECT name, created_at, updated_at, size_bytes, updates FROM documents"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += f" ORDER BY {order} LIMIT ?"
        self._write_counts()
        with self._errors("list"):
            rows = self.db.execute(sql, [*params, limit]).fetchall()
        return [DocumentRecord(*row) for row in rows]

    def count(self) -> int:
        """How many documents are stored."""
        self._write_counts()
        with self._errors("count"):
            return int(self.db.execute("SELECT count(*) FROM documents").fetchone()[0])

    def log_stats(self, name: str) -> tuple[int, int]:
        """``(rows, bytes)`` of the document's update log since its last compaction."""
        with self._errors("read"):
            row = self.db.execute(
                "SELECT count(*), coalesce(sum(length(data)), 0) FROM updates WHERE name = ?",
                [name],
            ).fetchone()
        return int(row[0]), int(row[1])

    def names(self) -> Iterable[str]:
        """Every stored document name, in order."""
        self._write_counts()
        with self._errors("list"):
            rows = self.db.execute("SELECT name FROM documents ORDER BY name").fetchall()
        return [row[0] for row in rows]

    # -- helpers ---------------------------------------------------------------------------

    def _errors(self, action: str) -> _StoreErrors:
        if not self._waits:  # after append(..., wait=False): every other statement waits
            self._wait_for_locks(True)
        return _StoreErrors(action, self.path)

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """A transaction that reads, then writes what it read: ``BEGIN IMMEDIATE`` takes the
        write lock first (waiting for it), so another process's commit between the read and
        the write (cluster nodes share the file) cannot make the write fail with "database
        is locked", as a deferred transaction's upgrade would. Nested: a savepoint."""
        if self.db.conn.in_transaction:
            with self.db.atomic():
                yield
            return
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            if self.db.conn.in_transaction:
                self.db.execute("ROLLBACK")
            raise
        try:
            self.db.execute("COMMIT")
        except BaseException:
            if self.db.conn.in_transaction:
                self.db.execute("ROLLBACK")
            raise

    def _wait_for_locks(self, wait: bool) -> None:
        """Set SQLite's busy timeout: :data:`BUSY_TIMEOUT`, or none (fail at once)."""
        milliseconds = int(BUSY_TIMEOUT * 1000) if wait else 0
        with _StoreErrors("configure", self.path):
            self.db.execute(f"PRAGMA busy_timeout = {milliseconds}")
        self._waits = wait

    def _write_counts(self) -> None:
        """Add the counters of the updates appended since the last call to ``documents``."""
        if not self._counts:
            return
        counts = [[name, *values] for name, values in self._counts.items()]
        with self._errors("commit"), self.db.atomic():
            self.db.execute(COUNT_UPDATES, [json.dumps(counts)])
        self._counts.clear()

    def _log(self, name: str) -> LogRows:
        """Document ``name``'s log rows ``(id, update)`` in id order, read in one step."""
        row = self.db.execute(
            "SELECT json_group_array(json_array(id, hex(data))) FROM updates WHERE name = ?",
            [name],
        ).fetchone()
        return sorted((row_id, bytes.fromhex(data)) for row_id, data in json.loads(row[0]))


class _StoreErrors:
    """Turns sqlite3 and OS errors into :class:`StoreError` naming the action."""

    def __init__(self, action: str, path: Path) -> None:
        self.action = action
        self.path = path

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        if isinstance(exc, sqlite3.Error | OSError):
            raise StoreError(f"{self.action} failed on {self.path}: {exc}") from exc
