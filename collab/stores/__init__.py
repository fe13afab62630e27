"""Storage: the :class:`DocumentStore` seam and its SQLite implementation (the only code that
holds SQL; see :mod:`collab.stores.base`)."""

from __future__ import annotations

from collab.stores.base import (
    Compaction,
    CompactionAbandoned,
    CompactionInput,
    DatabaseInUse,
    DeletedMeanwhile,
    DocumentNotFound,
    DocumentRecord,
    DocumentStore,
    HistoryCompacted,
    NameTaken,
    NotCreatedYet,
    QuarantinedRow,
    SortKey,
    StoreBusy,
    StoredDocument,
    StoreError,
    StoreLocked,
    VersionRecord,
)
from collab.stores.sqlite import SQLiteStore, Store

__all__ = [
    "Compaction",
    "CompactionAbandoned",
    "CompactionInput",
    "DatabaseInUse",
    "DeletedMeanwhile",
    "DocumentNotFound",
    "DocumentRecord",
    "DocumentStore",
    "HistoryCompacted",
    "NameTaken",
    "NotCreatedYet",
    "QuarantinedRow",
    "SQLiteStore",
    "SortKey",
    "Store",
    "StoreBusy",
    "StoreError",
    "StoreLocked",
    "StoredDocument",
    "VersionRecord",
]
