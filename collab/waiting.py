"""What waits in one document for a missing predecessor, as Yjs keeps it.

Yjs keeps the structs that cannot integrate yet as one update (``store.pendingStructs``)
with, per client, the lowest clock it waits for, and deletions of clocks the document lacks
(``store.pendingDs``). :class:`Waiting` holds the same for :class:`collab.integrator.Integrator`:
the waiting structs as the updates they came in (merged only when they are tried again:
merging at every update cost O(n^2)) and struct by struct per client, the clocks they wait
for, and the waiting delete sets; bounded per document (:class:`PendingTooLarge`).

What waits is merged into the document's state (:meth:`Waiting.merged_into`) with pycrdt's
``merge_updates``, whose result is read back (:mod:`collab.merges`).
"""

from __future__ import annotations

import logging

from collab import structs
from collab.errors import CloseCode
from collab.merges import merged, merged_readable, reads_alike
from collab.structs import Malformed, Parsed, Part
from collab.units import Unit, units
from collab.updates import DocumentCorrupted, InvalidUpdate

__all__ = ["MAX_PENDING_BYTES", "MAX_PENDING_STRUCTS", "PendingTooLarge", "Waiting"]

log = logging.getLogger("collab.integrator")

MAX_PENDING_BYTES = 1024 * 1024
"""Default bound of what waits in one document, in bytes of its encoding."""

MAX_PENDING_STRUCTS = 10_000
"""Default bound of what waits in one document, in structs."""


class PendingTooLarge(InvalidUpdate):
    """An update whose waiting structs would take the document's waiting work past its
    bound; nothing of it was applied or kept."""

    close_code = CloseCode.TOO_LARGE
    http_status = 413
    code = "too_large"


class Waiting:
    """The structs and delete sets of one document that wait for a missing predecessor."""

    def __init__(self) -> None:
        self.rests: list[Parsed] = []  # structs that wait, as updates (merged on a retry)
        self.held: dict[int, list[tuple[structs.Struct, bytes]]] = {}  # structs per client
        self.structs = 0  # how many structs wait
        self.bytes = 0  # their updates' size
        self.missing: dict[int, int] = {}  # client -> the clock below which rests wait
        self.deletes: list[Parsed] = []  # delete sets naming clocks the document lacks

    @property
    def updates(self) -> list[bytes]:
        """What waits, as updates: the waiting structs, then the waiting delete sets."""
        return [parsed.data for parsed in self.rests] + [parsed.data for parsed in self.deletes]

    # -- structs -----------------------------------------------------------------------------

    def check(self, rest_update: bytes, rest: list[Part], max_bytes: int, max_structs: int) -> None:
        """Refuse ``rest_update`` (``rest`` encoded) before it is kept.

        Raises:
            PendingTooLarge: when it takes what waits past ``max_bytes`` or ``max_structs``.
            InvalidUpdate: when pycrdt reads it differently from Yjs (see :func:`reads_alike`).
        """
        count = self.structs + sum(len(run) for *_, run in rest)
        size = len(rest_update) + self.bytes
        if count > max_structs or size > max_bytes:
            raise PendingTooLarge(
                f"too much waits for missing updates: {count} structs, {size} bytes"
                f" (limits {max_structs} structs, {max_bytes} bytes)"
            )
        if not reads_alike(rest_update):
            raise InvalidUpdate("waiting structs that pycrdt reads differently from Yjs")

    def unseen(self, rest: list[Part]) -> list[Part]:
        """``rest`` without its structs at clocks that wait already with the same content
        (:func:`collab.units.units`: a client holding what waits sends it back, in the same
        or merged boundaries): they add nothing.

        Other content at those clocks is refused: Yjs's merge of what waits
        (``mergeUpdatesV2``) keeps either writing depending on their kinds and on the order
        its sort left the two updates in (an item and a GC struct at one clock: the one sorted
        last; a leading zero-length item dropped by ``findIndexSS``), which no bookkeeping
        here can follow; only a forger sends a client's clocks twice with other content.

        Raises:
            InvalidUpdate: when a struct lies at clocks that wait with other content, overlaps
                what waits in part, is a zero-length item at or next to what waits, or
                dropping those that wait would leave a gap in its client's structs.
        """
        out: list[Part] = []
        for part in rest:
            data, client, _, run = part
            held = self.held.get(client, [])
            spans = structs.merged_spans([(s[0], s[0] + s[1]) for s, _ in held])
            if not spans:
                out.append(part)
                continue
            keep: list[structs.Struct] = []
            dropped = False
            for struct in run:
                if struct[2] == structs.SKIP:  # a gap: no content (Yjs's merge filters it)
                    if keep:
                        keep.append(struct)
                    continue
                start, end = struct[0], struct[0] + struct[1]
                if start == end and any(a <= start <= b for a, b in spans):
                    raise InvalidUpdate(
                        f"a zero-length item of client {client} at clocks that wait"
                    )
                if start < end and any(a <= start and end <= b for a, b in spans):
                    if not self._same(client, struct, data) and units(
                        data, client, struct
                    ) != self._units(client, start, end):
                        raise InvalidUpdate(
                            f"structs of client {client} at clocks that wait, with other content"
                        )
                    dropped = True
                    continue
                if any(a < end and start < b for a, b in spans) or (dropped and keep):
                    raise InvalidUpdate(
                        f"structs of client {client} overlap, with other boundaries, structs"
                        " that wait for the same clocks"
                    )
                keep.append(struct)
            if keep:
                out.append((data, client, keep[0][0], keep))
        return out

    def _same(self, client: int, struct: structs.Struct, data: bytes) -> bool:
        """Whether ``struct`` (of ``client``, in ``data``) waits already byte for byte: a
        struct sent again in the same boundaries, compared without reading it clock by clock."""
        written = data[struct[6] : struct[7]]
        return any(
            held[0] == struct[0] and held[1] == struct[1] and held_in[held[6] : held[7]] == written
            for held, held_in in self.held[client]
        )

    def _units(self, client: int, start: int, end: int) -> list[Unit]:
        """What waits of ``client`` at clocks ``start`` to ``end`` (all wait), clock by clock."""
        out: list[Unit] = []
        for struct, data in sorted(self.held[client], key=lambda held: held[0][0]):
            clock, length = struct[0], struct[1]
            if clock < end and start < clock + length:
                out += units(data, client, struct)[max(start - clock, 0) : end - clock]
        return out

    def add(self, rest_update: bytes, missing: dict[int, int]) -> None:
        """Keep ``rest_update`` (structs that wait for the clocks ``missing`` names, per
        client) beside what waits already.

        Raises:
            DocumentCorrupted: when it cannot be read (it was encoded here: never).
        """
        try:
            parsed = structs.parse(rest_update)
        except Malformed as exc:
            raise DocumentCorrupted(f"cannot read waiting structs: {exc}") from exc
        self.rests.append(parsed)
        self.bytes += len(rest_update)
        for run in parsed.runs:
            held = self.held.setdefault(run.client, [])
            for struct in run.structs:
                if struct[2] != structs.SKIP:
                    held.append((struct, parsed.data))
                    self.structs += 1
        self.wait_for(missing)

    def wait_for(self, missing: dict[int, int]) -> None:
        """Note the clocks ``missing`` names (per client) as waited for, also when the
        structs waiting for them wait already (Yjs lowers ``pendingStructs.missing`` by
        every update's rest, merged into what waits or not)."""
        for client, clock in missing.items():
            if self.missing.get(client, clock + 1) > clock:
                self.missing[client] = clock

    def due(self, state: dict[int, int]) -> bool:
        """Whether the document (state vector ``state``) reached a clock something waits for
        (Yjs: ``clock < getState(store, client)`` of ``pendingStructs.missing``)."""
        return bool(self.rests) and any(
            state.get(client, 0) > clock for client, clock in self.missing.items()
        )

    def take(self) -> Parsed:
        """Remove the waiting structs and return them as one update (merged as Yjs does,
        ``mergeUpdates``), to try again.

        Raises:
            Malformed, InvalidUpdate: when pycrdt cannot merge them.
        """
        rests = self.rests
        self.rests, self.held, self.missing = [], {}, {}
        self.structs = self.bytes = 0
        if len(rests) == 1:
            return rests[0]
        return structs.parse(merged([p.data for p in rests]))

    # -- deletions ---------------------------------------------------------------------------

    def keep_deletes(self, parsed: Parsed, state: dict[int, int]) -> bool:
        """Keep ``parsed``'s delete set while it names clocks the document (state vector
        ``state``) lacks; drop those kept that no longer do. Whether it is newly kept."""
        self.prune_deletes(state)
        if not deletes_unknown(parsed, state):
            return False
        delete_only = parsed.data if not parsed.runs else b"\x00" + parsed.delete_set
        if any(p.data == delete_only for p in self.deletes):
            return False
        self.deletes.append(parsed if not parsed.runs else structs.parse(delete_only))
        return True

    def prune_deletes(self, state: dict[int, int]) -> None:
        """Drop the kept delete sets that no longer name clocks the document lacks."""
        if self.deletes:
            self.deletes = [p for p in self.deletes if deletes_unknown(p, state)]

    # -- states ------------------------------------------------------------------------------

    def merged_into(self, update: bytes, state: dict[int, int]) -> bytes:
        """``update`` (a document's state, or a diff of it) merged with what waits; read back
        first: a waiting update whose merge fails or does not read back is left out, logged
        (none is known since :func:`reads_alike` refuses them, but one stored by an older
        version may be).

        Waiting structs at clocks the document (state vector ``state``) already holds stay
        out: ``mergeUpdates`` would slice the overlap off and give the slice the document's
        struct before it as its origin, so whoever read the state would integrate at once
        what waits for a missing origin (or, for a GC struct, lose the document's items
        there and every item after them). Only a hostile or broken writer sends a client's
        clocks twice with different content; such structs go on waiting in the document,
        as in Yjs."""
        waiting = [parsed.data for parsed in self.rests if not _overlaps(parsed, state)] + [
            parsed.data for parsed in self.deletes
        ]
        if not waiting:
            return update
        result = merged_readable([update, *waiting])
        if result is not None:
            return result
        good = [w for w in waiting if merged_readable([w]) is not None]
        result = merged_readable([update, *good]) if good else update
        if result is None:
            result, good = update, []
        log.error(
            "left %d of %d waiting updates out of the document's state: pycrdt's merge of"
            " them does not read back",
            len(waiting) - len(good),
            len(waiting),
        )
        return result

    def deletions_into(self, update: bytes) -> bytes:
        """``update`` merged with the waiting delete sets only.

        Raises:
            InvalidUpdate: when pycrdt cannot merge them.
        """
        if not self.deletes:
            return update
        return merged([update, *(parsed.data for parsed in self.deletes)])


def _overlaps(parsed: Parsed, state: dict[int, int]) -> bool:
    """Whether ``parsed`` holds structs at clocks below ``state``'s (the document's)."""
    return any(run.clock < state.get(run.client, 0) for run in parsed.runs)


def deletes_unknown(parsed: Parsed, state: dict[int, int]) -> bool:
    """Whether ``parsed``'s delete set names a clock at or past ``state``'s of its client."""
    for client, ranges in parsed.deletes:
        clock, length = ranges[-1]
        if clock + length > state.get(client, 0):
            return True
    return False
