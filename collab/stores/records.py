"""What a :class:`~collab.stores.base.DocumentStore` returns: the records of documents,
versions and quarantined rows, a loaded document, and the input and result of a compaction.
Timestamps are Unix seconds (float), sizes bytes; every record is frozen."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = [
    "Compaction",
    "CompactionInput",
    "DocumentRecord",
    "QuarantinedRow",
    "SortKey",
    "StoredDocument",
    "VersionRecord",
]

SortKey = Literal["name", "updated_at"]
"""What :meth:`~collab.stores.base.DocumentStore.list` sorts by."""


@dataclass(frozen=True, slots=True)
class DocumentRecord:
    """A document's row: timestamps in Unix seconds, sizes in bytes."""

    name: str
    created_at: float
    updated_at: float
    size_bytes: int
    updates: int


@dataclass(frozen=True, slots=True)
class VersionRecord:
    """A stored version of a document: ``id`` (unique in the database, increasing),
    ``created_at`` (Unix seconds), an optional ``label`` and ``author`` (a token's subject),
    whether it was made ``automatic``-ally, and the size of its state in bytes."""

    id: int
    name: str
    created_at: float
    label: str | None
    author: str | None
    automatic: bool
    size_bytes: int


@dataclass(frozen=True, slots=True)
class QuarantinedRow:
    """A row moved aside: its quarantine id, document, ``kind`` (``update`` or ``snapshot``),
    size in bytes, why, and when (Unix seconds)."""

    id: int
    name: str
    kind: str
    size: int
    reason: str
    quarantined_at: float


@dataclass(frozen=True, slots=True)
class StoredDocument:
    """What a room loads: the snapshot (if any), the log after it, the deleted-state tombstone."""

    snapshot: bytes | None
    updates: list[bytes]
    tombstone: bytes | None
    update_ids: tuple[int, ...] = ()  # the log rows' ids, when the store has them
    # When the tombstone was written (Unix seconds; ``None``: none): read before the rest, it
    # names the document's life for a fenced append (see ``DocumentStore.append``).
    deleted_at: float | None = None

    def updates_in_order(self) -> list[bytes]:
        """The snapshot then the log: applying them in order rebuilds the document."""
        return ([self.snapshot] if self.snapshot else []) + self.updates


@dataclass(frozen=True, slots=True)
class Compaction:
    """The result of one compaction: rows merged and bytes before and after."""

    name: str
    rows: int
    log_bytes: int
    bytes_before: int
    bytes_after: int


@dataclass(frozen=True, slots=True)
class CompactionInput:
    """What a compaction folds, read in one transaction: the document's snapshot (empty when
    it has none) and its log rows ``(id, Yjs v1 update)`` in id order."""

    name: str
    snapshot: bytes
    rows: list[tuple[int, bytes]]
