"""One open document: its pycrdt ``Doc``, its awareness states, its peers and their fan-out.

A :class:`Room` does no I/O and never awaits: peers are objects with a non-blocking
``send(frame)`` (the WebSocket layer queues the frame for its writer task). The order of
operations that makes the server durable (apply, commit, then relay) is the hub's job;
the room offers each step separately.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Protocol

from pycrdt import Doc, merge_updates, write_message, write_var_uint

from collab import protocol, structs
from collab.errors import CloseCode
from collab.integrator import Integrator, replay
from collab.protocol import ProtocolError
from collab.updates import (
    EMPTY_STATE_VECTOR,
    InvalidUpdate,
    check_state_vector,
    encode_diff,
    revives_deleted,
)

__all__ = ["SYNC_CHUNK_BYTES", "AwarenessTooLarge", "Peer", "RevivesDeleted", "Room"]

SYNC_CHUNK_BYTES = 1024 * 1024
"""Sync step 2 replies larger than this go in parts of about this size (see
:meth:`Room.sync_frames`): 2 s each over a 500 kB/s link."""


_NO_CLIENTS: set[int] = set()
"""The client ids of a peer that owns none (shared: never added to)."""

_SEVERAL: Any = object()
"""The senders of the awareness entries waiting for the end of the turn, when there are
several (or a leave): then every peer gets them all."""

_NULL_STATE = write_message(b"null")


class _Asleep:
    """What a hibernated room keeps of its document: its whole state as the sync step 2
    frames a joiner is sent (one, or several parts: see :meth:`Room.sync_frames`), its
    state vector, and its integrator's bounds."""

    __slots__ = ("frames", "max_pending_bytes", "max_pending_structs", "state_vector")

    def __init__(self, frames: list[bytes], state_vector: bytes, integrator: Integrator) -> None:
        self.frames = frames
        self.state_vector = state_vector
        self.max_pending_bytes = integrator.max_pending_bytes
        self.max_pending_structs = integrator.max_pending_structs

    def parts(self) -> list[bytes]:
        """The state, as the updates of its frames (a copy of each)."""
        parts = []
        for frame in self.frames:
            message = protocol.decode(frame)
            assert isinstance(message, protocol.SyncStep2 | protocol.Update)
            parts.append(message.update)
        return parts

    def rebuild(self) -> Integrator:
        """A new document from the kept state, through an integrator (the parts of a large
        state may hold structs whose origin comes in a later part).

        Raises:
            InvalidUpdate: never for a state the room encoded itself.
        """
        integrator = replay(Doc(), self.parts())
        integrator.max_pending_bytes = self.max_pending_bytes
        integrator.max_pending_structs = self.max_pending_structs
        return integrator


class Peer(Protocol):
    """What a room needs of a connection: a queue to put frames on, without waiting."""

    def send(self, frame: bytes) -> None:
        """Queue one binary frame for the peer (never blocks, never raises)."""


class AwarenessTooLarge(ProtocolError):
    """An awareness state over the room's size limit."""

    close_code = CloseCode.TOO_LARGE
    http_status = 413
    code = "too_large"


class RevivesDeleted(InvalidUpdate):
    """An update carrying content of a deleted document (an editor that still holds it):
    its sender is told the document was deleted (4410), which the y-websocket client does
    not retry; over HTTP a 400 ``invalid_update``."""

    close_code = CloseCode.DOCUMENT_DELETED


class _Others:
    """The client ids owned by someone other than ``origin``, as a container (no copy of
    the registry for every update)."""

    __slots__ = ("origin", "owners")

    def __init__(self, owners: dict[int, Peer], origin: object) -> None:
        self.owners = owners
        self.origin = origin

    def __contains__(self, client_id: object) -> bool:
        owner = self.owners.get(client_id)  # type: ignore[call-overload]
        return owner is not None and owner is not self.origin

    def __bool__(self) -> bool:
        return bool(self.owners)


class Room:
    """An open document shared by its peers.

    Args:
        name: the document name (already validated).
        doc: the document, loaded from storage.
        tombstone: the merged state of an earlier, deleted document of the same name, if
            any; updates reviving its structs are refused (see ``Store.delete``).
        max_awareness_bytes: largest accepted JSON state of one awareness client, in bytes.
        integrator: the integrator that rebuilt ``doc`` from storage (it holds what waits),
            or ``None`` for a new one.
        defer: runs a callback at the end of the current event-loop turn (``loop.call_soon``):
            the awareness entries accepted during one turn are then relayed as one message
            per peer. ``None`` relays each awareness message at once.
    """

    def __init__(
        self,
        name: str,
        doc: Doc[Any],
        *,
        tombstone: bytes | None = None,
        max_awareness_bytes: int = 64 * 1024,
        integrator: Integrator | None = None,
        defer: Callable[[Callable[[], None]], object] | None = None,
    ) -> None:
        self.name = name
        self._doc: Doc[Any] | None = doc
        self._integrator_: Integrator | None = (
            integrator if integrator is not None else Integrator(doc)
        )
        self._known = self._integrator_.state  # client -> clock (the integrator's own dict)
        self._full_sync: bytes | None = None  # sync step 2 for an empty state vector
        self._full_frames: list[bytes] | None = None  # the same, in parts (sync_frames)
        self._asleep: _Asleep | None = None  # what a hibernated room keeps of its document
        self.wakes = 0  # how many times the document was rebuilt after hibernate()
        self.sleeps = 0  # how many times it hibernated
        self.tombstone = tombstone
        self.max_awareness_bytes = max_awareness_bytes
        # Awareness (y-protocols awareness.js): each client's last clock, the entry of each
        # present client as it was sent, and the entries accepted during this turn.
        self.clocks: dict[int, int] = {}
        self.awareness: dict[int, bytes] = {}
        self._awareness_frame: bytes | None = None
        self._turn: dict[int, bytes] = {}
        self._turn_from: Any = None  # the one peer that sent them, or _SEVERAL
        self._defer = defer
        # Client ids a connection writes with (structs or awareness), one registry for both:
        # each peer's, and the owner of each (a peer, or the cluster's stand-in for the
        # clients of other nodes); peers that made their first awareness announcement.
        self.peers: dict[Peer, set[int]] = {}
        self.owners: dict[int, Peer] = {}
        self._announced: set[Peer] = set()
        self.size_bytes = 0  # stored bytes: snapshot plus log (the hub keeps it current)
        self.closed = False  # set when the document is deleted or its storage failed
        # Told each accepted awareness update of a local peer (cluster mode: other nodes).
        self.on_awareness: Callable[[bytes], None] | None = None

    # -- hibernation -------------------------------------------------------------------------

    @property
    def doc(self) -> Doc[Any]:
        """The pycrdt document (rebuilt first when the room hibernates)."""
        doc = self._doc
        if doc is None:
            doc = self._wake().doc
        return doc

    @property
    def _integrator(self) -> Integrator:
        integrator = self._integrator_
        if integrator is None:
            integrator = self._wake()
        return integrator

    @property
    def state_vector(self) -> bytes:
        """The document's state vector (kept while it hibernates)."""
        asleep = self._asleep
        return asleep.state_vector if asleep is not None else self.doc.get_state()

    @property
    def asleep(self) -> bool:
        """Whether the room hibernates: its document is dropped, its state kept encoded."""
        return self._asleep is not None

    def hibernate(self) -> bool:
        """Drop the pycrdt document, keeping one encoded copy of its state: the sync step 2
        frames a joiner with an empty state vector is sent (so joiners are served as
        before), and its state vector (the room's sync step 1). Peers and awareness are
        untouched. Whatever needs the document next rebuilds it from that state
        (:meth:`awaken` with one rebuilt elsewhere, else here, synchronously): an update
        is applied after it, in order. A closed room, or one with structs or deletions
        waiting for a predecessor, does not hibernate.

        Returns:
            Whether the room hibernates now (``False``: it already did, or cannot).
        """
        if self._asleep is not None or self.closed or self.waiting:
            return False
        integrator = self._integrator
        frames = self.sync_frames(EMPTY_STATE_VECTOR)
        if len(frames) > 1:
            self._full_sync = None  # the parts are the one copy kept
        self._asleep = _Asleep(frames, self.doc.get_state(), integrator)
        self._doc = self._integrator_ = None
        self.sleeps += 1
        return True

    def rebuilder(self) -> Callable[[], Integrator] | None:
        """A function rebuilding the document of a hibernated room (to run on another
        thread; its result goes to :meth:`awaken`), or ``None`` when the room is awake."""
        asleep = self._asleep
        return asleep.rebuild if asleep is not None else None

    def awaken(self, integrator: Integrator) -> bool:
        """Take ``integrator`` (from :meth:`rebuilder`) as the room's document.

        Returns:
            ``False`` when the room is awake already (``integrator`` is then dropped).
        """
        asleep = self._asleep
        if asleep is None:
            return False
        self._doc, self._integrator_ = integrator.doc, integrator
        self._known = integrator.state
        self._asleep = None
        self.wakes += 1
        if len(asleep.frames) == 1:
            self._full_sync = asleep.frames[0]
        else:
            self._full_frames = asleep.frames
        return True

    def _wake(self) -> Integrator:
        """Rebuild the document of a hibernated room here (the event loop waits)."""
        asleep = self._asleep
        assert asleep is not None
        integrator = asleep.rebuild()
        self.awaken(integrator)
        return integrator

    def brings_nothing(self, update: bytes) -> bool:
        """Whether ``update`` certainly changes nothing (no deletion, every struct below the
        state vector), decided without the document: the sync step 2 of a joiner with
        nothing new keeps a hibernated room asleep. ``False`` when in doubt (it is then
        applied)."""
        try:
            parsed = structs.parse(update)
        except structs.Malformed:
            return False
        known = self._known
        for run in parsed.runs:
            last = run.structs[-1] if run.structs else None
            if last is not None and last[0] + last[1] > known.get(run.client, 0):
                return False
        return not parsed.deletes

    # -- membership --------------------------------------------------------------------------

    def join(self, peer: Peer) -> None:
        """Add ``peer`` and send it the room's sync step 1 and the current awareness states.

        The server's own sync step 1 makes a reconnecting client answer with sync step 2,
        which carries the edits it made offline (y-protocols ``sync.js``).
        """
        self.peers[peer] = _NO_CLIENTS
        peer.send(protocol.encode(protocol.SyncStep1(self.state_vector)))
        states = self.awareness_frame()
        if states is not None:
            peer.send(states)

    def leave(self, peer: Peer) -> None:
        """Remove ``peer``, release the client ids it owned, and broadcast the removal of
        their awareness states (a ``null`` state at the next clock, as y-protocols
        ``removeAwarenessStates`` does)."""
        client_ids = self.peers.pop(peer, set())
        self._announced.discard(peer)
        for client_id in client_ids:
            if self.owners.get(client_id) is peer:
                del self.owners[client_id]
        removed = self.remove_clients(client_ids)
        if removed and self.on_awareness is not None:
            self.on_awareness(protocol.encode_awareness_entries(removed))

    def remove_clients(self, client_ids: Iterable[int]) -> list[bytes]:
        """Remove the awareness states of ``client_ids`` (those present) and tell every peer
        (a ``null`` state at the next clock, as y-protocols ``removeAwarenessStates`` does).

        Returns:
            The removal entries, encoded (empty when none of them was present).
        """
        removed = []
        for client_id in client_ids:
            if client_id not in self.awareness:
                continue
            clock = self.clocks[client_id] + 1
            raw = b"".join((write_var_uint(client_id), write_var_uint(clock), _NULL_STATE))
            self._accept(client_id, clock, None, raw)
            removed.append(raw)
        if removed:
            self._queue(_SEVERAL)
        return removed

    # -- document ----------------------------------------------------------------------------

    def apply(self, update: bytes, origin: object = None) -> bool:
        """Validate ``update`` (Yjs v1) and apply it to the document.

        Returns:
            Whether it changed the document or waits for a missing predecessor; ``False``
            for an update with nothing new (such as the empty sync step 2 every client sends
            on connect, or a delete set already applied), which needs no commit or relay.

        A peer (``origin``) owns the client ids it writes with: those of its first awareness
        announcement, and, until it made one, those whose structs it is the first to write.
        An update from anyone else (another peer, an HTTP write) bringing structs of an
        owned client id is refused whole; ``origin`` ``None`` (another node's update, in
        cluster mode) is not checked. The ids are released when the peer leaves.

        Raises:
            InvalidUpdate: malformed or v2-encoded; the document is unchanged.
            RevivesDeleted: carrying content of a deleted document; unchanged too.
            ClientIdInUse: structs of a client id another connection owns; unchanged too.
        """
        if self.tombstone is not None and revives_deleted(update, self.tombstone):
            raise RevivesDeleted(
                "document was deleted: update carries content of a deleted document"
            )
        if self._asleep is not None and self.brings_nothing(update):
            return False
        owners = self.owners
        foreign = _Others(owners, origin) if owners and origin is not None else ()
        integrator = self._integrator
        if not integrator.apply(update, foreign=foreign):
            return False
        if origin in self.peers and origin not in self._announced:
            fresh = [c for c in integrator.fresh_clients if c not in owners]
            if fresh:
                self._own(origin, fresh)
        self._full_sync = self._full_frames = None
        return True

    def _own(self, peer: Peer, client_ids: Iterable[int]) -> set[int]:
        """Make ``peer``, a member, the owner of ``client_ids``; every client id it owns.
        Only members own: :meth:`leave` releases what a peer owns."""
        owned = self.peers[peer]
        if owned is _NO_CLIENTS:
            owned = self.peers[peer] = set()
        for client_id in client_ids:
            owned.add(client_id)
            self.owners[client_id] = peer
        return owned

    @property
    def relayed(self) -> list[bytes] | None:
        """What the last :meth:`apply` integrated, to relay: ``None`` for the whole update
        (see :attr:`collab.integrator.Integrator.relayed`)."""
        integrator = self._integrator_
        return integrator.relayed if integrator is not None else None

    @property
    def empty(self) -> bool:
        """Whether the document holds nothing: no struct, nothing waiting."""
        if self._asleep is not None:
            return not self._known  # a room with structs waiting does not hibernate
        return not self._integrator.state and not self._integrator.pending

    @property
    def waiting(self) -> bool:
        """Whether some applied update waits for a missing predecessor: structs, or
        deletions of clocks the document does not have (neither is in ``doc.get_update()``
        yet)."""
        integrator = self._integrator_
        return integrator is not None and bool(integrator.pending)

    def sync_step2(self, state_vector: bytes) -> bytes:
        """The sync step 2 frame answering a peer's sync step 1 (``state_vector``).

        The answer to a client that has nothing of the document (an empty state vector, or
        one naming only clients the document does not know) is kept until the document
        changes: peers opening a large document together encode it once, and a state vector
        naming an unknown client does not cost a new encoding.

        Raises:
            InvalidUpdate: when the state vector cannot be decoded (its count is checked
                against its length first).
        """
        known = self._known
        if not any(
            known.get(client) for client, clock in check_state_vector(state_vector).items() if clock
        ):
            if self._full_sync is None and self._asleep is not None:
                self._wake()  # asleep, a large document keeps its parts only
            if self._full_sync is None:
                update = self._integrator.with_waiting_deletions(
                    encode_diff(self.doc, EMPTY_STATE_VECTOR)
                )
                self._full_sync = protocol.encode(protocol.SyncStep2(update))
            return self._full_sync
        # Structs waiting for a predecessor stay out, as from relays (Integrator.relayed).
        update = self._integrator.with_waiting_deletions(encode_diff(self.doc, state_vector))
        return protocol.encode(protocol.SyncStep2(update))

    def sync_frames(self, state_vector: bytes) -> list[bytes]:
        """The answer to a peer's sync step 1, as frames to send in order: one sync step 2,
        or for a reply over :data:`SYNC_CHUNK_BYTES` the state in several update messages
        of about that size with the last part as the sync step 2 (y-protocols allows a state
        in several updates), so a client on a slow link sees messages arrive: the
        y-websocket client closes a connection that received nothing for 30 s, and a 20 MB
        sync step 2 over 500 kB/s never arrived whole. The whole document's frames are kept
        until it changes, like :meth:`sync_step2`'s.

        Raises:
            InvalidUpdate: when the state vector cannot be decoded.
        """
        asleep_parts = self._asleep is not None and self._full_frames is not None
        if asleep_parts and self.full_sync(state_vector):
            return self._full_frames  # type: ignore[return-value]  # checked just above
        frame = self.sync_step2(state_vector)
        if len(frame) <= SYNC_CHUNK_BYTES:
            return [frame]
        full = frame is self._full_sync
        if full and self._full_frames is not None:
            return self._full_frames
        message = protocol.decode(frame)
        assert isinstance(message, protocol.SyncStep2)
        try:
            parts = structs.split(message.update, SYNC_CHUNK_BYTES)
        except structs.Malformed:  # pycrdt wrote it: never; then it goes whole
            return [frame]
        frames = [protocol.encode(protocol.Update(part)) for part in parts[:-1]]
        frames.append(protocol.encode(protocol.SyncStep2(parts[-1])))
        if full:
            self._full_frames = frames
        return frames

    def full_sync(self, state_vector: bytes) -> bool:
        """Whether the answer to ``state_vector`` is the whole document (it names no clock
        of a client the document knows).

        Raises:
            InvalidUpdate: when the state vector cannot be decoded.
        """
        known = self._known
        return not any(known.get(c) for c, k in check_state_vector(state_vector).items() if k)

    def has_structs_beyond(self, state_vector: bytes) -> bool:
        """Whether the document holds structs ``state_vector`` lacks (else the answer to it
        is the delete set only).

        Raises:
            InvalidUpdate: when the state vector cannot be decoded.
        """
        theirs = check_state_vector(state_vector)
        return any(clock > theirs.get(client, 0) for client, clock in self._known.items())

    def state(self) -> bytes:
        """The whole document as one Yjs v1 update, with what waits for a predecessor."""
        asleep = self._asleep
        if asleep is not None:  # nothing waits in a hibernated room
            parts = asleep.parts()
            return parts[0] if len(parts) == 1 else merge_updates(*parts)
        return self._integrator.state_update()

    def broadcast(self, frame: bytes, exclude: object = None) -> None:
        """Send ``frame`` (encoded once) to every peer except ``exclude``."""
        for peer in self.peers:
            if peer is not exclude:
                peer.send(frame)

    def relay(self, update: bytes, origin: object) -> None:
        """Send ``update`` as an update message to every peer except ``origin`` (the peer
        that sent it; anything else, such as ``None`` or ``"http"``, excludes no one); a
        writer alone in its room costs no encoding."""
        peers = self.peers
        if len(peers) > 1 or (peers and origin not in peers):
            self.broadcast(protocol.encode(protocol.Update(update)), exclude=origin)

    # -- awareness ---------------------------------------------------------------------------

    def apply_awareness(self, peer: Peer, payload: bytes) -> None:
        """Apply an awareness update from ``peer`` and relay it to the other peers.

        A peer owns the client ids of its first announcement (its first awareness update with
        a state, counting ids no other peer owns) and those it owns for writing (see
        :meth:`apply`: one registry): entries for any other id are dropped, so
        no connection, read-only ones included, can remove or impersonate another's presence
        (the y-websocket client re-broadcasts the states it receives, and removes, after 30 s
        without news, states it thinks are stale: those entries are dropped too). :meth:`leave`
        removes the owned ids when the connection ends. A peer that is not in the room
        (never joined, or has left) owns nothing and its update is dropped whole: what it
        owned would never be released.

        Raises:
            ProtocolError: when the payload is malformed.
            AwarenessTooLarge: when a state exceeds ``max_awareness_bytes``.
        """
        entries = protocol.decode_awareness_entries(payload)
        if peer not in self.peers:
            return
        # A connection owns the client ids of its first announcement (those no other
        # connection owns); entries for any other client id are dropped: the y-websocket
        # client re-broadcasts every state it receives (an echo), and a forged entry would
        # remove a live editor's presence for everyone (a null state) or impersonate it.
        owned = self.peers.get(peer, _NO_CLIENTS)
        if peer not in self._announced:
            owners = self.owners
            claim = {
                entry.client_id
                for entry, _ in entries
                if entry.state is not None and owners.get(entry.client_id, peer) is peer
            }
            if claim:
                self._announced.add(peer)
                owned = self._own(peer, claim)
        taken = [(entry, raw) for entry, raw in entries if entry.client_id in owned]
        for entry, raw in taken:
            # the entry's size as one client's awareness update (count prefix included)
            if entry.state is not None and len(raw) + 1 > self.max_awareness_bytes:
                raise AwarenessTooLarge(
                    f"awareness state of {len(raw) + 1} bytes exceeds {self.max_awareness_bytes}"
                )
        accepted = False
        for entry, raw in taken:
            accepted |= self._accept(entry.client_id, entry.clock, entry.state, raw)
        if accepted:
            self._queue(peer)
            if self.on_awareness is not None:
                if len(taken) != len(entries):
                    payload = protocol.encode_awareness_entries([raw for _, raw in taken])
                self.on_awareness(payload)

    def apply_foreign_awareness(self, payload: bytes, owner: Peer) -> list[protocol.AwarenessEntry]:
        """Apply an awareness update of another node's clients and relay it to every peer.
        The clients it announces belong to ``owner`` (a stand-in for the other nodes), so
        that no local peer relaying their states removes them when it leaves.

        Returns:
            Its entries.

        Raises:
            ProtocolError: when the payload is malformed.
        """
        entries = protocol.decode_awareness_entries(payload)
        accepted = False
        for entry, raw in entries:
            client_id = entry.client_id
            current = self.owners.get(client_id)
            if entry.state is None:
                if current is owner:
                    del self.owners[client_id]
            elif current is None:
                self.owners[client_id] = owner
            accepted |= self._accept(client_id, entry.clock, entry.state, raw)
        if accepted:
            self._queue(_SEVERAL)
        return [entry for entry, _ in entries]

    def _accept(self, client_id: int, clock: int, state: Any, raw: bytes) -> bool:
        """Apply one entry as y-protocols ``applyAwarenessUpdate`` does: a newer clock wins,
        and a removal at the same clock; anything else (a stale echo) is dropped."""
        current = self.clocks.get(client_id, 0)
        if not (
            current < clock or (current == clock and state is None and client_id in self.awareness)
        ):
            return False
        self.clocks[client_id] = clock
        if state is None:
            self.awareness.pop(client_id, None)
        else:
            self.awareness[client_id] = raw
        self._awareness_frame = None
        self._turn.pop(client_id, None)  # insertion order: the client's latest position
        self._turn[client_id] = raw
        return True

    def _queue(self, sender: Any) -> None:
        """Relay the accepted entries at the end of the turn (at once without ``defer``)."""
        if self._turn_from is None:
            self._turn_from = sender
            if self._defer is not None:
                self._defer(self.flush_awareness)
        elif self._turn_from is not sender:
            self._turn_from = _SEVERAL
        if self._defer is None:
            self.flush_awareness()

    def flush_awareness(self) -> None:
        """Send the awareness entries accepted since the last flush as one message: to every
        peer but their sender when one peer sent them all, else to every peer (a client
        ignores its own entries: their clocks are not newer than its own)."""
        entries, sender = self._turn, self._turn_from
        self._turn, self._turn_from = {}, None
        if entries:
            payload = protocol.encode_awareness_entries(list(entries.values()))
            frame = protocol.encode(protocol.Awareness(payload))
            self.broadcast(frame, exclude=None if sender is _SEVERAL else sender)

    def awareness_frame(self) -> bytes | None:
        """An awareness frame with every known state, or ``None`` when there is none."""
        if not self.awareness:
            return None
        if self._awareness_frame is None:
            payload = protocol.encode_awareness_entries(list(self.awareness.values()))
            self._awareness_frame = protocol.encode(protocol.Awareness(payload))
        return self._awareness_frame
