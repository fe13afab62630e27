"""Hibernation of a room: its pycrdt document dropped, one encoded state kept; joiners,
awareness and writes go on, and the next write rebuilds the document first, in order."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from pycrdt import Doc, Text

from collab import awareness_codec, protocol, sync_replies
from collab.room import Room
from collab.updates import EMPTY_STATE_VECTOR, state_vector
from tests.test_connection import eventually_true, joined, read, started_hub


class FakePeer:
    def __init__(self) -> None:
        self.frames: list[protocol.Message] = []

    def send(self, frame: bytes) -> None:
        self.frames.append(protocol.decode(frame))


def typed(doc: Doc[Any], text: str, at: int = 0) -> bytes:
    updates: list[bytes] = []
    sub = doc.observe(lambda event: updates.append(event.update))
    doc.get("text", type=Text).insert(at, text)
    doc.unobserve(sub)
    return updates[0]


def text_of(doc: Doc[Any]) -> str:
    return str(doc.get("text", type=Text))


def awareness(client_id: int, clock: int, state: object) -> bytes:
    return awareness_codec.encode_awareness(
        [awareness_codec.AwarenessEntry(client_id, clock, state)]
    )


def loaded_room(text: str = "hello world") -> tuple[Room, Doc[Any]]:
    author: Doc[Any] = Doc()
    room = Room("r", Doc())
    assert room.apply(typed(author, text))
    return room, author


def test_a_hibernated_room_serves_joiners_from_its_kept_state() -> None:
    room, _author = loaded_room()
    state_before, full_before = room.doc.get_state(), room.sync_frames(EMPTY_STATE_VECTOR)
    assert room.hibernate()
    assert room.asleep and room._doc is None and room._integrator_ is None
    assert not room.hibernate(), "once"
    peer = FakePeer()
    room.join(peer)
    assert peer.frames == [protocol.SyncStep1(state_before)]
    assert room.sync_frames(EMPTY_STATE_VECTOR) == full_before
    assert room.full_sync(EMPTY_STATE_VECTOR) and not room.empty and not room.waiting
    fresh: Doc[Any] = Doc()
    reply = protocol.decode(room.sync_frames(EMPTY_STATE_VECTOR)[0])
    assert isinstance(reply, protocol.SyncStep2)
    fresh.apply_update(reply.update)
    assert text_of(fresh) == "hello world"
    assert room.asleep and room.wakes == 0, "serving a fresh joiner does not wake it"


def test_awareness_flows_while_a_room_hibernates() -> None:
    room, _ = loaded_room()
    first, second = FakePeer(), FakePeer()
    room.join(first)
    room.join(second)
    assert room.hibernate()
    room.apply_awareness(first, awareness(7, 1, {"cursor": 3}))
    assert second.frames[-1] == protocol.Awareness(awareness(7, 1, {"cursor": 3}))
    room.leave(first)
    room.flush_awareness()
    removal = second.frames[-1]
    assert isinstance(removal, protocol.Awareness)
    assert awareness_codec.decode_awareness(removal.payload)[0].state is None
    assert room.asleep


def test_a_joiner_with_nothing_new_keeps_it_asleep_and_a_write_wakes_it_in_order() -> None:
    room, author = loaded_room()
    assert room.hibernate()
    assert not room.apply(b"\x00\x00")  # a fresh client's sync step 2
    assert room.asleep
    update = typed(author, "!", at=11)
    assert room.apply(update)
    assert not room.asleep and room.wakes == 1
    assert text_of(room.doc) == "hello world!"
    assert room.relayed is None  # all of it, as when awake
    assert state_vector(room.doc.get_state()) == state_vector(author.get_state())


def test_an_update_the_kept_state_holds_keeps_it_asleep_but_a_deletion_wakes_it() -> None:
    room, author = loaded_room()
    again = author.get_update()
    assert room.hibernate()
    assert not room.apply(again)  # its structs are there already
    assert room.asleep
    deletion: list[bytes] = []
    sub = author.observe(lambda event: deletion.append(event.update))
    del author.get("text", type=Text)[0:6]
    author.unobserve(sub)
    assert room.apply(deletion[0])
    assert text_of(room.doc) == "world"


def test_a_large_state_is_kept_once_in_parts_and_rebuilt_whole(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sync_replies, "SYNC_CHUNK_BYTES", 64)
    author: Doc[Any] = Doc()
    room = Room("r", Doc())
    for i in range(40):
        assert room.apply(typed(author, f"line {i} of a longer text\n", at=0))
    expected = text_of(author)
    parts = room.sync_frames(EMPTY_STATE_VECTOR)
    assert len(parts) > 1
    assert room.hibernate()
    assert room._full_sync is None and room._full_frames is parts, "one copy, in parts"
    assert room.state() and room.asleep
    rebuilt: Doc[Any] = Doc()
    rebuilt.apply_update(room.state())
    assert text_of(rebuilt) == expected
    assert text_of(room.doc) == expected and room.wakes == 1
    assert room.sync_frames(EMPTY_STATE_VECTOR) is parts


def test_a_document_rebuilt_elsewhere_is_taken_once() -> None:
    room, _author = loaded_room()
    assert room.hibernate()
    rebuild = room.rebuilder()
    assert rebuild is not None
    integrator = rebuild()
    assert room.awaken(integrator)
    assert room.rebuilder() is None and not room.awaken(rebuild())
    assert room.doc is integrator.doc and text_of(room.doc) == "hello world"


def test_a_room_with_structs_waiting_does_not_hibernate() -> None:
    author: Doc[Any] = Doc()
    first = typed(author, "a")
    second = typed(author, "b", at=1)
    room = Room("r", Doc())
    assert room.apply(second)  # waits for the first
    assert room.waiting and not room.hibernate()
    assert room.apply(first)
    assert room.hibernate()


# -- the hub: sweeps and wakes -------------------------------------------------------------


async def test_the_sweep_puts_quiet_large_rooms_to_sleep_only(tmp_path: Path) -> None:
    author: Doc[Any] = Doc()
    async with started_hub(tmp_path, hibernate_seconds=30, hibernate_bytes=200) as hub:
        await hub.write("big", typed(author, "x" * 500))
        await hub.write("small", typed(Doc(), "tiny"))
        async with hub.use("big") as big, hub.use("small") as small:
            assert hub.hibernation.sweep(now=time.monotonic()) == 0, "not quiet long enough"
            assert hub.hibernation.sweep(now=time.monotonic() + 31) == 1
            assert big.asleep and not small.asleep
            assert hub.metrics.hibernations == 1
            assert b"collab_rooms_asleep 1.0" in hub.metrics.render()
            assert hub.hibernation.sweep(now=time.monotonic() + 31) == 0, "once"


async def test_a_write_wakes_the_room_on_the_database_thread_and_lands_in_order(
    tmp_path: Path,
) -> None:
    author: Doc[Any] = Doc()
    async with started_hub(tmp_path, hibernate_seconds=30, hibernate_bytes=1) as hub:
        await hub.write("d", typed(author, "hello world"))
        async with hub.use("d") as room:
            peer = FakePeer()
            hub.rooms.slots["d"].peers.add(peer)  # type: ignore[arg-type]
            room.join(peer)
            assert hub.hibernation.sweep(now=time.monotonic() + 31) == 1
            for at, text in ((11, "!"), (0, ">")):
                await hub.write("d", typed(author, text, at=at))
            assert not room.asleep and room.wakes == 1
            assert text_of(room.doc) == ">hello world!"
            relayed = [f for f in peer.frames if isinstance(f, protocol.Update)]
            assert len(relayed) == 2, "both relayed, in order"
        stored: Doc[Any] = Doc()
        stored.apply_update(await hub.state("d"))
        assert text_of(stored) == ">hello world!"


async def test_a_rebuild_finishing_after_a_synchronous_wake_is_dropped(tmp_path: Path) -> None:
    author: Doc[Any] = Doc()
    async with started_hub(tmp_path, hibernate_seconds=30, hibernate_bytes=1) as hub:
        await hub.write("d", typed(author, "hello"))
        async with hub.use("d") as room:
            assert hub.hibernation.sweep(now=time.monotonic() + 31) == 1
            waking = hub.wake(room)
            assert hub.wake(room) is waking, "one rebuild at a time"
            hub.write_now(room, typed(author, "!", at=5), "http")  # wakes it here, at once
            await waking
            assert text_of(room.doc) == "hello!" and room.wakes == 1
            await hub.flush()


# -- the y-websocket session ----------------------------------------------------------------


async def test_a_writer_is_held_while_the_document_is_rebuilt_then_handled_in_order(
    tmp_path: Path,
) -> None:
    author: Doc[Any] = Doc()
    async with started_hub(tmp_path, hibernate_seconds=30, hibernate_bytes=1) as hub:
        await hub.write("d", typed(author, "hello"))
        async with hub.use("d") as room:
            writer, socket = joined(hub, room)
            joined(hub, room)  # another member, asleep with it
            assert hub.hibernation.sweep(now=time.monotonic() + 31) == 1
            fresh_step2 = protocol.encode(protocol.SyncStep2(b"\x00\x00"))
            read(writer, room, [fresh_step2])  # a joiner with nothing new: stays asleep
            assert room.asleep and not socket.paused
            edits = [typed(author, c, at=5 + i) for i, c in enumerate("abc")]
            frames = [protocol.encode(protocol.Update(e)) for e in edits]
            cursor = protocol.encode(protocol.Awareness(awareness(9, 1, {"at": 8})))
            read(writer, room, [frames[0], cursor, frames[1]])
            assert socket.paused and room.asleep, "held, not rebuilt on the event loop"
            read(writer, room, [frames[2]])  # delivered while held: after the others
            await eventually_true(lambda: not socket.paused)
            assert room.wakes == 1 and text_of(room.doc) == "helloabc"
            await hub.flush()
            assert room.awareness.keys() == {9}
        stored: Doc[Any] = Doc()
        stored.apply_update(await hub.state("d"))
        assert text_of(stored) == "helloabc"


async def test_frames_held_for_a_rebuild_are_taken_when_the_client_closes(tmp_path: Path) -> None:
    author: Doc[Any] = Doc()
    async with started_hub(tmp_path, hibernate_seconds=30, hibernate_bytes=1) as hub:
        await hub.write("d", typed(author, "hello"))
        async with hub.use("d") as room:
            writer, _ = joined(hub, room)
            assert hub.hibernation.sweep(now=time.monotonic() + 31) == 1
            read(writer, room, [protocol.encode(protocol.Update(typed(author, "!", at=5)))])
            writer.ended(1000)  # gone before the rebuild finished
            assert text_of(room.doc) == "hello!"
            await hub.flush()
