"""Where an item that integrates goes, as Yjs decides it, and what pycrdt must be kept from.

:func:`collab.integration.integrable` walks an update's structs in Yjs's order; for each
struct that integrates it asks a :class:`Placement` (one per update):

* whether its origin or right origin is GC: Yjs (``Item.getMissing``) then gives it no
  parent and writes it as GC, pycrdt 0.14 drops that neighbour and places it elsewhere; it
  is handed to pycrdt as GC (:func:`collab.slices.as_gc`);
* its parent (:mod:`collab.parents`): refused when its origin and right origin lie in
  different parents, or when it names a parent that is no shared type (pycrdt fails
  half-way on it);
* whether it cuts a UTF-16 surrogate pair (an origin, a right origin, or its own trim inside
  a character past U+FFFF): Yjs (``ContentString.splice``) writes U+FFFD for both halves,
  pycrdt keeps the character: refused.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable

from collab import structs
from collab.parents import Key, named_parent
from collab.shared_types import SharedTypes, holds
from collab.structs import ID, ClientRun, Malformed, Struct

__all__ = ["Placement", "splits_a_pair"]


class Placement:
    """The questions asked of the structs of one update that integrate.

    Args:
        by_client: the update's runs by client id.
        known: the document's state vector before the update (not changed).
        types: what the integrator knows of the document.
        state: the state vector as the walk integrates (advanced by the caller).
    """

    def __init__(
        self,
        by_client: dict[int, ClientRun],
        known: dict[int, int],
        types: SharedTypes,
        state: dict[int, int],
    ) -> None:
        self.by_client, self.known, self.types, self.state = by_client, known, types, state
        self.to_gc: dict[int, set[int]] = {}  # per client, the clocks of items that become GC
        self.unlike_yjs = 0  # items that waited, read otherwise by Yjs (see Plan.unlike_yjs)
        self.gc_present = types.holds_gc()  # else no item can be next to GC: no question
        self.pairs_present = types.holds_surrogates() or any(
            run.surrogates for run in by_client.values()
        )
        self.parents: list[tuple[int, int, int, Key]] = []  # see Plan.parents
        self.surrogates: list[tuple[int, list[int]]] = []  # see Plan.surrogates
        self._here: dict[int, tuple[list[int], list[Key]]] = {}  # this update's: starts, keys
        self._starts: dict[int, list[int]] = {}  # per client, its structs' clocks (when asked)

    def place(self, client: int, struct: Struct, local: int, waited: bool) -> bool:
        """Take ``struct`` of ``client`` (the document holds its clocks below ``local``) as
        integrating: record its parent and low surrogates, or that it becomes GC.

        ``waited``: it waited (see :func:`collab.integration.integrable`); what would be
        refused becomes GC instead.

        Returns:
            ``False`` when Yjs throws on it (an item continuing a GC struct), only when
            ``waited``.

        Raises:
            Malformed: why it is refused (not when ``waited``).
        """
        key: Key = None
        offset = local - struct[0]
        if struct[2] == structs.GC:
            self.gc_present = True
        elif self.gc_present and (self.is_gc(struct[3]) or self.is_gc(struct[4])):
            self.to_gc.setdefault(client, set()).add(struct[0])
        elif self.gc_present and offset > 0 and self.is_gc((client, local - 1)):
            # Yjs (Item.integrate) takes the GC for the item's left neighbour and throws
            # ("reading 'origin'"): no Yjs client could apply it
            if not waited:
                raise Malformed(f"item {client}:{local} continues a GC struct")
            return False
        elif struct[5] is not None and not self.types.is_type(struct[5], self.in_update(struct[5])):
            if not waited:
                raise Malformed(f"parent {struct[5]} is not a shared type")
            self._as_gc(client, struct)  # as Yjs: Item.getMissing finds no type, writes GC
        else:
            try:
                key = self._parent_of(client, struct, local)
                if self.pairs_present:
                    self.cuts_pair(client, struct, offset > 0 and self._splits(client, local))
            except Malformed:
                if not waited:
                    raise
                self._as_gc(client, struct)
                self.unlike_yjs += 1
        end = struct[0] + struct[1]
        self.parents.append((client, local, end, key))
        starts, keys = self._here.setdefault(client, ([], []))
        starts.append(local)
        keys.append(key)
        pairs = self.by_client[client].surrogates
        if pairs and struct[2] == structs.STRING and struct[0] not in self.to_gc.get(client, ()):
            first, last = bisect.bisect_left(pairs, local), bisect.bisect_left(pairs, end)
            if first < last:
                self.surrogates.append((client, pairs[first:last]))
        return True

    def held(self, client: int, struct: Struct, waited: bool) -> None:
        """Check ``struct`` of ``client``, an item whose clocks the document holds already:
        Yjs skips it but first splits the items at its origin and right origin
        (``Item.getMissing``), writing U+FFFD for a surrogate pair cut there, which pycrdt
        does not. Refused unless it ``waited``; then it counts as :attr:`unlike_yjs` (its
        author reads the document otherwise; it is relayed to no one).

        Raises:
            Malformed: when it cuts a surrogate pair and did not wait.
        """
        try:
            self.cuts_pair(client, struct, False)
        except Malformed:
            if not waited:
                raise
            self.unlike_yjs += 1

    def _as_gc(self, client: int, struct: Struct) -> None:
        """Write ``struct`` (of ``client``, an item that waited) as a GC struct."""
        self.to_gc.setdefault(client, set()).add(struct[0])
        self.gc_present = True

    def cuts_pair(self, client: int, struct: Struct, trimmed: bool) -> None:
        """Refuse an item whose origin or right origin (Yjs ``Item.getMissing`` splits the
        items there, also for a struct it then skips as held) or whose trim (``trimmed``)
        cuts a surrogate pair.

        Raises:
            Malformed: when it does.
        """
        origin, right = struct[3], struct[4]
        if (
            trimmed
            or (origin is not None and self._splits(origin[0], origin[1] + 1))
            or (right is not None and self._splits(*right))
        ):
            raise Malformed(
                f"item {client}:{struct[0]} splits a surrogate pair"
                " (Yjs writes U+FFFD for both halves, pycrdt keeps the character)"
            )

    def in_update(self, ref: ID) -> Struct | None:
        """The struct of this update holding ``ref``, unless the document held that clock
        before (a duplicate there is not what Yjs reads); by bisection: a whole state names
        its own structs as origins thousands of times."""
        run = self.by_client.get(ref[0])
        if run is None or ref[1] < self.known.get(ref[0], 0):
            return None
        clocks = self._starts.get(ref[0])
        if clocks is None:
            clocks = self._starts[ref[0]] = [struct[0] for struct in run.structs]
        i = bisect.bisect_right(clocks, ref[1]) - 1
        found = run.structs[i] if i >= 0 else None
        return found if found is not None and ref[1] < found[0] + found[1] else None

    def is_gc(self, ref: ID | None) -> bool:
        """Whether ``ref`` is GC: in the document, or integrated from this update."""
        if ref is None:
            return False
        if ref[1] < self.state.get(ref[0], 0):  # integrated: from this update, or before
            found = self.in_update(ref)
            if found is not None:
                return found[2] == structs.GC or found[0] in self.to_gc.get(ref[0], ())
        return self.types.is_gc(ref)

    def _splits(self, client: int, clock: int) -> bool:
        """Whether a cut before ``clock`` of ``client`` splits a surrogate pair."""
        if clock < self.known.get(client, 0):
            return self.types.is_low_surrogate((client, clock))
        run = self.by_client.get(client)
        return run is not None and holds(run.surrogates, clock)

    def _parent_at(self, ref: ID) -> Key:
        """The parent of the integrated clock ``ref``: of the document, or of this update."""
        if ref[1] < self.known.get(ref[0], 0):
            return self.types.parent(ref)
        starts, keys = self._here.get(ref[0], ((), ()))
        i = bisect.bisect_right(starts, ref[1]) - 1
        return keys[i] if i >= 0 else None

    def _parent_of(self, client: int, struct: Struct, local: int) -> Key:
        """The parent of the new clocks of ``struct`` (Yjs ``Item.getMissing``: the origin's,
        else the right origin's, else its own).

        Raises:
            Malformed: when its origin and right origin lie in different parents, or it
                continues a clock held in another parent.
        """
        origin, right = struct[3], struct[4]
        if origin is None and right is None:
            key = named_parent(self.by_client[client].data, struct)
        else:
            key = self._parent_at(origin if origin is not None else right)  # type: ignore[arg-type]
            if origin is not None and right is not None and key is not None:
                other = self._parent_at(right)
                if other is not None and other != key:
                    raise Malformed(
                        f"item {client}:{struct[0]} has its origin in {key} and its right"
                        f" origin in {other}"
                    )
        if local > struct[0] and key is not None:
            held = self._parent_at((client, local - 1))
            if held is not None and held != key:
                raise Malformed(
                    f"item {client}:{struct[0]} is in {key}, its clock {local - 1} in {held}"
                )
        return key


def splits_a_pair(
    deletes: list[tuple[int, list[tuple[int, int]]]],
    known: dict[int, int],
    types: SharedTypes,
    surrogates: Iterable[tuple[int, list[int]]] = (),
) -> bool:
    """Whether a delete set (``(client, [(clock, length), ...])``, as
    :attr:`collab.structs.Parsed.deletes`) cuts a string inside a surrogate pair (Yjs writes
    U+FFFD for both halves of a pair it splits, pycrdt keeps the character): of the
    document (state vector ``known``), or of the structs that integrate with it
    (``surrogates``, as :attr:`collab.integration.Plan.surrogates`). Clocks neither holds are
    not known (a deletion that waits)."""
    fresh: dict[int, list[int]] = {}
    for client, clocks in surrogates:
        fresh.setdefault(client, []).extend(clocks)
    if not fresh and not types.holds_surrogates():
        return False

    def cut(client: int, clock: int) -> bool:
        if clock < known.get(client, 0):
            return types.is_low_surrogate((client, clock))
        return holds(fresh.get(client, ()), clock)

    return any(
        cut(client, clock) or cut(client, clock + length)
        for client, ranges in deletes
        for clock, length in ranges
    )
