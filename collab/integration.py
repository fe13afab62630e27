"""Which structs of an update integrate into a document, as Yjs decides it.

Yjs (``integrateStructs`` in ``yjs/src/utils/encoding.js``) integrates the structs of an
update client by client, from the highest client id down: a struct whose client's earlier
clocks, or whose origin, right origin or parent (of another client) the document lacks,
waits, with every later struct of its client; a struct naming a missing struct of another
client in the same update first integrates that client's structs (a stack). :func:`integrable`
plays this on the state vector alone, without touching the document, and
:class:`SharedTypes` says whether a parent is a shared type (pycrdt fails half-way on an item
whose parent is not one).
"""

from __future__ import annotations

import bisect
import logging
from collections.abc import Callable
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


def integrable(
    runs: list[ClientRun],
    known: dict[int, int],
    is_type: Callable[[ID, dict[int, ClientRun]], bool],
) -> Plan:
    """Play Yjs's ``integrateStructs`` for an update's ``runs`` on the state vector
    ``known`` (not changed): which structs integrate and which wait.

    ``is_type(parent, by_client)`` says whether a parent id names a shared type, in the
    document or in the update's runs (by client).

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
                    if parent is not None and not is_type(parent, by_client):
                        raise Malformed(f"parent {parent} is not a shared type")
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
            taken.append((run.data, run.client, head_part[0][0], head_part))
        if cut < len(run.structs):
            tail = run.structs[cut:]
            rest.append((run.data, run.client, tail[0][0], tail))
    return Plan(taken, rest, missing, fresh)


class SharedTypes:
    """The shared types and the dead (GC, deleted) ranges of a document, read from its state
    on the first question and learnt from every struct integrated after."""

    def __init__(self, doc: Doc[Any]) -> None:
        self.doc = doc
        self._types: set[tuple[int, int]] | None = None  # ids of shared types (lazy)
        self._dead: dict[int, list[tuple[int, int]]] = {}  # GC and deleted ranges

    def learn(self, client: int, run: list[Struct]) -> None:
        """Remember the shared types and dead ranges of integrated structs (once read)."""
        if self._types is None:
            return
        for clock, length, kind, *_ in run:
            if kind == structs.TYPE:
                self._types.add((client, clock))
            elif kind in (structs.GC, structs.DELETED):
                bisect.insort(self._dead.setdefault(client, []), (clock, clock + length))

    def is_type(self, parent: ID, by_client: dict[int, ClientRun]) -> bool:
        """Whether ``parent`` names a shared type (or a struct Yjs turns into GC: a GC or a
        deleted item), in the document or in the update being integrated (``by_client``)."""
        run = by_client.get(parent[0])
        if run is not None:
            for clock, length, kind, *_ in run.structs:
                if clock <= parent[1] < clock + length:
                    return kind == structs.TYPE
        if self._types is None:
            self._types = set()
            try:
                whole = structs.parse(self.doc.get_update())
            except Malformed as exc:  # pycrdt wrote it: never
                log.error("cannot read the document's own state: %s", exc)
                return True
            for known in whole.runs:
                self.learn(known.client, known.structs)
        if parent in self._types:
            return True
        spans = self._dead.get(parent[0], ())
        i = bisect.bisect_right(spans, (parent[1], float("inf"))) - 1
        return i >= 0 and spans[i][0] <= parent[1] < spans[i][1]


def _missing(client: int, struct: Struct, state: dict[int, int]) -> int | None:
    """The client whose clock ``struct`` refers to and the document lacks (Yjs
    ``Item.getMissing``: references to the item's own client are not checked)."""
    for ref in (struct[3], struct[4], struct[5]):
        if ref is not None and ref[0] != client and ref[1] >= state.get(ref[0], 0):
            return ref[0]
    return None
