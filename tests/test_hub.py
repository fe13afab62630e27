"""The hub's one write path (``Hub.write_now``, ``Hub.write``) and the hooks' isolation, on a
real SQLite file."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from pycrdt import Doc, Text

from collab import protocol
from collab.errors import DocumentTooLarge
from collab.hub import Hooks, Hub
from collab.integrator import apply_all
from collab.settings import Settings
from collab.stores import SQLiteStore
from collab.updates import InvalidUpdate
from tests.test_connection import started_hub


def text_update(content: str, doc: Doc | None = None) -> bytes:
    doc = doc or Doc()
    before = doc.get_state()
    doc.get("text", type=Text).insert(0, content)
    return doc.get_update(before)


def stored_text(hub: Hub, name: str) -> str:
    return str(apply_all(Doc(), hub.store.load(name).updates_in_order()).get("text", type=Text))


async def test_write_creates_commits_and_returns_after_the_commit(tmp_path: Path) -> None:
    async with started_hub(tmp_path) as hub:
        result = await hub.write("d", text_update("hello"), "http")
        assert result.changed and result.size_bytes > 0
        assert stored_text(hub, "d") == "hello"  # committed before write() returned
        again = await hub.write("d", hub.store.load("d").updates[0], "http")
        assert not again.changed and len(hub.store.load("d").updates) == 1
        empty = await hub.write("new", b"\x00\x00", "http")  # changes nothing: no document
        assert not empty.changed and hub.store.get("new") is None
        created = await hub.write("new", b"\x00\x00", "http", create_only=True)  # asked to
        assert not created.changed and hub.store.get("new") is not None


async def test_write_refuses_what_is_too_large_or_invalid_and_keeps_the_rest(
    tmp_path: Path,
) -> None:
    async with started_hub(tmp_path, max_document_bytes=200) as hub:
        await hub.write("d", text_update("small"))
        with pytest.raises(DocumentTooLarge) as too_large:
            await hub.write("d", text_update("x" * 300))
        assert too_large.value.close_code == 4413 and too_large.value.http_status == 413
        with pytest.raises(InvalidUpdate) as invalid:
            await hub.write("d", b"\x01\x02\x03")
        assert invalid.value.close_code == 1007 and invalid.value.http_status == 400
        assert stored_text(hub, "d") == "small"


async def test_a_deleted_documents_content_is_refused_by_the_tombstone(tmp_path: Path) -> None:
    async with started_hub(tmp_path) as hub:
        old = text_update("old")
        await hub.write("d", old)
        assert await hub.delete("d")
        with pytest.raises(InvalidUpdate, match="deleted document"):
            await hub.write("d", old)


async def test_on_change_runs_after_the_commit_once_per_update(tmp_path: Path) -> None:
    """Each committed update reaches ``on_change`` once, with its origin, and the store holds
    it when the hook runs; an async hook is awaited without holding up the writes."""
    seen: list[tuple[str, bytes, str, bool]] = []
    store = SQLiteStore(tmp_path / "collab.db")

    async def on_change(name: str, update: bytes, origin: str) -> None:
        stored = update in store.load(name).updates
        seen.append((name, update, origin, stored))

    hub = Hub(store, Settings(room_grace_seconds=0.0), Hooks(on_change=on_change))
    await hub.start()
    try:
        updates = [text_update("a"), text_update("b"), text_update("c")]
        for update in updates:
            await hub.write("d", update, "edit")
        await hub.hooks.drain()
    finally:
        await hub.close()
    assert [(n, u, o) for n, u, o, _ in seen] == [("d", u, "edit") for u in updates]
    assert all(stored for *_, stored in seen)


async def test_hooks_that_raise_or_hang_are_logged_and_isolated(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A raising sync hook, a hanging async hook and a raising async hook: the writes all
    commit, the other hook still gets every call, and each failure is logged."""
    calls: list[str] = []
    release = asyncio.Event()

    def raising(name: str, update: bytes, origin: str) -> None:
        raise RuntimeError("hook bug")

    async def hanging(name: str, info: dict[str, Any]) -> None:
        await release.wait()

    async def deleted(name: str) -> None:
        calls.append(name)
        raise ValueError("async hook bug")

    hooks = Hooks(on_change=raising, on_connect=hanging, on_delete=deleted, timeout=0.05)
    hub = Hub(SQLiteStore(tmp_path / "collab.db"), Settings(room_grace_seconds=0.0), hooks)
    await hub.start()
    caplog.set_level(logging.ERROR, "collab.hooks")
    try:
        assert hooks.connect is not None
        hooks.connect("d", {"peer": 1})  # hangs until cancelled by the timeout
        for i in range(3):
            await hub.write(f"doc{i}", text_update(f"v{i}"), "http")
            assert await hub.delete(f"doc{i}")
        await hooks.drain()
    finally:
        await hub.close()
    assert calls == ["doc0", "doc1", "doc2"]
    messages = [r.getMessage() for r in caplog.records]
    assert sum("on_change failed" in m for m in messages) == 3
    assert sum("on_delete failed" in m for m in messages) == 3
    assert any("on_connect took over" in m for m in messages)


@pytest.fixture
async def hub(tmp_path: Path) -> AsyncIterator[Hub]:
    async with started_hub(tmp_path) as hub:
        yield hub


async def test_state_of_an_open_room_waits_for_its_commit(hub: Hub) -> None:
    async with hub.use("d") as room:
        hub.write_now(room, text_update("queued"), "edit")
        assert hub.uncommitted(room)
        state = await hub.state("d")
        assert not hub.uncommitted(room)
    assert str(apply_all(Doc(), [state]).get("text", type=Text)) == "queued"


class Recorder:
    """A peer that records the frames the room sends it."""

    def __init__(self) -> None:
        self.frames: list[bytes] = []

    def send(self, frame: bytes) -> None:
        self.frames.append(frame)

    def close(self, code: int, reason: str) -> None:
        self.frames.append(b"closed")


async def test_a_slow_async_on_change_does_not_delay_relay_or_commits(tmp_path: Path) -> None:
    """While ``on_change`` hangs on its first call, the next updates are committed and relayed
    at once; the hook gets them all, in order, once it is released."""
    release = asyncio.Event()
    seen: list[bytes] = []

    async def on_change(name: str, update: bytes, origin: str) -> None:
        await release.wait()
        seen.append(update)

    store = SQLiteStore(tmp_path / "collab.db")
    hub = Hub(store, Settings(room_grace_seconds=0.0), Hooks(on_change=on_change))
    await hub.start()
    try:
        peer = Recorder()
        async with hub.use("d", peer):
            joined = len(peer.frames)
            updates = [text_update(c) for c in "abc"]
            for update in updates:
                await hub.write("d", update, "http")  # returns once committed
            relayed = peer.frames[joined:]
            assert [protocol.decode(f) for f in relayed] == [protocol.Update(u) for u in updates]
            assert len(store.load("d").updates) == 3 and seen == []
            release.set()
            await hub.hooks.drain()
            assert seen == updates
    finally:
        await hub.close()
