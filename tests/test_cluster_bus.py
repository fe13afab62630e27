"""Cluster mode's core, in one process: two hubs ("nodes") on one SQLite file and a real
redis-server (AOF on), each with its own :class:`RedisBus`. The end-to-end tests run real
``collab serve --redis`` processes (tests/e2e/test_cluster.py)."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from pycrdt import Awareness, Doc, Text

from collab import protocol
from collab.bus import BusUnavailable, RedisBus
from collab.bus.entries import entry_age
from collab.hub import Hub
from collab.settings import Settings
from collab.stores import SQLiteStore
from tests.helpers.redis import RedisServer, redis_server_binary

pytestmark = pytest.mark.skipif(
    redis_server_binary() is None, reason="redis-server not installed (./scripts/test does)"
)

TIMEOUT = 10.0


class Recorder:
    """A peer that keeps every frame it is sent and how it was closed."""

    def __init__(self) -> None:
        self.frames: list[bytes] = []
        self.closed: tuple[int, str] | None = None
        self.doc: Doc = Doc()
        self.awareness = Awareness(self.doc)

    def send(self, frame: bytes) -> None:
        self.frames.append(frame)
        message = protocol.decode(frame)
        if isinstance(message, protocol.SyncStep2 | protocol.Update):
            self.doc.apply_update(message.update)
        elif isinstance(message, protocol.Awareness):
            self.awareness.apply_awareness_update(message.payload, "server")

    def close(self, code: int, reason: str) -> None:
        self.closed = (code, reason)

    def text(self) -> str:
        return str(self.doc.get("text", type=Text))


async def until(condition: Callable[[], object], what: str) -> None:
    """Wait for ``condition()`` to hold (polling the event loop), at most TIMEOUT seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + TIMEOUT
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


@asynccontextmanager
async def node(db: Path, url: str, **settings: Any) -> AsyncIterator[Hub]:
    """A hub on ``db`` with its own bus on ``url`` (``settings``: more than the defaults)."""
    store = SQLiteStore(db, lock=True, shared_lock=True)
    hub = Hub(store, Settings(room_grace_seconds=0.05, **settings), bus=RedisBus(url))
    await hub.start()
    try:
        await until(lambda: hub.bus is not None and hub.bus.healthy, "redis connection")
        yield hub
    finally:
        await hub.close()


@asynccontextmanager
async def two_nodes(tmp_path: Path, url: str, **settings: Any) -> AsyncIterator[tuple[Hub, Hub]]:
    """Two nodes (:func:`node`) on one database in ``tmp_path`` and one Redis at ``url``."""
    async with (
        node(tmp_path / "c.db", url, **settings) as a,
        node(tmp_path / "c.db", url, **settings) as b,
    ):
        yield a, b


def text_update(doc: Doc, content: str) -> bytes:
    before = doc.get_state()
    text = doc.get("text", type=Text)
    text.insert(len(str(text)), content)
    return doc.get_update(before)


async def test_updates_and_late_loads_cross_nodes(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    async with two_nodes(tmp_path, redis_server.url) as (a, b):
        writer = Doc()
        await a.write("d", text_update(writer, "hello"), "http")
        reader = Recorder()
        room, leave = await b.join("d", reader)  # loaded from the store, then the stream
        reader.send(room.sync_frames(b"\x00")[0])
        assert reader.text() == "hello"
        for word in (" big", " world"):  # committed on A, relayed by B once read
            await a.write("d", text_update(writer, word), "http")
        await until(lambda: reader.text() == "hello big world", "B's peer to converge")
        assert b.bus is not None and b.bus.read >= 2 and a.bus is not None
        assert a.bus.appended >= 3
        late = Recorder()  # a third node opening it now: store plus stream tail
        async with node(tmp_path / "c.db", redis_server.url) as c:
            room_c, leave_c = await c.join("d", late)
            late.send(room_c.sync_frames(b"\x00")[0])
            assert late.text() == "hello big world"
            leave_c()
        leave()


async def test_awareness_appears_and_is_removed_across_nodes(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    async with two_nodes(tmp_path, redis_server.url) as (a, b):
        on_a, on_b = Recorder(), Recorder()
        room_a, leave_a = await a.join("d", on_a)
        client = Awareness(Doc())
        client.set_local_state({"user": "ada"})
        payload = client.encode_awareness_update([client.client_id])
        room_a.apply_awareness(on_a, payload)  # before B opened the room: B asks for it
        room_b, leave_b = await b.join("d", on_b)
        await until(lambda: client.client_id in on_b.awareness.states, "presence on B")
        relay = Recorder()  # a peer on B that relays A's client's state does not own it
        _, leave_relay = await b.join("d", relay)
        room_b.apply_awareness(relay, payload)
        leave_relay()
        assert client.client_id in room_b.awareness
        assert client.client_id in room_a.awareness
        leave_a()  # a clean disconnect on A: removed on B at once
        await until(lambda: client.client_id not in on_b.awareness.states, "removal on B")
        assert client.client_id not in room_b.awareness
        leave_b()


async def test_a_node_leaving_removes_its_clients_states(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    async with node(tmp_path / "c.db", redis_server.url) as b:
        on_b = Recorder()
        room_b, leave_b = await b.join("d", on_b)
        client = Awareness(Doc())
        client.set_local_state({"user": "bob"})
        async with node(tmp_path / "c.db", redis_server.url) as a:
            on_a = Recorder()
            room_a, _ = await a.join("d", on_a)
            room_a.apply_awareness(on_a, client.encode_awareness_update([client.client_id]))
            await until(lambda: client.client_id in on_b.awareness.states, "presence on B")
        await until(lambda: client.client_id not in room_b.awareness, "removal on B")
        leave_b()


async def test_a_delete_closes_peers_on_every_node(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    async with two_nodes(tmp_path, redis_server.url) as (a, b):
        writer = Doc()
        await a.write("d", text_update(writer, "old"), "http")
        on_b = Recorder()
        await b.join("d", on_b)
        assert await a.delete("d")
        await until(lambda: on_b.closed is not None, "B's peer to be closed")
        assert on_b.closed == (4410, "document deleted")


async def test_a_rename_closes_peers_on_every_node(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    async with two_nodes(tmp_path, redis_server.url) as (a, b):
        await a.write("d", text_update(Doc(), "moving"), "http")
        on_old, on_new = Recorder(), Recorder()
        await b.join("d", on_old)
        _, leave_new = await b.join("e", on_new)  # open on B under the new name, empty
        assert await a.rename("d", "e")
        await until(lambda: on_old.closed and on_new.closed, "B's peers to be closed")
        assert on_old.closed == (4409, "renamed to e")
        assert on_new.closed is not None and on_new.closed[0] == 1001
        leave_new()
        room, leave = await b.join("e", Recorder())
        assert str(room.doc.get("text", type=Text)) == "moving"  # loaded from the store
        leave()


async def test_redis_down_refuses_joins_closes_rooms_and_recovers(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    async with node(tmp_path / "c.db", redis_server.url) as a:
        peer = Recorder()
        await a.join("d", peer)
        redis_server.stop(signal.SIGKILL)
        with pytest.raises(BusUnavailable):
            await a.write("d", text_update(Doc(), "lost?"), "http")
        await until(lambda: peer.closed is not None, "the room's peers to be closed")
        assert peer.closed is not None and peer.closed[0] == 1011
        assert "cluster bus unavailable" in peer.closed[1]
        with pytest.raises(BusUnavailable):
            await a.join("d", Recorder())
        assert a.metrics.bus_failures == 1 and b"collab_bus_up 0.0" in a.metrics.render()
        redis_server.start()  # same port, same AOF
        assert a.bus is not None
        await until(lambda: a.bus is not None and a.bus.healthy, "reconnection")
        again = Recorder()
        room, leave = await a.join("d", again)
        await a.write("d", text_update(Doc(), "back"), "http")
        assert "back" in str(room.doc.get("text", type=Text))
        leave()


async def test_compaction_on_either_node_keeps_both_nodes_updates(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    """Both nodes write and compact the same document: the store's compaction replays its own
    log (a node's room may lack the other's newest commits), so nothing is folded away."""
    settings = Settings(room_grace_seconds=0.05, compact_updates=4)
    stores = [SQLiteStore(tmp_path / "c.db", lock=True, shared_lock=True) for _ in range(2)]
    hubs = [Hub(store, settings, bus=RedisBus(redis_server.url)) for store in stores]
    for hub in hubs:
        await hub.start()
    try:
        writers = [Doc(), Doc()]
        rooms = [await hub.join("d", Recorder()) for hub in hubs]
        expected: set[str] = set()

        async def write(i: int) -> None:
            index = i % 2
            await hubs[index].write("d", text_update(writers[index], f"{index}{i},"), "http")
            expected.add(f"{index}{i},")

        for i in range(40):
            await write(i)
        # A node abandons its fold when the other compacted the rows it folded meanwhile
        # (nothing written, the other's snapshot left as it is), or when the log changed
        # under it; it compacts again at its next threshold (counted afresh after the
        # other's compaction): write on until each node has compacted.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + TIMEOUT
        while not all(hub.metrics.compactions for hub in hubs):
            if loop.time() > deadline:
                raise AssertionError("timed out waiting for a compaction on each node")
            i += 1
            await write(i)
            await asyncio.sleep(0.01)
        fresh = Doc()
        fresh.apply_update(stores[0].state("d"))
        text = str(fresh.get("text", type=Text))
        assert {part + "," for part in text.split(",") if part} == expected
        assert sum(hub.metrics.storage_errors for hub in hubs) == 0
        for room, leave in rooms:
            await until(lambda room=room: len(str(room.doc.get("text", type=Text))) == len(text),
                        "both rooms to converge")  # fmt: skip
            leave()
    finally:
        for hub in hubs:
            await hub.close()


async def test_an_entry_that_cannot_be_applied_does_not_stop_the_reader(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    from redis.asyncio import Redis

    from collab.bus.redis import stream_key

    async with two_nodes(tmp_path, redis_server.url) as (a, b):
        reader = Recorder()
        await b.join("d", reader)
        client = Redis.from_url(redis_server.url)
        try:  # bytes no node wrote: malformed awareness, an update that is not one
            await client.xadd(stream_key("d"), {b"n": b"intruder", b"a": b"\xff\xff\xff"})
            await client.xadd(stream_key("d"), {b"n": b"intruder", b"u": b"\x07\x07"})
        finally:
            await client.aclose()
        await a.write("d", text_update(Doc(), "still flowing"), "http")
        await until(lambda: reader.text() == "still flowing", "the next update on B")
        assert reader.closed is None


async def test_reauthorize_is_announced_to_the_other_nodes(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    async with two_nodes(tmp_path, redis_server.url) as (a, b):
        asked: list[str] = []
        assert a.cluster is not None and b.cluster is not None
        b.cluster.reauthorize = asked.append
        await a.cluster.announce("reauthorize", "d")
        await a.cluster.announce("reauthorize", "")  # every document
        await until(lambda: asked == ["d", ""], "B to be asked to check its connections")


async def test_a_read_on_one_node_sees_what_another_node_acknowledged(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    """HTTP reads (Hub.state) in cluster mode come from the store: a write acknowledged on A
    is in a read on B at once, even while B's open room has not read it from the stream."""
    async with two_nodes(tmp_path, redis_server.url) as (a, b):
        _, leave = await b.join("d", Recorder())
        writer = Doc()
        for i in range(20):
            await a.write("d", text_update(writer, f"{i},"), "http")
            state = await b.state("d")  # no yield to B's reader in between
            doc: Doc = Doc()
            doc.apply_update(state)
            assert str(doc.get("text", type=Text)).endswith(f"{i},")
        leave()


def sample(hub: Hub, name: str) -> float:
    """The value of sample ``name`` in ``hub``'s /metrics text."""
    for family in text_string_to_metric_families(hub.metrics.render().decode()):
        for found in family.samples:
            if found.name == name:
                return float(found.value)
    raise AssertionError(f"no sample {name}")


async def test_each_node_reports_entries_and_how_far_behind_its_reader_is(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    async with two_nodes(tmp_path, redis_server.url) as (a, b):
        on_b = Recorder()
        _, leave = await b.join("d", on_b)
        writer = Doc()
        for word in ("one", " two", " three"):
            await a.write("d", text_update(writer, word), "http")
        await until(lambda: on_b.text() == "one two three", "B's peer to converge")
        assert sample(a, "collab_bus_entries_appended_total") >= 3
        assert sample(b, "collab_bus_entries_read_total") >= 3
        # the age of the entries B read when it read them: a few ms here, well under a minute
        assert sample(b, "collab_bus_lag_seconds_count") >= 1
        assert 0 <= sample(b, "collab_bus_lag_seconds_sum") < 60
        assert sample(b, "collab_bus_watched_streams") == 1
        leave()


def test_an_entry_age_comes_from_its_id_and_is_never_negative() -> None:
    # the id's milliseconds are Redis's clock; a node whose clock is behind reads age 0
    assert entry_age(b"1700000000000-3", 1700000001500) == 1.5
    assert entry_age(b"1700000000000-0", 1699999999000) == 0
