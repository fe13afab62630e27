"""One open document: its pycrdt ``Doc``, its awareness states, its peers and their fan-out.

A :class:`Room` does no I/O and never awaits: peers are objects with a non-blocking
``send(frame)`` (the WebSocket layer queues the frame for its writer task). The order of
operations that makes the server durable (apply, commit, then relay) is the hub's job;
the room offers each step separately.
"""

from __future__ import annotations

from typing import Any, Protocol

from pycrdt import Awareness as AwarenessStates
from pycrdt import Doc

from collab import protocol, structs
from collab.errors import CloseCode
from collab.integrator import Integrator
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
"""The awareness client ids of a peer that announced none (shared: never added to)."""


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
    """

    def __init__(
        self,
        name: str,
        doc: Doc[Any],
        *,
        tombstone: bytes | None = None,
        max_awareness_bytes: int = 64 * 1024,
        integrator: Integrator | None = None,
    ) -> None:
        self.name = name
        self.doc = doc
        self._integrator = integrator if integrator is not None else Integrator(doc)
        self._full_sync: bytes | None = None  # sync step 2 for an empty state vector
        self._full_frames: list[bytes] | None = None  # the same, in parts (sync_frames)
        self.tombstone = tombstone
        self.max_awareness_bytes = max_awareness_bytes
        self.awareness = AwarenessStates(doc)
        self.awareness.set_local_state(None)  # the server itself has no presence
        self.peers: dict[Peer, set[int]] = {}  # each peer's awareness client ids
        self.owners: dict[int, Peer] = {}  # awareness client id -> the peer that owns it
        self.writers: dict[int, Peer] = {}  # document client id -> the peer writing with it
        self.size_bytes = 0  # stored bytes: snapshot plus log (the hub keeps it current)
        self.closed = False  # set when the document is deleted or its storage failed

    # -- membership --------------------------------------------------------------------------

    def join(self, peer: Peer) -> None:
        """Add ``peer`` and send it the room's sync step 1 and the current awareness states.

        The server's own sync step 1 makes a reconnecting client answer with sync step 2,
        which carries the edits it made offline (y-protocols ``sync.js``).
        """
        self.peers[peer] = _NO_CLIENTS
        peer.send(protocol.encode(protocol.SyncStep1(self.doc.get_state())))
        states = self.awareness_frame()
        if states is not None:
            peer.send(states)

    def leave(self, peer: Peer) -> None:
        """Remove ``peer`` and broadcast at once the removal of the awareness clients it owned."""
        client_ids = self.peers.pop(peer, set())
        for client_id in client_ids:
            self.owners.pop(client_id, None)
        if self.writers:
            self.writers = {c: p for c, p in self.writers.items() if p is not peer}
        present = [cid for cid in client_ids if cid in self.awareness.states]
        if present:
            self.awareness.remove_awareness_states(present, peer)
            payload = self.awareness.encode_awareness_update(present)
            self.broadcast(protocol.encode(protocol.Awareness(payload)))

    # -- document ----------------------------------------------------------------------------

    def apply(self, update: bytes, origin: object = None) -> bool:
        """Validate ``update`` (Yjs v1) and apply it to the document.

        Returns:
            Whether it changed the document or waits for a missing predecessor; ``False``
            for an update with nothing new (such as the empty sync step 2 every client sends
            on connect, or a delete set already applied), which needs no commit or relay.

        A peer (``origin``) owns the client ids whose structs it is the first to write:
        structs of a client id another peer owns that wait for that client's own earlier
        clocks are forged and dropped (see ``Integrator.apply``'s ``foreign``; then
        :attr:`stored` says what to store).

        Raises:
            InvalidUpdate: malformed or v2-encoded; the document is unchanged.
            RevivesDeleted: carrying content of a deleted document; unchanged too.
        """
        if self.tombstone is not None and revives_deleted(update, self.tombstone):
            raise RevivesDeleted(
                "document was deleted: update carries content of a deleted document"
            )
        owners = self.writers
        foreign = [c for c, peer in owners.items() if peer is not origin] if owners else ()
        integrator = self._integrator
        if not integrator.apply(update, foreign=foreign):
            return False
        if origin in self.peers:
            for client in integrator.fresh_clients:
                owners.setdefault(client, origin)
        self._full_sync = self._full_frames = None
        return True

    @property
    def stored(self) -> bytes | None:
        """What of the last applied update to store when not all of it (forged structs
        dropped), else ``None``."""
        return self._integrator.stored

    @property
    def relayed(self) -> list[bytes] | None:
        """What the last :meth:`apply` integrated, to relay: ``None`` for the whole update
        (see :attr:`collab.integrator.Integrator.relayed`)."""
        return self._integrator.relayed

    @property
    def empty(self) -> bool:
        """Whether the document holds nothing: no struct, nothing waiting."""
        return not self._integrator.state and not self._integrator.pending

    @property
    def waiting(self) -> bool:
        """Whether some applied update waits for a missing predecessor: structs, or
        deletions of clocks the document does not have (neither is in ``doc.get_update()``
        yet)."""
        return bool(self._integrator.pending)

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
        known = self._integrator.state
        if not any(
            known.get(client) for client, clock in check_state_vector(state_vector).items() if clock
        ):
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
        known = self._integrator.state
        return not any(known.get(c) for c, k in check_state_vector(state_vector).items() if k)

    def state(self) -> bytes:
        """The whole document as one Yjs v1 update, with what waits for a predecessor."""
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
        a state, counting ids no other peer owns): entries for any other id are dropped, so
        no connection, read-only ones included, can remove or impersonate another's presence
        (the y-websocket client re-broadcasts the states it receives, and removes, after 30 s
        without news, states it thinks are stale: those entries are dropped too). :meth:`leave`
        removes the owned ids when the connection ends.

        Raises:
            ProtocolError: when the payload is malformed.
            AwarenessTooLarge: when a state exceeds ``max_awareness_bytes``.
        """
        entries = protocol.decode_awareness(payload)
        owned = self.peers.get(peer, _NO_CLIENTS)
        if owned is _NO_CLIENTS:
            claim = {e.client_id for e in entries if e.state is not None}
            claim -= self.owners.keys()
            if claim:
                owned = self.peers[peer] = claim
                for client_id in claim:
                    self.owners[client_id] = peer
        accepted = [entry for entry in entries if entry.client_id in owned]
        if not accepted:
            return
        for entry in accepted:
            if entry.state is not None:
                size = len(protocol.encode_awareness([entry]))
                if size > self.max_awareness_bytes:
                    raise AwarenessTooLarge(
                        f"awareness state of {size} bytes exceeds {self.max_awareness_bytes}"
                    )
        if len(accepted) != len(entries):
            payload = protocol.encode_awareness(accepted)
        self.awareness.apply_awareness_update(payload, peer)
        self.broadcast(protocol.encode(protocol.Awareness(payload)), exclude=peer)

    def awareness_frame(self) -> bytes | None:
        """An awareness frame with every known state, or ``None`` when there is none."""
        client_ids = list(self.awareness.states)
        if not client_ids:
            return None
        payload = self.awareness.encode_awareness_update(client_ids)
        return protocol.encode(protocol.Awareness(payload))
