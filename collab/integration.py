"""Which structs of an update integrate into a document, as Yjs decides it.

Yjs (``integrateStructs`` in ``yjs/src/utils/encoding.js``) integrates the structs of an
update client by client, from the highest client id down: a struct whose client's earlier
clocks, or whose origin, right origin or parent (of another client) the document lacks,
waits, with every later struct of its client; a struct naming a missing struct of another
client in the same update first integrates that client's structs (a stack). :func:`integrable`
plays this on the state vector alone, without touching the document, and asks a
:class:`collab.placement.Placement` of each struct that integrates where Yjs puts it: items
Yjs writes as GC (next to a GC struct), items refused because pycrdt 0.14 would place or
read them differently (a parent that is no shared type, neighbours in different parents, a
cut inside a surrogate pair).
"""

from __future__ import annotations

import bisect
from typing import NamedTuple

from collab import slices, structs
from collab.parents import Key
from collab.placement import Placement
from collab.shared_types import SharedTypes
from collab.structs import ClientRun, Part, Struct

__all__ = ["Plan", "SharedTypes", "integrable"]


class Plan(NamedTuple):
    """What :func:`integrable` found."""

    taken: list[Part]
    """Per client, the structs that integrate (parts for :func:`collab.slices.encode`)."""
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
    unlike_yjs: int = 0
    """How many items that waited (``waited``) pycrdt cannot hold as Yjs does: written as GC
    where Yjs integrates an item (neighbours in different parents, a cut inside a surrogate
    pair), or held already and cutting a surrogate pair (Yjs writes U+FFFD for its halves).
    Only a client holding them waiting (their author) reads the document otherwise: every
    client the server feeds gets the GC struct, and never a struct held already."""


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
    rest_only: dict[int, Struct] = {}
    missing: dict[int, int] = {}
    ids = sorted(by_client)
    stack: list[tuple[int, Struct]] = []
    fresh = False
    thrown = False  # see waited
    placement = Placement(by_client, known, types, state)

    def next_target() -> int | None:
        while ids and index[ids[-1]] >= len(by_client[ids[-1]].structs):
            ids.pop()
        return ids[-1] if ids else None

    def need(client: int, clock: int) -> None:
        if missing.get(client, clock + 1) > clock:
            missing[client] = clock

    def to_rest() -> None:  # Yjs's addStackToRestSS
        for client, struct in stack:
            if client not in rest_at:
                rest_at[client] = index[client] - 1
                index[client] = len(by_client[client].structs)  # done with it
                if client in ids:
                    ids.remove(client)
            else:  # its structs were taken off already: Yjs keeps this one alone, and the
                rest_only[client] = struct  # rest of the client is lost (neither integrated)
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
                    if placement.pairs_present and struct[2] != structs.GC:
                        placement.held(client, struct, waited)
                else:
                    if not placement.place(client, struct, local, waited):
                        thrown = True  # Yjs keeps what it integrated before, drops the rest
                        break
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
        missing = {}
    for run in runs:
        cut = _integrated(run, state.get(run.client, 0), rest_at.get(run.client))
        head_part = run.structs[:cut]
        if waited:  # held already: nothing new, and a Yjs client fed it would split its
            done = known.get(run.client, 0)  # neighbours again (see Placement.held)
            head_part = [st for st in head_part if st[0] + st[1] > done]
        while head_part and head_part[-1][2] == structs.SKIP:
            head_part.pop()  # a trailing Skip integrates nothing
        if head_part:
            part = (run.data, run.client, head_part[0][0], head_part)
            to_gc = placement.to_gc.get(run.client)
            taken.append(slices.as_gc(part, to_gc) if to_gc else part)
        if thrown or run.client not in rest_at:
            continue
        only = rest_only.get(run.client)
        tail = [only] if only is not None else run.structs[rest_at[run.client] :]
        rest.append((run.data, run.client, tail[0][0], tail))
    return Plan(
        taken,
        rest,
        missing,
        fresh,
        bool(placement.to_gc),
        tuple(placement.parents),
        tuple(placement.surrogates),
        thrown,
        placement.unlike_yjs,
    )


def _integrated(run: ClientRun, state: int, rest_at: int | None) -> int:
    """How many of ``run``'s first structs the walk integrated or found held: those that
    end at or below ``state`` (the client's clock after the walk), and before its rest
    (``rest_at``, an index; a zero-length struct there ends at ``state`` too). Not always
    the structs before the rest: a struct waiting on the stack while the walk took its
    client's later structs is neither (Yjs's ``addStackToRestSS`` loses it)."""
    structs_ = run.structs
    last = structs_[-1]
    if last[0] + last[1] <= state:
        cut = len(structs_)
    else:
        cut = bisect.bisect_right([st[0] + st[1] for st in structs_], state)
    return cut if rest_at is None else min(cut, rest_at)


def _missing(client: int, struct: Struct, state: dict[int, int]) -> int | None:
    """The client whose clock ``struct`` refers to and the document lacks (Yjs
    ``Item.getMissing``: references to the item's own client are not checked)."""
    for ref in (struct[3], struct[4], struct[5]):
        if ref is not None and ref[0] != client and ref[1] >= state.get(ref[0], 0):
            return ref[0]
    return None
