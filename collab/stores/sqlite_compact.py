"""Compaction of :class:`~collab.stores.sqlite.SQLiteStore` (its own file): the log folded
into one snapshot, keeping the rows that still wait for a predecessor.

A fold that replays the log (structs wait, or the caller has no live document) is CPU work
with no database in it: it runs between two short transactions, :meth:`read_for_compaction`
and :meth:`finish_compaction`, so the hub can run it off its database thread while other
rooms commit. The second transaction writes only if the snapshot and every row the first
read are unchanged (else :class:`CompactionAbandoned`); rows appended meanwhile stay.
"""

from __future__ import annotations

import json
import time

from collab.stores.base import Compaction, CompactionAbandoned, CompactionInput
from collab.stores.folding import fold
from collab.stores.sqlite_reads import SQLiteReads

__all__ = ["SQLiteCompaction"]


class SQLiteCompaction(SQLiteReads):
    """The compaction of one SQLite collab database (a base of ``SQLiteStore``)."""

    def compact(self, name: str, state: bytes | None = None) -> Compaction | None:
        """Fold document ``name``'s snapshot and log into one snapshot.

        Without ``state``, the log is replayed into a document whose ``get_update()`` becomes
        the snapshot: the smallest encoding (per-keystroke structs squashed). ``get_update()``
        leaves out structs still waiting for a missing predecessor, so the log rows carrying
        such structs are kept as they are and fold into a later snapshot once their
        predecessor arrived. Before writing, the snapshot plus the kept rows are replayed and
        must give the same state vector and document as the whole log, or nothing changes.
        (Here the replay runs between the read and the write; the hub runs the three steps
        itself, the replay on another thread.)

        Args:
            name: the document.
            state: the document's whole state as of the log's newest row (the hub passes
                its room's live document when nothing waits): the log is folded into it
                without a replay, in one transaction.

        Returns:
            What was compacted, or ``None`` when the log was empty.

        Raises:
            StoreError: on a database failure or when the check fails.
            CompactionAbandoned: when the log changed between the read and the write.
        """
        if state is None:
            read = self.read_for_compaction(name)
            if read is None:
                return None
            return self.finish_compaction(read, *fold(name, read.snapshot, read.rows))
        self._write_counts()
        with self._errors("compact"), self._writing():
            snapshot_bytes = self._snapshot_bytes(name)
            count, log_bytes, last = self.db.execute(
                "SELECT count(*), coalesce(sum(length(data)), 0), max(id) FROM updates"
                " WHERE name = ?",
                [name],
            ).fetchone()
            if not count:
                return None
            self._write_snapshot(name, state, last)
            self.db.execute("DELETE FROM updates WHERE name = ? AND id <= ?", [name, last])
            self.db.execute(
                "UPDATE documents SET size_bytes = ?, updates = 0 WHERE name = ?",
                [len(state), name],
            )
        self._vacuum()
        return Compaction(name, count, log_bytes, snapshot_bytes + log_bytes, len(state))

    def read_for_compaction(self, name: str) -> CompactionInput | None:
        """Document ``name``'s snapshot and log rows, read in one transaction (``None`` when
        the log is empty).

        Raises:
            StoreError: on a database failure.
        """
        with self._errors("compact"), self.db.atomic():
            snapshot = self._snapshot(name)
            rows = self._log(name)
        return CompactionInput(name, snapshot, rows) if rows else None

    def finish_compaction(
        self, read: CompactionInput, merged: bytes, kept: dict[int, int]
    ) -> Compaction:
        """Write ``merged``, the fold of ``read``, as document ``read.name``'s snapshot and
        delete the rows it merged (every row read but ``kept``, id: bytes), in one
        transaction, after checking that the snapshot and the rows read are unchanged.

        Raises:
            CompactionAbandoned: the snapshot or a row read changed (nothing written).
            StoreError: on a database failure.
        """
        name, ids = read.name, [row_id for row_id, _ in read.rows]
        self._write_counts()
        with self._errors("compact"), self._writing():
            still = self.db.execute(
                "SELECT json_group_array(json_array(id, hex(data))) FROM updates"
                " WHERE name = ? AND id IN (SELECT value FROM json_each(?))",
                [name, json.dumps(ids)],
            ).fetchone()[0]
            rows = sorted((row_id, bytes.fromhex(data)) for row_id, data in json.loads(still))
            if rows != read.rows or self._snapshot(name) != read.snapshot:
                raise CompactionAbandoned(
                    f"compaction of {name!r} abandoned: the log changed while it was folded"
                )
            last = ids[-1]
            self._write_snapshot(name, merged, last)
            folded = [row_id for row_id in ids if row_id not in kept]
            self.db.execute(
                "DELETE FROM updates WHERE id IN (SELECT value FROM json_each(?))",
                [json.dumps(folded)],
            )
            log_bytes = sum(len(data) for _, data in read.rows)
            folded_bytes = log_bytes - sum(kept.values())
            self.db.execute(
                "UPDATE documents SET size_bytes = size_bytes - ? + ?, updates = updates - ?"
                " WHERE name = ?",
                [folded_bytes + len(read.snapshot), len(merged), len(folded), name],
            )
        self._vacuum()
        before = len(read.snapshot) + log_bytes
        return Compaction(name, len(folded), folded_bytes, before, len(merged))

    def _snapshot(self, name: str) -> bytes:
        row = self.db.execute("SELECT data FROM snapshots WHERE name = ?", [name]).fetchone()
        return row[0] if row else b""

    def _snapshot_bytes(self, name: str) -> int:
        """The size of ``name``'s snapshot, without reading it (a compaction of a 20 MB
        document read its previous snapshot, 17 MB, to take its length)."""
        row = self.db.execute(
            "SELECT length(data) FROM snapshots WHERE name = ?", [name]
        ).fetchone()
        return int(row[0]) if row else 0

    def _write_snapshot(self, name: str, merged: bytes, last: int) -> None:
        """Write ``merged`` as the snapshot merging the log up to row ``last``."""
        # The newest moment merged: the log's newest row, or the previous snapshot's.
        covers = self.db.execute(
            "SELECT max(coalesce((SELECT max(created_at) FROM updates"
            " WHERE name = ? AND id <= ?), 0), coalesce((SELECT coalesce(covers_until,"
            " created_at) FROM snapshots WHERE name = ?), 0))",
            [name, last, name],
        ).fetchone()[0]
        # The bytes go in through incremental blob I/O, not as a bound parameter: SQLite
        # keeps its own copy of a bound blob in the statement, which Python's statement
        # cache keeps until the same SQL runs again (the sqlite3 module never clears
        # bindings): a 20 MB document's snapshot stayed resident beside the document.
        self.db.execute(
            "INSERT INTO snapshots (name, data, created_at, last_update_id, covers_until)"
            " VALUES (?, zeroblob(?), ?, ?, ?) ON CONFLICT(name) DO UPDATE SET"
            " data = excluded.data, created_at = excluded.created_at,"
            " last_update_id = excluded.last_update_id, covers_until = excluded.covers_until",
            [name, len(merged), time.time(), last, covers],
        )
        if merged:
            (rowid,) = self.db.execute(
                "SELECT rowid FROM snapshots WHERE name = ?", [name]
            ).fetchone()
            with self.db.conn.blobopen("snapshots", "data", rowid) as blob:
                blob.write(merged)

    def _vacuum(self) -> None:
        with self._errors("vacuum"):
            # executescript steps the pragma to the end (execute frees one page per call).
            self.db.conn.executescript("PRAGMA incremental_vacuum;")
