"""Cluster mode end to end (README "Running several processes or machines"): two and three
``collab serve --redis`` processes on one SQLite file and a real redis-server (AOF, appendfsync
always), with y-websocket clients in Node and pycrdt clients connected to different nodes."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from pycrdt import Doc, Text

from tests.e2e.conftest import Server
from tests.e2e.nodepeer import NodePeer
from tests.e2e.pyclient import PyClient, TraceClient, eventually
from tests.e2e.test_sync import fresh_text, load_trace, patched, replay
from tests.helpers.redis import RedisServer, redis_server_binary

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(redis_server_binary() is None, reason="redis-server not installed"),
]

Nodes = Callable[..., Server]


@pytest.fixture
def nodes(server_factory: Any, redis_server: RedisServer) -> Nodes:
    """Start a cluster node (``collab serve --redis``) on the test's shared database."""

    def start(*extra: str) -> Server:
        server: Server = server_factory(["--redis", redis_server.url, *extra])
        return server

    return start


def text_of(update: bytes) -> str:
    doc: Doc[Any] = Doc()
    text = doc.get("text", type=Text)
    doc.apply_update(update)
    return str(text)


async def test_clients_on_different_nodes_converge_with_presence(
    nodes: Nodes, node_modules: None
) -> None:
    a, b = nodes(), nodes()
    assert a.healthz()["node"] != b.healthz()["node"]
    room = "cluster/converge"
    async with NodePeer(a.ws_url, room) as on_a, NodePeer(b.ws_url, room) as on_b:
        await on_a.call("wait_synced")
        await on_b.call("wait_synced")
        async with PyClient(a.ws_url, room) as py_a, PyClient(b.ws_url, room) as py_b:
            await on_a.call("insert", index=0, text="A.")
            await on_b.call("insert", index=0, text="B.")
            py_a.text().insert(0, "pa.")
            py_b.text().insert(0, "pb.")
            for peer in (on_a, on_b):
                for part in ("A.", "B.", "pa.", "pb."):
                    await peer.call("wait_text", contains=part)
            final = (await on_a.call("get_text"))["text"]
            assert len(final) == len("A.B.pa.pb.")
            assert (await on_b.call("get_text"))["text"] == final
            await py_a.wait_for(lambda: str(py_a.text()) == final)
            await py_b.wait_for(lambda: str(py_b.text()) == final)
        # presence crosses nodes, and a clean disconnect on A removes it on B at once
        await on_a.call("awareness_set", state={"user": "ada"})
        states = (await on_b.call("wait_awareness", count=2))["states"]
        assert {"user": "ada"} in states.values()
        await on_a.close()
        await on_b.call("wait_awareness", count=1, timeout=5)
        assert await fresh_text(b, room) == final
        metrics = httpx.get(b.http_url + "/metrics").text
        assert "collab_bus_up 1.0" in metrics and "collab_bus_entries_read_total" in metrics


async def test_a_dead_nodes_presence_is_removed_and_its_edits_kept(
    nodes: Nodes, node_modules: None
) -> None:
    a, b = nodes(), nodes()
    room = "cluster/death"
    async with NodePeer(b.ws_url, room) as on_b:
        await on_b.call("wait_synced")
        async with PyClient(a.ws_url, room) as py_a:
            py_a.text().insert(0, "before the crash")
            await on_b.call("wait_text", contains="before the crash")
            on_a = await NodePeer.start(a.ws_url, room)
            try:
                await on_a.call("wait_synced")
                await on_a.call("awareness_set", state={"user": "doomed"})
                await on_b.call("wait_awareness", count=2, timeout=30)
                a.kill()  # kill -9: no goodbye on the bus; B times the node out (5 s)
                await on_b.call("wait_awareness", count=1, timeout=30)
            finally:
                await on_a.close()
    assert await fresh_text(b, room) == "before the crash"


async def test_a_trace_written_on_one_node_is_read_whole_on_another(nodes: Nodes) -> None:
    a, b = nodes(), nodes()
    trace = load_trace("automerge-paper")
    txns = trace["txns"][:20_000]
    expected = patched("", txns)
    room = "cluster/trace"
    async with TraceClient(a.ws_url, room) as writer, PyClient(b.ws_url, room) as reader:
        await replay(writer, reader, txns)
        await reader.wait_for(lambda: str(reader.text()) == expected, timeout=120)
        assert reader.doc.get_state() == writer.doc.get_state()
    assert await fresh_text(b, room) == expected
    a.stop()
    b.restart()  # the whole cluster down and up: the store has it all
    assert await fresh_text(b, room) == expected


async def test_kill_9_of_a_node_mid_burst_loses_nothing_anyone_saw(nodes: Nodes) -> None:
    a, b, c = nodes(), nodes(), nodes()
    room = "cluster/kill"
    async with PyClient(b.ws_url, room) as on_b, PyClient(c.ws_url, room) as on_c:
        writer = await PyClient(a.ws_url, room).connect()
        try:
            text = writer.text()
            for i in range(3000):
                text.insert(len(text), f"{i},")
                if i % 100 == 0:
                    await asyncio.sleep(0)  # let the client send
                if i == 1500:
                    await on_b.wait_for(lambda: len(str(on_b.text())) > 100)
                    a.kill()
        finally:
            await writer.close()
        await asyncio.sleep(0)
        seen_b, seen_c = str(on_b.text()), str(on_c.text())
        assert seen_b or seen_c
    for survivor in (b, c):
        kept = await fresh_text(survivor, room)
        assert kept.startswith(seen_b) and kept.startswith(seen_c)
    b.stop()
    c.stop()
    b.start()
    kept = await fresh_text(b, room)
    assert kept.startswith(seen_b) and kept.startswith(seen_c)


async def test_a_delete_closes_peers_on_every_node_and_the_tombstone_holds(
    nodes: Nodes,
) -> None:
    a, b = nodes(), nodes()
    room = "cluster/delete"
    async with PyClient(a.ws_url, room) as on_a, PyClient(b.ws_url, room) as on_b:
        on_a.text().insert(0, "stale")
        await on_b.wait_for(lambda: str(on_b.text()) == "stale")
        stale = on_b.doc.get_update()
        response = httpx.delete(f"{a.http_url}/api/documents/{room}")
        assert response.status_code == 200, response.text
        assert await on_a.wait_closed() == 4410
        assert await on_b.wait_closed() == 4410
    # an editor holding the old content, reconnecting on the other node, is refused
    old: Doc[Any] = Doc()
    old.apply_update(stale)
    revenant = await PyClient(b.ws_url, room, doc=old).connect()
    try:
        code = await revenant.wait_closed()
        # 4410: the y-websocket client stops retrying (issue 19 item 12)
        assert code == 4410 and "deleted" in (revenant.close_reason or ""), revenant.close_reason
    finally:
        await revenant.close()
    assert await fresh_text(a, room) == ""


async def test_workers_share_one_port(server_factory: Any, redis_server: RedisServer) -> None:
    server: Server = server_factory(["--redis", redis_server.url, "--workers", "2"])
    seen = await eventually(
        lambda: (
            len({httpx.get(server.http_url + "/healthz").json()["node"] for _ in range(20)}) == 2
        ),
        "both workers to answer",
        timeout=30,
    )
    assert seen
    async with PyClient(server.ws_url, "w") as one, PyClient(server.ws_url, "w") as two:
        one.text().insert(0, "x")
        await two.wait_for(lambda: str(two.text()) == "x")
    server.kill()  # the supervisor dies: its workers go with it (no orphan holds the port)
    await eventually(lambda: _refused(server.http_url), "the workers to exit", timeout=20)


def _refused(url: str) -> bool:
    try:
        httpx.get(url + "/healthz", timeout=1)
    except httpx.ConnectError:
        return True
    except httpx.HTTPError:
        return False
    return False


async def test_redis_killed_during_writes_loses_nothing_and_recovers(
    nodes: Nodes, redis_server: RedisServer
) -> None:
    a, b = nodes(), nodes()
    room = "cluster/redis-restart"
    edits: Doc[Any] = Doc()
    async with PyClient(b.ws_url, room) as reader:
        writer = await PyClient(a.ws_url, room, doc=edits).connect()
        try:
            text = writer.text()
            for i in range(2000):
                text.insert(len(text), f"{i},")
                if i % 100 == 0:
                    await asyncio.sleep(0)  # let the client send
                if i == 1000:
                    await reader.wait_for(lambda: len(str(reader.text())) > 100)
                    redis_server.stop(signal.SIGKILL)
            assert await writer.wait_closed() == 1011
            assert await reader.wait_closed() == 1011
            assert "cluster bus unavailable" in reader.close_reason
        finally:
            await writer.close()
        seen = str(reader.text())
    health = httpx.get(a.http_url + "/healthz")
    assert health.status_code == 503 and health.json()["error"] == "bus_unavailable"
    refused = await PyClient(a.ws_url, room).connect(handshake=False)
    assert await refused.wait_closed() == 1011
    await refused.close()
    redis_server.start()  # same port, same AOF folder
    for node in (a, b):
        await eventually(
            lambda node=node: httpx.get(node.http_url + "/healthz").status_code == 200,
            "the node to reconnect",
        )
    assert (await fresh_text(b, room)).startswith(seen)
    # the editor comes back (on the other node) with its document: what no one was sent
    # before Redis died reaches everyone now
    async with PyClient(b.ws_url, room, doc=edits):
        pass
    expected = "".join(f"{i}," for i in range(2000))
    assert str(edits.get("text", type=Text)) == expected
    assert await eventually(lambda: _fresh_equals(a, room, expected), "the whole text on A")


async def _fresh_equals(server: Server, room: str, expected: str) -> bool:
    return await fresh_text(server, room) == expected


async def test_two_nodes_on_postgresql_converge(
    server_factory: Any, redis_server: RedisServer, postgres_dsn: str
) -> None:
    a, b = (server_factory(["--redis", redis_server.url], db=postgres_dsn) for _ in range(2))
    room = "cluster/postgres"
    async with PyClient(a.ws_url, room) as on_a, PyClient(b.ws_url, room) as on_b:
        on_a.text().insert(0, "from A.")
        await on_b.wait_for(lambda: str(on_b.text()) == "from A.")
        on_b.text().insert(len(on_b.text()), "from B.")
        await on_a.wait_for(lambda: str(on_a.text()) == "from A.from B.")
    assert await fresh_text(a, room) == "from A.from B."
