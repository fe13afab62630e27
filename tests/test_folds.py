"""Issue 19 item 2: one document's load or compaction never blocks other documents' loads,
joins and commits. The replays run on fold threads, not the database thread; a test holds
one inside its replay at a gate (``hub.folds.gate``, called before each update replayed)
and shows the other rooms working meanwhile. No wall clock: a fake clock for the budget."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from pycrdt import Doc, Text

from collab.hub import Hub, maintenance
from collab.integrator import apply_all
from collab.room import Room
from collab.settings import Settings
from collab.stores import Store
from collab.updates import InvalidUpdate
from tests.helpers.stores import STORES, opener
from tests.test_connection import started_hub, turns_until


def text_update(text: str, client: int = 1) -> bytes:
    doc: Doc[Any] = Doc(client_id=client)
    doc.get("text", type=Text).insert(0, text)
    return doc.get_update()


def waiting_update(client: int = 7) -> bytes:
    """Client ``client`` at clock 5 ("X" at the start of root ``text``), clocks 0-4 never
    sent: it waits (issue 19 item 1's shape)."""
    return bytes([1, 1, client, 5, 4, 1, 4, 116, 101, 120, 116, 1, 88, 0])


def typed(count: int, client: int = 3) -> list[bytes]:
    doc: Doc[Any] = Doc(client_id=client)
    text = doc.get("text", type=Text)
    updates: list[bytes] = []
    doc.observe(lambda event: updates.append(event.update))
    for i in range(count):
        text.insert(len(text), f"{i} ")
    return updates


class Gate:
    """Holds the replays of one document at their next update until :meth:`open`."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.entered = threading.Event()
        self.opened = threading.Event()
        self.held = 0

    def __call__(self, name: str) -> None:
        if name == self.name and not self.opened.is_set():
            self.held += 1
            self.entered.set()
            assert self.opened.wait(60), "the test never opened the gate"

    async def reached(self) -> None:
        assert await asyncio.to_thread(self.entered.wait, 60), "no replay reached the gate"

    def open(self) -> None:
        self.opened.set()


def text_of(room: Room) -> str:
    return str(room.doc.get("text", type=Text))


async def write_one_by_one(hub: Hub, room: Room, updates: list[bytes]) -> None:
    for update in updates:
        assert hub.write_now(room, update, None)
        await hub.flush()


async def other_rooms_work(hub: Hub) -> None:
    """Another room's write commits, and a new room's join loads and reads it back."""
    result = await hub.write("other", text_update("other room", client=9))
    assert result.changed
    stored = await hub.run(hub.store.load, "other")
    assert len(stored.updates) == 1
    async with hub.use("new") as fresh:
        assert fresh.empty
        assert hub.write_now(fresh, text_update("new room", client=10), None)
        await hub.flush()
        assert text_of(fresh) == "new room"


@contextlib.asynccontextmanager
async def hub_on(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path, **settings: Any
) -> AsyncIterator[Hub]:
    """A started hub on a new database of ``kind`` (SQLite or PostgreSQL)."""
    with opener(request, kind, tmp_path) as open_:
        store = open_()
        open_.opened.remove(store)  # the hub closes it
        hub = Hub(store, Settings(db=open_.db, room_grace_seconds=0.0, **settings))
        await hub.start()
        try:
            yield hub
        finally:
            await hub.close()


@pytest.mark.parametrize("kind", STORES)
async def test_another_room_commits_and_loads_while_a_compaction_folds(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """A compaction of a room where structs wait replays its log: held there, other rooms
    commit and load, then it completes and keeps what waits."""
    async with hub_on(kind, request, tmp_path, compact_updates=20) as hub:
        gate = Gate("heavy")
        hub.folds.gate = gate
        async with hub.use("heavy") as room:
            assert hub.write_now(room, waiting_update(), None)
            await write_one_by_one(hub, room, typed(19))
            await gate.reached()  # the 20th commit started the compaction; its fold waits
            assert room.waiting and hub.metrics.compactions == 0
            await other_rooms_work(hub)
            more = typed(25)[19:]  # the room itself goes on too
            await write_one_by_one(hub, room, more)
            assert hub.metrics.compactions == 0, "still held at the gate"
            gate.open()
            await wait_for(lambda: hub.metrics.compactions == 1)
        stored = await hub.run(hub.store.load, "heavy")
        assert stored.snapshot is not None
        # the waiting row and the six written after the read stay in the log
        assert stored.updates == [waiting_update(), *more]
        doc = apply_all(Doc(), stored.updates_in_order())
        assert str(doc.get("text", type=Text)) == "".join(f"{i} " for i in range(25))


async def test_another_document_loads_while_a_heavy_one_is_rebuilt(tmp_path: Path) -> None:
    """After a restart, a document's load replays its log on a load thread: held there, a
    join of an unrelated new document loads, and another document commits."""
    path = tmp_path / "collab.db"
    store = Store(path)
    store.append([("heavy", u) for u in [waiting_update(), *typed(10)]])
    store.close()
    async with started_hub(tmp_path) as hub:
        gate = Gate("heavy")
        hub.folds.gate = gate
        heavy = asyncio.create_task(hub.join("heavy"))
        await gate.reached()
        await other_rooms_work(hub)
        assert not heavy.done()
        gate.open()
        room, leave = await heavy
        try:
            assert room.waiting and text_of(room) == "".join(f"{i} " for i in range(10))
        finally:
            leave()


async def test_a_compaction_past_its_time_budget_is_abandoned_and_not_retried_at_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A fake clock passes a second per update replayed: the 5 s budget runs out, the
    compaction is abandoned (logged, counted), nothing is written, and it is tried again
    only once the log grew by another threshold, not at every commit."""
    async with started_hub(tmp_path, compact_updates=10, compact_seconds=5.0) as hub:
        now = [0.0]

        def clock() -> float:
            now[0] += 1.0
            return now[0]

        hub.maintenance.clock = clock
        async with hub.use("d") as room:
            assert hub.write_now(room, waiting_update(), None)
            await write_one_by_one(hub, room, typed(14))
            await wait_for(lambda: hub.metrics.compactions_abandoned == 1)
            await write_one_by_one(hub, room, typed(19)[14:])  # 19 updates: below 10 + 10
            await hub.flush()
            await turns_until(lambda: not hub.maintenance.busy)
            assert hub.metrics.compactions_abandoned == 1
            assert hub.metrics.compactions == 0 and hub.metrics.storage_errors == 0
            assert "compaction abandoned" in caplog.text
            stored = await hub.run(hub.store.load, "d")
            assert stored.snapshot is None and len(stored.updates) == 20
            await write_one_by_one(hub, room, typed(21)[19:])  # 21: tried again
            await wait_for(lambda: hub.metrics.compactions_abandoned == 2)
        assert "collab_compactions_abandoned_total 2.0" in hub.metrics.render().decode()


async def test_closing_the_hub_abandons_a_compaction_held_in_its_fold(tmp_path: Path) -> None:
    """A stop does not wait for a long fold: it is abandoned at its next update."""
    async with started_hub(tmp_path, compact_updates=5) as hub:
        gate = Gate("d")
        hub.folds.gate = gate
        async with hub.use("d") as room:
            assert hub.write_now(room, waiting_update(), None)
            await write_one_by_one(hub, room, typed(4))
            await gate.reached()
        closing = asyncio.create_task(hub.close())
        await turns_until(lambda: hub.rooms.closing)
        gate.open()
        await closing
        assert hub.metrics.compactions == 0 and hub.metrics.compactions_abandoned == 1
    store = Store(tmp_path / "collab.db")
    try:
        assert len(store.load("d").updates) == 5, "nothing was written by the abandoned fold"
    finally:
        store.close()


async def wait_for(predicate: Callable[[], bool]) -> None:
    """Until ``predicate()`` holds (polled between event-loop turns, at most 60 s)."""
    for _ in range(6000):
        if predicate():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not met in time")


async def test_a_fold_failing_on_a_stored_update_is_not_tried_again_after_every_commit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fold that raises InvalidUpdate (a stored row pycrdt fails on) counts as a failed
    compaction: backed off like one, never started again at the next commit."""
    tries: list[str] = []

    def failing(name: str, *args: Any) -> Any:
        tries.append(name)
        raise InvalidUpdate("cannot apply update: stands for a row pycrdt fails on")

    monkeypatch.setattr(maintenance, "fold", failing)
    async with started_hub(tmp_path, compact_updates=5) as hub:
        async with hub.use("d") as room:
            assert hub.write_now(room, waiting_update(), None)
            for update in typed(18):
                assert hub.write_now(room, update, None)
                await hub.flush()
                await wait_for(lambda: not hub.maintenance.busy)
        # at 5, then each time the log grew by another 5: not at each of the 15 commits
        assert 2 <= len(tries) <= 4, tries
        assert hub.metrics.storage_errors == len(tries)
