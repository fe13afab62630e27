"""Frames as a real server reads them: the fast reader of a joined connection
(``DirectProtocol._read_frames``) and websockets, which takes over at any other frame."""

from __future__ import annotations

import asyncio
import socket
import struct
from typing import Any

import pytest
from pycrdt import Doc, Text

from collab import protocol
from collab.errors import CloseCode
from collab.sessions.ywebsocket import BURST_UPDATES
from tests.e2e.conftest import Server
from tests.e2e.pyclient import PyClient
from tests.e2e.test_bad_input import StalledPeer, client_frame
from tests.e2e.test_ops import metric, scrape

pytestmark = pytest.mark.e2e


def typed(words: list[str]) -> list[bytes]:
    """One update frame per word appended to a text, as an editor would send them."""
    doc: Doc[Any] = Doc()
    text = doc.get("text", type=Text)
    updates: list[bytes] = []
    doc.observe(lambda event: updates.append(event.update))
    for word in words:
        text.insert(len(text), word)
    return [protocol.encode(protocol.Update(update)) for update in updates]


def masked(opcode: int, payload: bytes, fin: bool = True, rsv: int = 0) -> bytes:
    """A client frame with any opcode, FIN bit and RSV bits."""
    frame = bytearray(client_frame(payload, opcode))
    frame[0] = (0x80 if fin else 0) | rsv | opcode
    return bytes(frame)


class RawPeer(StalledPeer):
    """A client on a plain socket that sends bytes as given and reads every frame."""

    def __init__(self, server: Server, room: str) -> None:
        super().__init__(server, room)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    async def joined(self) -> None:
        """Connect, and wait for the server's sync step 1: the connection joined its room."""
        await self.connect()
        await self.frames_until(0x2)

    async def write(self, data: bytes, piece: int | None = None) -> None:
        """Send ``data`` at once, or ``piece`` bytes at a time, each in its own segment."""
        loop = asyncio.get_running_loop()
        step = piece or len(data)
        for start in range(0, len(data), step):
            await loop.sock_sendall(self.sock, data[start : start + step])
            if piece:
                # Pacing, not a wait for the server: pieces 2 ms apart usually reach it
                # in reads of their own; the assertions hold however they are read.
                await asyncio.sleep(0.002)

    async def frames_until(self, opcode: int, timeout: float = 20) -> list[tuple[int, bytes]]:
        """Every frame read up to and including the first with ``opcode``."""
        loop = asyncio.get_running_loop()
        frames: list[tuple[int, bytes]] = []
        while True:
            frame = self._next_frame()
            if frame is not None:
                frames.append(frame)
                if frame[0] == opcode:
                    return frames
                continue
            chunk = await asyncio.wait_for(loop.sock_recv(self.sock, 1 << 16), timeout)
            assert chunk, f"connection ended before a frame with opcode {opcode}"
            self.buffer += chunk


WORDS = [f"{i} " for i in range(40)] + ["x" * 300] + [f"{i}." for i in range(40)]
"""Short updates (7-bit lengths) and one of 16-bit length."""


def mixed_stream() -> bytes:
    """Update frames with a ping, and a fragmented update, among them."""
    frames = typed(WORDS)
    stream = b"".join(client_frame(frame) for frame in frames[:10])
    stream += masked(0x9, b"are you there")
    third = len(frames[10]) // 3
    stream += masked(0x2, frames[10][:third], fin=False)
    stream += masked(0x0, frames[10][third : 2 * third], fin=False)
    stream += masked(0x0, frames[10][2 * third :])
    stream += b"".join(client_frame(frame) for frame in frames[11:])
    return stream


@pytest.mark.parametrize("piece", [None, 1, 5])
async def test_frames_cut_anywhere_arrive_whole_and_in_order(
    server: Server, piece: int | None
) -> None:
    room = f"cut-{piece}"
    peer = RawPeer(server, room)
    try:
        await peer.joined()
        await peer.write(mixed_stream(), piece)
        answer = [payload for opcode, payload in await peer.frames_until(0xA)]
        assert answer[-1] == b"are you there", "the ping got its pong"
        async with PyClient(server.ws_url, room) as fresh:
            await fresh.wait_for(lambda: str(fresh.text()) == "".join(WORDS))
    finally:
        peer.close()


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        (masked(0x2, b"\x00\x02\x02\x00\x00", rsv=0x40), CloseCode.PROTOCOL_ERROR),  # RSV1
        (b"\x82\x05\x00\x02\x02\x00\x00", CloseCode.PROTOCOL_ERROR),  # not masked
        (b"\x82\x01\x00", CloseCode.PROTOCOL_ERROR),  # not masked, shorter than a mask
        (masked(0x0, b"\x00"), CloseCode.PROTOCOL_ERROR),  # a continuation of nothing
        (masked(0x1, b"hello"), CloseCode.UNSUPPORTED_DATA),  # text
        (masked(0x2, bytes(2000)), CloseCode.TOO_LARGE),
    ],
    ids=["rsv1", "unmasked", "unmasked-short", "continuation", "text", "too-big"],
)
@pytest.mark.parametrize("lead", [b"", masked(0x9, b"ping")], ids=["reader", "websockets"])
async def test_a_bad_frame_after_good_ones_closes_with_its_code(
    server_factory: Any, frame: bytes, code: int, lead: bytes
) -> None:
    """The good frames before a bad one count, whoever cuts them: the fast reader, or
    websockets after a ping (uvicorn alone dropped every frame read with a malformed one)."""
    server: Server = server_factory(["--max-message-bytes", "1000"])
    peer = RawPeer(server, "bad-frames")
    try:
        await peer.joined()
        good = b"".join(client_frame(frame) for frame in typed(WORDS[:5]))
        await peer.write(lead + good + frame)  # nothing after it: refused on its own bytes
        frames = await peer.frames_until(0x8)
        assert struct.unpack("!H", frames[-1][1][:2])[0] == code, frames[-1]
        # counted and logged as the server's close, with its reason, whoever sent it
        assert metric(await scrape(server), "collab_closes_total", code=str(code)) == 1
        closing = [line for line in server.log().splitlines() if "closing connection" in line]
        assert len(closing) == 1 and f"code={code} " in closing[0], closing
        async with PyClient(server.ws_url, "bad-frames") as fresh:
            await fresh.barrier()
            assert str(fresh.text()) == "".join(WORDS[:5]), "the good frames before it count"
    finally:
        peer.close()


async def test_a_flood_in_one_write_is_committed_while_it_is_read(server: Server) -> None:
    """780 KB of updates written at once are read 256 KB at most per event-loop turn (the
    read yield), and each turn handles at most ``TURN_BUDGET`` of them (test_wsserver), so
    every other connection, and the commit of what came so far, gets its turn in between.
    Seen from outside: the flood is committed in several batches, not at its end (each
    batch holds merged bursts of at most ``BURST_UPDATES`` of the updates read together)."""
    words = ["w" * 500 + f"{i}" for i in range(1500)]
    peer = RawPeer(server, "flood")
    try:
        await peer.joined()
        await peer.write(b"".join(client_frame(frame) for frame in typed(words)))
        async with PyClient(server.ws_url, "flood") as fresh:
            await fresh.wait_for(lambda: len(str(fresh.text())) == len("".join(words)), 120)
        text = await scrape(server)
        batches = metric(text, "collab_commit_batch_updates_count")
        committed = metric(text, "collab_commit_batch_updates_sum")
        assert len(words) / BURST_UPDATES <= committed <= len(words), committed
        assert batches >= 2, batches  # the thread merges what waits for it: no more is sure
    finally:
        peer.close()
