"""Hostile input on ``/hocuspocus``, and clients of the other protocol on either endpoint.

Raw sockets send what no provider would; each case checks the close code and reason and that
the server, its other sockets and documents go on untouched.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator
from typing import Any

import pytest
import websockets
from pycrdt import Doc, Text

from collab import awareness_codec, protocol
from collab import hocuspocus as hp
from collab.hocuspocus_endpoint import NO_ENDPOINT
from collab.sessions.hocuspocus import HELD_FRAMES, WRONG_ENDPOINT
from collab.sessions.ywebsocket import WRONG_ENDPOINT as SYNC_WRONG_ENDPOINT
from tests.e2e.conftest import Server
from tests.e2e.nodepeer import HocusPeer, NodePeer
from tests.e2e.pyclient import eventually
from tests.e2e.test_hocuspocus import hocus, hocus_url

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server for this module's cases (each uses its own documents): a server start costs
    seconds. Log checks read what their test added."""
    shared = Server(tmp_path_factory.mktemp("hostile") / "collab.db")
    shared.start()
    yield shared
    shared.stop()


def frame(address: str, message: hp.Message) -> bytes:
    return hp.encode(hp.Frame(address, message))


def auth(address: str, token: str = "") -> bytes:
    return frame(address, hp.Token(token, "4.8.0"))


async def connect(server: Server) -> websockets.ClientConnection:
    return await websockets.connect(hocus_url(server), max_size=None)


async def until_closed(ws: websockets.ClientConnection) -> tuple[int | None, str, list[bytes]]:
    """Read until the server closes: its close code and reason, and what it sent before."""
    received: list[bytes] = []
    try:
        async with asyncio.timeout(30):
            async for message in ws:
                assert isinstance(message, bytes)
                received.append(message)
    except websockets.ConnectionClosed:
        pass
    return ws.close_code, ws.close_reason or "", received


async def survives(server: Server, name: str = "bystander") -> None:
    """A provider still opens, edits and saves a document: the server is unharmed."""
    async with hocus(server, name) as peer:
        await peer.call("wait_synced")
        await peer.call("insert", index=0, text="ok")
        await peer.call("wait_saved")


@pytest.mark.parametrize(
    ("data", "code", "reason"),
    [
        (b"\x24abc", 1002, "malformed message: length 36 exceeds the 3 bytes left"),
        (b"\x01a\x0b", 1002, "malformed message: unknown message type 11"),
        (b"\x01a\x02\x07", 1002, "malformed message: unknown auth message type 7"),
        (b"\x01a\x00\x05\x00", 1002, "malformed message: unknown sync message type 5"),
        (b"\x03\xff\xfe\xfd\x00", 1002, "malformed message: string is not valid UTF-8"),
        (b"\x01a" + b"\xff" * 10, 1002, "malformed message: varUint longer than 8 bytes"),
        (frame("a", hp.Authenticated("read-write")), 1002, "Authenticated is a server message"),
        (frame("a", hp.BroadcastStateless("x")), 1002, "BroadcastStateless is a server message"),
        (frame("a", hp.SyncStatus(True)), 1002, "SyncStatus is a server message"),
        ("text", 1003, "text frames are not supported"),
    ],
)
async def test_malformed_frames_close_the_socket_with_a_reason(
    server: Server, node_modules: None, data: bytes | str, code: int, reason: str
) -> None:
    mark = len(server.log())
    async with hocus(server, "bystander") as bystander:
        await bystander.call("wait_synced")
        ws = await connect(server)
        await ws.send(auth("victim"))
        await ws.send(data)
        closed, why, _ = await until_closed(ws)
        assert (closed, why) == (code, why) and reason in why, (closed, why)
        await bystander.call("insert", index=0, text="untouched")
        await bystander.call("wait_saved")
    log = server.log()[mark:]
    assert "Traceback" not in log and " ERROR " not in log, log[-3000:]


async def test_a_malformed_frame_after_updates_keeps_the_updates_before_it(
    server: Server, node_modules: None
) -> None:
    doc: Doc[Any] = Doc()
    text = doc.get("text", type=Text)
    updates: list[bytes] = []
    doc.observe(lambda event: updates.append(event.update))
    text.insert(0, "kept")
    ws = await connect(server)
    await ws.send(auth("partial"))
    await ws.send(frame("partial", hp.Update(updates[0])))
    await ws.send(b"\x07partial\x0b")  # unknown type 11
    closed, why, _ = await until_closed(ws)
    assert (closed, why) == (1002, "malformed message: unknown message type 11")
    async with hocus(server, "partial") as reader:
        await reader.call("wait_text", equals="kept")


async def test_thousands_of_documents_on_one_socket_hit_the_limit(
    server_factory: Any, node_modules: None
) -> None:
    server = server_factory(extra=["--max-documents-per-socket", "5"])
    ws = await connect(server)
    for i in range(3000):
        await ws.send(auth(f"doc/{i}"))
    closed, why, received = await until_closed(ws)
    assert (closed, why) == (1008, "too many documents on one socket (limit 5)")
    authenticated = [m for m in received if hp.decode(m) == hp.Frame(_address(m), _OK)]
    assert len(authenticated) <= 5  # those decided before the sixth document came
    await survives(server)
    assert int(str(server.healthz()["open_rooms"])) <= 6


_OK = hp.Authenticated("read-write")


def _address(data: bytes) -> str:
    item = hp.decode(data)
    return item.address if isinstance(item, hp.Frame) else ""


async def test_frames_held_before_auth_are_bounded(server: Server, node_modules: None) -> None:
    ws = await connect(server)
    step1 = frame("never-authorised", hp.SyncStep1(b"\x00"))
    for _ in range(HELD_FRAMES + 1):
        await ws.send(step1)
    closed, why, received = await until_closed(ws)
    assert closed == 1008 and why.startswith("too many frames before Auth"), (closed, why)
    assert received == [], "nothing about a document is sent before its Auth"
    await survives(server)


async def test_frames_before_auth_are_held_then_handled_in_order(server: Server) -> None:
    doc: Doc[Any] = Doc()
    updates: list[bytes] = []
    doc.observe(lambda event: updates.append(event.update))
    doc.get("text", type=Text).insert(0, "held")
    ws = await connect(server)
    # an update and a sync step 1 before the Auth: neither applied nor answered yet
    await ws.send(frame("held", hp.Update(updates[0])))
    await ws.send(frame("held", hp.SyncStep1(b"\x00")))
    await ws.send(auth("held"))
    received: list[hp.Frame] = []
    async with asyncio.timeout(20):
        while not any(isinstance(f.message, hp.SyncStep2) for f in received):
            item = hp.decode(await ws.recv())  # type: ignore[arg-type]
            assert isinstance(item, hp.Frame)
            received.append(item)
        while not any(isinstance(f.message, hp.SyncStatus) for f in received):
            item = hp.decode(await ws.recv())  # type: ignore[arg-type]
            assert isinstance(item, hp.Frame)
            received.append(item)
    kinds = [type(f.message).__name__ for f in received]
    assert kinds[0] == "Authenticated", kinds
    assert received[-1].message == hp.SyncStatus(True)
    await ws.close()
    async with hocus(server, "held") as reader:
        await reader.call("wait_text", equals="held")


async def test_auth_floods_on_an_open_document_are_ignored(server: Server) -> None:
    ws = await connect(server)
    await ws.send(auth("flooded"))
    async with asyncio.timeout(20):  # open first: until then, frames are held (and bounded)
        while (item := hp.decode(await ws.recv())) != hp.Frame("flooded", _OK):  # type: ignore[arg-type]
            assert isinstance(item, hp.Frame)
    for _ in range(2000):
        await ws.send(auth("flooded"))
    await ws.send(frame("flooded", hp.SyncStep1(b"\x00")))
    async with asyncio.timeout(20):
        while True:
            item = hp.decode(await ws.recv())  # type: ignore[arg-type]
            assert isinstance(item, hp.Frame)
            if isinstance(item.message, hp.SyncStep2):
                break
    await ws.close()


async def test_a_document_closed_by_the_client_leaves_the_others_open(server: Server) -> None:
    ws = await connect(server)
    await ws.send(auth("one"))
    await ws.send(auth("two"))
    await ws.send(frame("one", hp.Close()))
    await ws.send(frame("two", hp.Stateless("still here")))
    await ws.send(frame("two", hp.SyncStep1(b"\x00")))
    async with asyncio.timeout(20):
        while True:
            item = hp.decode(await ws.recv())  # type: ignore[arg-type]
            assert isinstance(item, hp.Frame)
            if isinstance(item.message, hp.SyncStep2) and item.address == "two":
                break
    assert int(str(server.healthz()["open_rooms"])) >= 1
    await ws.close()


async def test_ping_is_answered_with_pong(server: Server) -> None:
    ws = await connect(server)
    await ws.send(hp.PING)
    assert await asyncio.wait_for(ws.recv(), 20) == hp.PONG
    await ws.send(hp.PONG)  # a pong needs no answer and is no error
    await ws.send(hp.PING)
    assert await asyncio.wait_for(ws.recv(), 20) == hp.PONG
    await ws.close()


# -- clients of the other protocol ------------------------------------------------------------


async def test_clients_of_the_other_protocol_are_told_where_to_go(
    server_factory: Any, node_modules: None
) -> None:
    server = server_factory()  # its own: what is logged once per client is checked
    fast = {"delay": 50, "minDelay": 50, "maxDelay": 200, "factor": 1.2}
    # y-websocket given ws://host/hocuspocus connects to /hocuspocus/{room}
    async with NodePeer(hocus_url(server), "lost") as yws:
        closed = await yws.call("wait_close")
        assert closed["last_close"]["reason"] == WRONG_ENDPOINT
        assert closed["last_close"]["code"] == 1002
    # a Hocuspocus provider given the y-websocket URL of a document
    async with HocusPeer(f"{server.ws_url}/lost", [{"name": "lost"}], socket=fast) as peer:
        status = await peer.call("wait_close", after=2)
        assert {c["reason"] for c in status["closes"]} == {SYNC_WRONG_ENDPOINT}
    # a Hocuspocus provider given the bare server URL
    root = f"ws://127.0.0.1:{server.port}"
    async with HocusPeer(root, [{"name": "lost"}], socket=fast) as peer:
        status = await peer.call("wait_close", after=2)
        assert {c["reason"] for c in status["closes"]} == {NO_ENDPOINT}
    # a y-websocket frame on /hocuspocus itself
    ws = await connect(server)
    await ws.send(protocol.encode(protocol.SyncStep1(b"\x00")))
    assert (await until_closed(ws))[:2] == (1002, WRONG_ENDPOINT)
    log = server.log()
    for reason in (WRONG_ENDPOINT, SYNC_WRONG_ENDPOINT, NO_ENDPOINT):
        told = [line for line in log.splitlines() if "client of the other protocol" in line]
        assert sum(reason in line for line in told) == 1, (reason, told)
    assert "WARNING" not in log


# -- a small mutation fuzz over real frames ---------------------------------------------------


def seeds() -> list[bytes]:
    doc: Doc[Any] = Doc()
    updates: list[bytes] = []
    doc.observe(lambda event: updates.append(event.update))
    text = doc.get("text", type=Text)
    for i in range(5):
        text.insert(0, f"seed {i} ")
    awareness = awareness_codec.encode_awareness(
        [awareness_codec.AwarenessEntry(7, 1, {"user": "fuzz"})]
    )
    return [
        auth("fuzz"),
        frame("fuzz", hp.SyncStep1(doc.get_state())),
        frame("fuzz", hp.SyncStep2(doc.get_update())),
        *(frame("fuzz", hp.Update(u)) for u in updates),
        frame("fuzz", hp.Awareness(awareness)),
        frame("fuzz", hp.QueryAwareness()),
        frame("fuzz", hp.Stateless("hello")),
        frame("fuzz", hp.Close()),
        frame("fuzz", hp.SyncReply(hp.SyncStep2(doc.get_update()))),
    ]


def mutate(rng: random.Random, data: bytes) -> bytes:
    raw = bytearray(data)
    for _ in range(rng.randint(1, 3)):
        choice = rng.randrange(4)
        if choice == 0 and raw:
            raw[rng.randrange(len(raw))] = rng.randrange(256)
        elif choice == 1 and raw:
            del raw[rng.randrange(len(raw)) :]
        elif choice == 2:
            raw.insert(rng.randrange(len(raw) + 1), rng.randrange(256))
        elif raw:
            raw[0] = rng.choice([0, 1, 0x7F, 0x80, 0xFF])  # the address length
    return bytes(raw)


@pytest.mark.parametrize("seed", range(4))
async def test_mutated_frames_never_harm_the_server(
    server: Server, node_modules: None, seed: int
) -> None:
    mark = len(server.log())
    rng = random.Random(seed)
    base = seeds()
    allowed = {1002, 1003, 1007, 1008, 4413}
    for _ in range(25):
        ws = await connect(server)
        await ws.send(base[0])
        for _ in range(10):
            data = mutate(rng, rng.choice(base)) if rng.random() < 0.7 else rng.choice(base)
            try:
                await ws.send(data)
            except websockets.ConnectionClosed:
                break
        await ws.close()
        code = ws.close_code
        assert code in allowed | {1000}, (code, ws.close_reason)
        if code != 1000:
            assert ws.close_reason
    await eventually(lambda: server.healthz()["status"] == "ok" or None, "health", 20)
    await survives(server, "fuzz-after")
    async with hocus(server, "fuzz") as peer:
        await peer.call("wait_synced")
    log = server.log()[mark:]
    assert "Traceback" not in log and " ERROR " not in log, log[-3000:]
