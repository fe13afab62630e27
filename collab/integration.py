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

An item whose origin and right origin lie in different parents is forged, and Yjs and pycrdt
place it differently too (:mod:`collab.parents`): :func:`integrable` refuses it.
"""

from __future__ import annotations

import bisect
from typing import NamedTuple

from collab import structs
from collab.parents import Key, named_parent
from collab.shared_types import SharedTypes
from collab.structs import ID, ClientRun, Malformed, Part, Struct

__all__ = ["Plan", "SharedTypes", "integrable"]


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
    parents: tuple[tuple[int, int, int, Key], ...] = ()
    """The parent of each range of clocks that integrates, in integration order: client,
    first clock, end clock (exclusive), :data:`collab.parents.Key`."""
    surrogates: tuple[tuple[int, list[int]], ...] = ()
    """Per client, the clocks of low surrogates that integrate (see
    :attr:`collab.structs.ClientRun.surrogates`)."""
    thrown: bool = False
    """Whether Yjs would throw integrating the structs that waited (``waited``): those
    before in Yjs's order integrate, the rest is dropped, as Yjs drops it."""


def integrable(
    runs: list[ClientRun], known: dict[int, int], types: SharedTypes, *, waited: bool = False
) -> Plan:
    """Play Yjs's ``integrateStructs`` for an update's ``runs`` on the state vector
    ``known`` (not changed): which structs integrate and which wait, and which items become
    GC (their origin or right origin is GC: see the module's docstring).

    ``types`` says whether a parent id names a shared type and whether an id is GC, in the
    document or in the update's runs.

    ``waited``: the runs waited (their sender cannot be refused any more, and every client
    given the document's state holds them too): an item naming a parent that is no shared
    type is written as GC, as Yjs does (``Item.getMissing`` finds no type: parent null),
    and so is an item whose neighbours lie in different parents (Yjs puts it in its
    origin's parent: a document pycrdt cannot be made to hold), rather than dropping all
    that waited. An item continuing a GC struct, on which Yjs throws, ends the integration
    there (:attr:`Plan.thrown`).

    Raises:
        Malformed: when a struct that integrates names a parent that is no shared type, or
            its origin and right origin lie in different parents, or continues a GC
            struct (unless ``waited``).
    """
    state = dict(known)
    by_client = {run.client: run for run in runs}
    index = dict.fromkeys(by_client, 0)
    rest_at: dict[int, int] = {}
    missing: dict[int, int] = {}
    ids = sorted(by_client)
    stack: list[tuple[int, Struct]] = []
    fresh = False
    thrown = False  # see waited
    to_gc: dict[int, set[int]] = {}  # per client, the clocks of items that become GC
    gc_present = types.holds_gc()  # else no item can be next to a GC struct: no question
    pairs_present = types.holds_surrogates() or any(run.surrogates for run in runs)
    surrogates: list[tuple[int, list[int]]] = []  # see Plan.surrogates

    def splits(client: int, clock: int) -> bool:
        """Whether a cut before ``clock`` of ``client`` splits a surrogate pair."""
        if clock < known.get(client, 0):
            return types.is_low_surrogate((client, clock))
        run = by_client.get(client)
        return run is not None and _holds(run.surrogates, clock)

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

    parents: list[tuple[int, int, int, Key]] = []  # see Plan.parents
    here: dict[int, tuple[list[int], list[Key]]] = {}  # per client, of this update: starts, keys

    def parent_at(ref: ID) -> Key:
        """The parent of the integrated clock ``ref``: of the document, or of this update."""
        if ref[1] < known.get(ref[0], 0):
            return types.parent(ref)
        starts, keys = here.get(ref[0], ((), ()))
        i = bisect.bisect_right(starts, ref[1]) - 1
        return keys[i] if i >= 0 else None

    def parent_of(client: int, struct: Struct, local: int) -> Key:
        """The parent of the new clocks of ``struct`` (Yjs ``Item.getMissing``: the origin's,
        else the right origin's, else its own), refusing an item whose origin and right
        origin disagree, or that continues a clock held in another parent."""
        origin, right = struct[3], struct[4]
        if origin is None and right is None:
            key = named_parent(by_client[client].data, struct)
        else:
            key = parent_at(origin if origin is not None else right)  # type: ignore[arg-type]
            if origin is not None and right is not None and key is not None:
                other = parent_at(right)
                if other is not None and other != key:
                    raise Malformed(
                        f"item {client}:{struct[0]} has its origin in {key} and its right"
                        f" origin in {other}"
                    )
        if local > struct[0] and key is not None:
            held = parent_at((client, local - 1))
            if held is not None and held != key:
                raise Malformed(
                    f"item {client}:{struct[0]} is in {key}, its clock {local - 1} in {held}"
                )
        return key

    def integrated(client: int, start: int, end: int, key: Key) -> None:
        parents.append((client, start, end, key))
        starts, keys = here.setdefault(client, ([], []))
        starts.append(start)
        keys.append(key)

    def cuts_pair(client: int, struct: Struct, trimmed: bool) -> None:
        """Refuse an item whose origin or right origin (Yjs ``Item.getMissing`` splits the
        items there, even for a struct it then skips as held) or whose trim (``trimmed``)
        cuts a surrogate pair."""
        origin, right = struct[3], struct[4]
        if (
            trimmed
            or (origin is not None and splits(origin[0], origin[1] + 1))
            or (right is not None and splits(*right))
        ):
            raise Malformed(
                f"item {client}:{struct[0]} splits a surrogate pair"
                " (Yjs writes U+FFFD for both halves, pycrdt keeps the character)"
            )

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
                elif offset >= struct[1]:  # held already: Yjs still finds its neighbours
                    if pairs_present and struct[2] != structs.GC and not waited:
                        cuts_pair(client, struct, False)
                elif offset == 0 or offset < struct[1]:
                    key: Key = None
                    if struct[2] == structs.GC:
                        gc_present = True
                    elif gc_present and (is_gc(struct[3]) or is_gc(struct[4])):
                        to_gc.setdefault(client, set()).add(struct[0])
                    elif gc_present and offset > 0 and is_gc((client, local - 1)):
                        # Yjs (Item.integrate) takes the GC for the item's left neighbour
                        # and throws ("reading 'origin'"): no Yjs client could apply it
                        if not waited:
                            raise Malformed(f"item {client}:{local} continues a GC struct")
                        thrown = True  # Yjs keeps what it integrated before and drops the rest
                        break
                    else:
                        try:
                            parent = struct[5]
                            if parent is not None and not types.is_type(parent, in_update(parent)):
                                raise Malformed(f"parent {parent} is not a shared type")
                            key = parent_of(client, struct, local)
                            if pairs_present:
                                cuts_pair(client, struct, offset > 0 and splits(client, local))
                        except Malformed:
                            if not waited:
                                raise
                            to_gc.setdefault(client, set()).add(struct[0])  # see waited
                            gc_present = True
                    integrated(client, local, struct[0] + struct[1], key)
                    run_pairs = by_client[client].surrogates
                    if run_pairs and struct[2] == structs.STRING and client not in to_gc:
                        first = bisect.bisect_left(run_pairs, local)
                        last = bisect.bisect_left(run_pairs, struct[0] + struct[1])
                        if first < last:
                            surrogates.append((client, run_pairs[first:last]))
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
    if thrown:  # what integrated before stays (a prefix of each run), the rest is dropped
        rest_at = {
            run.client: bisect.bisect_right(
                [st[0] + st[1] for st in run.structs], state.get(run.client, 0)
            )
            for run in runs
        }
        missing = {}
    for run in runs:
        cut = rest_at.get(run.client, len(run.structs))
        head_part = run.structs[:cut]
        while head_part and head_part[-1][2] == structs.SKIP:
            head_part.pop()  # a trailing Skip integrates nothing
        if head_part:
            part = (run.data, run.client, head_part[0][0], head_part)
            taken.append(structs.as_gc(part, to_gc[run.client]) if run.client in to_gc else part)
        if cut < len(run.structs) and not thrown:
            tail = run.structs[cut:]
            rest.append((run.data, run.client, tail[0][0], tail))
    return Plan(taken, rest, missing, fresh, bool(to_gc), tuple(parents), tuple(surrogates), thrown)


def _missing(client: int, struct: Struct, state: dict[int, int]) -> int | None:
    """The client whose clock ``struct`` refers to and the document lacks (Yjs
    ``Item.getMissing``: references to the item's own client are not checked)."""
    for ref in (struct[3], struct[4], struct[5]):
        if ref is not None and ref[0] != client and ref[1] >= state.get(ref[0], 0):
            return ref[0]
    return None


def splits_a_pair(
    deletes: list[tuple[int, list[tuple[int, int]]]],
    known: dict[int, int],
    types: SharedTypes,
    plan: Plan | None = None,
) -> bool:
    """Whether a delete set (``(client, [(clock, length), ...])``, as
    :attr:`collab.structs.Parsed.deletes`) cuts a string inside a surrogate pair (Yjs writes
    U+FFFD for both halves of a pair it splits, pycrdt keeps the character): of the
    document (state vector ``known``), or of the structs of ``plan`` that integrate with it.
    Clocks neither holds are not known (a deletion that waits)."""
    fresh: dict[int, list[int]] = {}
    for client, clocks in plan.surrogates if plan is not None else ():
        fresh.setdefault(client, []).extend(clocks)
    if not fresh and not types.holds_surrogates():
        return False

    def cut(client: int, clock: int) -> bool:
        if clock < known.get(client, 0):
            return types.is_low_surrogate((client, clock))
        return clock in fresh.get(client, ())

    return any(
        cut(client, clock) or cut(client, clock + length)
        for client, ranges in deletes
        for clock, length in ranges
    )


def _holds(clocks: list[int], clock: int) -> bool:
    """Whether ascending ``clocks`` hold ``clock``."""
    i = bisect.bisect_left(clocks, clock)
    return i < len(clocks) and clocks[i] == clock
