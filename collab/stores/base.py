"""The storage seam: :class:`DocumentStore` and its errors (what it returns is in
:mod:`collab.stores.records`, importable from here too).

A store keeps, per document name, an append-only log of Yjs v1 updates, at most one compacted
snapshot, and the merged state of a deleted document (its tombstone). It is bytes-level: it
never needs a live document, only :mod:`collab.updates` to replay or check what it folds.
Every method blocks (the hub runs them on one worker thread) and is called from one thread at
a time; a write returns only after its transaction committed. Errors are :class:`StoreError`.

The SQLite implementation is :class:`collab.stores.sqlite.SQLiteStore`; a second one (e.g.
PostgreSQL) implements the same methods and is passed to ``Collab(store=...)``.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol, runtime_checkable

from collab.errors import CloseCode, CollabError
from collab.stores.outbox import EventOutbox
from collab.stores.records import (
    Compaction,
    CompactionInput,
    DocumentRecord,
    QuarantinedRow,
    SortKey,
    StoredDocument,
    VersionRecord,
)

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
    "SortKey",
    "StoreBusy",
    "StoreError",
    "StoreLocked",
    "StoredDocument",
    "VersionRecord",
]


class StoreError(CollabError):
    """The database failed (disk full, locked, corrupt, unreadable); the message says how."""

    close_code = CloseCode.INTERNAL_ERROR
    http_status = 503
    code = "storage_error"


class StoreLocked(StoreError):
    """A commit waited the busy timeout for another connection's write lock and failed;
    nothing was written, and the same commit may succeed once the lock is released."""


class StoreBusy(StoreError):
    """Another connection holds the database's write lock, and the call was not to wait for
    it (``append(..., wait=False)``); nothing was written."""


class CompactionAbandoned(StoreError):
    """A compaction gave up and wrote nothing: its fold passed its time budget, or the log it
    folded changed before the snapshot was written (a deletion, another compaction). The
    document is as it was; the message says which."""


class DeletedMeanwhile(StoreError):
    """A fenced append (cluster mode) found documents deleted since the writer loaded them:
    nothing of the batch was written. ``names`` lists them, sorted; the rest of the batch
    may be appended again without them.

    Args:
        names: the documents deleted since their fence.
    """

    def __init__(self, names: list[str]) -> None:
        super().__init__(f"deleted meanwhile: {', '.join(names)}"[:200])
        self.names = names


class DatabaseInUse(StoreError):
    """Another process serves or writes this database (a second server on the same file
    would never see the first one's edits); the message names it, then what to do.

    Attributes:
        situation: the message without the advice (a caller with other advice, such as an
            import that can go over HTTP instead, gives its own after it).
    """

    def __init__(self, situation: str, advice: str = "") -> None:
        super().__init__(f"{situation}: {advice}" if advice else situation)
        self.situation = situation


class DocumentNotFound(StoreError):
    """No document of that name is stored (:meth:`DocumentStore.load_at`).

    Attributes:
        deleted_at: when a document of that name was deleted (Unix seconds), if one was.
    """

    http_status = 404
    code = "not_found"

    def __init__(self, name: str, deleted_at: float | None = None) -> None:
        super().__init__(f"no document named {name!r}")
        self.deleted_at = deleted_at


class NameTaken(StoreError):
    """A rename's new name is a stored document already (:meth:`DocumentStore.rename`);
    nothing was changed."""

    http_status = 409
    code = "exists"

    def __init__(self, name: str) -> None:
        super().__init__(f"a document named {name!r} exists already")
        self.name = name


class HistoryCompacted(StoreError):
    """The moment asked for was folded into the snapshot by a compaction.

    Attributes:
        created_at: when the document was created (Unix seconds).
        earliest: the earliest moment the stored history still covers.
    """

    http_status = 410
    code = "history_gone"

    def __init__(self, name: str, created_at: float, earliest: float) -> None:
        super().__init__(f"the history of {name!r} before {earliest} was compacted")
        self.created_at, self.earliest = created_at, earliest


class NotCreatedYet(StoreError):
    """The moment asked for is before the document was created.

    Attributes:
        created_at: when it was created (Unix seconds).
    """

    http_status = 404
    code = "not_found"

    def __init__(self, name: str, created_at: float) -> None:
        super().__init__(f"{name!r} did not exist yet")
        self.created_at = created_at


@runtime_checkable
class DocumentStore(Protocol):
    """What collab needs of a database (see the module docstring).

    ``commits_sync`` says whether a commit waits for the disk or the network: when it does
    not (SQLite in WAL mode without fsync on commit), the hub may commit a small burst on the
    event loop itself, with ``append(..., wait=False)``.
    """

    @property
    def commits_sync(self) -> bool: ...

    @property
    def outbox(self) -> EventOutbox:
        """The document events (webhooks, change feed): written by the store in the
        transactions that cause them (see :class:`~collab.stores.outbox.EventOutbox`)."""

    def load(self, name: str) -> StoredDocument:
        """Everything a room needs to rebuild document ``name`` (empty when unknown)."""

    def load_at(self, name: str, at: float | None = None) -> StoredDocument:
        """Document ``name`` as it was at Unix time ``at`` (now when ``None``), read in one
        transaction: the snapshot (only if it merged nothing after ``at``) and the log rows
        written at or before ``at``. Raises DocumentNotFound, NotCreatedYet (``at`` before
        its creation) or HistoryCompacted (a compaction folded what came after ``at``)."""

    def state(self, name: str) -> bytes:
        """Document ``name``'s whole state as one v1 update (empty when unknown)."""

    def get(self, name: str) -> DocumentRecord | None:
        """The record of document ``name``, or ``None``."""

    def list(
        self,
        *,
        limit: int = 100,
        after: tuple[Any, str] | None = None,
        sort: SortKey = "name",
        prefix: str = "",
    ) -> list[DocumentRecord]:
        """A page of records: keyset cursor ``after`` = (sort value, name) of the last row."""

    def count(self) -> int:
        """How many documents are stored."""

    def names(self) -> Iterable[str]:
        """Every stored document name, in order."""

    def log_stats(self, name: str) -> tuple[int, int]:
        """``(rows, bytes)`` of the document's log since its last compaction."""

    def append(
        self,
        batch: Sequence[tuple[str, bytes]],
        *,
        wait: bool = True,
        fence: Mapping[str, float | None] | None = None,
    ) -> None:
        """Append ``(name, update)`` pairs in ONE transaction (group commit); raises
        StoreBusy without ``wait`` when the write lock is taken. With ``fence`` (cluster
        mode: each document's ``StoredDocument.deleted_at`` as its room loaded it), raises
        DeletedMeanwhile, writing nothing, when a document was deleted since (by another
        node sharing the database): its tombstone's ``deleted_at`` differs."""

    def compact(self, name: str, state: bytes | None = None) -> Compaction | None:
        """Fold the snapshot and log into one snapshot (``state``: the live document's
        ``get_update()`` as of the newest row, when nothing waits for a predecessor)."""

    def read_for_compaction(self, name: str) -> CompactionInput | None:
        """The snapshot and log of ``name`` to fold elsewhere (``None``: the log is empty);
        the fold (:func:`collab.stores.folding.fold`) is pure and needs no database."""

    def finish_compaction(
        self, read: CompactionInput, merged: bytes, kept: dict[int, int]
    ) -> Compaction:
        """Write ``merged`` (the fold of ``read``) as the snapshot and delete the rows it
        merged (all read but ``kept``: id -> bytes), in one transaction; rows appended since
        the read stay. Raises CompactionAbandoned, writing nothing, when the snapshot or a
        row read changed meanwhile."""

    def delete(self, name: str) -> bool:
        """Delete the document and its versions, keeping its merged state as a tombstone;
        whether it existed."""

    def rename(self, old: str, new: str) -> bool:
        """Give document ``old`` the name ``new``, in one transaction: its log, snapshot,
        versions, quarantined rows, counters and unreported change move; ``old`` keeps the
        merged state as a tombstone (as after a delete); a tombstone of ``new`` is kept
        unless the moved content carries structs it covers; a ``document.renamed`` event
        (``document`` the old name, ``data`` ``{"from", "to"}``) is written. Whether ``old``
        existed; raises NameTaken (nothing changed) when ``new`` is a stored document."""

    def purge(self, name: str) -> None:
        """Remove the document and its tombstone (an import that replaces it); its versions
        stay."""

    # Versions (bytes-level: a version is a stored state with a small record). Ids are unique
    # in the store, increase, and are never given twice. Versions are kept across compaction
    # and purge, and deleted with their document.

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
        """Store ``data`` (a whole state, Yjs v1) as a version of ``name`` made at
        ``created_at`` (Unix seconds; now when ``None``), in one transaction."""

    def list_versions(
        self, name: str, *, before: int | None = None, limit: int = 100
    ) -> builtins.list[VersionRecord]:
        """Records of ``name``'s versions, newest (highest id) first, only ids below
        ``before`` when given (keyset paging), at most ``limit``."""

    def get_version(self, name: str, version_id: int) -> tuple[VersionRecord, bytes] | None:
        """Version ``version_id`` of ``name`` and its state; ``None`` if ``name`` has none."""

    def version_at(self, name: str, moment: float) -> tuple[VersionRecord, bytes] | None:
        """The newest version of ``name`` made at or before ``moment`` and its state."""

    def delete_versions(self, name: str, version_ids: Iterable[int]) -> int:
        """Delete these versions of ``name`` (a retention policy's choice) in one
        transaction; how many existed."""

    def transaction(self) -> AbstractContextManager[None]:
        """Several writes as one transaction (all or nothing)."""

    def checkpoint(self) -> None:
        """Make committed writes durable in the main file (SQLite: a WAL checkpoint)."""

    def quarantine(self, name: str, rows: Mapping[int, str], snapshot: str | None) -> int:
        """Move log rows that no longer decode (``rows``: id to why) and the snapshot (when
        ``snapshot``, why it does not decode, is not ``None``) out of document ``name``, into
        the quarantine (never deleted silently), each with its own reason; how many moved."""

    def quarantined(self, name: str | None = None) -> Sequence[QuarantinedRow]:
        """The quarantined rows (of document ``name``, or all), oldest first."""

    def quarantined_data(self, quarantine_id: int) -> bytes:
        """The bytes of a quarantined row (empty when there is none)."""

    def release(self, quarantine_id: int, *, restore: bool) -> str | None:
        """Drop a quarantined row, or with ``restore`` put it back in its document's log;
        the document's name, or ``None`` when there is no such row."""

    def schema_version(self) -> int:
        """How many migrations this database has applied."""

    def close(self) -> None:
        """Flush what is kept in memory and close."""
