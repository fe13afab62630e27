"""uvicorn's sans-I/O WebSocket protocol plus one ASGI extension: direct sends.

ASGI's ``send`` is a coroutine, so an endpoint relaying one update to N peers through it needs
a writer task per peer and wakes N tasks per update; each send also passes through Starlette's
wrappers. The extension :data:`DIRECT_SEND` in the WebSocket scope (ASGI lets servers add
extensions there) is a :class:`DirectSend`: it writes a binary frame without awaiting (the
frames of one event-loop turn leave in one system call) and tells how many bytes wait to be
taken by the socket, so the endpoint bounds that buffer itself (its send queue). Everything
else (handshake, receive, close, keepalive pings) is uvicorn's ``websockets-sansio`` protocol.

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

_dirty: list[DirectSend] = []
"""Senders holding frames written during this event-loop turn (uvicorn runs one loop)."""


def _framed(payload: bytes) -> bytes:
    """``payload`` as an unmasked binary frame, reusing the last one's bytes (a broadcast)."""
    global _last_payload, _last_wire
    if payload is not _last_payload:
        _last_wire = Frame(Opcode.BINARY, payload).serialize(mask=False)
        _last_payload = payload
    return _last_wire


def _flush_dirty() -> None:
    senders = _dirty[:]
    _dirty.clear()
    for sender in senders:
        sender.flush()


class DirectSend:
    """Synchronous sends on one WebSocket connection (see the module docstring).

    The frames written during one event-loop turn leave in one ``transport.write`` at the
    end of the turn (one system call for a burst of relayed updates); their order, and their
    order with anything uvicorn sends later (a close frame), is kept.
    """

    __slots__ = ("_pending", "_pending_bytes", "_protocol")

    def __init__(self, protocol: WebSocketsSansIOProtocol) -> None:
        self._protocol = protocol
        self._pending: list[bytes] | None = None
        self._pending_bytes = 0

    def write(self, payload: bytes) -> bool:
        """Send ``payload`` as one binary frame (at the end of this event-loop turn; the
        transport buffers what the socket does not take at once).

        Returns:
            ``False`` when the connection is closing or closed and nothing was sent.
        """
        protocol = self._protocol
        if (
            protocol.close_sent
            or protocol.conn.state is not State.OPEN
            or protocol.transport.is_closing()
        ):
            return False
        wire = _framed(payload)
        if self._pending is None:
            self._pending = [wire]
            if not _dirty:
                protocol.loop.call_soon(_flush_dirty)
            _dirty.append(self)
        else:
            self._pending.append(wire)
        self._pending_bytes += len(wire)
        return True

    def flush(self) -> None:
        """Hand the frames written so far to the transport now."""
        pending, self._pending = self._pending, None
        self._pending_bytes = 0
        transport = self._protocol.transport
        if pending and not transport.is_closing():
            transport.write(pending[0] if len(pending) == 1 else b"".join(pending))

    def buffered(self) -> int:
        """Bytes written but not yet taken by the socket."""
        return self._protocol.transport.get_write_buffer_size() + self._pending_bytes


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
