"""``Connection``'s direct receive path, driven without sockets: a fake ``Direct`` stands for
uvicorn's protocol (the e2e tests run the real one)."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from pycrdt import Doc, Text

from collab import protocol
from collab.auth import ALL_DOCUMENTS
from collab.errors import CloseCode
from collab.hub import Hub
from collab.hub import committer as hub_module
from collab.integrator import apply_all
from collab.room import Room
from collab.sessions import ywebsocket as websocket
from collab.sessions.ywebsocket import LARGE_SYNC_BYTES, Connection
from collab.settings import Settings
from collab.stores import Store, StoreError, sqlite_reads
from collab.updates import merge_burst
from collab.wsserver import SENT


class FakeDirect:
    """Records what the connection does to its socket."""

    def __init__(self) -> None:
        self.sent: list[bytes] = []
        self.paused = False
        self.pauses = 0
        self.closed: tuple[int, str] | None = None

    def write(self, payload: bytes, limit: int) -> int:
        self.sent.append(payload)
        return SENT

    def flush(self) -> None:
        pass

    def close(self, code: int, reason: str) -> None:
        self.closed = (code, reason)

    def pause_reading(self) -> None:
        self.paused = True
        self.pauses += 1

    def resume_reading(self) -> None:
        self.paused = False


@contextlib.asynccontextmanager
async def started_hub(tmp_path: Path, **settings: Any) -> AsyncIterator[Hub]:
    """A started hub on a fresh database, with ``settings`` changed from the defaults."""
    hub = Hub(
        Store(tmp_path / "collab.db"),
        Settings(db=str(tmp_path / "collab.db"), room_grace_seconds=0.0, **settings),
    )
    await hub.start()
    try:
        yield hub
    finally:
        await hub.close()


@pytest.fixture
async def hub(tmp_path: Path) -> AsyncIterator[Hub]:
    async with started_hub(tmp_path) as hub:
        yield hub


def read(connection: Connection, room: Room, frames: list[bytes]) -> None:
    """``frames`` as one read of the socket: each delivered, then the end of the read."""
    for frame in frames:
        connection._on_frame(room, frame)
    connection.end_of_read()


async def eventually_true(predicate: Callable[[], bool], timeout: float = 30.0) -> None:
    """Until ``predicate()`` holds (polled between event-loop turns, bounded by ``timeout``)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


def close_code(connection: Connection) -> int | None:
    """The code the server closed ``connection`` with, if it did."""
    return connection._close[0] if connection._close is not None else None


async def turns_until(predicate: Callable[[], bool], turns: int = 100) -> None:
    """Let the event loop run until ``predicate()`` holds (at most ``turns`` turns)."""
    for _ in range(turns):
        if predicate():
            return
        await asyncio.sleep(0)  # one event-loop turn, not a wait for time


def joined(hub: Hub, room: Room) -> tuple[Connection, FakeDirect]:
    """A connection in ``room`` as :meth:`Connection.open` leaves it, on a fake socket."""
    direct = FakeDirect()
    connection = Connection(direct, hub, room.name, ALL_DOCUMENTS, hub.settings)  # type: ignore[arg-type]
    connection.room = room
    room.join(connection)  # a member, as Hub.join leaves it (owning client ids needs it)
    direct.sent.clear()  # the room's sync step 1 (and awareness) to the joiner
    return connection, direct


def update_frames(count: int) -> list[bytes]:
    doc: Doc[Any] = Doc()
    text = doc.get("text", type=Text)
    updates: list[bytes] = []
    doc.observe(lambda event: updates.append(event.update))
    for i in range(count):
        text.insert(len(text), f"{i} ")
    return [protocol.encode(protocol.Update(u)) for u in updates]


async def test_a_congested_hub_pauses_reading_until_its_commit(
    hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hub_module, "_HIGH_WATER_BYTES", 0)  # any queued update congests
    direct = FakeDirect()
    async with hub.use("d") as room:
        connection = Connection(direct, hub, "d", ALL_DOCUMENTS, hub.settings)  # type: ignore[arg-type]
        connection.room = room
        frames = update_frames(3)
        for frame in frames:  # one read each
            read(connection, room, [frame])
        # paused once; resumed once the three reads' holds are all released
        assert direct.paused and direct.pauses == 1
        assert connection._holds == 3
        await hub.flush()
        assert not direct.paused, "reading resumes once the queued updates are committed"
        assert str(room.doc.get("text", type=Text)) == "0 1 2 "
    assert len(hub.store.load("d").updates) == 3


def text_of(doc: Doc[Any]) -> str:
    return str(doc.get("text", type=Text))


async def assert_kept(hub: Hub, room: Room, text: str) -> None:
    """Once committed, the room's document and its stored log both hold ``text``."""
    await hub.flush()
    assert text_of(room.doc) == text
    assert text_of(apply_all(Doc(), hub.store.load(room.name).updates)) == text


async def test_the_updates_of_one_read_are_applied_stored_and_relayed_as_one(hub: Hub) -> None:
    async with hub.use("d") as room:
        connection, _ = joined(hub, room)
        other, reader = joined(hub, room)
        room.join(other)
        reader.sent.clear()
        frames = update_frames(5)
        for frame in frames:
            connection._on_frame(room, frame)
        assert text_of(room.doc) == "", "held back until the end of the read"
        connection.end_of_read()
        assert text_of(room.doc) == "0 1 2 3 4 "
        await hub.flush()
    (stored,) = hub.store.load("d").updates
    assert len(reader.sent) == 1
    relayed = protocol.decode(reader.sent[0])
    assert isinstance(relayed, protocol.Update) and relayed.update == stored
    replica: Doc[Any] = Doc()
    replica.apply_update(stored)
    assert text_of(replica) == "0 1 2 3 4 "


async def test_an_empty_sync_step2_or_update_in_a_new_room_creates_no_document(hub: Hub) -> None:
    """An unmodified Yjs client joining a new room sends an empty sync step 2 (no structs, no
    deletions): taken, neither stored nor relayed, and no document is created; an empty
    update alike (the HTTP API answers 204 for one, tests/test_http_api.py)."""
    empty = b"\x00\x00"
    async with hub.use("fresh") as room:
        connection, _ = joined(hub, room)
        _, reader = joined(hub, room)
        frames = [protocol.SyncStep2(empty), protocol.Update(empty)]
        read(connection, room, [protocol.encode(frame) for frame in frames])
        await hub.flush()
        assert close_code(connection) is None and reader.sent == []
    assert hub.store.get("fresh") is None and list(hub.store.names()) == []


async def test_a_long_read_is_merged_in_bursts_of_bounded_size(hub: Hub) -> None:
    async with hub.use("d") as room:
        connection, _ = joined(hub, room)
        count = 2 * websocket.BURST_UPDATES + 3
        read(connection, room, update_frames(count))
        await hub.flush()
        expected = "".join(f"{i} " for i in range(count))
        assert text_of(room.doc) == expected
    assert len(hub.store.load("d").updates) == 3


@pytest.mark.parametrize(
    ("bad", "code"),
    [
        (b"\x07", CloseCode.PROTOCOL_ERROR),  # no such message type
        (b"\x00\x02\x03\x01\x01\x01", CloseCode.INVALID_UPDATE),  # an update pycrdt refuses
        ("text", CloseCode.UNSUPPORTED_DATA),
    ],
)
async def test_the_updates_before_a_refused_frame_of_the_same_read_are_taken(
    hub: Hub, bad: bytes | str, code: CloseCode
) -> None:
    async with hub.use("d") as room:
        connection, _ = joined(hub, room)
        good, later = update_frames(4)[:3], update_frames(4)[3:]
        for frame in good:
            connection.received(frame)
        connection.received(bad)
        for frame in later:
            connection.received(frame)
        connection.end_of_read()
        assert close_code(connection) == code
        await assert_kept(hub, room, "0 1 2 ")


async def test_an_update_over_the_document_limit_in_a_burst_is_refused_alone(
    tmp_path: Path,
) -> None:
    """The merge of a burst is stored when it fits (it is smaller than its parts); when it does
    not, the updates are taken one by one up to the one that passes the limit."""
    frames = update_frames(6)
    updates = [protocol.decode(f).update for f in frames]  # type: ignore[union-attr]
    limit = len(merge_burst(updates)) - 1
    assert sum(map(len, updates[:3])) <= limit < sum(map(len, updates[:4]))
    async with started_hub(tmp_path, max_document_bytes=limit) as hub:
        async with hub.use("d") as room:
            connection, _ = joined(hub, room)
            read(connection, room, frames)
            assert close_code(connection) == CloseCode.TOO_LARGE
            await assert_kept(hub, room, "0 1 2 ")
        assert len(hub.store.load("d").updates) == 3


async def test_updates_sent_right_before_the_client_closed_are_taken(hub: Hub) -> None:
    async with hub.use("d") as room:
        connection, _ = joined(hub, room)
        for frame in update_frames(3):
            connection.received(frame)
        connection.ended(1000)  # the close frame came in the same read
        await assert_kept(hub, room, "0 1 2 ")


async def test_a_refused_frame_ends_the_connection_and_later_frames_are_ignored(
    hub: Hub,
) -> None:
    direct = FakeDirect()
    async with hub.use("d") as room:
        connection = Connection(direct, hub, "d", ALL_DOCUMENTS, hub.settings)  # type: ignore[arg-type]
        connection._on_frame(room, b"\x07")  # no such message type
        assert close_code(connection) == CloseCode.PROTOCOL_ERROR
        assert direct.closed == connection._close, "the close frame is sent at once"
        connection._on_frame(room, update_frames(1)[0])  # arrives after the refusal
        await hub.flush()
        assert str(room.doc.get("text", type=Text)) == ""
    assert hub.store.load("d").updates == []


async def test_an_unexpected_error_closes_with_1011_and_stays_in_the_connection(
    hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    direct = FakeDirect()
    async with hub.use("d") as room:
        connection = Connection(direct, hub, "d", ALL_DOCUMENTS, hub.settings)  # type: ignore[arg-type]

        def broken(self: Connection, room: object, frame: bytes) -> None:
            raise RuntimeError("a bug")

        monkeypatch.setattr(Connection, "_handle", broken)
        connection._on_frame(room, update_frames(1)[0])  # must not raise into uvicorn
        assert connection._close == (CloseCode.INTERNAL_ERROR, "internal error")
        assert direct.closed == connection._close


async def test_a_sync_step2_reply_waits_until_the_room_is_committed(hub: Hub) -> None:
    async with hub.use("d") as room:
        writer, _ = joined(hub, room)
        reader, reader_socket = joined(hub, room)
        writer._on_frame(room, update_frames(1)[0])
        writer.end_of_read()
        assert hub.uncommitted(room)
        reader._on_frame(room, protocol.encode(protocol.SyncStep1(b"\x00")))
        assert reader_socket.sent == [], "the reply would show an uncommitted update"
        await hub.flush()
        assert not hub.uncommitted(room)
        # the writer's update relayed to the reader (a member), and the reply
        replies = [protocol.decode(frame) for frame in reader_socket.sent]
        (message,) = [m for m in replies if isinstance(m, protocol.SyncStep2)]
        doc: Doc[Any] = Doc()
        doc.apply_update(message.update)
        assert str(doc.get("text", type=Text)) == "0 "


async def test_a_read_waiting_for_a_commit_learns_that_the_room_was_dropped(hub: Hub) -> None:
    async with hub.use("d") as room:
        hub.submit(room, b"\x00\x00", None)  # queued, not committed yet
        outcome: list[str] = []
        hub.when_committed(
            room, lambda: outcome.append("committed"), lambda: outcome.append("dropped")
        )
        hub.discard(room)
        assert outcome == ["dropped"]


async def test_a_join_waiting_for_a_load_gives_up_when_the_hub_closes(
    hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Peers still waiting for their room when the server stops get 1001 like the others,
    not uvicorn's 1012 after the load."""
    loading, release = threading.Event(), threading.Event()
    released: list[bool] = []  # False: the load waited in vain for the join to give up
    load = hub.store.load

    def slow_load(name: str) -> Any:
        loading.set()
        released.append(release.wait(30))
        return load(name)

    monkeypatch.setattr(hub.store, "load", slow_load)
    direct = FakeDirect()
    connection = Connection(direct, hub, "d", ALL_DOCUMENTS, hub.settings)  # type: ignore[arg-type]
    opening = asyncio.create_task(connection.open())
    opening.add_done_callback(lambda _: release.set())  # the load finishes after the join
    assert await asyncio.to_thread(loading.wait, 30), "the load never started"
    await hub.close()
    await opening
    assert released == [True], "the join waited for the load"
    assert direct.closed == (CloseCode.GOING_AWAY, "server shutting down")


async def test_a_commit_waits_for_another_process_s_write_lock_on_the_database_thread(
    hub: Hub,
) -> None:
    """A small commit runs on the event loop only while no other process holds the write
    lock; then it waits for the lock on the database thread, and the event loop goes on."""
    other = sqlite3.connect(hub.store.path, isolation_level=None)
    try:
        async with hub.use("d") as room:
            (frame,) = update_frames(1)
            update = protocol.decode(frame).update  # type: ignore[union-attr]
            assert room.apply(update)
            hub.submit(room, update, None)
            other.execute("BEGIN IMMEDIATE")  # before the turn ends and commits
            flushed = asyncio.ensure_future(hub.flush())
            await turns_until(lambda: hub.thread.jobs == 1)  # the turn ended, the lock was met
            assert hub.thread.jobs == 1 and not flushed.done(), "the commit waits on the thread"
            other.execute("ROLLBACK")
            await flushed
            assert not hub.uncommitted(room) and not room.closed
        assert hub.store.load("d").updates == [update]
        assert hub.metrics.storage_errors == 0
    finally:
        other.close()


async def test_merged_updates_count_one_by_one_towards_compaction(tmp_path: Path) -> None:
    """A log of two rows holding 104 merged updates is compacted at --compact-updates 100:
    what a load replays grows with the updates, not with the rows."""
    async with started_hub(tmp_path, compact_updates=100) as hub:
        async with hub.use("d") as room:
            connection, _ = joined(hub, room)
            frames = update_frames(104)
            for one_read in (frames[:64], frames[64:]):
                read(connection, room, one_read)
                await hub.flush()
            # the compaction was queued on the database thread, which runs jobs in order
            stored = await hub.run(hub.store.load, "d")
        assert hub.metrics.compactions == 1
        assert stored.snapshot is not None and stored.updates == []
        assert text_of(apply_all(Doc(), [stored.snapshot])) == "".join(f"{i} " for i in range(104))


async def test_the_updates_before_one_that_breaks_the_merge_of_a_read_are_kept(hub: Hub) -> None:
    """An update pycrdt would fail on half-way (its parent is an item that is not a type; no
    Yjs client writes one) is refused before it touches the document: the room stays open
    with the updates before it in the read, as if they had come one per read."""
    doc: Doc[Any] = Doc(client_id=111)
    text = doc.get("text", type=Text)
    good: list[bytes] = []
    doc.observe(lambda event: good.append(event.update))
    for letter in "abab":
        text.insert(len(text), letter)
    bad = bytes.fromhex("0101566f03656f02016200")  # client 111, parent <111#2>
    frames = [protocol.encode(protocol.Update(u)) for u in [*good[:3], bad, good[3]]]
    async with hub.use("d") as room:
        connection, _ = joined(hub, room)
        read(connection, room, frames)
        assert close_code(connection) == CloseCode.INVALID_UPDATE
        assert not room.closed, "the room was not discarded"
        assert text_of(room.doc) == "aba"
        await hub.flush()
    stored = await hub.run(hub.store.load, "d")
    assert text_of(apply_all(Doc(), stored.updates)) == "aba"
    async with hub.use("d") as reloaded:
        assert text_of(reloaded.doc) == "aba"


async def test_large_sync_replies_are_rate_limited_per_connection(tmp_path: Path) -> None:
    """Issue 19 item 3: a read token fetched a 1.4 MB document 277 times a second (another
    document's relay p99 went 4.6 to 60 ms); past ``full_syncs_per_minute`` (a burst of a
    sixth of them) a connection asking again is closed 4429. Small documents are not."""
    big: Doc[Any] = Doc()
    big.get("text", type=Text).insert(0, "x" * 100_000)
    small = protocol.encode(protocol.SyncStep1(b"\x00"))
    async with started_hub(tmp_path, full_syncs_per_minute=60) as hub:
        async with hub.use("tiny") as room:
            connection, _ = joined(hub, room)
            read(connection, room, [small] * 50)
            assert close_code(connection) is None
        async with hub.use("big") as room:
            room.apply(big.get_update())
            connection, _ = joined(hub, room)
            read(connection, room, [small] * 10)
            assert close_code(connection) is None
            read(connection, room, [small])
            assert close_code(connection) == CloseCode.RATE_LIMITED


async def test_a_client_holding_every_struct_is_not_limited_by_a_large_delete_set(
    tmp_path: Path,
) -> None:
    """Every reply to a state vector repeats the document's whole delete set (Yjs diffs do):
    a writer pacing itself with a sync step 1 after each update (bench scenario (j)) got
    over 64 KiB of deletions each time and was closed 4429 after ten. A client whose state
    vector covers every struct of the document is sent deletions only: not counted."""
    author: Doc[Any] = Doc()
    text = author.get("text", type=Text)
    text.insert(0, "x" * 60_000)
    for start in range(59_998, 0, -3):  # 20,000 separate deletions
        del text[start : start + 1]
    async with started_hub(tmp_path, full_syncs_per_minute=60) as hub, hub.use("d") as room:
        room.apply(author.get_update())
        asks = [protocol.encode(protocol.SyncStep1(author.get_state()))] * 30
        assert sum(map(len, room.sync_frames(author.get_state()))) >= LARGE_SYNC_BYTES
        connection, _ = joined(hub, room)
        read(connection, room, asks)
        assert close_code(connection) is None


async def test_a_commit_failed_on_a_lock_is_tried_again_after_its_author_left(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 19 item 8: another process held the write lock past the busy timeout while a
    client wrote "keep me" and disconnected; after the lock was released the update was gone.
    Now the commit is tried again with backoff and lands once the lock is released."""
    monkeypatch.setattr(sqlite_reads, "BUSY_TIMEOUT", 0.05)  # the lock outlasts it at once
    async with started_hub(tmp_path, commit_retry_seconds=60) as hub:
        other = sqlite3.connect(hub.store.path, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")
            async with hub.use("d") as room:
                connection, _ = joined(hub, room)
                doc: Doc[Any] = Doc()
                doc.get("text", type=Text).insert(0, "keep me")
                read(connection, room, [protocol.encode(protocol.Update(doc.get_update()))])
                connection.ended(1000)  # the author leaves before anything is committed
            await eventually_true(lambda: hub.metrics.commit_retries >= 2)
            assert hub.uncommitted(room) and not room.closed
            other.execute("ROLLBACK")
            await hub.flush()
        finally:
            other.close()
        assert text_of(apply_all(Doc(), hub.store.load("d").updates)) == "keep me"
        assert hub.metrics.updates_lost == 0 and hub.metrics.storage_errors == 0


async def test_a_commit_still_locked_after_the_retry_time_is_reported_lost(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_reads, "BUSY_TIMEOUT", 0.05)
    async with started_hub(tmp_path, commit_retry_seconds=0.3) as hub:
        other = sqlite3.connect(hub.store.path, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")
            async with hub.use("d") as room:
                (frame,) = update_frames(1)
                update = protocol.decode(frame).update  # type: ignore[union-attr]
                assert room.apply(update)
                hub.submit(room, update, None)
                await hub.flush()
                assert room.closed
            assert hub.metrics.updates_lost == 1 and hub.metrics.commit_retries >= 1
        finally:
            other.execute("ROLLBACK")
            other.close()


async def test_a_failing_compaction_is_not_tried_again_after_every_commit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 19 item 2: a compaction that failed ("compacted state differs") started over at
    the next commit, again and again, starving every other room; it waits for the log to grow
    by another threshold now."""
    async with started_hub(tmp_path, compact_updates=5) as hub:
        tries = []

        def failing(name: str, state: bytes | None = None) -> None:
            tries.append(name)
            raise StoreError("compaction of 'd' aborted: compacted state differs")

        monkeypatch.setattr(hub.store, "compact", failing)
        async with hub.use("d") as room:
            for frame in update_frames(19):
                update = protocol.decode(frame).update  # type: ignore[union-attr]
                assert room.apply(update)
                hub.submit(room, update, None)
                await hub.flush()
                await turns_until(lambda: not hub.thread.jobs)
            # at 5, then each time the log grew by another 5 (it was 15 tries: every commit)
            assert 2 <= len(tries) <= 4, tries
