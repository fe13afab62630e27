"""The writing half of :class:`~collab.stores.sqlite.SQLiteStore` (its own file): the group
commit of updates to the log (:meth:`SQLiteWrites.append`), and the deletion of a document
(with its tombstone) or its purge. See :mod:`collab.stores.sqlite` for the layout and the
threading rules."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Mapping, Sequence

from collab.stores.base import StoreBusy, StoreError, StoreLocked
from collab.stores.folding import tombstone
from collab.stores.sqlite_reads import SQLiteReads
from collab.stores.sqlite_schema import APPEND_ONE, COUNTS_PENDING, CREATE_DOCUMENTS, many_rows

__all__ = ["SQLiteWrites"]


class SQLiteWrites(SQLiteReads):
    """Writes of one SQLite collab database: appends, deletions and purges (a base of
    ``SQLiteStore``)."""

    def append(
        self,
        batch: Sequence[tuple[str, bytes]],
        *,
        wait: bool = True,
        fence: Mapping[str, float | None] | None = None,
    ) -> None:
        """Append updates to the log in ONE transaction (group commit).

        Args:
            batch: ``(document name, Yjs v1 update)`` pairs, in arrival order. Documents that
                do not exist yet are created.
            wait: whether to wait up to :data:`BUSY_TIMEOUT` seconds when another connection
                holds the write lock (an event loop must not: it raises :class:`StoreBusy`
                at once instead). The setting stays until a call that waits (any other
                method does), so commits in a row change it once.
            fence: cluster mode (see :meth:`DocumentStore.append`): checked in the write
                transaction (``BEGIN IMMEDIATE``), and every document's record is created
                if missing (another node may have deleted one this store knew).

        Raises:
            DeletedMeanwhile: a fenced document was deleted since; nothing was written.
            StoreBusy: without ``wait``, when another connection holds the write lock.
            StoreError: on a database failure; then nothing of the batch was written.
        """
        if not batch:
            return
        if wait != self._waits:
            self._wait_for_locks(wait)
        now = time.time()
        params: tuple[object, ...]
        if len(batch) == 1:  # the common case, kept short: it runs cold at low rates
            name, blob = batch[0]
            per_doc: dict[str, tuple[int, int]] = {name: (1, len(blob))}
            sql, params = APPEND_ONE, (name, blob, now)
        else:
            sql, params, per_doc = many_rows(batch, now)
        new = [name for name in per_doc if fence is not None or name not in self._known]
        execute = self.db.conn.execute
        try:  # what _errors does, inline: this runs once per commit, often cold
            if not new and self._marked:
                # One statement is its own transaction (autocommit): a third less time per
                # commit than BEGIN, INSERT, COMMIT, measured at a few commits per millisecond.
                # It marks its documents changed too (a trigger: m009_change_marks_by_trigger).
                execute(sql, params)
            else:
                with self.db.atomic() if fence is None else self._writing():
                    if fence is not None:
                        self._check_fence(fence)
                    execute(sql, params)
                    if new:
                        rows = execute(CREATE_DOCUMENTS, [now, json.dumps(new)]).fetchall()
                        self.outbox.created_in_transaction([row[0] for row in rows], now)
                    if not self._marked:
                        execute(f"PRAGMA user_version = {COUNTS_PENDING}")
        except (sqlite3.Error, OSError) as exc:
            code = getattr(exc, "sqlite_errorcode", None)
            if code == sqlite3.SQLITE_BUSY and not wait:
                raise StoreBusy(f"{self.path} is locked by another connection") from exc
            if code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
                raise StoreLocked(f"commit failed on {self.path}: {exc}") from exc
            raise StoreError(f"commit failed on {self.path}: {exc}") from exc
        self._marked = True
        self._known.update(new)
        for name, (count, size) in per_doc.items():
            counts = self._counts.get(name)
            if counts is None:
                self._counts[name] = [count, size, now]
            else:
                counts[0] += count
                counts[1] += size
                counts[2] = now

    def delete(self, name: str) -> bool:
        """Delete document ``name``, its log, snapshot and versions, in one transaction.

        Its merged state is kept as a tombstone: an editor that still holds the deleted
        content and reconnects would otherwise send it back (sync step 2) and silently
        resurrect the document. Updates carrying structs the tombstone covers are refused.

        Returns:
            ``True`` when the document existed.
        """
        self._write_counts()
        with self._errors("delete"), self._writing():
            if self.get(name) is None:
                return False
            merged = tombstone(self.load(name))
            self.db.execute(
                "INSERT INTO tombstones (name, data, deleted_at) VALUES (?, ?, ?)"
                " ON CONFLICT(name) DO UPDATE SET data = excluded.data,"
                " deleted_at = excluded.deleted_at",
                [name, merged, time.time()],
            )
            for table in ("updates", "snapshots", "documents", "versions"):
                self.db.execute(f"DELETE FROM {table} WHERE name = ?", [name])
            self.outbox.deleted_in_transaction(name, time.time())
        self._known.discard(name)
        return True

    def purge(self, name: str) -> None:
        """Remove document ``name``, its log, snapshot *and* tombstone, in one transaction
        (an import replacing it; nothing of the old document stays to refuse its content).

        Raises:
            StoreError: on a database failure.
        """
        self._write_counts()
        with self._errors("delete"), self._writing():
            for table in ("updates", "snapshots", "documents", "tombstones"):
                self.db.execute(f"DELETE FROM {table} WHERE name = ?", [name])
        self._known.discard(name)
