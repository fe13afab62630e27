"""A document's state at a moment: from the update log, or from the newest version by then.

The log holds every update since the last compaction with its time; a compaction folds it into
the snapshot, after which only versions (stored whole states) reach further back. The state
at a moment the log no longer covers is therefore the newest version made at or before it: as
the document was when that version was made (automatic versions follow every editing
session, so that is normally the state at the end of the last session before the moment).
"""

from __future__ import annotations

from pycrdt import Doc

from collab.integrator import replay
from collab.stores import DocumentStore, HistoryCompacted, VersionRecord

__all__ = ["parts_at", "state_at"]


def parts_at(
    store: DocumentStore, name: str, at: float
) -> tuple[list[bytes], VersionRecord | None]:
    """What makes document ``name``'s state at Unix time ``at`` (blocking: a store call): the
    updates to merge (the snapshot and log rows, when the log still reaches back to ``at``),
    or the state of the newest version made at or before ``at`` and that version.

    Raises:
        DocumentNotFound, NotCreatedYet: as :meth:`DocumentStore.load_at`.
        HistoryCompacted: neither the log nor a version reaches back to ``at``; ``earliest``
            is the earliest moment either still covers.
    """
    try:
        stored = store.load_at(name, at)
    except HistoryCompacted as exc:
        found = store.version_at(name, at)
        if found is not None:
            return [found[1]], found[0]
        oldest = store.list_versions(name, limit=2**62)[-1:]
        earliest = min([exc.earliest, *(v.created_at for v in oldest)])
        raise HistoryCompacted(name, exc.created_at, earliest) from None
    return stored.updates_in_order(), None


def state_at(store: DocumentStore, name: str, at: float) -> tuple[bytes, VersionRecord | None]:
    """Document ``name``'s state at Unix time ``at`` as one update, and the version it came
    from when the log no longer reaches back that far (see :func:`parts_at`)."""
    parts, version = parts_at(store, name, at)
    return replay(Doc(), parts).state_update(), version
