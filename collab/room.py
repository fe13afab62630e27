"""One open document: its pycrdt ``Doc``, its hibernation, and the fan-out of its updates to
its peers (their presence: :mod:`collab.presence`; its answers to their sync step 1:
:mod:`collab.sync_replies`).

A :class:`Room` does no I/O and never awaits: peers are objects with a non-blocking
``send(frame)`` (the WebSocket layer queues the frame for its writer task). The order of
operations that makes the server durable (apply, commit, then relay) is the hub's job;
the room offers each step separately.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pycrdt import Doc, merge_updates

from collab import protocol
from collab.errors import CloseCode
from collab.hibernated import Asleep, brings_nothing
from collab.integrator import Integrator
from collab.presence import NO_CLIENTS, AwarenessTooLarge, Peer, Presence
from collab.sync_replies import SyncReplies
from collab.updates import EMPTY_STATE_VECTOR, InvalidUpdate, revives_deleted

__all__ = ["AwarenessTooLarge", "Peer", "RevivesDeleted", "Room"]


class RevivesDeleted(InvalidUpdate):
    """An update carrying content of a deleted document (an editor that still holds it):
    its sender is told the document was deleted (4410), which the y-websocket client does
    not retry; over HTTP a 400 ``invalid_update``."""

    close_code = CloseCode.DOCUMENT_DELETED


class Room(SyncReplies, Presence):
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
        self._asleep: Asleep | None = None  # what a hibernated room keeps of its document
        self.wakes = 0  # how many times the document was rebuilt after hibernate()
        self.sleeps = 0  # how many times it hibernated
        super().__init__(max_awareness_bytes, defer)
        self.tombstone = tombstone
        self.size_bytes = 0  # stored bytes: snapshot plus log (the hub keeps it current)
        self.closed = False  # set when the document is deleted or its storage failed

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
        frames = self.sync_frames(EMPTY_STATE_VECTOR)  # kept once: one frame, or the parts
        self._asleep = Asleep(frames, self.doc.get_state(), integrator)
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
        """Whether ``update`` certainly changes nothing here, decided without the document
        (see :func:`collab.hibernated.brings_nothing`)."""
        return brings_nothing(self._known, update)

    # -- membership --------------------------------------------------------------------------

    def join(self, peer: Peer) -> None:
        """Add ``peer`` and send it the room's sync step 1 and the current awareness states.

        The server's own sync step 1 makes a reconnecting client answer with sync step 2,
        which carries the edits it made offline (y-protocols ``sync.js``).
        """
        self.peers[peer] = NO_CLIENTS
        peer.send(protocol.encode(protocol.SyncStep1(self.state_vector)))
        states = self.awareness_frame()
        if states is not None:
            peer.send(states)

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
        integrator = self._integrator
        if not integrator.apply(update, foreign=self.owned_by_others(origin)):
            return False
        self.wrote(origin, integrator.fresh_clients)
        self._full_sync = self._full_frames = None
        return True

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

    def state(self) -> bytes:
        """The whole document as one Yjs v1 update, with what waits for a predecessor."""
        asleep = self._asleep
        if asleep is not None:  # nothing waits in a hibernated room
            parts = asleep.parts()
            return parts[0] if len(parts) == 1 else merge_updates(*parts)
        return self._integrator.state_update()

    def relay(self, update: bytes, origin: object) -> None:
        """Send ``update`` as an update message to every peer except ``origin`` (the peer
        that sent it; anything else, such as ``None`` or ``"http"``, excludes no one); a
        writer alone in its room costs no encoding."""
        peers = self.peers
        if len(peers) > 1 or (peers and origin not in peers):
            self.broadcast(protocol.encode(protocol.Update(update)), exclude=origin)
