"""What must hold per document across the nodes of a cluster (real ``collab serve --redis``
processes and embedded apps on one SQLite file, one redis-server for the module): a delete
racing a burst of edits on another node, Hocuspocus stateless messages broadcast to every
node's clients."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pycrdt import Map

from collab import Collab
from collab.settings import Settings
from collab.stores import SQLiteStore
from tests.e2e.nodepeer import HocusPeer
from tests.e2e.pyclient import PyClient, eventually
from tests.e2e.test_hocuspocus import embedded
from tests.helpers.redis import RedisServer, redis_server_binary

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(redis_server_binary() is None, reason="redis-server not installed"),
]


@pytest.fixture(scope="module")
def shared_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One redis-server for the module's tests (each uses its own documents and database)."""
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


def keys_of(client: PyClient) -> Map:
    return client.doc.get("keys", type=Map)


async def test_a_delete_racing_edits_on_another_node_resurrects_nothing(
    server_factory: Any, shared_redis: RedisServer
) -> None:
    a, b = (server_factory(["--redis", shared_redis.url]) for _ in range(2))
    async with httpx.AsyncClient(timeout=30) as http:
        for round_ in range(3):
            room = f"cluster/race-{round_}"
            async with PyClient(a.ws_url, room) as on_a, PyClient(b.ws_url, room) as on_b:
                writing = asyncio.create_task(_write_until_closed(on_b))
                # every update is a new key, which needs no earlier one: one written after
                # the delete would show in the next life of the document if it were kept
                await on_a.wait_for(lambda: len(keys_of(on_a)) >= 50, timeout=30)
                response = await http.delete(f"{a.http_url}/api/documents/{room}")
                assert response.status_code == 200, response.text
                assert await on_a.wait_closed() == 4410
                assert await on_b.wait_closed() == 4410
                assert "deleted" in on_b.close_reason
                written = await writing
            assert written > 50
            store = SQLiteStore(a.db_path)  # the shared file holds nothing of it but its tombstone
            try:
                stored = store.load(room)
                assert stored.updates == [] and stored.snapshot is None, len(stored.updates)
                assert stored.tombstone is not None and store.get(room) is None
            finally:
                store.close()
            for node in (a, b):  # the next life, on either node, is empty and unrecorded
                async with PyClient(node.ws_url, room) as fresh:
                    assert len(keys_of(fresh)) == 0 and fresh.doc.get_state() == b"\x00"
                found = await http.get(f"{node.http_url}/api/documents/{room}")
                assert found.status_code == 404, found.text


async def _write_until_closed(client: PyClient) -> int:
    """Write a new key, one update each, until the server closes the connection."""
    keys = keys_of(client)
    written = 0
    while client.close_code is None and client._task is not None and not client._task.done():
        keys[f"k{written}"] = written
        written += 1
        await asyncio.sleep(0)  # the update's frame goes out
    return written


async def test_stateless_messages_reach_every_nodes_clients(
    tmp_path: Path, shared_redis: RedisServer, node_modules: None
) -> None:
    """Two apps embedding collab (two nodes) on one database: a Stateless message answered on
    node A with ``broadcast_stateless`` reaches the Hocuspocus clients of both nodes."""
    collabs: list[Collab] = []

    async def on_stateless(name: str, payload: str, origin: object) -> None:
        # this node's client only; the other node's clients get it through the bus
        assert collabs[0].broadcast_stateless(name, f"echo {payload}") == 1

    for hook in (on_stateless, None):
        settings = Settings(db=str(tmp_path / "shared.db"), redis=shared_redis.url)
        collabs.append(Collab(settings, on_stateless=hook))
    async with (
        embedded(collabs[0], "direct") as on_a,
        embedded(collabs[1], "asgi") as on_b,
        HocusPeer(f"{on_a}/hocuspocus", [{"name": "chat"}]) as alice,
        HocusPeer(f"{on_b}/hocuspocus", [{"name": "chat"}]) as bob,
    ):
        for peer in (alice, bob):
            await peer.call("wait_synced")
        await eventually(lambda: _reads(collabs[1], "chat"), "node B to read the document")
        await alice.call("send_stateless", payload="hi")
        assert (await alice.call("wait_stateless"))["stateless"] == ["echo hi"]
        assert (await bob.call("wait_stateless"))["stateless"] == ["echo hi"]
        # from node B's side too, without any hook
        assert collabs[1].broadcast_stateless("chat", "from B") == 1
        assert (await alice.call("wait_stateless", count=2))["stateless"][1] == "from B"
        assert (await bob.call("wait_stateless", count=2))["stateless"][1] == "from B"


def _reads(collab: Collab, name: str) -> bool:
    """Whether ``collab``'s node has the document open (so it reads its stream)."""
    hub = collab.hub
    return hub is not None and hub.room(name) is not None
