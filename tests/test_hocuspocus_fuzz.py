"""A mutation fuzzer against the Hocuspocus session, in-process (a real hub and SQLite file, a
socket that records what the session does).

Frames are the y-protocols fuzzer's corpus and mutations (``tests/test_fuzz.py``: real sync,
update, awareness frames with bit flips, truncations, bad lengths...) put behind a document
address, plus Hocuspocus' own messages (Auth with good, read-only and refused tokens, Close,
Stateless, SyncReply, Ping, Pong, server-only messages) and mutations of whole frames (the
address length, the type byte). A socket that the session closes is replaced by a new one.

What must hold: the session's callbacks never raise (they run inside the transport's
``data_received``); every close has a documented code and a reason; nothing is logged as a
bug; afterwards each fuzzed document reloads from the database to exactly the state its open
room had, and a legitimate client still opens, edits and reads them.
"""

from __future__ import annotations

import asyncio
import logging
import random
from pathlib import Path
from typing import Any

import pytest
from pycrdt import Doc, Text

from collab import hocuspocus as hp
from collab import protocol
from collab.auth import Role
from collab.errors import Forbidden
from collab.hub import Hub, read_document
from collab.sessions.access import Access
from collab.sessions.hocuspocus import HocuspocusSession
from collab.settings import Settings
from collab.stores import Store
from tests.test_fuzz import Seed, corpus, mutate, mutate_bytes

ALLOWED_CLOSES = {1002, 1003, 1007, 1008, 4413}
DOCUMENTS = ["fuzz/a", "fuzz/b", "fuzz/c"]
FRAMES = 5000


class RecordingSocket:
    """A transport that takes every frame at once and records the close."""

    def __init__(self) -> None:
        self.frames: list[bytes] = []
        self.closed: tuple[int, str] | None = None
        self.owner: Any = None

    def write(self, payload: bytes, limit: int) -> int:
        if self.closed is not None:
            return 3  # CLOSED
        self.frames.append(payload)
        return 1  # SENT

    def close(self, code: int, reason: str) -> None:
        if self.closed is None:
            self.closed = (code, reason)

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def detach(self, owner: Any) -> None:
        self.owner = owner


async def authorize(name: str, token: str) -> tuple[Access, object]:
    """ "w" writes, "r" reads, anything else is refused."""
    if token == "w":
        return Access(Role.WRITE), None
    if token == "r":
        return Access(Role.READ), None
    raise Forbidden("access refused")


def hocuspocus_frame(rng: random.Random, seeds: list[Seed]) -> bytes:
    """One Hocuspocus frame: mostly real ones, often hostile (one in four ends its socket)."""
    address = rng.choice(DOCUMENTS)
    choice = rng.random()
    if choice < 0.6:
        return hp.prefix(address) + rng.choice(seeds).frame  # a real y-protocols message
    if choice < 0.75:
        return hp.prefix(address) + mutate(rng, seeds)  # a mutated one
    if choice < 0.83:
        token = rng.choice(["w", "w", "r", "x", ""])
        return hp.encode(hp.Frame(address, hp.Token(token, rng.choice([None, "4.8.0"]))))
    messages: list[hp.Message] = [
        hp.Close(),
        hp.Stateless("fuzz"),
        hp.SyncReply(hp.SyncStep1(b"\x00")),
        hp.QueryAwareness(),
        hp.SyncStatus(True),
        hp.Authenticated("read-write"),
        hp.BroadcastStateless("x"),
    ]
    message = rng.choice(messages)
    if choice < 0.93:
        return hp.encode(hp.Frame(address, message))
    if choice < 0.95:
        return rng.choice([hp.PING, hp.PONG, b"", b"\x09\x09"])
    return mutate_bytes(rng, hp.encode(hp.Frame(address, message)))


async def test_hostile_frames_never_break_the_session_or_the_documents(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rng = random.Random(20261207)
    seeds = corpus()
    db = tmp_path / "fuzz.db"
    settings = Settings(db=str(db), room_grace_seconds=60, max_messages_per_second=0)
    hub = Hub(Store(str(db)), settings)
    await hub.start()
    closes: dict[int, int] = {}
    sockets = 0
    caplog.set_level(logging.WARNING)

    def opened() -> tuple[RecordingSocket, HocuspocusSession]:
        socket = RecordingSocket()
        session = HocuspocusSession(socket, hub, settings, authorize, "fuzz")
        for name in DOCUMENTS:  # as a provider starts: Auth, then sync step 1
            session.received(hp.encode(hp.Frame(name, hp.Token(rng.choice("wwr")))))
            session.received(hp.encode(hp.Frame(name, hp.SyncStep1(b"\x00"))))
        session.end_of_read()
        return socket, session

    async def settled(session: HocuspocusSession) -> None:
        """Let the Auth decisions and room joins run (bounded turns of the loop)."""
        for _ in range(200):
            if not session.authorising and all(c.room for c in session.documents.values()):
                return
            await asyncio.sleep(0.001)

    acknowledged = 0
    try:
        socket, session = opened()
        await settled(session)
        sent = 0
        while sent < FRAMES:
            for _ in range(rng.randint(1, 4)):  # the frames of one read
                session.received(hocuspocus_frame(rng, seeds))
                sent += 1
            session.end_of_read()
            if sent % 20 == 0:
                await settled(session)  # the decisions and joins run, as the loop would
            if socket.closed is not None:
                code, reason = socket.closed
                assert code in ALLOWED_CLOSES and reason, socket.closed
                closes[code] = closes.get(code, 0) + 1
                session.ended(code)
                sockets += 1
                acknowledged += sum(f.endswith(b"\x08\x01") for f in socket.frames)
                socket, session = opened()
                await settled(session)
        session.ended(1000)
        await hub.flush()
        for name in DOCUMENTS:
            room = hub.rooms.room(name)
            if room is None:
                continue
            stored = await hub.run(read_document, hub.store, name)
            assert stored[1].doc.get_state() == room.doc.get_state(), name
    finally:
        await hub.close()
    bugs = [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    assert not bugs, [r.getMessage() for r in bugs]
    assert sockets > 10 and set(closes) <= ALLOWED_CLOSES, closes
    print(f"{FRAMES} frames, {sockets} sockets closed {closes}, {acknowledged} writes acknowledged")
    assert acknowledged > 100, "the fuzzer hardly reached the documents"
    # a legitimate client still opens and edits every fuzzed document
    hub = Hub(Store(str(db)), settings)
    await hub.start()
    try:
        for name in DOCUMENTS:
            socket = RecordingSocket()
            session = HocuspocusSession(socket, hub, settings, authorize, "legit")
            doc: Doc[Any] = Doc()
            doc.get("text", type=Text).insert(0, "legit")
            session.received(hp.encode(hp.Frame(name, hp.Token("w"))))
            session.received(hp.encode(hp.Frame(name, hp.Update(doc.get_update()))))
            session.received(hp.encode(hp.Frame(name, hp.SyncStep1(b"\x00"))))
            session.end_of_read()
            for _ in range(200):
                if any(hp.decode(f) == hp.Frame(name, hp.SyncStatus(True)) for f in socket.frames):
                    break
                await asyncio.sleep(0.01)  # polling the recorded frames, not waiting for sync
            assert socket.closed is None, socket.closed
            assert hp.encode(hp.Frame(name, hp.SyncStatus(True))) in socket.frames
            room = hub.rooms.room(name)
            assert room is not None and "legit" in str(room.doc.get("text", type=Text))
            session.ended(1000)
    finally:
        await hub.close()


def test_the_corpus_frames_behind_an_address_are_hocuspocus_frames() -> None:
    """The fuzzer's base frames are valid: its findings are about mutations, not the corpus."""
    for seed in corpus():
        item = hp.decode(hp.prefix("fuzz/a") + seed.frame)
        assert isinstance(item, hp.Frame) and item.address == "fuzz/a"
        if isinstance(item.message, hp.Token):  # y-protocols' auth message reads as a Token
            assert seed.frame[0] == protocol.MessageType.AUTH
            continue
        message: Any = item.message
        assert protocol.encode(message) == seed.frame
