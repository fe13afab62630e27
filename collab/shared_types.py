"""What the integrator knows of a document beyond its state vector: its shared types, GC
ranges, deleted items and the parent of every item (:mod:`collab.parents`), learnt from every
struct integrated, or read from the document's own state when first asked.
"""

from __future__ import annotations

import bisect
import logging
from collections.abc import Sequence
from typing import Any

from pycrdt import Doc

from collab import structs
from collab.parents import Key, Parents
from collab.structs import ID, Malformed, Struct

__all__ = ["SharedTypes", "holds"]

log = logging.getLogger("collab.integrator")


class SharedTypes:
    """The shared types, GC ranges, deleted items and parents of a document's items, learnt
    from every struct integrated. GC structs are few and every item's neighbours are checked
    against them, and so are the parents of an item's two neighbours: both are followed from
    the start (read from the document's state first when it is given with content); the
    types and deleted items, many in a long-edited text and only needed for items naming a
    parent by id, once that question is first asked (read then).

    Args:
        doc: the document (its state is read on the first question when not ``empty``).
        empty: whether ``doc`` is empty (nothing to read: everything is followed).
    """

    def __init__(self, doc: Doc[Any], *, empty: bool = False) -> None:
        self.doc = doc
        self._gc: dict[int, list[tuple[int, int]]] | None = {} if empty else None
        self._parents: Parents | None = Parents() if empty else None
        # per client, ascending clocks of low surrogates (collab.structs.ClientRun.surrogates)
        self._pairs: dict[int, list[int]] | None = {} if empty else None
        self._types: set[tuple[int, int]] | None = None  # ids of shared types
        # per client, deleted items, and GC ranges of a state read for the types (pycrdt
        # collects the children of a deleted type itself): parents Yjs turns into GC
        self._dead: dict[int, list[tuple[int, int]]] = {}

    def learn(
        self,
        client: int,
        run: list[Struct],
        *,
        since: int = 0,
        gc: bool = True,
        types: bool = True,
    ) -> None:
        """Remember the GC ranges, and once followed the shared types and deleted items, of
        integrated structs from clock ``since`` on (below it the document held its own
        structs already: a duplicate there says nothing of them); ``gc``, ``types``: of
        those (both unless reading the state)."""
        type_ids = self._types if types else None
        gc_spans = self._gc if gc else None
        for clock, length, kind, *_ in run:
            end = clock + length
            if end <= since:
                continue
            start = max(clock, since)
            if kind == structs.GC and gc_spans is not None:
                _add_span(gc_spans.setdefault(client, []), start, end)
            elif type_ids is None:
                continue
            elif kind == structs.TYPE:
                if start == clock:
                    type_ids.add((client, clock))
            elif kind in (structs.DELETED, structs.GC):
                _add_span(self._dead.setdefault(client, []), start, end)

    def parent(self, ref: ID) -> Key:
        """The parent of the document's item at ``ref`` (:mod:`collab.parents`)."""
        if self._parents is None:
            self._read()
        assert self._parents is not None
        return self._parents.get(ref)

    def learn_parent(self, client: int, start: int, end: int, key: Key) -> None:
        """Remember that the integrated clocks ``start`` to ``end`` of ``client`` are in
        ``key`` (once followed: else they are read with the state)."""
        if self._parents is not None:
            self._parents.add(client, start, end, key)

    def learn_surrogates(self, client: int, clocks: list[int]) -> None:
        """Remember the integrated low surrogates ``clocks`` of ``client`` (ascending, past
        those remembered), once followed."""
        if self._pairs is not None:
            self._pairs.setdefault(client, []).extend(clocks)

    def is_low_surrogate(self, ref: ID) -> bool:
        """Whether the document's clock ``ref`` is the low half of a surrogate pair."""
        return holds(self._surrogates().get(ref[0], ()), ref[1])

    def holds_surrogates(self) -> bool:
        """Whether the document holds any character past U+FFFF in its strings."""
        return bool(self._surrogates())

    def _surrogates(self) -> dict[int, list[int]]:
        if self._pairs is None:
            self._read()
        assert self._pairs is not None
        return self._pairs

    def is_type(self, parent: ID, in_update: Struct | None = None) -> bool:
        """Whether ``parent`` names a shared type (or a struct Yjs turns into GC: a GC or a
        deleted item): ``in_update``, the struct holding it in the update being integrated,
        else in the document."""
        if in_update is not None:
            return in_update[2] == structs.TYPE
        if self._types is None:
            self._read()
        assert self._types is not None
        return parent in self._types or self.is_gc(parent) or _within(self._dead, parent)

    def is_gc(self, ref: ID) -> bool:
        """Whether the document holds ``ref`` as GC: a GC struct it was given, or an item
        the integrator wrote as GC. (Children of a deleted type that pycrdt collects itself
        are not seen: an honest item's origin and right origin share a parent, so both are
        collected or neither, and pycrdt then agrees with Yjs.)"""
        return _within(self._gc_spans(), ref)

    def holds_gc(self) -> bool:
        """Whether the document holds any GC struct it was given or the integrator wrote."""
        return bool(self._gc_spans())

    def _gc_spans(self) -> dict[int, list[tuple[int, int]]]:
        if self._gc is None:
            self._read()
        assert self._gc is not None
        return self._gc

    def _read(self) -> None:
        """Learn what is not followed yet (GC ranges, parents, types) from the document's
        own state."""
        gc, types, parents = self._gc is None, self._types is None, self._parents is None
        pairs = self._pairs is None
        self._pairs = {} if pairs else self._pairs
        self._gc = {} if gc else self._gc
        self._types = set() if types else self._types
        index = self._parents = Parents() if parents else self._parents
        try:
            whole = structs.parse(self.doc.get_update())
        except Malformed as exc:  # pycrdt wrote it: never
            log.error("cannot read the document's own state: %s", exc)
            return
        if parents and index is not None:
            index.read(whole.runs)
        if pairs:
            self._pairs = {run.client: run.surrogates for run in whole.runs if run.surrogates}
        for known in whole.runs:
            self.learn(known.client, known.structs, gc=gc, types=types)


def _add_span(spans: list[tuple[int, int]], start: int, end: int) -> None:
    """Add ``[start, end)`` to sorted, disjoint ``spans``, merging what it touches."""
    i = bisect.bisect_left(spans, (start, start))
    if i > 0 and spans[i - 1][1] >= start:
        i -= 1
        start = spans[i][0]
    j = i
    while j < len(spans) and spans[j][0] <= end:
        end = max(end, spans[j][1])
        j += 1
    spans[i:j] = [(start, end)]


def _within(spans_of: dict[int, list[tuple[int, int]]], ref: ID) -> bool:
    """Whether ``ref`` falls in one of its client's ``(start, end)`` ranges (sorted)."""
    spans = spans_of.get(ref[0], ())
    i = bisect.bisect_right(spans, (ref[1], float("inf"))) - 1
    return i >= 0 and spans[i][0] <= ref[1] < spans[i][1]


def holds(clocks: Sequence[int], clock: int) -> bool:
    """Whether ascending ``clocks`` hold ``clock`` (a bisection)."""
    i = bisect.bisect_left(clocks, clock)
    return i < len(clocks) and clocks[i] == clock
