"""What must hold per document across the nodes of a cluster, not per node: a delete racing
edits on another node, Hocuspocus stateless messages, the document size limit after another
node's compaction, one automatic version per quiet period. Two hubs ("nodes") on one SQLite
file and a real redis-server, as in ``test_cluster_bus.py``."""

from __future__ import annotations

from pathlib import Path

import pytest
from pycrdt import Doc

from tests.helpers.redis import RedisServer, redis_server_binary
from tests.test_cluster_bus import Recorder, node, text_update

pytestmark = pytest.mark.skipif(
    redis_server_binary() is None, reason="redis-server not installed (./scripts/test does)"
)


async def test_an_edit_committed_after_another_nodes_delete_is_refused(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    async with (
        node(tmp_path / "c.db", redis_server.url) as a,
        node(tmp_path / "c.db", redis_server.url) as b,
    ):
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
    async with (
        node(tmp_path / "c.db", redis_server.url) as a,
        node(tmp_path / "c.db", redis_server.url) as b,
    ):
        await a.write("d", text_update(Doc(), "old"), "http")
        late = text_update(Doc(), "late")  # committed on a node before the delete, read after
        await a.write("d", late, "http")
        assert await b.delete("d")
        on_b = Recorder()
        room_b, leave_b = await b.join("d", on_b)
        on_b.send(room_b.sync_step2(b"\x00"))
        assert b.cluster is not None
        b.cluster.remote_update("d", late)
        assert on_b.text() == "" and room_b.empty and not on_b.closed
        leave_b()
