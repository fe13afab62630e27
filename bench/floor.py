"""The floor of a Python server under the bench's loads: a bare y-websocket relay on uvloop.

What any Python server pays for the sockets alone, to set collab's figures against (README,
"What limits it"). It keeps no document: a client's sync step 1 gets an empty sync step 2,
and each update message goes unchanged to the room's other clients. With ``--integrator`` it
also reads each update into its room's :class:`collab.integrator.Integrator` (collab's
validation and pycrdt's apply) before relaying it; with ``--sqlite FILE`` it also commits
each update to a :class:`collab.stores.sqlite.SQLiteStore` (collab's log) before relaying it,
as collab does. Nothing else of collab runs: no sessions, hub, limits, metrics, awareness,
hooks or change events.

It speaks just enough WebSocket (RFC 6455) for the bench's clients: the opening handshake, then
unfragmented masked binary frames and the close frame; anything else closes the connection.
Only for ``./scripts/bench --servers floor,...``: it trusts its clients.

Usage: ``python bench/floor.py --port P [--integrator] [--sqlite FILE]``
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from collections.abc import Callable
from pathlib import Path
from typing import cast

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # collab, for the variants

from websockets.utils import accept_key

try:
    from websockets.speedups import apply_mask  # websockets' unmasking in C
except ImportError:  # pragma: no cover
    from websockets.utils import apply_mask

_EMPTY_STEP2 = b"\x00\x01\x02\x00\x00"  # sync step 2 of an empty Yjs v1 update


def frame_header(size: int) -> bytes:
    """A server's header of an unmasked binary frame of ``size`` bytes (RFC 6455, 5.2)."""
    if size < 126:
        return bytes((0x82, size))
    if size < 65536:
        return bytes((0x82, 126)) + size.to_bytes(2, "big")
    return bytes((0x82, 127)) + size.to_bytes(8, "big")


class Relay(asyncio.Protocol):
    """One client connection: the handshake, then its frames."""

    def __init__(self, server: Floor) -> None:
        self.server = server
        self.buffer = b""
        self.room: set[Relay] | None = None
        self.name = ""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass

    def connection_lost(self, exc: Exception | None) -> None:
        if self.room is not None:
            self.room.discard(self)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self.room is None and not self._handshake():
            return
        self.buffer = self._frames(self.buffer)

    def _handshake(self) -> bool:
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return False
        lines = self.buffer[:end].decode("latin-1").split("\r\n")
        self.buffer = self.buffer[end + 4 :]
        headers = {k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines)}
        accept = accept_key(headers.get("sec-websocket-key", ""))
        assert self.transport is not None
        self.transport.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: " + accept.encode() + b"\r\n\r\n"
        )
        self.name = lines[0].split(" ")[1] if " " in lines[0] else "/"
        self.room = self.server.rooms.setdefault(self.name, set())
        self.room.add(self)
        return True

    def _frames(self, data: bytes) -> bytes:
        """Handle the complete frames at the head of ``data``; the rest."""
        transport = self.transport
        assert transport is not None and self.room is not None
        while len(data) >= 6:
            length, start = data[1] & 0x7F, 6
            if length == 126:
                length, start = int.from_bytes(data[2:4], "big"), 8
            elif length == 127:
                length, start = int.from_bytes(data[2:10], "big"), 14
            if len(data) < start + length:
                break
            if data[0] != 0x82 or not data[1] & 0x80:  # a close or anything unexpected
                transport.close()
                return b""
            payload = apply_mask(data[start : start + length], data[start - 4 : start])
            data = data[start + length :]
            self._message(payload)
        return data

    def _message(self, message: bytes) -> None:
        assert self.transport is not None and self.room is not None
        if message[:2] == b"\x00\x00":  # sync step 1: nothing is kept, so nothing is missing
            self.transport.write(frame_header(len(_EMPTY_STEP2)) + _EMPTY_STEP2)
        elif message[:2] == b"\x00\x02":  # an update: validated and committed when asked
            self.server.take(self.name, message)
            wire = frame_header(len(message)) + message
            for other in self.room:
                if other is not self and other.transport is not None:
                    other.transport.write(wire)


class Floor:
    """The rooms, and what runs on each update before its relay (see the module docstring).

    Args:
        integrator: validate and apply each update with collab's integrator, a pycrdt
            document per room.
        sqlite: commit each update to collab's SQLite store in this file (``None``: no).
    """

    def __init__(self, integrator: bool, sqlite: str | None) -> None:
        self.rooms: dict[str, set[Relay]] = {}
        steps: list[Callable[[str, bytes], object]] = []
        if integrator:
            from pycrdt import Doc

            from collab.integrator import Integrator

            rooms: dict[str, Integrator] = {}

            def integrate(name: str, update: bytes) -> None:
                room = rooms.get(name)
                if room is None:
                    room = rooms[name] = Integrator(Doc())
                room.apply(update)

            steps.append(integrate)
        if sqlite is not None:
            from collab.stores.sqlite import SQLiteStore

            append = SQLiteStore(sqlite).append
            steps.append(lambda name, update: append([(name, update)]))
        self.steps = steps

    def take(self, name: str, message: bytes) -> None:
        """Run the steps asked for on an update message (``0, 2, varUint length, update``)."""
        if self.steps:
            size, pos = 0, 2  # the update's varUint length (lib0)
            for shift in range(0, 35, 7):
                byte = message[pos]
                pos += 1
                size |= (byte & 0x7F) << shift
                if byte < 0x80:
                    break
            update = message[pos : pos + size]
            for step in self.steps:
                step(name, update)


async def _serve(port: int, floor: Floor) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: Relay(floor), "127.0.0.1", port, backlog=4096)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--integrator", action="store_true", help="validate with collab's")
    parser.add_argument("--sqlite", help="commit each update to collab's SQLite store here")
    args = parser.parse_args()
    import uvloop

    with contextlib.suppress(KeyboardInterrupt):
        uvloop.run(_serve(args.port, Floor(args.integrator, args.sqlite)))


if __name__ == "__main__":
    main()
