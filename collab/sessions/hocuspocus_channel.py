"""One document of a ``/hocuspocus`` socket: a y-websocket connection whose frames carry an address.

A :class:`DocumentChannel` is the y-websocket :class:`~collab.websocket.Connection` of one
document (the same rooms, limits, commit before relay, read-only rules, metrics and logs): Sync,
Awareness and QueryAwareness are byte for byte the y-websocket messages after the document's
address (see :mod:`collab.hocuspocus`), so it receives y-websocket frames with the address cut
off, and what it sends gets the address put in front. What it adds for the provider
(``@hocuspocus/server`` 4.x ``MessageReceiver``): a SyncStatus after each sync step 2 or update,
sent once committed; the sender's own awareness sent back to it (the provider reconnects when it
hears nothing for 30 s, and its awareness renewal every 15 s is what it hears when alone);
SyncStatus(false) and nothing applied for a read-only write with content, as Hocuspocus does.
"""

from __future__ import annotations

import contextlib
from typing import Protocol

from collab import hocuspocus as hp
from collab import protocol
from collab.hub import Hub
from collab.limits import TokenBucket
from collab.room import Room
from collab.sessions.access import Access
from collab.sessions.transport import Transport
from collab.sessions.ywebsocket import Connection
from collab.settings import Settings
from collab.updates import carries_structs_beyond

__all__ = ["DocumentChannel", "Session", "broadcast_stateless"]


class Session(Protocol):
    """What a channel needs of its socket's session."""

    transport: Transport

    def document_open(self, channel: DocumentChannel) -> None:
        """The channel joined its room."""

    def document_closed(self, channel: DocumentChannel, code: int, reason: str) -> None:
        """The server ends the channel's document with ``code`` and ``reason``."""

    def hold(self) -> None:
        """Pause reading the socket for one more reason."""

    def release(self) -> None:
        """One reason to pause reading the socket is gone."""


class DocumentChannel(Connection):
    """One document of a Hocuspocus socket: a y-websocket connection whose frames carry the
    document's address.

    Args:
        address: the document's address (its name, or name and session id).
        session: the socket's session.
        hub, name, access, settings, source, client: see
            :class:`~collab.sessions.ywebsocket.Connection` (``source``: what
            ``Collab.reauthorize`` checks again, the socket with this document's token).
    """

    __slots__ = ("_acks", "_head", "address", "session")

    def __init__(
        self,
        address: str,
        session: Session,
        hub: Hub,
        name: str,
        access: Access,
        settings: Settings,
        source: object = None,
        client: str | None = None,
    ) -> None:
        self.address = address
        self.session = session
        self._head = hp.prefix(address)
        self._acks = 0  # sync step 2 and update messages applied, not acknowledged yet
        super().__init__(_Addressed(self), hub, name, access, settings, source, client)
        self.bucket = TokenBucket(0, 0)  # the socket's bucket counts every frame

    @property
    def head(self) -> bytes:
        """The bytes that start each frame of this document (its address)."""
        return self._head

    def send_stateless(self, payload: str) -> None:
        """Send a Stateless message to this document's provider."""
        self.send(hp.encode(hp.Frame(self.address, hp.Stateless(payload)))[len(self._head) :])

    def _on_frame(self, room: Room, frame: bytes) -> None:
        if self._close is None:  # the session counted it and took a token for it
            self._guarded(self._handle, room, frame)

    def _handle(self, room: Room, frame: bytes) -> None:
        super()._handle(room, frame)
        if frame[0] == protocol.MessageType.AWARENESS and self._close is None:
            self.send(frame)  # the sender hears its own awareness (see the module docstring)

    def _write(self, room: Room, update: bytes, parts: list[bytes] | None = None) -> None:
        if self.read_only:
            if not room.closed and carries_structs_beyond(room.state_vector, update):
                self.send(_SYNC_STATUS[False])  # refused; nothing applied
            else:
                self._acks += 1  # a delete set repeated in sync step 2: nothing new to refuse
            return
        super()._write(room, update, parts)
        self._acks += len(parts) if parts else 1

    def end_of_read(self) -> None:
        """Apply the updates held back, then acknowledge each applied sync step 2 and update
        with a SyncStatus once the room's updates are committed."""
        super().end_of_read()
        acks, self._acks = self._acks, 0
        room = self.room
        if acks and self._close is None and room is not None:
            self.hub.when_committed(room, lambda: self._acknowledge(acks))

    def _acknowledge(self, acks: int) -> None:
        for _ in range(acks):
            self.send(_SYNC_STATUS[True])


_SYNC_STATUS = {
    applied: bytes((hp.MessageType.SYNC_STATUS, int(applied))) for applied in (False, True)
}
"""A SyncStatus message without its address (a channel's ``send`` puts it in front)."""


class _Addressed:
    """What a :class:`DocumentChannel` writes to: the socket, with the address in front."""

    __slots__ = ("channel",)

    def __init__(self, channel: DocumentChannel) -> None:
        self.channel = channel

    def write(self, payload: bytes, limit: int) -> int:
        return self.channel.session.transport.write(self.channel.head + payload, limit)

    def close(self, code: int, reason: str) -> None:
        self.channel.session.document_closed(self.channel, code, reason)

    def detach(self, owner: object) -> None:  # the channel joined its room
        self.channel.session.document_open(self.channel)

    def pause_reading(self) -> None:
        self.channel.session.hold()

    def resume_reading(self) -> None:
        self.channel.session.release()


def broadcast_stateless(hub: Hub, name: str, payload: str) -> int:
    """Send a Stateless message to every Hocuspocus client of document ``name`` on this server.

    Returns:
        How many clients it was sent to (0 when the document is not open).
    """
    channels = [peer for peer in hub.rooms.peers(name) if isinstance(peer, DocumentChannel)]
    for channel in channels:
        with contextlib.suppress(Exception):
            channel.send_stateless(payload)
    return len(channels)
