"""Rebuilding a document from what is stored: the replay of its snapshot and log (CPU work,
on a fold thread, :mod:`collab.hub.folds`), and the quarantine of stored rows that no longer
decode (database work, on the database thread)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from pycrdt import Doc

from collab.integrator import Integrator, replay
from collab.stores import DocumentStore, StoredDocument
from collab.stores.folding import Pace, paced
from collab.updates import InvalidUpdate

__all__ = ["Unreadable", "quarantine", "read_document", "rebuild"]

log = logging.getLogger("collab.hub")


@dataclass(frozen=True, slots=True)
class Unreadable:
    """Stored rows of a document that do not decode: whether its snapshot, the log rows'
    ids, and why (for the quarantine)."""

    snapshot: bool
    rows: list[int]
    reason: str


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
    bad_snapshot, bad_rows, reasons = False, [], []
    integrator = Integrator(Doc())
    if stored.snapshot:
        try:
            integrator.apply(stored.snapshot, bounded=False)
        except InvalidUpdate as exc:
            bad_snapshot, integrator = True, Integrator(Doc())
            reasons.append(f"snapshot: {exc}")
    ids = stored.update_ids or tuple(range(len(stored.updates)))
    for row_id, update in zip(ids, paced(stored.updates, pace), strict=True):
        try:
            integrator.apply(update, bounded=False)
        except InvalidUpdate as exc:  # DocumentCorrupted too: replayed again without it
            bad_rows.append(row_id)
            reasons.append(f"row {row_id}: {exc}")
    if bad_snapshot or bad_rows:
        return Unreadable(bad_snapshot, bad_rows, "; ".join(reasons)[:1000])
    return replay(Doc(), paced(stored.updates_in_order(), pace))


def quarantine(store: DocumentStore, name: str, unreadable: Unreadable) -> StoredDocument:
    """Move document ``name``'s ``unreadable`` rows to the store's quarantine (logged; ``collab
    doctor --repair`` and the API list, drop or restore them); what is stored now.

    Raises:
        StoreError: on a database failure.
    """
    store.quarantine(name, unreadable.rows, unreadable.snapshot, unreadable.reason)
    log.warning(
        "quarantined stored rows that do not decode",
        extra={
            "room": name,
            "rows": len(unreadable.rows) + unreadable.snapshot,
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
