"""Which structs of an update integrate into a document, as Yjs decides it.

Yjs (``integrateStructs`` in ``yjs/src/utils/encoding.js``) integrates the structs of an
update client by client, from the highest client id down: a struct whose client's earlier
clocks, or whose origin, right origin or parent (of another client) the document lacks,
waits, with every later struct of its client; a struct naming a missing struct of another
client in the same update first integrates that client's structs (a stack). :func:`integrable`
plays this on the state vector alone, without touching the document, and
:class:`SharedTypes` says whether a parent is a shared type (pycrdt fails half-way on an item
whose parent is not one) and whether a struct is GC.

An item whose origin or right origin is a GC struct becomes GC in Yjs (``Item.getMissing``
sets its parent to null, ``Item.integrate`` then writes a GC); pycrdt 0.14 (yrs
``Update::missing_dependency``) finds no item there, drops that neighbour and places the item
at the start of its parent or after its other neighbour: a document every Yjs client decodes
differently. :func:`integrable` finds such items and hands them to pycrdt as GC.
"""

from __future__ import annotations

import bisect
import logging
from typing import Any, NamedTuple

from pycrdt import Doc

from collab import structs
from collab.structs import ID, ClientRun, Malformed, Part, Struct

__all__ = ["Plan", "SharedTypes", "integrable"]

log = logging.getLogger("collab.integrator")


class Plan(NamedTuple):
    """What :func:`integrable` found."""

    taken: list[Part]
    """Per client, the structs that integrate (parts for :func:`collab.structs.encode`)."""
    rest: list[Part]
    """Per client, the structs that wait."""
    missing: dict[int, int]
    """Per client, the lowest clock what waits waits for."""
    fresh: bool
    """Whether any struct brings a clock the document lacks."""
    rewritten: bool = False
    """Whether ``taken`` holds items written as GC (they are not the update's bytes)."""


def integrable(runs: list[ClientRun], known: dict[int, int], types: SharedTypes) -> Plan:
    """Play Yjs's ``integrateStructs`` for an update's ``runs`` on the state vector
    ``known`` (not changed): which structs integrate and which wait, and which items become
    GC (their origin or right origin is GC: see the module's docstring).

    ``types`` says whether a parent id names a shared type and whether an id is GC, in the
    document or in the update's runs.

    Raises:
        Malformed: when a struct that integrates names a parent that is no shared type.
    """
    state = dict(known)
    by_client = {run.client: run for run in runs}
    index = dict.fromkeys(by_client, 0)
    rest_at: dict[int, int] = {}
    missing: dict[int, int] = {}
    ids = sorted(by_client)
    stack: list[tuple[int, Struct]] = []
    fresh = False
    to_gc: dict[int, set[int]] = {}  # per client, the clocks of items that become GC
    gc_present = types.holds_gc()  # else no item can be next to a GC struct: no question

    starts: dict[int, list[int]] = {}  # per client, its structs' clocks (built when asked)

    def in_update(ref: ID) -> Struct | None:
        """The struct of this update holding ``ref``, unless the document held that clock
        before (a duplicate there is not what Yjs reads); by bisection: a whole state names
        its own structs as origins thousands of times."""
        run = by_client.get(ref[0])
        if run is None or ref[1] < known.get(ref[0], 0):
            return None
        clocks = starts.get(ref[0])
        if clocks is None:
            clocks = starts[ref[0]] = [struct[0] for struct in run.structs]
        i = bisect.bisect_right(clocks, ref[1]) - 1
        found = run.structs[i] if i >= 0 else None
        return found if found is not None and ref[1] < found[0] + found[1] else None

    def is_gc(ref: ID | None) -> bool:
        if ref is None:
            return False
        if ref[1] < state.get(ref[0], 0):  # integrated: from this update, or held before
            found = in_update(ref)
            if found is not None:
                return found[2] == structs.GC or found[0] in to_gc.get(ref[0], ())
        return types.is_gc(ref)

    def next_target() -> int | None:
        while ids and index[ids[-1]] >= len(by_client[ids[-1]].structs):
            ids.pop()
        return ids[-1] if ids else None

    def need(client: int, clock: int) -> None:
        if missing.get(client, clock + 1) > clock:
            missing[client] = clock

    def to_rest() -> None:
        for client, _ in stack:
            if client in index and client not in rest_at:
                rest_at[client] = index[client] - 1
                index[client] = len(by_client[client].structs)  # done with it
                if client in ids:
                    ids.remove(client)
        stack.clear()

    current = next_target()
    if current is None:
        return Plan([], [], {}, False)
    head = (current, by_client[current].structs[0])
    index[current] = 1
    while True:
        client, struct = head
        if struct[2] != structs.SKIP:
            local = state.get(client, 0)
            offset = local - struct[0]
            if offset < 0:
                stack.append(head)
                need(client, struct[0] - 1)
                to_rest()
            else:
                lacking = _missing(client, struct, state)
                if lacking is not None:
                    stack.append(head)
                    other = by_client.get(lacking)
                    if other is None or index[lacking] >= len(other.structs):
                        need(lacking, state.get(lacking, 0))
                        to_rest()
                    else:
                        head = (lacking, other.structs[index[lacking]])
                        index[lacking] += 1
                        continue
                elif offset == 0 or offset < struct[1]:
                    parent = struct[5]
                    if parent is not None and not types.is_type(parent, in_update(parent)):
                        raise Malformed(f"parent {parent} is not a shared type")
                    if struct[2] == structs.GC:
                        gc_present = True
                    elif gc_present and (is_gc(struct[3]) or is_gc(struct[4])):
                        to_gc.setdefault(client, set()).add(struct[0])
                    elif gc_present and offset > 0 and is_gc((client, local - 1)):
                        # Yjs (Item.integrate) takes the GC for the item's left neighbour
                        # and throws ("reading 'origin'"): no Yjs client could apply it
                        raise Malformed(f"item {client}:{local} continues a GC struct")
                    state[client] = struct[0] + struct[1]
                    fresh = True
        if stack:
            head = stack.pop()
        elif current is not None and index.get(current, 0) < len(by_client[current].structs):
            head = (current, by_client[current].structs[index[current]])
            index[current] += 1
        else:
            current = next_target()
            if current is None:
                break
            head = (current, by_client[current].structs[index[current]])
            index[current] += 1
    taken: list[Part] = []
    rest: list[Part] = []
    for run in runs:
        cut = rest_at.get(run.client, len(run.structs))
        head_part = run.structs[:cut]
        while head_part and head_part[-1][2] == structs.SKIP:
            head_part.pop()  # a trailing Skip integrates nothing
        if head_part:
            part = (run.data, run.client, head_part[0][0], head_part)
            taken.append(structs.as_gc(part, to_gc[run.client]) if run.client in to_gc else part)
        if cut < len(run.structs):
            tail = run.structs[cut:]
            rest.append((run.data, run.client, tail[0][0], tail))
    return Plan(taken, rest, missing, fresh, bool(to_gc))


class SharedTypes:
    """The shared types, GC ranges and deleted items of a document, learnt from every struct
    integrated. GC structs are few and every item's neighbours are checked against them, so
    they are followed from the start (read from the document's state first when it is given
    with content); the types and deleted items, many in a long-edited text and only needed
    for items naming a parent by id, once that question is first asked (read then)."""

    def __init__(self, doc: Doc[Any], *, empty: bool = False) -> None:
        self.doc = doc
        self._gc: dict[int, list[tuple[int, int]]] | None = {} if empty else None
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
        """Learn what is not followed yet (GC ranges, types) from the document's own state."""
        gc, types = self._gc is None, self._types is None
        self._gc = {} if gc else self._gc
        self._types = set() if types else self._types
        try:
            whole = structs.parse(self.doc.get_update())
        except Malformed as exc:  # pycrdt wrote it: never
            log.error("cannot read the document's own state: %s", exc)
            return
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


def _missing(client: int, struct: Struct, state: dict[int, int]) -> int | None:
    """The client whose clock ``struct`` refers to and the document lacks (Yjs
    ``Item.getMissing``: references to the item's own client are not checked)."""
    for ref in (struct[3], struct[4], struct[5]):
        if ref is not None and ref[0] != client and ref[1] >= state.get(ref[0], 0):
            return ref[0]
    return None
