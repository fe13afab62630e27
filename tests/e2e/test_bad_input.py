"""End-to-end bad input: every hostile or broken client is closed alone, with a code and a reason.

For each bad message the sender's connection is closed with the close code documented in
``collab.errors.CloseCode``; the room's document stays as it was; the other peers (a real
y-websocket client and a pycrdt client) stay connected and in sync; the server logs one line.
Also: slow readers (1013) and document names (4400).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import random
import socket
import struct
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import websockets
from pycrdt import Doc, Text, XmlElement, XmlFragment, XmlText, write_message, write_var_uint

from collab import protocol
from collab.errors import CloseCode
from tests.e2e.conftest import Server
from tests.e2e.nodepeer import NodePeer
from tests.e2e.pyclient import (
    PyClient,
    awareness_frame,
    awareness_view,
    eventually,
    removed_clients,
)

pytestmark = pytest.mark.e2e

ROOM = "victim"


# -- helpers ---------------------------------------------------------------------------------


def sync_frame(sync_type: int, payload: bytes) -> bytes:
    """A sync message: 0 = step 1, 1 = step 2, 2 = update."""
    return bytes((protocol.MessageType.SYNC, sync_type)) + write_message(payload)


def text_update(text: str, name: str = "text") -> bytes:
    """A valid v1 update of a new client inserting ``text`` into the Y.Text ``name``."""
    doc: Doc[Any] = Doc()
    doc.get(name, type=Text).insert(0, text)
    return doc.get_update()


def formatted_xml_update() -> bytes:
    """A v1 update of a document with a formatted XmlFragment (like the web editor's)."""
    doc: Doc[Any] = Doc()
    fragment = doc.get("default", type=XmlFragment)
    paragraph = fragment.children.append(XmlElement("paragraph"))
    text = paragraph.children.append(XmlText())
    text.insert(0, "bold", attrs={"bold": True})
    text.insert(4, " and plain")
    heading = fragment.children.append(XmlElement("heading", {"level": "1"}))
    heading.children.append(XmlText("Title"))
    return doc.get_update()


def warning_lines(log: str) -> list[str]:
    return [
        line
        for line in log.splitlines()
        if " WARNING " in line or " ERROR " in line or line.startswith(("WARNING:", "ERROR:"))
    ]


async def room_state(server: Server, room: str = ROOM) -> tuple[bytes, str]:
    """What a fresh client gets: the whole document as one update, and its text."""
    async with PyClient(server.ws_url, room) as client:
        return client.doc.get_update(), str(client.text())


@dataclass
class Scene:
    """A room with content and two healthy peers, and a mark in the server log."""

    server: Server
    alice: NodePeer  # a real y-websocket client
    watcher: PyClient  # a pycrdt client
    before: bytes  # the document before the bad input
    log_mark: int

    def new_warnings(self) -> list[str]:
        return warning_lines(self.server.log()[self.log_mark :])


@contextlib.asynccontextmanager
async def scene(server: Server) -> AsyncIterator[Scene]:
    async with NodePeer(server.ws_url, ROOM) as alice, PyClient(server.ws_url, ROOM) as watcher:
        await alice.call("wait_synced")
        await alice.call("insert", index=0, text="hello")
        await alice.call("awareness_set", state={"user": "alice"})
        await watcher.wait_for(
            lambda: (
                str(watcher.text()) == "hello"
                and alice.client_id in awareness_view(watcher.received)
            )
        )
        before, text = await room_state(server)
        assert text == "hello"
        yield Scene(server, alice, watcher, before, len(server.log()))


async def send_bad(server: Server, frame: bytes | str, room: str = ROOM) -> PyClient:
    """A client that joins ``room`` normally, then sends ``frame``; returns it once closed."""
    sender = await PyClient(server.ws_url, room).connect()
    await sender.raw(frame)
    await sender.wait_closed()
    return sender


async def assert_unharmed(s: Scene) -> None:
    """The document is unchanged, the others stay connected and in sync, one log line."""
    after, text = await room_state(s.server)
    assert text == "hello"
    assert after == s.before, "the document changed"
    status = await s.alice.call("status")
    assert status["connected"] and status["close_count"] == 0, status
    assert s.watcher.close_code is None
    # the healthy peers still edit together, and a third client sees the result
    await s.alice.call("insert", index=5, text=" world")
    await s.watcher.wait_for(lambda: str(s.watcher.text()) == "hello world")
    s.watcher.text().insert(11, "!")
    await s.alice.call("wait_text", equals="hello world!")
    assert (await room_state(s.server))[1] == "hello world!"
    assert s.alice.client_id in awareness_view(s.watcher.received)
    await eventually(lambda: len(s.new_warnings()) >= 1, "the warning to be logged", 20.0)
    log = s.server.log()[s.log_mark :]
    assert len(s.new_warnings()) == 1, log
    assert "Traceback" not in log, log


async def assert_database_matches_the_room(server: Server) -> None:
    """What a restarted server loads from the database is what the live room held."""
    live = await room_state(server)
    server.restart()
    assert await room_state(server) == live


# -- bad messages ----------------------------------------------------------------------------


def random_garbage(seed: int) -> bytes:
    data = random.Random(seed).randbytes(200)
    with pytest.raises(protocol.ProtocolError):
        protocol.decode(data)  # truly not a y-protocols message
    return data


def rejected_update() -> bytes:
    """A syntactically framed update whose payload pycrdt cannot decode."""
    update = bytearray(text_update("this update is cut short"))
    payload = bytes(update[:-7])
    with pytest.raises(ValueError):
        Doc().apply_update(payload)
    return payload


def random_update(seed: int) -> bytes:
    payload = b"\x01" + random.Random(seed).randbytes(100)
    with pytest.raises(ValueError):
        Doc().apply_update(payload)
    return payload


BAD_FRAMES: dict[str, tuple[Callable[[], bytes | str], CloseCode]] = {
    "text-frame": (lambda: "hello", CloseCode.UNSUPPORTED_DATA),
    "random-bytes": (lambda: random_garbage(1), CloseCode.PROTOCOL_ERROR),
    "empty-frame": (lambda: b"", CloseCode.PROTOCOL_ERROR),
    "unknown-message-type": (lambda: b"\x09\x00", CloseCode.PROTOCOL_ERROR),
    "unknown-sync-type": (lambda: sync_frame(7, b"\x00\x00"), CloseCode.PROTOCOL_ERROR),
    "truncated-message": (
        lambda: protocol.encode(protocol.Update(text_update("hello world")))[:-5],
        CloseCode.PROTOCOL_ERROR,
    ),
    "trailing-bytes": (
        lambda: protocol.encode(protocol.Update(text_update("x"))) + b"\x00",
        CloseCode.PROTOCOL_ERROR,
    ),
    "huge-varint-length": (
        lambda: b"\x00\x02" + write_var_uint(2**50) + b"abc",
        CloseCode.PROTOCOL_ERROR,
    ),
    "overlong-varint": (lambda: b"\x00\x02" + b"\xff" * 20 + b"\x01", CloseCode.PROTOCOL_ERROR),
    "huge-awareness-length": (
        lambda: b"\x01" + write_var_uint(2**40) + b"{}",
        CloseCode.PROTOCOL_ERROR,
    ),
    "awareness-not-json": (
        lambda: protocol.encode(
            protocol.Awareness(write_var_uint(1) + b"\x07\x01" + write_message(b"{nope"))
        ),
        CloseCode.PROTOCOL_ERROR,
    ),
    "update-pycrdt-rejects": (
        lambda: protocol.encode(protocol.Update(rejected_update())),
        CloseCode.INVALID_UPDATE,
    ),
    "step2-pycrdt-rejects": (
        lambda: protocol.encode(protocol.SyncStep2(rejected_update())),
        CloseCode.INVALID_UPDATE,
    ),
    "random-update": (
        lambda: protocol.encode(protocol.Update(random_update(7))),
        CloseCode.INVALID_UPDATE,
    ),
    "empty-update": (lambda: protocol.encode(protocol.Update(b"")), CloseCode.INVALID_UPDATE),
    "bad-state-vector": (
        lambda: protocol.encode(protocol.SyncStep1(b"\x05\xff\xff")),
        CloseCode.INVALID_UPDATE,
    ),
}


@pytest.mark.parametrize("case", list(BAD_FRAMES))
async def test_bad_message_closes_only_the_sender(
    server: Server, node_modules: None, case: str
) -> None:
    make, code = BAD_FRAMES[case]
    frame = make()
    async with scene(server) as s:
        sender = await send_bad(server, frame)
        assert sender.close_code == code, (sender.close_code, sender.close_reason)
        assert sender.close_reason, "the close carries a reason"
        await assert_unharmed(s)
    if code == CloseCode.INVALID_UPDATE:
        await assert_database_matches_the_room(server)


async def v2_updates(server: Server) -> dict[str, bytes]:
    """Yjs v2 encodings from real Yjs peers (in rooms of their own)."""
    async with (
        NodePeer(server.ws_url, "scratch/text") as plain,
        NodePeer(server.ws_url, "scratch/xml") as rich,
    ):
        await plain.call("insert", index=0, text="plain text in v2")
        xml = base64.b64encode(formatted_xml_update()).decode()
        await rich.call("apply_update", update=xml)
        await rich.call("insert", index=0, text="and a Y.Text")
        return {
            "text": base64.b64decode((await plain.call("state_update_v2"))["update"]),
            "xml": base64.b64decode((await rich.call("state_update_v2"))["update"]),
        }


@pytest.mark.parametrize("kind", ["text", "xml"])
@pytest.mark.parametrize("message", [protocol.Update, protocol.SyncStep2])
async def test_v2_update_is_refused(
    server: Server, node_modules: None, kind: str, message: type
) -> None:
    update = (await v2_updates(server))[kind]
    async with scene(server) as s:
        sender = await send_bad(server, protocol.encode(message(update)))
        assert sender.close_code == CloseCode.INVALID_UPDATE, sender.close_reason
        assert "v2 encoding is not supported" in sender.close_reason  # the cause, named
        await assert_unharmed(s)
    await assert_database_matches_the_room(server)


async def test_a_real_yjs_client_sending_bad_frames_is_closed_with_a_reason(
    server: Server, node_modules: None
) -> None:
    """The unmodified y-websocket client sees the code and reason, reconnects, and syncs."""
    v2 = (await v2_updates(server))["xml"]
    async with scene(server) as s, NodePeer(server.ws_url, ROOM) as mallory:
        await mallory.call("wait_synced")
        frame = protocol.encode(protocol.Update(v2))
        await mallory.call("send_raw", data=base64.b64encode(frame).decode())
        status = await mallory.call("wait_close")
        assert status["last_close"]["code"] == CloseCode.INVALID_UPDATE
        assert status["last_close"]["reason"]
        await mallory.call("wait_synced")  # y-websocket reconnects after a 1007
        await mallory.call("send_raw", text="a text frame")
        status = await mallory.call("wait_close", after=1)
        assert status["last_close"]["code"] == CloseCode.UNSUPPORTED_DATA
        assert status["last_close"]["reason"]
        await mallory.call("wait_synced")
        await eventually(lambda: len(s.new_warnings()) >= 2, "the warning to be logged", 20.0)
        assert len(s.new_warnings()) == 2, s.new_warnings()
        s.log_mark = len(s.server.log())
        await mallory.call("send_raw", data=base64.b64encode(b"\x00\x02\xff").decode())
        status = await mallory.call("wait_close", after=2)
        assert status["last_close"]["code"] == CloseCode.PROTOCOL_ERROR
        await assert_unharmed(s)
        await mallory.call("wait_text", equals="hello world!")


async def test_message_over_the_size_limit(server_factory: Any, node_modules: None) -> None:
    server: Server = server_factory(extra=["--max-message-bytes", "1000"])
    async with scene(server) as s:
        small = protocol.encode(protocol.Update(text_update("s" * 800, name="other")))
        assert len(small) < 1000
        async with PyClient(server.ws_url, ROOM) as fine:
            await fine.raw(small)
            await fine.barrier()
            assert fine.close_code is None
        s.before = (await room_state(server))[0]
        s.log_mark = len(server.log())
        big = protocol.encode(protocol.Update(text_update("b" * 2000)))
        sender = await send_bad(server, big)
        assert sender.close_code == CloseCode.TOO_LARGE, sender.close_reason
        assert sender.close_reason
        await assert_unharmed(s)
    await assert_database_matches_the_room(server)


# -- slow readers ----------------------------------------------------------------------------


def client_frame(payload: bytes, opcode: int = 2) -> bytes:
    """One masked client-to-server WebSocket frame."""
    mask = os.urandom(4)
    size = len(payload)
    head = bytes([0x80 | opcode])
    if size < 126:
        head += bytes([0x80 | size])
    elif size < 65536:
        head += bytes([0x80 | 126]) + struct.pack("!H", size)
    else:
        head += bytes([0x80 | 127]) + struct.pack("!Q", size)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return head + mask + masked


class StalledPeer:
    """A WebSocket client on a plain socket with a tiny receive buffer that reads only on demand.

    Once connected it reads nothing, so the server's socket and write buffers fill up.
    """

    def __init__(self, server: Server, room: str) -> None:
        self.server = server
        self.room = room
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.setblocking(False)
        self.buffer = bytearray()

    async def connect(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.sock_connect(self.sock, ("127.0.0.1", self.server.port))
        key = base64.b64encode(os.urandom(16)).decode()
        request = (
            f"GET /sync/{self.room} HTTP/1.1\r\nHost: 127.0.0.1:{self.server.port}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        await loop.sock_sendall(self.sock, request.encode())
        head = b""
        while not head.endswith(b"\r\n\r\n"):  # byte by byte: leave the frames unread
            chunk = await asyncio.wait_for(loop.sock_recv(self.sock, 1), 20)
            assert chunk, f"connection closed during the handshake: {head!r}"
            head += chunk
        assert head.startswith(b"HTTP/1.1 101"), head

    async def send(self, payload: bytes) -> None:
        await asyncio.get_running_loop().sock_sendall(self.sock, client_frame(payload))

    async def read_until_close(self, timeout: float = 60) -> tuple[int, int | None, str]:
        """Read everything; return (binary payload bytes, close code, close reason)."""
        loop = asyncio.get_running_loop()
        received = 0
        while True:
            frame = self._next_frame()
            if frame is not None:
                opcode, payload = frame
                if opcode == 0x8:
                    code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
                    return received, code, payload[2:].decode(errors="replace")
                received += len(payload)
                continue
            chunk = await asyncio.wait_for(loop.sock_recv(self.sock, 1 << 16), timeout)
            if not chunk:
                return received, None, ""
            self.buffer += chunk

    def _next_frame(self) -> tuple[int, bytes] | None:
        buf = self.buffer
        if len(buf) < 2:
            return None
        opcode, size, pos = buf[0] & 0x0F, buf[1] & 0x7F, 2
        if size == 126:
            if len(buf) < 4:
                return None
            size, pos = struct.unpack("!H", buf[2:4])[0], 4
        elif size == 127:
            if len(buf) < 10:
                return None
            size, pos = struct.unpack("!Q", buf[2:10])[0], 10
        if len(buf) < pos + size:
            return None
        payload = bytes(buf[pos : pos + size])
        del buf[: pos + size]
        return opcode, payload

    def close(self) -> None:
        self.sock.close()


SLOW_ID = 4343
CHUNK = 200_000  # characters per update: large, so that the socket buffers fill quickly
ROUNDS = 40


@contextlib.asynccontextmanager
async def flooded_room(server: Server) -> AsyncIterator[tuple[PyClient, StalledPeer, int]]:
    """A writer sends large updates one by one while a reader follows and a peer stalls.

    The writer waits for the reader to get each update, so a reader that keeps up never has
    more than one update queued; the stalled peer's queue overflows.
    """
    async with PyClient(server.ws_url, "slow") as writer, PyClient(server.ws_url, "slow") as reader:
        stalled = StalledPeer(server, "slow")
        try:
            await stalled.connect()
            await stalled.send(awareness_frame(SLOW_ID, 1, {"user": "stalled"}))
            await reader.wait_for(lambda: SLOW_ID in awareness_view(reader.received))
            for i in range(1, ROUNDS + 1):
                writer.text().insert(0, "y" * CHUNK)
                await reader.wait_for(lambda i=i: len(reader.text()) == i * CHUNK, timeout=60)
            # the room did not stall: the reader got every update while the peer read nothing
            assert reader.close_code is None and writer.close_code is None
            yield reader, stalled, ROUNDS * CHUNK
        finally:
            stalled.close()


async def test_a_connection_lost_while_its_room_loads_is_logged_1006(server: Server) -> None:
    """Lost before the connection joined (the room is loading on the database thread): the
    end is still a lost connection (1006), not a close without status (1005)."""
    mark = len(server.log())
    ws = await websockets.connect(f"{server.ws_url}/fresh", max_size=None)
    ws.transport.abort()  # no close frame, at once: the join is still waiting for the load

    def closed_line() -> str | None:
        lines = server.log()[mark:].splitlines()
        return next((line for line in lines if "connection closed" in line), None)

    line = await eventually(closed_line, "the end of the connection to be logged", 20.0)
    assert "code=1006" in line, line


async def test_a_peer_that_stops_reading_is_closed_with_1013(server_factory: Any) -> None:
    server: Server = server_factory(extra=["--send-queue-bytes", str(512 * 1024)])
    async with flooded_room(server) as (_reader, stalled, sent):
        received, code, reason = await stalled.read_until_close()
        assert code == CloseCode.TRY_AGAIN_LATER, (code, reason)
        assert reason
        assert received < sent / 2, "the server kept queueing for a peer that did not read"


async def test_a_peer_that_stops_reading_leaves_the_room(server_factory: Any) -> None:
    """Dropped for being slow, the peer must leave the room without having to read first.

    While its socket is full the server cannot deliver the close frame; it must still end the
    connection (remove the peer from the room and its awareness state, abort the socket after
    a close timeout) instead of keeping it until the peer reads again, which may be never.
    """
    server: Server = server_factory(extra=["--send-queue-bytes", str(512 * 1024)])
    async with flooded_room(server) as (reader, _stalled, _sent):
        with contextlib.suppress(TimeoutError):
            await reader.wait_for(lambda: SLOW_ID in removed_clients(reader.received), 15)
        async with httpx.AsyncClient(base_url=server.http_url) as http:
            peers = (await http.get("/api/documents/slow")).json()["peers"]
        assert SLOW_ID in removed_clients(reader.received) and peers == 2, (
            f"the stalled peer is still in the room ({peers} peers) and its awareness state "
            "was never removed"
        )


async def test_a_peer_that_stops_reading_does_not_hold_up_a_shutdown(server_factory: Any) -> None:
    """Closing waits for the socket to take what was sent; a peer that never reads must be
    aborted instead of keeping the server until uvicorn's graceful-shutdown timeout."""
    server: Server = server_factory(extra=["--send-queue-bytes", str(256 * 1024 * 1024)])
    async with flooded_room(server) as (_reader, _stalled, _sent):
        status = await asyncio.to_thread(server.stop)
    log = server.log()
    assert status == 0, log[-1500:]
    assert "graceful shutdown exceeded" not in log, log[-1500:]


# -- document names --------------------------------------------------------------------------


BAD_NAMES = {
    "empty": "",
    "empty-segment": "a//b",
    "leading-slash": "/a",
    "trailing-slash": "a/",
    "dot-segment": "./x",
    "dotdot-segment": "a/..",
    "dotdot": "..",
    "encoded-dotdot": "%2E%2E",
    "encoded-slash-dotdot": "a%2F..",
    "nul": "a%00b",
    "control-char": "a%01b",
    "newline": "a%0Ab",
    "carriage-return": "a%0Db",
    "tab": "a%09b",
    "delete": "a%7Fb",
    "over-255-bytes": "x" * 256,
    "over-255-bytes-utf8": "%C3%A9" * 128,
    "not-utf8": "a%FFb",
}


@pytest.mark.parametrize("raw", list(BAD_NAMES.values()), ids=list(BAD_NAMES))
async def test_bad_document_name_is_closed_with_4400(server: Server, raw: str) -> None:
    mark = len(server.log())
    client = PyClient(server.ws_url, raw)
    try:
        await client.connect(handshake=False)
    except websockets.InvalidStatus as exc:
        pytest.fail(
            f"name {raw!r}: the WebSocket handshake was refused with HTTP "
            f"{exc.response.status_code} instead of being accepted and closed with 4400"
        )
    code = await client.wait_closed()
    assert code == CloseCode.BAD_DOCUMENT_NAME, (code, client.close_reason)
    assert client.close_reason
    assert not any(isinstance(m, protocol.SyncStep1) for m in client.received)
    await eventually(
        lambda: len(warning_lines(server.log()[mark:])) >= 1, "the warning to be logged", 20.0
    )
    assert len(warning_lines(server.log()[mark:])) == 1
    assert server.healthz()["open_rooms"] == 0


async def test_a_real_yjs_client_gives_up_on_a_bad_name(server: Server, node_modules: None) -> None:
    async with NodePeer(server.ws_url, "a//b") as peer:
        status = await peer.call("wait_close")
        assert status["last_close"]["code"] == CloseCode.BAD_DOCUMENT_NAME
        assert status["last_close"]["reason"]
        # y-websocket treats 4400-4499 as permanent: it stops reconnecting
        assert status["terminal_close"] == {
            "code": CloseCode.BAD_DOCUMENT_NAME,
            "reason": status["last_close"]["reason"],
        }
