"""Compaction of :class:`~collab.stores.sqlite.SQLiteStore` (its own file): the log folded
into one snapshot in one transaction, keeping the rows that still wait for a predecessor."""

from __future__ import annotations

import json
import time

from collab.stores.base import Compaction
from collab.stores.folding import fold
from collab.stores.sqlite_reads import SQLiteReads

__all__ = ["SQLiteCompaction"]


class SQLiteCompaction(SQLiteReads):
    """The compaction of one SQLite collab database (a base of ``SQLiteStore``)."""

    def compact(self, name: str, state: bytes | None = None) -> Compaction | None:
        """Fold document ``name``'s snapshot and log into one snapshot, in one transaction.

        Without ``state``, the log is replayed into a document whose ``get_update()`` becomes
        the snapshot: the smallest encoding (per-keystroke structs squashed). ``get_update()``
        leaves out structs still waiting for a missing predecessor, so the log rows carrying
        such structs are kept as they are and fold into a later snapshot once their
        predecessor arrived. Before writing, the snapshot plus the kept rows are replayed and
        must give the same state vector and document as the whole log, or nothing changes.

        Args:
            name: the document.
            state: the document's whole state as of the log's newest row, what waits for a
                predecessor merged in (``Room.state()``: it waits again when loaded): the hub
                passes its room's live document, and the log is folded into it without a
                replay.

        Returns:
            What was compacted, or ``None`` when the log was empty.

        Raises:
            StoreError: on a database failure or when the check fails.
        """
        self._write_counts()
        with self._errors("compact"), self._writing():
            snapshot_row = self.db.execute(
                "SELECT data FROM snapshots WHERE name = ?", [name]
            ).fetchone()
            snapshot = snapshot_row[0] if snapshot_row else b""
            if state is None:
                rows = self._log(name)
                if not rows:
                    return None
                merged, kept = fold(name, snapshot, rows)
                last, log_bytes = rows[-1][0], sum(len(data) for _, data in rows)
                folded_rows = len(rows) - len(kept)
            else:
                count, log_bytes, last = self.db.execute(
                    "SELECT count(*), coalesce(sum(length(data)), 0), max(id) FROM updates"
                    " WHERE name = ?",
                    [name],
                ).fetchone()
                if not count:
                    return None
                merged, kept, folded_rows = state, {}, count
            # The newest moment merged: the log's newest row, or the previous snapshot's.
            covers = self.db.execute(
                "SELECT max(coalesce((SELECT max(created_at) FROM updates"
                " WHERE name = ? AND id <= ?), 0), coalesce((SELECT coalesce(covers_until,"
                " created_at) FROM snapshots WHERE name = ?), 0))",
                [name, last, name],
            ).fetchone()[0]
            self.db.execute(
                "INSERT INTO snapshots (name, data, created_at, last_update_id, covers_until)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT(name) DO UPDATE SET data = excluded.data,"
                " created_at = excluded.created_at, last_update_id = excluded.last_update_id,"
                " covers_until = excluded.covers_until",
                [name, merged, time.time(), last, covers],
            )
            self.db.execute(
                "DELETE FROM updates WHERE name = ? AND id <= ?"
                " AND id NOT IN (SELECT value FROM json_each(?))",
                [name, last, json.dumps(list(kept))],
            )
            self.db.execute(
                "UPDATE documents SET size_bytes = ?, updates = ? WHERE name = ?",
                [len(merged) + sum(kept.values()), len(kept), name],
            )
        with self._errors("vacuum"):
            # executescript steps the pragma to the end (execute frees one page per call).
            self.db.conn.executescript("PRAGMA incremental_vacuum;")
        folded_bytes = log_bytes - sum(kept.values())
        before = len(snapshot) + log_bytes
        return Compaction(name, folded_rows, folded_bytes, before, len(merged))
