"""uvicorn's sans-I/O WebSocket protocol plus one ASGI extension: direct sends and receives.

ASGI's ``send`` and ``receive`` are coroutines, so an endpoint relaying one update to N peers
needs a writer task per peer and wakes N tasks per update, and every received frame passes an
``asyncio.Queue`` and Starlette's wrappers. The extension :data:`DIRECT` in the WebSocket scope
(ASGI lets servers add extensions there) is a :class:`Direct`:

* :meth:`Direct.write` sends a binary frame without awaiting (the frames after the first in one
  event-loop turn leave in one system call), and :meth:`Direct.buffered` tells how many bytes
  wait to be taken by the socket, so the endpoint bounds that buffer (its send queue);
* once the endpoint sets :attr:`Direct.on_frame`, binary frames are handed to it as they are
  parsed, instead of being queued for ``receive`` (which then only sees text frames and the
  disconnect); :meth:`Direct.pause_reading` and :meth:`Direct.resume_reading` give it flow
  control.

The handshake, close, keepalive pings and everything else are uvicorn's sans-I/O protocol.

Server frames are not masked (RFC 6455 section 5.1), so the bytes of a frame are the same for
every peer: the last frame's serialization is reused while the same payload is written to
several peers in a row (a broadcast), so a relayed update is framed once.

Run it with ``uvicorn.Config(ws=DirectProtocol)`` (``collab serve`` does).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.frames import Frame, Opcode
from websockets.http11 import Request
from websockets.protocol import State

__all__ = ["DIRECT", "Direct", "DirectProtocol"]

DIRECT = "collab.direct"
"""The key of the extension in ``scope["extensions"]``; its value is a :class:`Direct`."""

_last_payload = b""
_last_wire = Frame(Opcode.BINARY, b"").serialize(mask=False)

_touched: list[Direct] = []
"""Senders that wrote during this event-loop turn (uvicorn runs one loop per process)."""


def _framed(payload: bytes) -> bytes:
    """``payload`` as an unmasked binary frame, reusing the last one's bytes (a broadcast)."""
    global _last_payload, _last_wire
    if payload is not _last_payload:
        _last_wire = Frame(Opcode.BINARY, payload).serialize(mask=False)
        _last_payload = payload
    return _last_wire


def _end_turn() -> None:
    senders = _touched[:]
    _touched.clear()
    for sender in senders:
        sender.flush()


class Direct:
    """Synchronous sends and receives on one WebSocket connection (see the module docstring).

    The first frame of an event-loop turn is handed to the transport at once; the frames
    that follow it in the same turn (a burst of relayed updates) leave together in one
    ``transport.write`` at the end of the turn. Their order, and their order with anything
    uvicorn sends later (a close frame), is kept.
    """

    __slots__ = ("_later", "_later_bytes", "_protocol", "on_frame")

    def __init__(self, protocol: DirectProtocol) -> None:
        self._protocol = protocol
        self._later: list[bytes] | None = None  # None: nothing written yet in this turn
        self._later_bytes = 0
        self.on_frame: Callable[[bytes], None] | None = None
        """Takes every complete binary frame once set (it must not raise)."""

    def receive_queued(self) -> bool:
        """Whether messages wait in the ASGI receive queue: set :attr:`on_frame` only when
        none do, so that frames are taken in the order they came."""
        return not self._protocol.queue.empty()

    def pause_reading(self) -> None:
        """Stop reading from the socket (the peer's writes then back up into TCP)."""
        self._protocol.transport.pause_reading()

    def resume_reading(self) -> None:
        """Read from the socket again."""
        if not self._protocol.transport.is_closing():
            self._protocol.transport.resume_reading()

    def write(self, payload: bytes) -> bool:
        """Send ``payload`` as one binary frame (the transport buffers what the socket does
        not take at once).

        Returns:
            ``False`` when the connection is closing or closed and nothing was sent.
        """
        protocol = self._protocol
        transport = protocol.transport
        if protocol.close_sent or protocol.conn.state is not State.OPEN or transport.is_closing():
            return False
        wire = _framed(payload)
        if self._later is None:
            self._later = []
            if not _touched:
                protocol.loop.call_soon(_end_turn)
            _touched.append(self)
            transport.write(wire)
        else:
            self._later.append(wire)
            self._later_bytes += len(wire)
        return True

    def flush(self) -> None:
        """Hand the frames held back in this turn to the transport now."""
        later, self._later = self._later, None
        self._later_bytes = 0
        transport = self._protocol.transport
        if later and not transport.is_closing():
            transport.write(later[0] if len(later) == 1 else b"".join(later))

    def buffered(self) -> int:
        """Bytes written but not yet taken by the socket."""
        return self._protocol.transport.get_write_buffer_size() + self._later_bytes


class DirectProtocol(WebSocketsSansIOProtocol):
    """uvicorn's ``websockets-sansio`` protocol offering :data:`DIRECT` to the app.

    Args: those of uvicorn's protocol (uvicorn creates it per connection).
    """

    direct: Direct | None = None

    def handle_connect(self, event: Request) -> None:
        super().handle_connect(event)
        scope: Any = getattr(self, "scope", None)
        if scope is not None:  # None: the handshake was refused before the app ran
            self.direct = scope["extensions"][DIRECT] = Direct(self)
        self.request = None  # type: ignore[assignment]  # the handshake's headers: not needed now

    def handle_bytes(self, event: Frame) -> None:
        on_frame = self.direct.on_frame if self.direct is not None else None
        if on_frame is not None and event.fin and not self.close_sent:
            on_frame(bytes(event.data))
        else:
            self._queue_from_now()
            super().handle_bytes(event)  # fragmented frames are rare: uvicorn joins them

    def handle_text(self, event: Frame) -> None:
        self._queue_from_now()
        super().handle_text(event)

    def handle_cont(self, event: Frame) -> None:
        self._queue_from_now()
        super().handle_cont(event)

    def _queue_from_now(self) -> None:
        """Send every frame through the ASGI queue from now on, so that none overtakes this
        one; the endpoint sets ``on_frame`` again once it drained the queue."""
        if self.direct is not None:
            self.direct.on_frame = None
