"""Rebuilding a document from what is stored: the replay of its snapshot and log (CPU work,
on a fold thread, :mod:`collab.hub.folds`), and the quarantine of stored rows that no longer
decode (database work, on the database thread)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from pycrdt import Doc

from collab.integrator import Integrator, replay
from collab.stores import DocumentStore, StoredDocument
from collab.stores.folding import Pace, paced
from collab.updates import InvalidUpdate

__all__ = ["Unreadable", "quarantine", "read_document", "rebuild"]

log = logging.getLogger("collab.hub")


@dataclass(slots=True)
class Unreadable:
    """Stored rows of a document that do not decode, each with why (for the quarantine): the
    snapshot's reason (``None``: it decodes) and the log rows' (by id), each naming its row
    (``"row 25: not a valid Yjs v1 update: ..."``)."""

    snapshot: str | None = None
    rows: dict[int, str] = field(default_factory=dict)

    @property
    def reason(self) -> str:
        """Every row's reason, on one line (for a log or an error), at most 1000 characters."""
        parts = [self.snapshot] if self.snapshot is not None else []
        return "; ".join([*parts, *self.rows.values()])[:1000]


def rebuild(stored: StoredDocument, pace: Pace | None = None) -> Integrator | Unreadable:
    """Replay ``stored`` (snapshot, then log) into a new document; ``pace`` is called before
    each update applied (it may raise to end the replay).

    Returns:
        The integrator (its document, and what still waits for a predecessor), or the rows
        that do not decode, to quarantine before rebuilding again.

    Raises:
        InvalidUpdate: when it fails although each row decodes on its own.
    """
    try:
        return replay(Doc(), paced(stored.updates_in_order(), pace))
    except InvalidUpdate:
        pass
    bad = Unreadable()
    integrator = Integrator(Doc())
    if stored.snapshot:
        try:
            integrator.apply(stored.snapshot, bounded=False)
        except InvalidUpdate as exc:
            bad.snapshot, integrator = f"snapshot: {exc}"[:1000], Integrator(Doc())
    ids = stored.update_ids or tuple(range(len(stored.updates)))
    for row_id, update in zip(ids, paced(stored.updates, pace), strict=True):
        try:
            integrator.apply(update, bounded=False)
        except InvalidUpdate as exc:  # DocumentCorrupted too: replayed again without it
            bad.rows[row_id] = f"row {row_id}: {exc}"[:1000]
    if bad.snapshot is not None or bad.rows:
        return bad
    return replay(Doc(), paced(stored.updates_in_order(), pace))


def quarantine(store: DocumentStore, name: str, unreadable: Unreadable) -> StoredDocument:
    """Move document ``name``'s ``unreadable`` rows to the store's quarantine (logged; ``collab
    doctor --repair`` and the API list, drop or restore them); what is stored now.

    Raises:
        StoreError: on a database failure.
    """
    store.quarantine(name, unreadable.rows, unreadable.snapshot)
    log.warning(
        "quarantined stored rows that do not decode",
        extra={
            "room": name,
            "rows": len(unreadable.rows) + (unreadable.snapshot is not None),
            "reason": unreadable.reason,
        },
    )
    return store.load(name)


def read_document(store: DocumentStore, name: str) -> tuple[StoredDocument, Integrator]:
    """Load document ``name`` and rebuild it, on the calling thread (tools, the doctor;
    the hub does the same in steps, the replay on a fold thread). The integrator also holds
    the stored updates of which part still waits for a predecessor.

    A stored row that no longer decodes (written by an older version or another tool) would
    make the whole document unavailable: what decodes is loaded, and the rest is moved to the
    store's quarantine (:func:`quarantine`).

    Raises:
        StoreError: on a database failure.
        InvalidUpdate: when the stored rows fail together although each decodes.
    """
    stored = store.load(name)
    rebuilt = rebuild(stored)
    if isinstance(rebuilt, Unreadable):
        stored = quarantine(store, name, rebuilt)
        rebuilt = replay(Doc(), stored.updates_in_order())
    return stored, rebuilt
