"""What must hold per document across the nodes of a cluster, not per node: a delete racing
edits on another node, Hocuspocus stateless messages, the document size limit after another
node's compaction, one automatic version per quiet period. Two hubs ("nodes") on one SQLite
file and a real redis-server, as in ``test_cluster_bus.py``."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from pycrdt import Doc, Text

from collab.errors import DocumentTooLarge
from collab.history.versions import Versions
from tests.helpers.redis import RedisServer, redis_server_binary
from tests.test_cluster_bus import Recorder, text_update, two_nodes, until

pytestmark = pytest.mark.skipif(
    redis_server_binary() is None, reason="redis-server not installed (./scripts/test does)"
)


async def test_an_edit_committed_after_another_nodes_delete_is_refused(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    async with two_nodes(tmp_path, redis_server.url) as (a, b):
        writer = Doc()
        await a.write("d", text_update(writer, "old"), "http")
        on_b = Recorder()
        room_b, leave_b = await b.join("d", on_b)
        # A's delete reaches the store before B hears of it (the window of the race)
        assert await a.run(a.store.delete, "d")
        assert b.write_now(room_b, text_update(writer, " stale"), on_b)
        await b.flush()
        assert on_b.closed == (4410, "document deleted")
        assert room_b.closed
        stored = await b.run(b.store.load, "d")
        assert stored.updates == [] and stored.snapshot is None
        assert await b.run(b.store.get, "d") is None
        leave_b()
        # the document's next life, on B: created and recorded as any new document
        fresh = Recorder()
        _, leave = await b.join("d", fresh)
        await b.write("d", text_update(Doc(), "new"), "http")
        assert await a.run(a.store.get, "d") is not None
        assert fresh.text() == "new"
        leave()


async def test_an_entry_of_a_deleted_life_is_not_relayed_to_the_next_one(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    async with two_nodes(tmp_path, redis_server.url) as (a, b):
        await a.write("d", text_update(Doc(), "old"), "http")
        late = text_update(Doc(), "late")  # committed on a node before the delete, read after
        await a.write("d", late, "http")
        assert await b.delete("d")
        on_b = Recorder()
        room_b, leave_b = await b.join("d", on_b)
        on_b.send(room_b.sync_frames(b"\x00")[0])
        assert b.cluster is not None
        b.cluster.remote_update("d", late)
        assert on_b.text() == "" and room_b.empty and not on_b.closed
        leave_b()


async def test_the_size_limit_counts_every_nodes_updates_and_compactions(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    limits = {"max_document_bytes": 6000, "compact_updates": 40}
    async with two_nodes(tmp_path, redis_server.url, **limits) as (a, b):
        room_a, leave_a = await a.join("d", Recorder())
        on_b = Recorder()
        room_b, leave_b = await b.join("d", on_b)
        on_b.send(room_b.sync_frames(b"\x00")[0])
        doc = Doc()
        for _ in range(120):  # ~6 KB of log that compacts to a few bytes: typed and erased
            await a.write("d", text_update(doc, "x"), "http")
            await a.write("d", erase_update(doc), "http")
        slot = a.rooms.slots["d"]
        await until(lambda: not slot.compacting and room_a.size_bytes < 1000, "A to compact")
        assert a.metrics.compactions >= 2
        # B counted A's updates, and learns of A's compactions: a write fitting now is taken
        await until(lambda: room_b.size_bytes == room_a.size_bytes, "B to count A's compactions")
        assert b.write_now(room_b, text_update(Doc(), "y" * 3000), "http")
        await b.flush()
        await until(lambda: on_b.text() == "y" * 3000, "B's write")
        # ... and one passing the limit with what A wrote is refused on B, as on one node
        await a.write("d", text_update(Doc(), "z" * 2000), "http")
        await until(lambda: "z" in on_b.text(), "A's write on B")
        with pytest.raises(DocumentTooLarge):
            b.write_now(room_b, text_update(Doc(), "w" * 2000), on_b)
        leave_b()
        leave_a()


def erase_update(doc: Doc) -> bytes:
    before = doc.get_state()
    text = doc.get("text", type=Text)
    del text[0 : len(str(text))]
    return doc.get_update(before)


async def test_one_automatic_version_per_quiet_period_across_nodes(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    """Edits on both nodes, each node's own pauses longer than the quiet period but the
    document's shorter: one editing session, one automatic version (not one per node)."""
    quiet = {"version_quiet_seconds": 1.0}
    async with two_nodes(tmp_path, redis_server.url, **quiet) as (a, b):
        versions = [Versions(hub, hub.settings) for hub in (a, b)]
        rooms = [await hub.join("d", Recorder()) for hub in (a, b)]
        doc = Doc()
        for turn in range(6):  # A, B, A, B, ...: each node quiet 1.2 s, the document 0.6 s
            hub = (a, b)[turn % 2]
            await hub.write("d", text_update(doc, f"{turn}."), "http")
            await asyncio.sleep(0.6)  # the editors' pace (the scenario, not a wait for sync)
        await until(lambda: sum(v.saved for v in versions) >= 1, "an automatic version")
        await until(lambda: not any(v._timers or v._tasks for v in versions), "the timers")
        saved = await a.run(a.store.list_versions, "d")
        assert len(saved) == 1 and saved[0].automatic
        _, state = await a.run(a.store.get_version, "d", saved[0].id)
        assert text_of(state) == "0.1.2.3.4.5."
        for v in versions:
            await v.close()
        for _, leave in rooms:
            leave()


def text_of(state: bytes) -> str:
    doc = Doc()
    doc.apply_update(state)
    return str(doc.get("text", type=Text))
