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
integration on the state vector (:func:`collab.integration.integrable`), hands pycrdt the
structs that integrate (the update itself when all do) and keeps the rest itself
(:class:`collab.waiting.Waiting`), bounded (:class:`PendingTooLarge`).
"""

from __future__ import annotations

import logging
from collections.abc import Container, Iterable
from typing import Any

from pycrdt import Doc

from collab import slices, structs
from collab.errors import NOT_OURS
from collab.integration import Plan, SharedTypes, integrable
from collab.placement import splits_a_pair
from collab.structs import ClientRun, Malformed, Parsed
from collab.updates import (
    ClientIdInUse,
    DocumentCorrupted,
    InvalidUpdate,
    refusal,
    state_vector,
)
from collab.waiting import MAX_PENDING_BYTES, MAX_PENDING_STRUCTS, PendingTooLarge, Waiting

__all__ = [
    "MAX_PENDING_BYTES",
    "MAX_PENDING_STRUCTS",
    "Integrator",
    "PendingTooLarge",
    "apply_all",
    "replay",
]

log = logging.getLogger("collab.integrator")


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
        self._waiting = Waiting()
        self._types = SharedTypes(doc, empty=not self.state)
        self.relayed: list[bytes] | None = None  # what the last apply integrated (see apply)
        self.fresh_clients: tuple[int, ...] = ()  # clients whose structs the last integrated
        self.unlike_yjs = 0  # waiting items read otherwise by Yjs (see Plan.unlike_yjs)

    # -- what waits --------------------------------------------------------------------------

    @property
    def pending(self) -> list[bytes]:
        """What waits, as updates: the waiting structs, then the waiting delete sets."""
        return self._waiting.updates

    @property
    def pending_structs(self) -> int:
        """How many structs wait."""
        return self._waiting.structs

    def with_waiting(self, update: bytes) -> bytes:
        """``update`` (the document, or a diff of it, from ``Doc.get_update``) merged with
        what waits, which ``Doc.get_update`` leaves out: whoever gets it integrates the rest
        when it arrives, as Yjs includes it too. It always reads back: a waiting update
        whose merge does not is left out, logged, and so are waiting structs at clocks the
        document holds already (:meth:`collab.waiting.Waiting.merged_into`).
        """
        return self._waiting.merged_into(update, self.state)

    def with_waiting_deletions(self, update: bytes) -> bytes:
        """``update`` merged with the deletions that wait for their content (not the structs
        that wait: see :attr:`relayed`): a sync step 2 carries them, as their update was
        relayed with them.

        Raises:
            InvalidUpdate: when pycrdt cannot merge them.
        """
        return self._waiting.deletions_into(update)

    def state_update(self) -> bytes:
        """The whole document as one Yjs v1 update, with what waits."""
        return self.with_waiting(self.doc.get_update())

    # -- applying ----------------------------------------------------------------------------

    def apply(self, update: bytes, *, bounded: bool = True, foreign: Container[int] = ()) -> bool:
        """Read ``update`` and apply what of it integrates; keep what waits.

        Args:
            update: a Yjs v1 update.
            bounded: whether the waiting bounds apply (not when replaying the stored log).
            foreign: client ids another live connection writes with: an update bringing
                clocks of theirs the document lacks is refused (a forged struct at a live
                editor's next clock, sent before the editor's own, won everywhere; at its
                clock + 150 it waited, then replaced the editor's own edit there).

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
            InvalidUpdate: also when structs of it that would wait are read differently by
                pycrdt (a merge of what waits would fail or not read back), or overlap
                structs that wait in part (:meth:`Waiting.unseen`); nothing applied.
            ClientIdInUse: when it brings structs of a ``foreign`` client id; nothing applied.
            DocumentCorrupted: when pycrdt failed half-way; discard the document.
        """
        self.relayed = None
        self.fresh_clients = ()
        try:
            parsed = structs.parse(update)
        except Malformed as exc:
            raise refusal(update, exc) from exc
        if not parsed.runs:
            self._check_deletes(parsed, None)
            return self._delete(parsed)
        if foreign:
            self._check_owners(parsed, foreign)
        try:
            plan = self._integrable(parsed.runs)
        except Malformed as exc:
            raise InvalidUpdate(f"cannot integrate update: {exc}") from exc
        self._check_deletes(parsed, plan)
        taken, rest, missing, fresh = plan.taken, plan.rest, plan.missing, plan.fresh
        waiting = self._waiting
        if rest and waiting.rests:
            rest = waiting.unseen(rest)  # what of it does not wait already
            if not rest:  # all of it waits already (sent again on a reconnect)
                waiting.wait_for(missing)  # maybe for another clock now (a forged origin)
        rest_update = slices.encode(rest) if rest else None
        if rest_update is not None and bounded:
            waiting.check(rest_update, rest, self.max_pending_bytes, self.max_pending_structs)
        changed = fresh or rest_update is not None
        relayed: list[bytes] = []
        clients: tuple[int, ...] = ()
        if fresh:
            whole = not plan.rest and not plan.rewritten
            payload = update if whole else slices.encode(taken, parsed.delete_set)
            clients = tuple(part[1] for part in taken)
            self._learn(plan)
            if parsed.deletes:
                waiting.keep_deletes(parsed, self.state)
            # The records of every struct read (about 450 bytes each: 421 MiB for a 20 MB
            # document's stored state, replayed on load) are dropped before pycrdt builds
            # the document, so the two never add up.
            del parsed, plan, taken, rest
            _apply(self.doc, payload)
            relayed.append(payload)
        elif parsed.deletes:  # its structs bring nothing new: only its deletions may
            deletions = b"\x00" + parsed.delete_set
            if self._delete(structs.parse(deletions)):
                changed = True
                relayed.append(deletions)
        if rest_update is not None:
            waiting.add(rest_update, missing)
        relayed += self._retry()
        if relayed != [update]:
            self.relayed = relayed
        if fresh:
            self.fresh_clients = clients
        return changed

    def _check_owners(self, parsed: Parsed, foreign: Container[int]) -> None:
        """Refuse ``parsed`` when it brings clocks of a ``foreign`` client id (duplicates of
        what the document holds bring nothing: a client's catch-up carries them).

        Raises:
            ClientIdInUse: naming the client id.
        """
        state = self.state
        for run in parsed.runs:
            if run.client in foreign:
                last = run.structs[-1]
                if last[0] + last[1] > state.get(run.client, 0):
                    raise ClientIdInUse(
                        f"client id {run.client} is in use by another connection;"
                        " retry once it has closed"
                    )

    def _check_deletes(self, parsed: Parsed, plan: Plan | None) -> None:
        """Refuse ``parsed`` when its delete set cuts a surrogate pair of the document or of
        the structs of ``plan`` (:func:`collab.placement.splits_a_pair`).

        Raises:
            InvalidUpdate: naming the reason.
        """
        surrogates = plan.surrogates if plan is not None else ()
        if parsed.deletes and splits_a_pair(parsed.deletes, self.state, self._types, surrogates):
            raise InvalidUpdate(
                "cannot integrate update: a deletion splits a surrogate pair (Yjs writes"
                " U+FFFD for both halves, pycrdt keeps the character)"
            )

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
        waits = self._waiting.keep_deletes(parsed, self.state)
        return waits or bool(deleted)

    def _integrate(self, payload: bytes, plan: Plan) -> None:
        """Apply ``payload`` (the structs of ``plan`` that integrate) and advance the state
        vector."""
        _apply(self.doc, payload)
        self._learn(plan)

    def _learn(self, plan: Plan) -> None:
        """Advance the state vector and what is known of the document by the structs of
        ``plan`` that integrate (applied to the document before or after: when that fails,
        the integrator is discarded with its document)."""
        state = self.state
        types = self._types
        for client, start, end, key in plan.parents:
            types.learn_parent(client, start, end, key)
        for client, clocks in plan.surrogates:
            types.learn_surrogates(client, clocks)
        for _, client, _, run in plan.taken:
            last = run[-1]
            end = last[0] + last[1]
            before = state.get(client, 0)
            if end > before:
                state[client] = end
            types.learn(client, run, since=before)
        self._waiting.prune_deletes(state)

    def _integrable(self, runs: list[ClientRun], *, waited: bool = False) -> Plan:
        """Which of ``runs`` integrate into the document (:func:`integrable`).

        Raises:
            Malformed: see :func:`integrable`.
        """
        return integrable(runs, self.state, self._types, waited=waited)

    def _retry(self) -> list[bytes]:
        """Integrate what waits once the document reached a clock it waits for (Yjs: ``clock
        < getState(store, client)`` of ``pendingStructs.missing``): what waits is merged
        (``mergeUpdates``, as Yjs does) and integrated as far as it goes. What integrated, as
        updates."""
        integrated: list[bytes] = []
        waiting = self._waiting
        while waiting.due(self.state):
            try:
                merged = waiting.take()
                plan = self._integrable(merged.runs, waited=True)
            except (Malformed, InvalidUpdate) as exc:
                log.warning("dropping waiting structs that cannot integrate: %s", exc)
                return integrated
            if plan.taken:
                payload = slices.encode(plan.taken)
                self._integrate(payload, plan)
                integrated.append(payload)
            if plan.rest:
                waiting.add(slices.encode(plan.rest), plan.missing)
            if plan.thrown:
                log.warning("dropped waiting structs after one continuing a GC struct, as Yjs")
            if plan.unlike_yjs:
                self.unlike_yjs += plan.unlike_yjs
                log.warning(
                    "%d waiting items read otherwise by Yjs (neighbours in different parents,"
                    " or a cut inside a surrogate pair): written as GC, or skipped as held",
                    plan.unlike_yjs,
                )
        return integrated


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
