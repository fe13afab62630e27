"""uvicorn's sans-I/O WebSocket protocol plus one ASGI extension: direct sends.

ASGI's ``send`` is a coroutine, so an endpoint relaying one update to N peers through it needs
a writer task per peer and wakes N tasks per update; each send also passes through Starlette's
wrappers. The extension :data:`DIRECT_SEND` in the WebSocket scope (ASGI lets servers add
extensions there) is a :class:`DirectSend`: it writes a binary frame without awaiting (the
frames after the first in one event-loop turn leave in one system call) and tells how many
bytes wait to be taken by the socket, so the endpoint bounds that buffer (its send queue).
Everything else (handshake, receive, close, keepalive pings) is uvicorn's sans-I/O protocol.

Server frames are not masked (RFC 6455 section 5.1), so the bytes of a frame are the same for
every peer: the last frame's serialization is reused while the same payload is written to
several peers in a row (a broadcast), so a relayed update is framed once.

Run it with ``uvicorn.Config(ws=DirectSendProtocol)`` (``collab serve`` does).
"""

from __future__ import annotations

from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.frames import Frame, Opcode
from websockets.http11 import Request
from websockets.protocol import State

__all__ = ["DIRECT_SEND", "DirectSend", "DirectSendProtocol"]

DIRECT_SEND = "collab.direct_send"
"""The key of the extension in ``scope["extensions"]``; its value is a :class:`DirectSend`."""

_last_payload = b""
_last_wire = Frame(Opcode.BINARY, b"").serialize(mask=False)

_touched: list[DirectSend] = []
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


class DirectSend:
    """Synchronous sends on one WebSocket connection (see the module docstring).

    The first frame of an event-loop turn is handed to the transport at once; the frames
    that follow it in the same turn (a burst of relayed updates) leave together in one
    ``transport.write`` at the end of the turn. Their order, and their order with anything
    uvicorn sends later (a close frame), is kept.
    """

    __slots__ = ("_later", "_later_bytes", "_protocol")

    def __init__(self, protocol: WebSocketsSansIOProtocol) -> None:
        self._protocol = protocol
        self._later: list[bytes] | None = None  # None: nothing written yet in this turn
        self._later_bytes = 0

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


class DirectSendProtocol(WebSocketsSansIOProtocol):
    """uvicorn's ``websockets-sansio`` protocol offering :data:`DIRECT_SEND` to the app.

    Args: those of uvicorn's protocol (uvicorn creates it per connection).
    """

    def handle_connect(self, event: Request) -> None:
        super().handle_connect(event)
        scope: Any = getattr(self, "scope", None)
        if scope is not None:  # None: the handshake was refused before the app ran
            scope["extensions"][DIRECT_SEND] = DirectSend(self)
        self.request = None  # type: ignore[assignment]  # the handshake's headers: not needed now
