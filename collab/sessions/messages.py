"""The messages of a y-websocket session: sync steps, awareness, and the writes (the update
messages of one read merged into one update, the one write path
:meth:`collab.hub.Hub.write_now`, read-only refusals)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from collab import protocol
from collab.errors import CloseCode, Refused
from collab.protocol import ProtocolError
from collab.room import Room
from collab.sessions.flow import FlowControl
from collab.updates import InvalidUpdate, carries_structs_beyond, merge_burst

if TYPE_CHECKING:
    from collab.hub import Hub
    from collab.limits import TokenBucket

__all__ = ["BURST_BYTES", "BURST_UPDATES", "LARGE_SYNC_BYTES", "Messages"]

BURST_UPDATES = 64
"""Update messages of one read that are applied, stored and relayed as one merged update, at
most (see :func:`collab.updates.merge_burst`: merging costs more per update past a hundred)."""

BURST_BYTES = 64 * 1024
"""Bytes of update messages merged into one update, at most."""

LARGE_SYNC_BYTES = 64 * 1024
"""Sync step 2 replies from this size on count against ``full_syncs_per_minute``: a client
asking again and again for a large document (a read token suffices) costs the server its
bandwidth and other rooms their latency; smaller replies cost less than the request. A reply
to a client that holds every struct of the document is not counted: it is the document's
delete set (every Yjs diff repeats it), which a writer pacing itself with sync step 1 asks for
after each update."""


class Messages(FlowControl):
    """The message handling of :class:`~collab.sessions.ywebsocket.Connection` (its base
    class, over :class:`~collab.sessions.flow.FlowControl`)."""

    __slots__ = ("_burst", "_burst_bytes")

    _burst: list[bytes]  # update messages of the current read, not applied yet
    _burst_bytes: int

    if TYPE_CHECKING:
        hub: Hub
        read_only: bool
        syncs: TokenBucket
        _close: tuple[int, str] | None

        def send(self, frame: bytes) -> None: ...

    def _handle(self, room: Room, frame: bytes) -> None:
        """Handle one binary frame. Update messages are held back until the end of the read
        (or :data:`BURST_UPDATES`, :data:`BURST_BYTES`, or another message), then applied,
        committed and relayed as one merged update: a client sending fast writes many per
        read. Every other message is handled after the updates before it."""
        try:
            message = protocol.decode(frame)
        except ProtocolError:
            self._apply_burst(room)  # the updates before a malformed frame are taken
            raise
        if type(message) is protocol.Update and not self.read_only:
            self._burst.append(message.update)
            self._burst_bytes += len(message.update)
            if len(self._burst) >= BURST_UPDATES or self._burst_bytes >= BURST_BYTES:
                self._apply_burst(room)
            return
        self._apply_burst(room)
        if isinstance(message, protocol.SyncStep2 | protocol.Update):
            self._write(room, message.update)
        elif isinstance(message, protocol.SyncStep1):
            state_vector = message.state_vector
            # Computed now, it validates the state vector (the close must come from here); it
            # is sent as is unless the room holds uncommitted updates: then the reply is made
            # once they are committed, so that it never shows an uncommitted update.
            reply = room.sync_frames(state_vector)
            if (
                sum(map(len, reply)) >= LARGE_SYNC_BYTES
                and room.has_structs_beyond(state_vector)  # else the delete set only
                and not self.syncs.take()
            ):
                raise Refused(
                    CloseCode.RATE_LIMITED,
                    "too many large sync step 2 replies (see --full-syncs-per-minute)",
                )
            if self.hub.uncommitted(room):
                self.hub.when_committed(
                    room, lambda: self._send_all(room.sync_frames(state_vector))
                )
            else:
                self._send_all(reply)
        elif isinstance(message, protocol.Awareness):
            room.apply_awareness(self, message.payload)
        elif isinstance(message, protocol.QueryAwareness):
            frame = room.awareness_frame() or protocol.encode(protocol.Awareness(b"\x00"))
            self.send(frame)
        # Auth messages from a client carry nothing the server acts on (y-protocols auth.js).

    def _send_all(self, frames: list[bytes]) -> None:
        """Send ``frames`` in order (a sync reply in parts: see ``Room.sync_frames``)."""
        for frame in frames:
            self.send(frame)

    def _apply_burst(self, room: Room) -> None:
        """Apply the update messages held back: merged into one update when there are several,
        unless one of them fails a check made before applying (malformed, v2, over the size
        limit, a tombstone to check): then one by one, so that those before it are taken and
        the refusal names the right cause. pycrdt's integration is checked on the merge: when it
        fails half-way, the room is discarded and the hub stores the updates before the
        failing one (:meth:`Hub.salvage`)."""
        updates = self._burst
        if not updates:
            return
        self._burst, self._burst_bytes = [], 0
        if len(updates) > 1:
            try:
                merged = merge_burst(updates)
            except InvalidUpdate:
                pass  # one of them is malformed
            else:
                if room.tombstone is None and self.hub.fits(room, len(merged)):
                    self._write(room, merged, updates)  # salvaged one by one if it breaks
                    return
        for update in updates:
            self._write(room, update)
            if self._close is not None:
                return

    def _write(self, room: Room, update: bytes, parts: list[bytes] | None = None) -> None:
        """Write a sync step 2 or update payload (merging ``parts``, when several) through
        the hub's one write path (:meth:`Hub.write_now`).

        Raises:
            Refused: a read-only peer inserting content.
            CollabError: see :meth:`Hub.write_now` (too large, invalid, corrupted).
        """
        if self.read_only:
            if not room.closed:
                self._refuse_write(room, update)
            return
        self.hub.write_now(room, update, self, parts)

    def _refuse_write(self, room: Room, update: bytes) -> None:
        """A read-only peer's sync step 2 or update is never applied.

        Every Yjs client answers the server's sync step 1 with a sync step 2 that repeats
        its whole delete set, so a write without new structs is dropped silently; one that
        inserts content gets the y-protocols auth message "permission denied" and 4403.
        """
        if carries_structs_beyond(room.state_vector, update):
            self.send(protocol.encode(protocol.Auth("permission denied: read-only access")))
            raise Refused(CloseCode.FORBIDDEN, "read-only access: writes are refused")
