"""A lean asyncio WebSocket client for the load generator.

The ``websockets`` library's own client costs about 17 us per received frame here (its Sans-I/O
parser, measured with 40-byte frames); at the saturation scenario's rates that would make the
client, not the server, the bottleneck. So frames are parsed here in a tight loop (about 1.6 us
per frame), and the opening handshake uses ``websockets.utils`` for its key and accept checks.

Frames the client sends are masked with an all-zero key (RFC 6455 requires a mask, any value is
valid to a server), so precomputed frames go out without a per-byte XOR.
"""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import time
from collections.abc import Callable
from typing import Any

from websockets.utils import accept_key

MessageHandler = Callable[[bytes, int, float], Any]

_MASK = b"\x00\x00\x00\x00"


def client_frame(payload: bytes, opcode: int = 0x2) -> bytes:
    """One masked (zero key) final frame carrying ``payload``."""
    n = len(payload)
    if n < 126:
        head = bytes((0x80 | opcode, 0x80 | n))
    elif n < 65536:
        head = bytes((0x80 | opcode, 0x80 | 126)) + n.to_bytes(2, "big")
    else:
        head = bytes((0x80 | opcode, 0x80 | 127)) + n.to_bytes(8, "big")
    return head + _MASK + payload


class HandshakeError(ConnectionError):
    pass


class WSConnection(asyncio.Protocol):
    """One client WebSocket; calls ``on_message(payload, offset, received_at)`` per message.

    ``offset`` is where the y-protocols message starts (after a Hocuspocus document prefix);
    ``received_at`` is ``time.perf_counter()`` when the bytes were read from the socket.
    """

    def __init__(self, host: str, port: int, path: str, prefix: bytes = b"") -> None:
        self.host = host
        self.port = port
        self.path = path
        self.prefix = prefix
        self.offset = len(prefix)
        self.on_message: MessageHandler = lambda payload, offset, now: None
        self.transport: asyncio.Transport | None = None
        self.opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.close_code: int | None = None
        self.bytes_received = 0
        self.frames_received = 0
        self.mute = False  # count the bytes received, parse nothing (a silent crowd's member)
        self._key = base64.b64encode(os.urandom(16)).decode()
        self._head = b""
        self._buf = b""
        self._parts: list[bytes] = []
        self._parts_len = 0
        self._need = 0
        self._fragments: list[bytes] = []
        self._can_write = asyncio.Event()
        self._can_write.set()

    # -- asyncio.Protocol --------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is no subclass
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        request = (
            f"GET {self.path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {self._key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        self.transport.write(request.encode())  # type: ignore[union-attr]

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.opened.done():
            self.opened.set_exception(exc or HandshakeError("connection closed in handshake"))
        if not self.closed.done():
            self.closed.set_result(None)
        self._can_write.set()

    def pause_writing(self) -> None:
        self._can_write.clear()

    def resume_writing(self) -> None:
        self._can_write.set()

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter()
        if not self.opened.done():
            data = self._handshake(data)
            if not data:
                return
        self.bytes_received += len(data)
        if self.mute:
            return
        if self._need:
            self._parts.append(data)
            self._parts_len += len(data)
            if self._parts_len < self._need:
                return
            data = b"".join(self._parts)
            self._parts = []
            self._parts_len = 0
            self._need = 0
        elif self._buf:
            data = self._buf + data
            self._buf = b""
        pos = 0
        end = len(data)
        on_message = self.on_message
        offset = self.offset
        frames = 0
        while end - pos >= 2:
            b0 = data[pos]
            n = data[pos + 1] & 0x7F
            h = 2
            if n == 126:
                if end - pos < 4:
                    break
                n = int.from_bytes(data[pos + 2 : pos + 4], "big")
                h = 4
            elif n == 127:
                if end - pos < 10:
                    break
                n = int.from_bytes(data[pos + 2 : pos + 10], "big")
                h = 10
            stop = pos + h + n
            if stop > end:
                if n > 65536:  # a big frame: collect chunks instead of re-copying the tail
                    self._parts = [data[pos:]]
                    self._parts_len = end - pos
                    self._need = h + n
                    self.frames_received += frames
                    return
                break
            frames += 1
            opcode = b0 & 0x0F
            if opcode == 2 and b0 & 0x80:
                on_message(data[pos + h : stop], offset, now)
            else:
                self._control(b0, data[pos + h : stop], now)
            pos = stop
        self.frames_received += frames
        if pos < end:
            self._buf = data[pos:]

    # -- helpers -----------------------------------------------------------------------------

    def _handshake(self, data: bytes) -> bytes:
        self._head += data
        end = self._head.find(b"\r\n\r\n")
        if end < 0:
            if len(self._head) > 65536:
                self._fail("handshake response too long")
            return b""
        head, rest = self._head[:end], self._head[end + 4 :]
        self._head = b""
        lines = head.decode("latin-1").split("\r\n")
        if not lines[0].startswith("HTTP/1.1 101"):
            self._fail(f"handshake refused: {lines[0]!r}")
            return b""
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if headers.get("sec-websocket-accept") != accept_key(self._key):
            self._fail("bad Sec-WebSocket-Accept")
            return b""
        self.opened.set_result(None)
        return rest

    def _fail(self, reason: str) -> None:
        if not self.opened.done():
            self.opened.set_exception(HandshakeError(reason))
        if self.transport is not None:
            self.transport.abort()

    def _control(self, b0: int, payload: bytes, now: float) -> None:
        opcode = b0 & 0x0F
        if opcode == 0x9:  # ping
            self.write(client_frame(payload, 0xA))
        elif opcode == 0x8:  # close
            self.close_code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
            if self.transport is not None and not self.transport.is_closing():
                self.transport.write(client_frame(payload[:2], 0x8))
                self.transport.close()
        elif opcode in (0x0, 0x2):  # fragmented binary message
            self._fragments.append(payload)
            if b0 & 0x80:
                message = b"".join(self._fragments)
                self._fragments = []
                self.on_message(message, self.offset, now)

    # -- API ---------------------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        """Write already framed bytes."""
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def send(self, message: bytes) -> None:
        """Send one y-protocols message (the Hocuspocus prefix is added here)."""
        self.write(client_frame(self.prefix + message))

    async def drain(self) -> None:
        """Wait until the transport's write buffer is below its high-water mark."""
        await self._can_write.wait()

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(client_frame(b"\x03\xe8", 0x8))
            self.transport.close()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()


async def connect(
    host: str,
    port: int,
    path: str,
    prefix: bytes = b"",
    on_message: MessageHandler | None = None,
    timeout: float = 20.0,
) -> WSConnection:
    """Open a WebSocket to ``ws://host:port{path}`` and finish the opening handshake.

    ``on_message`` is installed before the first byte arrives, so no message is missed.
    """
    loop = asyncio.get_running_loop()

    def factory() -> WSConnection:
        conn = WSConnection(host, port, path, prefix)
        if on_message is not None:
            conn.on_message = on_message
        return conn

    _, conn = await asyncio.wait_for(loop.create_connection(factory, host, port), timeout)
    await asyncio.wait_for(asyncio.shield(conn.opened), timeout)
    return conn
