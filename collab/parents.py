"""Which parent (a shared type, and the key of a map entry) each item of a document is in.

Yjs (``Item.getMissing`` in ``yjs/src/structs/Item.js``) writes the parent of an item only
when it has neither an origin nor a right origin: a root type's name or the id of the item
holding the type, and with it the key of a map entry (``parentSub``). Any other item takes
the parent and key of the item at its origin, else of the item at its right origin. An
honest client's origin and right origin are neighbours in one list; an item whose origin and
right origin lie in different parents (or entries) is forged: Yjs puts it after its origin
and scans its origin's list to the end for conflicts, pycrdt 0.14 (yrs) places it elsewhere,
so the server would hold a document no Yjs client decodes the same way.
:func:`collab.integration.integrable` refuses such items, asking :class:`Parents`.

A parent is a :data:`Key`; ``None`` stands for a GC struct (Yjs gives an item next to one no
parent: it becomes GC) and for what is not known (never a reason to refuse).
"""

from __future__ import annotations

import bisect

from collab.lib0 import Reader
from collab.structs import GC, ID, SKIP, ClientRun, Struct

__all__ = ["Key", "Parents", "named_parent"]

Key = tuple[str | ID, str | None] | None
"""A parent: a root type's name or the id of the item holding the type, and the key of the
map entry (``None`` in a list or text); ``None``: GC, or not known."""


def named_parent(data: bytes, struct: Struct) -> Key:
    """The parent written in ``struct`` of update ``data`` (an item with neither origin nor
    right origin, as read by :func:`collab.structs.parse`: the parent info, then a root
    name or an id, then the key when bit 6 of the info byte is set)."""
    reader = Reader(data)
    info = data[struct[6]]
    reader.pos = struct[6] + 1
    if reader.uint() == 1:
        parent: str | ID = reader.string()
    else:
        parent = (reader.uint(), reader.uint())
    return parent, reader.string() if info & 0x20 else None


class Parents:
    """Per client, the parent of each integrated clock, in ranges: ``start`` clocks, and the
    :data:`Key` of the range up to the next start (a client typing in one text is one range).

    Ranges are added in clock order per client (:meth:`add`); a lookup is a bisection.
    """

    def __init__(self) -> None:
        self._starts: dict[int, list[int]] = {}
        self._keys: dict[int, list[Key]] = {}
        self._ends: dict[int, int] = {}
        self._interned: dict[Key, Key] = {}

    def add(self, client: int, start: int, end: int, key: Key) -> None:
        """Record that clocks ``start`` to ``end`` (exclusive) of ``client`` are in ``key``;
        ``start`` is at or past the client's clocks recorded so far."""
        last = self._ends.get(client)
        if last == start and self._keys[client][-1] == key:
            self._ends[client] = end  # the same parent continues
            return
        starts = self._starts.setdefault(client, [])
        keys = self._keys.setdefault(client, [])
        key = self._interned.setdefault(key, key)
        if last is not None and last < start:
            starts.append(last)  # a gap (duplicates or waiting structs): not known
            keys.append(None)
        starts.append(start)
        keys.append(key)
        self._ends[client] = end

    def get(self, ref: ID) -> Key:
        """The parent of the clock ``ref`` (``None`` when it is GC or not recorded)."""
        starts = self._starts.get(ref[0])
        if not starts or ref[1] >= self._ends[ref[0]]:
            return None
        i = bisect.bisect_right(starts, ref[1]) - 1
        return self._keys[ref[0]][i] if i >= 0 else None

    def read(self, runs: list[ClientRun]) -> None:
        """Record the parents of a whole state's structs (``runs`` of :func:`collab.structs.parse`
        of ``Doc.get_update``), following origins across clients in any order."""
        by_client = {run.client: run for run in runs}
        clocks = {run.client: [s[0] for s in run.structs] for run in runs}
        found: dict[tuple[int, int], Key] = {}  # (client, index of its struct): its parent

        def locate(ref: ID) -> tuple[int, int] | None:
            starts = clocks.get(ref[0])
            if starts is None:
                return None
            i = bisect.bisect_right(starts, ref[1]) - 1
            structs = by_client[ref[0]].structs
            return (ref[0], i) if i >= 0 and ref[1] < structs[i][0] + structs[i][1] else None

        def resolve(at: tuple[int, int]) -> Key:
            path, on_path = [at], {at}
            while path:
                here = path[-1]
                if here in found:
                    on_path.discard(path.pop())
                    continue
                struct = by_client[here[0]].structs[here[1]]
                ref = struct[3] or struct[4]
                if struct[2] in (GC, SKIP):
                    found[here] = None
                elif ref is None:
                    found[here] = named_parent(by_client[here[0]].data, struct)
                else:
                    there = locate(ref)
                    if there is None or there in on_path:  # outside the state, or a cycle
                        found[here] = None
                    elif there in found:
                        found[here] = found[there]
                    else:
                        path.append(there)
                        on_path.add(there)
                        continue
                on_path.discard(path.pop())
            return found[at]

        for run in runs:
            for i, struct in enumerate(run.structs):
                if struct[2] != SKIP:
                    self.add(run.client, struct[0], struct[0] + struct[1], resolve((run.client, i)))
