"""uvicorn's sans-I/O WebSocket protocol plus one ASGI extension: direct sends.

ASGI's ``send`` is a coroutine, so an endpoint relaying one update to N peers through it needs
a writer task per peer and wakes N tasks per update; each send also passes through Starlette's
wrappers. The extension :data:`DIRECT_SEND` in the WebSocket scope (ASGI lets servers add
extensions there) is a :class:`DirectSend`: it writes a binary frame into the connection's
transport at once, without awaiting, and tells how many bytes wait in the transport's write
buffer, so the endpoint bounds that buffer itself (its send queue). Everything else (handshake,
receive, close, keepalive pings) is uvicorn's ``websockets-sansio`` protocol unchanged.

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


class DirectSend:
    """Synchronous sends on one WebSocket connection (see the module docstring)."""

    __slots__ = ("_protocol",)

    def __init__(self, protocol: WebSocketsSansIOProtocol) -> None:
        self._protocol = protocol

    def write(self, payload: bytes) -> bool:
        """Send ``payload`` as one binary frame now (the transport buffers what the socket
        does not take at once).

        Returns:
            ``False`` when the connection is closing or closed and nothing was sent.
        """
        global _last_payload, _last_wire
        protocol = self._protocol
        transport = protocol.transport
        if protocol.close_sent or protocol.conn.state is not State.OPEN or transport.is_closing():
            return False
        if payload is not _last_payload:
            _last_wire = Frame(Opcode.BINARY, payload).serialize(mask=False)
            _last_payload = payload
        transport.write(_last_wire)
        return True

    def buffered(self) -> int:
        """Bytes written but not yet taken by the socket."""
        return self._protocol.transport.get_write_buffer_size()


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
