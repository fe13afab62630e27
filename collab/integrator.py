"""Applies updates to one document exactly as Yjs would: what integrates, and what waits.

Yjs (``integrateStructs`` and ``readUpdateV2`` in ``yjs/src/utils/encoding.js``) integrates
the structs of an update client by client; a struct whose client's earlier clocks, or whose
origin, right origin or parent (of another client) the document lacks, waits, with every
later struct of its client. What waits is kept as one update (``store.pendingStructs``)
with, per client, the lowest clock it waits for; it is tried again only when the document
reaches one of those clocks. Deletions of clocks the document lacks wait too
(``store.pendingDs``).

pycrdt 0.14 (yrs) differs: it applies a struct whose client's earlier clocks never came (at
a wrong place, with a state vector that says nothing happened), and loses inserts of one
client arriving out of order. So pycrdt is only ever given structs that integrate: the
:class:`Integrator` reads each update (:func:`collab.structs.parse`), plays Yjs's
integration on the state vector, hands pycrdt the structs that integrate (the update
itself when all do) and keeps the rest itself, bounded (:class:`PendingTooLarge`).
"""

from __future__ import annotations

import bisect
import logging
from collections.abc import Container, Iterable
from typing import Any

from pycrdt import Doc, merge_updates

from collab import structs
from collab.errors import NOT_OURS, CloseCode
from collab.structs import ClientRun, Malformed, Parsed, Struct
from collab.updates import DocumentCorrupted, InvalidUpdate, _guarded, state_vector

Part = tuple[bytes, int, int, list[Struct]]
"""Structs of one client for :func:`collab.structs.encode`: update, client, clock, structs."""

__all__ = [
    "MAX_PENDING_BYTES",
    "MAX_PENDING_STRUCTS",
    "Integrator",
    "PendingTooLarge",
    "apply_all",
    "replay",
]

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


class Integrator:
    """Applies updates to one ``Doc`` as Yjs does, keeping what waits for a predecessor.

    Args:
        doc: the document to apply updates to (empty, or rebuilt by an integrator).
        max_pending_bytes: bound of the waiting structs' encoding, in bytes.
        max_pending_structs: bound of the waiting structs' count.
    """

    def __init__(
        self,
        doc: Doc[Any],
        *,
        max_pending_bytes: int = MAX_PENDING_BYTES,
        max_pending_structs: int = MAX_PENDING_STRUCTS,
    ) -> None:
        self.doc = doc
        self.max_pending_bytes = max_pending_bytes
        self.max_pending_structs = max_pending_structs
        self.state: dict[int, int] = state_vector(doc.get_state())
        self._rests: list[Parsed] = []  # structs that wait, as updates (merged on a retry)
        self._rest_spans: dict[int, list[tuple[int, int]]] = {}  # their clock ranges
        self._rest_structs = 0
        self._rest_bytes = 0
        self._missing: dict[int, int] = {}  # client -> the clock below which rest waits
        self._deletes: list[Parsed] = []  # delete sets naming clocks the document lacks
        self._types: set[tuple[int, int]] | None = None  # ids of shared types (lazy)
        self.relayed: list[bytes] | None = None  # what the last apply integrated (see apply)
        self.stored: bytes | None = None  # what of the last update to store, if not all
        self.fresh_clients: tuple[int, ...] = ()  # clients whose structs the last integrated
        self._dead: dict[int, list[tuple[int, int]]] = {}  # GC and deleted ranges (lazy)

    # -- what waits --------------------------------------------------------------------------

    @property
    def pending(self) -> list[bytes]:
        """What waits, as updates: the waiting structs, then the waiting delete sets."""
        waiting = [parsed.data for parsed in self._rests]
        return waiting + [parsed.data for parsed in self._deletes]

    @property
    def pending_structs(self) -> int:
        """How many structs wait."""
        return self._rest_structs

    def with_waiting(self, update: bytes) -> bytes:
        """``update`` (the document, or a diff of it, from ``Doc.get_update``) merged with
        what waits, which ``Doc.get_update`` leaves out: whoever gets it integrates the rest
        when it arrives, as Yjs includes it too.

        Raises:
            InvalidUpdate: when pycrdt cannot merge them.
        """
        waiting = self.pending
        if not waiting:
            return update
        merged = _merged_readable([update, *waiting])
        if merged is not None:
            return merged
        # Never served or stored: one of what waits is read differently by pycrdt (none is
        # known since the reader refuses them, but one stored by an older version may be)
        good = [w for w in waiting if _merged_readable([w]) is not None]
        merged = _merged_readable([update, *good]) if good else update
        if merged is None:
            merged = update
            good = []
        log.error(
            "left %d of %d waiting updates out of the document's state: pycrdt's merge of"
            " them does not read back",
            len(waiting) - len(good),
            len(waiting),
        )
        return merged

    def with_waiting_deletions(self, update: bytes) -> bytes:
        """``update`` merged with the deletions that wait for their content (not the structs
        that wait: see :attr:`relayed`): a sync step 2 carries them, as their update was
        relayed with them.

        Raises:
            InvalidUpdate: when pycrdt cannot merge them.
        """
        waiting = [parsed.data for parsed in self._deletes]
        if not waiting:
            return update
        return _guarded("cannot merge update", lambda: merge_updates(update, *waiting))

    def state_update(self) -> bytes:
        """The whole document as one Yjs v1 update, with what waits."""
        return self.with_waiting(self.doc.get_update())

    # -- applying ----------------------------------------------------------------------------

    def apply(self, update: bytes, *, bounded: bool = True, foreign: Container[int] = ()) -> bool:
        """Read ``update`` and apply what of it integrates; keep what waits.

        Args:
            update: a Yjs v1 update.
            bounded: whether the waiting bounds apply (not when replaying the stored log).
            foreign: client ids another live connection writes with: structs of theirs that
                wait for their own client's earlier clocks are dropped, never kept: the
                owner sends its clocks in order, so such structs are forged (at a live
                editor's clock + 150 they waited, then replaced the editor's own edit there,
                in the server and in every Yjs client). :attr:`stored` is then what to store.

        Returns:
            Whether it changed the document or some of it newly waits; ``False`` when it
            brought nothing new (the empty sync step 2 every client sends on connect, a
            delete set already applied, an update that waits already).

        After it, :attr:`relayed` holds what integrated, to relay: ``None`` for all of
        ``update``, else the updates that integrated (its structs that did with its delete
        set, then what waited and integrated now), possibly none. What waits is never
        relayed: a client given it would keep it waiting as well (Yjs), or apply it at a
        wrong place (pycrdt 0.14, as the server did).

        Raises:
            InvalidUpdate: when Yjs would not decode it, or it names a parent that is no
                shared type (pycrdt fails half-way on it); the document is unchanged.
            PendingTooLarge: when what of it waits passes the bounds; nothing was applied.
            DocumentCorrupted: when pycrdt failed half-way; discard the document.
        """
        self.relayed = None
        self.stored = None
        self.fresh_clients = ()
        try:
            parsed = structs.parse(update)
        except Malformed as exc:
            raise InvalidUpdate(f"not a valid Yjs v1 update: {exc}") from exc
        if not parsed.runs:
            return self._delete(parsed)
        try:
            taken, rest, missing, fresh = self._integrable(parsed.runs)
        except Malformed as exc:
            raise InvalidUpdate(f"cannot integrate update: {exc}") from exc
        if rest and foreign:
            kept = [p for p in rest if p[1] not in foreign or p[2] <= self.state.get(p[1], 0)]
            if len(kept) != len(rest):
                dropped = {p[1] for p in rest} - {p[1] for p in kept}
                log.warning("dropped structs at future clocks of live clients %s", dropped)
                rest = kept
                # one part per client (a client's integrated structs and its waiting ones
                # are one run): the dropped clients' integrated structs, everything else
                heads = {part[1]: part for part in taken}
                runs = [
                    (run.data, run.client, run.clock, run.structs)
                    if run.client not in dropped
                    else heads[run.client]
                    for run in parsed.runs
                    if run.client not in dropped or run.client in heads
                ]
                self.stored = structs.encode(runs, parsed.delete_set)
        rest_update = structs.encode(rest) if rest else None
        if rest_update is not None and self._rests and self._covered(rest):
            rest_update = None  # it waits already (sent again on a reconnect)
        if rest_update is not None and bounded:
            self._check_bounds(rest_update, rest)
            if not _reads_alike(rest_update):
                raise InvalidUpdate("waiting structs that pycrdt reads differently from Yjs")
        changed = fresh or rest_update is not None
        relayed: list[bytes] = []
        if fresh:
            whole = not rest and self.stored is None
            payload = update if whole else structs.encode(taken, parsed.delete_set)
            self._integrate(payload, taken)
            relayed.append(payload)
            if parsed.deletes:
                self._keep_deletes(parsed)
        elif parsed.deletes:  # its structs bring nothing new: only its deletions may
            deletions = b"\x00" + parsed.delete_set
            if self._delete(structs.parse(deletions)):
                changed = True
                relayed.append(deletions)
        if rest_update is not None:
            self._add_rest(rest_update, missing)
        relayed += self._retry()
        if relayed != [update]:
            self.relayed = relayed
        if fresh:
            self.fresh_clients = tuple(part[1] for part in taken)
        return changed

    def _delete(self, parsed: Parsed) -> bool:
        """Apply an update without structs: its delete set only."""
        if not parsed.deletes:
            return False
        deleted: list[bytes] = []

        def observe(event: Any) -> None:
            deleted.append(event.delete_set)

        subscription = self.doc._doc.observe(observe)
        try:
            _apply(self.doc, parsed.data)
        finally:
            subscription.drop()
        waits = self._keep_deletes(parsed)
        return waits or bool(deleted)

    def _keep_deletes(self, parsed: Parsed) -> bool:
        """Keep ``parsed``'s delete set while it names clocks the document lacks; drop
        those kept that no longer do. Whether ``parsed``'s is newly kept."""
        state = self.state
        self._deletes = [p for p in self._deletes if _deletes_unknown(p, state)]
        if not _deletes_unknown(parsed, state):
            return False
        delete_only = parsed.data if not parsed.runs else b"\x00" + parsed.delete_set
        if any(p.data == delete_only for p in self._deletes):
            return False
        self._deletes.append(parsed if not parsed.runs else structs.parse(delete_only))
        return True

    def _integrate(self, payload: bytes, taken: list[Part]) -> None:
        """Apply ``payload`` (structs that integrate) and advance the state vector."""
        _apply(self.doc, payload)
        state = self.state
        for _, client, _, run in taken:
            last = run[-1]
            end = last[0] + last[1]
            if end > state.get(client, 0):
                state[client] = end
            if self._types is not None:
                self._learn(client, run)
        if self._deletes:
            self._deletes = [p for p in self._deletes if _deletes_unknown(p, state)]

    def _learn(self, client: int, run: list[Struct]) -> None:
        """Remember the shared types and the dead (GC, deleted) ranges of integrated structs."""
        assert self._types is not None
        for clock, length, kind, *_ in run:
            if kind == structs.TYPE:
                self._types.add((client, clock))
            elif kind in (structs.GC, structs.DELETED):
                bisect.insort(self._dead.setdefault(client, []), (clock, clock + length))

    def _check_bounds(self, rest_update: bytes, rest: list[Part]) -> None:
        count = self._rest_structs + sum(len(run) for *_, run in rest)
        size = len(rest_update) + self._rest_bytes
        if count > self.max_pending_structs or size > self.max_pending_bytes:
            raise PendingTooLarge(
                f"too much waits for missing updates: {count} structs, {size} bytes"
                f" (limits {self.max_pending_structs} structs, {self.max_pending_bytes} bytes)"
            )

    def _covered(self, rest: list[Part]) -> bool:
        """Whether every struct of ``rest`` waits already."""
        spans = self._rest_spans
        for _, client, _, run in rest:
            mine = spans.get(client, ())
            for clock, length, *_ in run:
                if not any(a <= clock and clock + length <= b for a, b in mine):
                    return False
        return True

    def _add_rest(self, rest_update: bytes, missing: dict[int, int]) -> None:
        """Keep ``rest_update`` (structs that wait) beside what waits already: merged and read
        again only when a retry needs it (merging at every update cost O(n^2))."""
        try:
            parsed = structs.parse(rest_update)
        except Malformed as exc:  # encoded here: never
            raise DocumentCorrupted(f"cannot read waiting structs: {exc}") from exc
        self._rests.append(parsed)
        self._rest_bytes += len(rest_update)
        for run in parsed.runs:
            spans = self._rest_spans.setdefault(run.client, [])
            for clock, length, kind, *_ in run.structs:
                if kind != structs.SKIP:
                    spans.append((clock, clock + length))
                    self._rest_structs += 1
        for client, clock in missing.items():
            if self._missing.get(client, clock + 1) > clock:
                self._missing[client] = clock

    def _clear_rest(self) -> list[Parsed]:
        rests = self._rests
        self._rests, self._rest_spans, self._missing = [], {}, {}
        self._rest_structs = self._rest_bytes = 0
        return rests

    def _retry(self) -> list[bytes]:
        """Integrate what waits once the document reached a clock it waits for (Yjs: ``clock
        < getState(store, client)`` of ``pendingStructs.missing``): what waits is merged
        (``mergeUpdates``, as Yjs does) and integrated as far as it goes. What integrated, as
        updates."""
        integrated: list[bytes] = []
        while self._rests and any(
            self.state.get(client, 0) > clock for client, clock in self._missing.items()
        ):
            rests = self._clear_rest()
            try:
                if len(rests) == 1:
                    merged = rests[0]
                else:
                    merged = structs.parse(_merged([p.data for p in rests]))
                taken, left, missing, _ = self._integrable(merged.runs)
            except (Malformed, InvalidUpdate) as exc:
                log.warning("dropping waiting structs that cannot integrate: %s", exc)
                return integrated
            if taken:
                payload = structs.encode(taken)
                self._integrate(payload, taken)
                integrated.append(payload)
            if left:
                self._add_rest(structs.encode(left), missing)
        return integrated

    def _integrable(
        self, runs: list[ClientRun]
    ) -> tuple[
        list[Part],
        list[Part],
        dict[int, int],
        bool,
    ]:
        """Play Yjs's ``integrateStructs`` on the state vector: which structs integrate.

        Returns:
            Per client, the structs that integrate and those that wait (as parts for
            :func:`collab.structs.encode`), the lowest clock each client waits for, and
            whether any struct brings a clock the document lacks.

        Raises:
            Malformed: when a struct that integrates names a parent that is no shared type.
        """
        state = dict(self.state)
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
            return [], [], {}, False
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
                        if parent is not None and not self._is_type(parent, client, by_client):
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
        return taken, rest, missing, fresh

    def _is_type(
        self, parent: tuple[int, int], client: int, by_client: dict[int, ClientRun]
    ) -> bool:
        """Whether ``parent`` names a shared type (or a struct Yjs turns into GC: a GC or a
        deleted item), in the document or in the update being integrated."""
        run = by_client.get(parent[0])
        if run is not None:
            for clock, length, kind, *_ in run.structs:
                if clock <= parent[1] < clock + length:
                    return kind == structs.TYPE
        if self._types is None:
            self._types = set()
            self._dead = {}
            try:
                whole = structs.parse(self.doc.get_update())
            except Malformed as exc:  # pycrdt wrote it: never
                log.error("cannot read the document's own state: %s", exc)
                return True
            for known in whole.runs:
                self._learn(known.client, known.structs)
        if parent in self._types:
            return True
        spans = self._dead.get(parent[0], ())
        i = bisect.bisect_right(spans, (parent[1], float("inf"))) - 1
        return i >= 0 and spans[i][0] <= parent[1] < spans[i][1]


def _merged(updates: list[bytes]) -> bytes:
    """``pycrdt.merge_updates`` of ``updates``.

    Raises:
        InvalidUpdate: when pycrdt cannot merge them.
    """
    return _guarded("cannot merge update", lambda: merge_updates(*updates))


def _merged_readable(updates: list[bytes]) -> bytes | None:
    """``pycrdt.merge_updates`` of ``updates`` when it reads back (:func:`structs.parse`),
    else ``None``."""
    try:
        merged = _merged(updates)
        structs.parse(merged)
    except (InvalidUpdate, Malformed):
        return None
    return merged


def _reads_alike(update: bytes) -> bool:
    """Whether pycrdt (yrs) reads ``update`` as :func:`structs.parse` (Yjs) does: its merge of
    ``update`` alone reads back with the same structs per client (yrs leaves zero-length
    items out). What waits is merged with the document for every snapshot and state: an
    update yrs reads differently gave states that failed or did not read back."""
    merged = _merged_readable([update])
    if merged is None:
        return False
    return _shape(structs.parse(update)) == _shape(structs.parse(merged))


def _shape(parsed: Parsed) -> list[tuple[int, list[tuple[int, int, int]]]]:
    return sorted(
        (run.client, [(s[0], s[1], s[2]) for s in run.structs if s[1] and s[2] != structs.SKIP])
        for run in parsed.runs
    )


def _missing(client: int, struct: Struct, state: dict[int, int]) -> int | None:
    """The client whose clock ``struct`` refers to and the document lacks (Yjs
    ``Item.getMissing``: references to the item's own client are not checked)."""
    for ref in (struct[3], struct[4], struct[5]):
        if ref is not None and ref[0] != client and ref[1] >= state.get(ref[0], 0):
            return ref[0]
    return None


def _deletes_unknown(parsed: Parsed, state: dict[int, int]) -> bool:
    """Whether ``parsed``'s delete set names a clock at or past ``state``'s of its client."""
    for client, ranges in parsed.deletes:
        clock, length = ranges[-1]
        if clock + length > state.get(client, 0):
            return True
    return False


def _apply(doc: Doc[Any], update: bytes) -> None:
    """Apply ``update`` to ``doc`` in one transaction of pycrdt's native document (``Doc._doc``;
    pycrdt is pinned below 0.15): pycrdt's ``Doc.apply_update`` opens a Python
    ``Transaction`` wrapper, which costs more than the Rust work for a keystroke's update.

    Raises:
        DocumentCorrupted: when pycrdt failed; the transaction is committed as far as it got.
    """
    native = doc._doc
    txn = native.create_transaction()
    try:
        native.apply_update(txn, update)
    except NOT_OURS:
        raise
    except BaseException as exc:  # PanicException is a BaseException
        raise DocumentCorrupted(f"cannot apply update: {type(exc).__name__}: {exc}") from exc
    finally:
        try:
            txn.commit()
        finally:
            txn.drop()


def replay(doc: Doc[Any], updates: Iterable[bytes]) -> Integrator:
    """Apply stored updates to ``doc`` in order through an :class:`Integrator`, unbounded
    (what was stored is loaded), and return it: it also holds what still waits.

    One by one, not as one ``merge_updates`` of the log: merging grows quadratically with
    the number of updates (20,000 keystrokes: 1.9 s merged, 0.05 s applied in order).

    Raises:
        InvalidUpdate: when a stored update cannot be applied.
    """
    integrator = Integrator(doc)
    for update in updates:
        integrator.apply(update, bounded=False)
    return integrator


def apply_all(doc: Doc[Any], updates: Iterable[bytes]) -> Doc[Any]:
    """:func:`replay`, for the document only.

    Raises:
        InvalidUpdate: when a stored update cannot be applied.
    """
    return replay(doc, updates).doc
