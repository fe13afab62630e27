"""What every store computes from stored updates, the same way: the compacted snapshot (and
the log rows it must keep), a deleted document's tombstone, a document's whole state.

Pure functions over bytes (pycrdt through :mod:`collab.updates`); no SQL.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, TypeVar

from pycrdt import Doc

from collab import structs
from collab.integrator import apply_all, replay
from collab.stores.base import CompactionAbandoned, StoredDocument, StoreError
from collab.updates import (
    EMPTY_UPDATE,
    InvalidUpdate,
    holds_back,
    revives_deleted,
    same_document,
    state_vector,
)

__all__ = ["Deadline", "Pace", "fold", "paced", "tombstone", "tombstones_of_rename", "whole_state"]

T = TypeVar("T")

Pace = Callable[[], None]
"""Called before each update a replay applies (on the replaying thread): a time budget
(:class:`Deadline`) raises there; a test holds a replay there."""


class Deadline:
    """The time budget of one compaction's fold: called before each update it replays,
    it raises once ``seconds`` passed since it was made.

    Args:
        name: the document (for the message).
        seconds: the budget.
        clock: seconds, monotonic (:func:`time.monotonic`; a fake one in tests).
    """

    def __init__(self, name: str, seconds: float, clock: Callable[[], float] = time.monotonic):
        self.name, self.seconds, self.clock = name, seconds, clock
        self.at = clock() + seconds

    def __call__(self) -> None:
        """Raises:
        CompactionAbandoned: past the budget."""
        if self.clock() > self.at:
            raise CompactionAbandoned(
                f"compaction of {self.name!r} abandoned: its fold took more than {self.seconds:g} s"
            )


def paced(items: Iterable[T], pace: Pace | None) -> Iterator[T]:
    """``items``, calling ``pace()`` before each one (none: as they are)."""
    if pace is None:
        yield from items
        return
    for item in items:
        pace()
        yield item


def fold(
    name: str, snapshot: bytes, rows: Sequence[tuple[int, bytes]], pace: Pace | None = None
) -> tuple[bytes, dict[int, int]]:
    """Replay ``snapshot`` and the log ``rows`` (id, update) of document ``name``.

    Pure (no database): the hub runs it on a fold thread, not the database thread. ``pace``
    is called before each update replayed (a :class:`Deadline` stops a fold there).

    Returns:
        The merged state and the rows to keep (id: bytes), those the document keeps pending:
        structs waiting for a missing predecessor, deletions of clocks it does not have.

    A log holding two structs at the same clock of one client (a forger's duplicate) has
    an outcome that depends on the order: folded first, a row that waited behind the
    duplicate in the log's order may integrate. The state is then folded with what waits
    in it as the replay holds it (:meth:`Integrator.state_update`: waiting structs at clocks
    the document holds stay out, as from every reader of the state), and no row is kept.

    Raises:
        StoreError: when the merged state plus the kept rows is not the whole log's document.
        CompactionAbandoned: when ``pace`` raised it.
    """
    parts = ([snapshot] if snapshot else []) + [data for _, data in rows]
    integrator = replay(Doc(), paced(parts, pace))
    replayed = integrator.doc
    merged = replayed.get_update()
    kept = {row_id: data for row_id, data in paced(rows, pace) if holds_back(replayed, data)}
    check = apply_all(Doc(), paced([merged, *kept.values()], pace))
    if not same_document(check, replayed):
        merged, kept = integrator.state_update(), {}
        if not _same_ids(apply_all(Doc(), [merged]), replayed):
            raise StoreError(f"compaction of {name!r} aborted: compacted state differs")
    return merged, {row_id: len(data) for row_id, data in kept.items()}


def _same_ids(a: Doc[Any], b: Doc[Any]) -> bool:
    """Whether two documents hold the same structs and deletions: equal state vectors and
    equal delete sets (ranges merged). Their encodings may still differ in length: a
    replay splits items where the other did not (same content, same ids)."""
    if state_vector(a.get_state()) != state_vector(b.get_state()):
        return False
    return _deleted(a) == _deleted(b)


def _deleted(doc: Doc[Any]) -> dict[int, list[tuple[int, int]]]:
    """The document's delete set, per client as sorted, merged ranges (start, end)."""
    merged: dict[int, list[tuple[int, int]]] = {}
    for client, ranges in structs.parse(doc.get_update()).deletes:
        merged.setdefault(client, []).extend((clock, clock + length) for clock, length in ranges)
    return {client: structs.merged_spans(ranges) for client, ranges in merged.items()}


def tombstone(stored: StoredDocument) -> bytes:
    """The tombstone of a document about to be deleted: its whole state merged with the
    tombstone of its earlier lives (content of any of them stays refused)."""
    parts = stored.updates_in_order()
    if stored.tombstone:
        parts.insert(0, stored.tombstone)
    return apply_all(Doc(), parts).get_update()


def tombstones_of_rename(moved: StoredDocument, target: bytes | None) -> tuple[bytes, bytes | None]:
    """The tombstones a rename leaves: the old name's (:func:`tombstone` of the document
    moved away) and what stays of the new name's (``target``, an earlier deleted document's):
    kept, unless the moved content carries structs it covers (a document renamed back to a
    name it had: its own content must not be refused there).

    Raises:
        InvalidUpdate: when a stored update cannot be decoded.
    """
    old = tombstone(moved)
    if target is None:
        return old, None
    content = apply_all(Doc(), moved.updates_in_order()).get_update()
    return old, None if revives_deleted(content, target) else target


def whole_state(name: str, stored: StoredDocument) -> bytes:
    """Document ``name``'s whole state as one compact v1 update, what still waits for a
    predecessor included (empty when nothing is stored).

    Raises:
        StoreError: when a stored update cannot be read.
    """
    parts = stored.updates_in_order()
    try:
        return replay(Doc(), parts).state_update() if parts else EMPTY_UPDATE
    except InvalidUpdate as exc:
        raise StoreError(f"document {name!r} cannot be read: {exc}") from exc
