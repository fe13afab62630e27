"""A mutation fuzzer over real y-protocols frames, against the server's frame handling.

The in-process part drives ``collab.sessions.ywebsocket.Connection._handle`` (what the receive
loop of every WebSocket calls for each binary frame; one read in eight holds several frames,
whose update messages are merged) with at least 100,000 malformed and mutated frames:
real frames (sync step 1 and 2, updates of a real editing trace and of Yjs-written documents,
awareness, query awareness, auth) with bit flips, truncations, insertions, deletions, changed
length fields, spliced payloads, mutated awareness JSON, plus random bytes. Only the documented
failures may come out of it (``ProtocolError``, ``InvalidUpdate``, ``AwarenessTooLarge``, the
connection's own refusal); anything else, including ``BaseException`` subclasses such as
pyo3's ``PanicException``, fails the test. Afterwards a document a real client wrote before
is byte-identical in the database, every fuzzed room reloads from the database to exactly the
state it had in memory, and a real server on the same database serves them to a fresh client.

The in-process run happens in a child process (``python -m tests.test_fuzz``, which is what
``scripts/fuzz`` runs), so that a crash inside pycrdt fails the test instead of the test run.

The network part sends 400 mutated frames, one connection each, to a real server, then 2,000
frames of the same stream through connections that reconnect whenever the server closes them.

The tests after the fuzz runs pin down what the fuzzer found, one deterministic case each.
``scripts/fuzz`` runs the same fuzzer for longer (``--frames``, ``--stream-frames``).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import gzip
import itertools
import json
import os
import random
import re
import signal
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from pycrdt import Array, Doc, Map, Text, write_var_uint

from collab import awareness_codec, export, protocol, updates
from collab.auth import ALL_DOCUMENTS, Grant, Role
from collab.errors import Refused
from collab.hub import Hub
from collab.integrator import apply_all
from collab.protocol import ProtocolError
from collab.room import Room
from collab.sessions.ywebsocket import Connection
from collab.settings import Settings
from collab.stores import Store
from collab.updates import ClientIdInUse, DocumentCorrupted, InvalidUpdate
from collab.wsserver import SENT
from tests.helpers.traces import DATA

ROOT = Path(__file__).resolve().parents[1]
TRACE = DATA / "friendsforever_flat.json.gz"
GOLDEN = ROOT / "tests" / "golden"

EXPECTED: tuple[type[Exception], ...] = (ProtocolError, InvalidUpdate, Refused, ClientIdInUse)
"""What ``_handle`` may raise on hostile input (``AwarenessTooLarge`` is a ProtocolError;
``ClientIdInUse`` when the reader's mutated awareness claimed the writer's client id first)."""

TEST_FRAMES = 100_000
TEST_SEED = 20261129
FRAMES_PER_ROOM = 250
PRECIOUS = "precious/notes"
READ_ONLY = Grant("*", Role.READ, float("inf"))


# -- the corpus: real frames -----------------------------------------------------------------


@dataclass(frozen=True)
class Seed:
    """A real frame: ``prefix`` (message type, sync type) + varUint length + ``payload``."""

    prefix: bytes
    payload: bytes | None = None

    @property
    def frame(self) -> bytes:
        if self.payload is None:
            return self.prefix
        return self.prefix + write_var_uint(len(self.payload)) + self.payload


def _sync(kind: int, payload: bytes) -> Seed:
    return Seed(bytes((0, kind)), payload)


def _awareness(entries: list[tuple[int, int, Any]]) -> Seed:
    payload = awareness_codec.encode_awareness(
        [awareness_codec.AwarenessEntry(*entry) for entry in entries]
    )
    return Seed(b"\x01", payload)


def _trace_transactions(limit: int) -> list[list[list[Any]]]:
    if TRACE.exists():
        with gzip.open(TRACE, "rt", encoding="utf-8") as f:
            return [txn["patches"] for txn in json.load(f)["txns"][:limit]]
    words = ["the", "quick", "brown", "fox", "jumps", "over", "the", "lazy", "dog"]
    rng = random.Random(1)
    return [[[i, 0, rng.choice(words) + " "]] for i in range(limit)]


def base_documents() -> tuple[Doc[Any], Doc[Any], list[bytes]]:
    """Two real documents' worth of updates: a typed text, concurrent edits of all kinds."""
    alice: Doc[Any] = Doc(client_id=1_000_001)
    updates: list[bytes] = []
    alice.observe(lambda event: updates.append(event.update))
    text = alice.get("text", type=Text)
    for patches in _trace_transactions(300):
        with alice.transaction():
            for position, deleted, inserted in patches:
                if deleted:
                    del text[position : position + deleted]
                if inserted:
                    text.insert(position, inserted)
    bob: Doc[Any] = Doc(client_id=2_000_002)
    bob.apply_update(alice.get_update())
    bob.observe(lambda event: updates.append(event.update))
    btext = bob.get("text", type=Text)
    meta = bob.get("meta", type=Map)
    items = bob.get("items", type=Array)
    with bob.transaction():
        btext.insert(0, "Title\n", {"bold": True})
        btext.format(6, 5, {"italic": True})
    del btext[10:30]
    meta["title"] = "Friends forever"
    meta["tags"] = Array(["story", "draft"])
    meta["nested"] = Map({"n": 1.5, "ok": True, "none": None})
    items.extend([1, "two", {"three": 3}])
    items.insert(1, Map({"k": "v"}))
    del items[0]
    meta["title"] = "Friends forever (v2)"
    alice.apply_update(bob.get_update(alice.get_state()))
    return alice, bob, updates


def corpus() -> list[Seed]:
    """Real frames of every message type, as a y-websocket session exchanges them."""
    alice, bob, updates = base_documents()
    seeds = [_sync(2, update) for update in updates]
    seeds += [_sync(1, update) for update in updates[::10]]
    empty: Doc[Any] = Doc()
    for doc in (alice, bob, empty):
        seeds.append(_sync(0, doc.get_state()))
        seeds.append(_sync(1, doc.get_update()))
        seeds.append(_sync(1, doc.get_update(empty.get_state())))
    seeds.append(_sync(1, alice.get_update(bob.get_state())))
    for golden in sorted(GOLDEN.glob("*.bin")):  # updates written by JavaScript Yjs
        seeds += [_sync(1, golden.read_bytes()), _sync(2, golden.read_bytes())]
    user = {"name": "Alice", "color": "#30bced", "colorLight": "#30bced33"}
    cursor = {
        "anchor": {"type": None, "tname": "text", "item": {"client": 1000001, "clock": 42}},
        "head": {"type": None, "tname": "text", "item": {"client": 1000001, "clock": 57}},
    }
    seeds += [
        _awareness([(1_000_001, 1, {"user": user})]),
        _awareness([(1_000_001, 2, {"user": user, "cursor": cursor})]),
        _awareness([(2_000_002, 5, {"user": {"name": "Bob"}}), (1_000_001, 3, None)]),
        _awareness([(3, 1, {})]),
        Seed(b"\x03"),
        Seed(b"\x02\x00", b"permission denied"),
    ]
    return seeds


# -- mutations -------------------------------------------------------------------------------

INTERESTING = (0x00, 0x01, 0x02, 0x7F, 0x80, 0x81, 0xFE, 0xFF)
BIG_NUMBERS = (0, 1, 127, 128, 2**14, 2**21, 2**28 - 1, 2**31, 2**32, 2**53 - 1, 2**56 - 1, 2**63)


def flip_bits(rng: random.Random, data: bytes) -> bytes:
    if not data:
        return data
    out = bytearray(data)
    for _ in range(rng.choice((1, 1, 1, 2, 3, 8))):
        out[rng.randrange(len(out))] ^= 1 << rng.randrange(8)
    return bytes(out)


def set_bytes(rng: random.Random, data: bytes) -> bytes:
    if not data:
        return data
    out = bytearray(data)
    for _ in range(rng.randint(1, 3)):
        out[rng.randrange(len(out))] = (
            rng.choice(INTERESTING) if rng.random() < 0.7 else rng.randrange(256)
        )
    return bytes(out)


def truncate(rng: random.Random, data: bytes) -> bytes:
    return data[: rng.randrange(len(data))] if data else data


def insert_bytes(rng: random.Random, data: bytes) -> bytes:
    at = rng.randint(0, len(data))
    return data[:at] + rng.randbytes(rng.randint(1, 16)) + data[at:]


def delete_range(rng: random.Random, data: bytes) -> bytes:
    if not data:
        return data
    at = rng.randrange(len(data))
    return data[:at] + data[at + rng.randint(1, 16) :]


def duplicate_range(rng: random.Random, data: bytes) -> bytes:
    if not data:
        return data
    at = rng.randrange(len(data))
    chunk = data[at : at + rng.randint(1, 32)]
    to = rng.randint(0, len(data))
    return data[:to] + chunk * rng.randint(1, 4) + data[to:]


def swap_bytes(rng: random.Random, data: bytes) -> bytes:
    if len(data) < 2:
        return data
    out = bytearray(data)
    i, j = rng.randrange(len(out)), rng.randrange(len(out))
    out[i], out[j] = out[j], out[i]
    return bytes(out)


def splice_number(rng: random.Random, data: bytes) -> bytes:
    """Overwrite a varUint-sized stretch with another number (a length, count or clock)."""
    at = rng.randint(0, len(data))
    number = (
        rng.choice(BIG_NUMBERS) if rng.random() < 0.5 else rng.randrange(2 ** rng.randint(1, 40))
    )
    return data[:at] + write_var_uint(number) + data[at + rng.randint(0, 3) :]


BYTE_MUTATORS: list[Callable[[random.Random, bytes], bytes]] = [
    flip_bits,
    flip_bits,
    set_bytes,
    truncate,
    insert_bytes,
    delete_range,
    duplicate_range,
    swap_bytes,
    splice_number,
    splice_number,
]


def mutate_bytes(rng: random.Random, data: bytes) -> bytes:
    for _ in range(rng.choice((1, 1, 1, 2, 3))):
        data = rng.choice(BYTE_MUTATORS)(rng, data)
    return data


def bad_length(rng: random.Random, length: int) -> bytes:
    choice = rng.randrange(6)
    if choice == 0:
        return write_var_uint(max(0, length + rng.randint(-8, 8)))
    if choice == 1:
        return write_var_uint(rng.choice(BIG_NUMBERS))
    if choice == 2:
        return b"\x80" * rng.randint(1, 12)  # unterminated varUint
    if choice == 3:
        return b"\xff" * 9 + b"\x01"  # over 8 bytes
    if choice == 4:
        return write_var_uint(length) + b"\x00"  # a redundant continuation
    return bytes([0x80 | (length & 0x7F), 0x80, 0x00])  # over-long encoding of ~length


JSON_JUNK = [
    "",
    "{",
    "null",
    "[]",
    '"str"',
    "1e309",
    "-0",
    '{"a":' * 2000 + "1" + "}" * 2000,
    "[" * 100_000,
    '{"user": {"name": "\\ud800"}}',
    '{"__proto__": {"polluted": true}}',
    '{"a": NaN, "b": Infinity}',
    "\u0000",
]


def mutate_awareness(rng: random.Random, seed: Seed) -> bytes:
    """Valid awareness framing around hostile entries (ids, clocks, JSON, UTF-8)."""
    entries = []
    for _ in range(rng.choice((0, 1, 1, 2, 5))):
        client = rng.choice((0, 1, 2**32, 2**53 - 1, rng.randrange(2**31)))
        clock = rng.choice((0, 1, 2**32, rng.randrange(100)))
        roll = rng.random()
        if roll < 0.4:
            state = rng.choice(JSON_JUNK).encode("utf-8", "surrogatepass")
        elif roll < 0.6:
            state = json.dumps({"user": {"name": "x" * rng.choice((1, 100, 70_000))}}).encode()
        elif roll < 0.8:
            state = mutate_bytes(rng, b'{"user":{"name":"Alice","color":"#30bced"}}')
        else:
            state = rng.randbytes(rng.randint(0, 24))
        entries.append(
            write_var_uint(client) + write_var_uint(clock) + write_var_uint(len(state)) + state
        )
    count = len(entries) if rng.random() < 0.8 else rng.choice(BIG_NUMBERS)
    payload = write_var_uint(count) + b"".join(entries)
    return b"\x01" + write_var_uint(len(payload)) + payload


def mutate(rng: random.Random, seeds: list[Seed]) -> bytes:
    """One hostile frame derived from the corpus (or from nothing)."""
    seed = rng.choice(seeds)
    roll = rng.random()
    if roll < 0.40 and seed.payload is not None:  # well-framed, mutated payload: reaches pycrdt
        payload = mutate_bytes(rng, seed.payload)
        return seed.prefix + write_var_uint(len(payload)) + payload
    if roll < 0.58:  # anywhere in the frame
        return mutate_bytes(rng, seed.frame)
    if roll < 0.66 and seed.payload is not None:  # the length field
        return seed.prefix + bad_length(rng, len(seed.payload)) + seed.payload
    if roll < 0.72:  # the message type and sync type
        payload = seed.payload or b""
        prefix = bytes(
            rng.choice((0, 1, 2, 3, 4, 0x7F, 0x80, 0xFF)) for _ in range(rng.randint(0, 3))
        )
        return prefix + write_var_uint(len(payload)) + payload
    if roll < 0.78:  # two payloads spliced, well framed
        other = rng.choice(seeds)
        head, tail = seed.payload or seed.prefix, other.payload or other.prefix
        payload = head[: rng.randint(0, len(head))] + tail[rng.randint(0, len(tail)) :]
        return seed.prefix[:2] + write_var_uint(len(payload)) + payload
    if roll < 0.82:  # two frames in one message
        return seed.frame + rng.choice(seeds).frame[: rng.randint(0, 64)]
    if roll < 0.88:
        return mutate_awareness(rng, seed)
    if roll < 0.92:  # a v2-looking update: starts with a zero byte
        payload = b"\x00" + mutate_bytes(rng, seed.payload or b"\x00\x00")
        return bytes((0, rng.choice((1, 2)))) + write_var_uint(len(payload)) + payload
    return rng.randbytes(rng.choice((0, 1, 2, 3, rng.randint(0, 64), rng.randint(0, 1024))))


# -- the in-process fuzzer -------------------------------------------------------------------


class FakePeer:
    """A room member that only counts what it is sent."""

    def __init__(self) -> None:
        self.frames = 0
        self.closed: tuple[int, str] | None = None

    def send(self, frame: bytes) -> None:
        self.frames += 1

    def close(self, code: int, reason: str) -> None:
        self.closed = (code, reason)


@dataclass
class Failure:
    frame: bytes
    error: str


@dataclass
class Report:
    seed: int = 0
    frames: int = 0
    accepted: int = 0
    outcomes: collections.Counter[str] = field(default_factory=collections.Counter)
    failures: list[Failure] = field(default_factory=list)
    rooms: dict[str, bytes] = field(default_factory=dict)  # name -> its state at the end
    seconds: float = 0.0

    def line(self) -> str:
        rate = self.frames / self.seconds if self.seconds else 0.0
        top = ", ".join(f"{name} {count}" for name, count in self.outcomes.most_common())
        return (
            f"{self.frames} frames in {self.seconds:.1f} s ({rate:,.0f}/s), "
            f"{self.accepted} accepted, {len(self.failures)} failures; {top}"
        )

    def summary(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "frames": self.frames,
            "accepted": self.accepted,
            "seconds": round(self.seconds, 1),
            "outcomes": dict(self.outcomes),
            "rooms": sorted(self.rooms),
            "failures": [{"error": f.error, "frame": f.frame.hex()} for f in self.failures],
        }


def outcome(exc: BaseException) -> str:
    """A short name for an exception: its class, and for InvalidUpdate what failed and why."""
    name = type(exc).__name__
    if isinstance(exc, InvalidUpdate):
        what, _, why = str(exc).partition(": ")
        cause = why.partition(":")[0]
        detail = f"{what}: {cause}" if cause.isidentifier() else what
        return f"{name} ({re.sub(r'[0-9]+', 'N', detail)[:50]})"
    return name


def legitimate_frames(n: int) -> list[bytes]:
    """A new client's sync step 1 and its first edit."""
    doc: Doc[Any] = Doc(client_id=3_000_000 + n)
    doc.get("text", type=Text).insert(0, f"legit {n} ")
    return [
        protocol.encode(protocol.SyncStep1(b"\x00")),
        protocol.encode(protocol.Update(doc.get_update())),
    ]


def clocks(doc: Doc[Any]) -> dict[int, int]:
    """The document's state vector as ``{client: clock}``, without clients at clock 0 (the
    encoding's order of clients varies, and a client at 0 has contributed nothing)."""
    reader = protocol.ByteReader(doc.get_state())
    pairs = [(reader.var_uint(), reader.var_uint()) for _ in range(reader.var_uint())]
    return {client: clock for client, clock in pairs if clock}


def fingerprint(room: Room) -> tuple[dict[int, int], int, str]:
    """What a refused update must leave as it was: the state vector, the encoding's length
    (pycrdt orders JSON keys differently on each encode, so not its bytes) and the text."""
    doc = room.doc
    return clocks(doc), len(doc.get_update()), str(doc.get("text", type=Text))


def _carries_update(frame: bytes) -> bool:
    return len(frame) > 1 and frame[0] == 0 and frame[1] in (1, 2)


def read(connection: Connection, room: Room, frames: list[bytes]) -> None:
    """The frames of one read, as the socket hands them over: each to ``_handle``, then the
    update messages held back are applied (``Connection.end_of_read``). After a refusal the
    real connection is closed; here the connection is used again, so nothing stays held."""
    try:
        for frame in frames:
            connection._handle(room, frame)
        connection._apply_burst(room)
    finally:
        connection._burst, connection._burst_bytes = [], 0


class NullSocket:
    """A connection's direct sends into nothing: the socket takes every frame at once."""

    def write(self, payload: bytes, limit: int) -> int:
        return SENT


async def fuzz_in_process(
    db: Path,
    frames: int,
    seed: int = 0,
    *,
    frames_per_room: int = FRAMES_PER_ROOM,
    progress: Callable[[Report], None] | None = None,
    progress_every: int = 10_000,
    keep_corrupted: bool = False,
) -> Report:
    """Feed ``frames`` hostile frames to ``Connection._handle`` on rooms ``fuzz/...`` of ``db``.

    Every room starts from a real document; one connection in eight is read-only. A room
    whose document a refused update changed is left at once (it can no longer be trusted:
    such documents later crash or hang pycrdt), unless ``keep_corrupted``; the others must
    still take a legitimate client's sync step 1 and edit at the end.
    """
    rng = random.Random(seed)
    seeds = corpus()
    base = protocol.encode(protocol.SyncStep2(base_documents()[0].get_update()))
    settings = Settings(db=str(db), room_grace_seconds=0.0)
    hub = Hub(Store(str(db)), settings)
    await hub.start()
    report = Report(seed=seed)
    started = time.monotonic()
    try:
        room_index = 0
        while report.frames < frames:
            name = f"fuzz/{seed}-{room_index}"
            room_index += 1
            member = FakePeer()
            async with hub.use(name, member) as room:
                sink: Any = NullSocket()
                writer = Connection(sink, hub, name, ALL_DOCUMENTS, settings)
                reader = Connection(sink, hub, name, READ_ONLY, settings)
                read(writer, room, [base])  # a real document to mutate against
                corrupted = discarded = False
                for i in range(min(frames_per_room, frames - report.frames)):
                    # One read in eight holds several frames, whose updates are merged; the
                    # updates before a refused one are taken then, so only one-frame reads
                    # check that a refused update left the document as it was.
                    burst = [
                        mutate(rng, seeds) for _ in range(rng.randint(2, 6) if i % 8 == 3 else 1)
                    ]
                    frame = burst[-1]
                    connection = reader if i % 8 == 7 else writer
                    single = len(burst) == 1 and _carries_update(frame)
                    before = fingerprint(room) if single else None
                    try:
                        read(connection, room, burst)
                    except EXPECTED as exc:
                        report.outcomes[outcome(exc)] += 1
                        if isinstance(exc, DocumentCorrupted):
                            # As Connection._guarded does: the room is discarded and the next
                            # user reloads the document from storage, which never saw it.
                            hub.discard(room)
                            corrupted = discarded = True
                        elif before is not None and fingerprint(room) != before:
                            error = f"a refused update changed the document: {outcome(exc)}: {exc}"
                            report.failures.append(Failure(frame, error))
                            corrupted = True
                    except (KeyboardInterrupt, SystemExit):
                        raise
                    except BaseException as exc:  # PanicException is a BaseException
                        report.failures.append(Failure(frame, f"{type(exc).__name__}: {exc}"))
                        report.outcomes["FAILURE " + type(exc).__name__] += 1
                    else:
                        report.accepted += 1
                        report.outcomes["accepted"] += 1
                    report.frames += len(burst)
                    if i % 256 == 255:
                        await hub.flush()  # let the committer run, as the event loop would
                    if progress is not None and report.frames % progress_every == 0:
                        report.seconds = time.monotonic() - started
                        progress(report)
                    if corrupted and not keep_corrupted:
                        break
                if not corrupted:
                    for frame in legitimate_frames(room_index):
                        try:
                            read(writer, room, [frame])
                        except BaseException as exc:
                            error = f"a legitimate frame was refused after fuzzing: {outcome(exc)}"
                            report.failures.append(Failure(frame, f"{error}: {exc}"))
                await hub.flush()
                if discarded:  # closed on purpose, its peers told to reconnect (1011)
                    pass
                elif room.closed:
                    report.failures.append(Failure(b"", f"room {name} was closed"))
                elif not corrupted:
                    report.rooms[name] = room.doc.get_update()
                if member.closed is not None and not discarded:
                    report.failures.append(Failure(b"", f"a peer was closed: {member.closed}"))
    finally:
        report.seconds = time.monotonic() - started
        await hub.close()
    return report


def rows_of(db: Path, name: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every database row of document ``name``, table by table."""
    with contextlib.closing(sqlite3.connect(db)) as conn:
        return {
            table: conn.execute(
                f"SELECT * FROM {table} WHERE name = ? ORDER BY 1", (name,)
            ).fetchall()
            for table in ("documents", "updates", "snapshots", "tombstones")
        }


def stored_state(db: Path, name: str) -> bytes:
    """Document ``name`` loaded from the database exactly as the hub loads it."""
    store = Store(str(db))
    try:
        return apply_all(Doc(), store.load(name).updates_in_order()).get_update()
    finally:
        store.close()


def document_difference(a: bytes, b: bytes) -> str | None:
    """How two states differ (structs, deletions or content), or ``None`` when they do not.

    Encodings are not compared byte for byte: pycrdt orders JSON keys differently each time.
    """
    doc_a: Doc[Any] = Doc()
    doc_a.apply_update(a)
    doc_b: Doc[Any] = Doc()
    doc_b.apply_update(b)
    if clocks(doc_a) != clocks(doc_b):
        return f"state vectors {clocks(doc_a)} != {clocks(doc_b)}"
    json_a, json_b = export.to_json(a), export.to_json(b)
    if json_a != json_b:
        roots = sorted(k for k in set(json_a) | set(json_b) if json_a.get(k) != json_b.get(k))
        first = roots[0]
        return (
            f"roots {roots} differ, e.g. {json_a.get(first)!r:.200} != {json_b.get(first)!r:.200}"
        )
    only_a = doc_a.get_update(doc_b.get_state())
    only_b = doc_b.get_update(doc_a.get_state())
    if len(only_a) != len(only_b):
        return f"delete sets differ: {only_a.hex()[:200]} != {only_b.hex()[:200]}"
    return None


def problems_of(report: Report, db: Path, minimum_frames: int) -> list[str]:
    """Everything wrong with a finished run (empty: all good)."""
    problems = [f"{f.error} <- frame {f.frame.hex()}" for f in report.failures]
    if report.frames < minimum_frames:
        problems.append(f"only {report.frames} of {minimum_frames} frames")
    if report.accepted == 0:
        problems.append("no frame was accepted: the mutations never reach the document")
    for name, state in report.rooms.items():
        difference = document_difference(stored_state(db, name), state)
        if difference is not None:
            problems.append(
                f"{name}: the database holds another document than the room: {difference}"
            )
    return problems


# -- tests -----------------------------------------------------------------------------------


def test_corpus_frames_are_valid() -> None:
    seeds = corpus()
    assert len(seeds) > 300
    kinds = {type(protocol.decode(seed.frame)).__name__ for seed in seeds}
    assert kinds == {"SyncStep1", "SyncStep2", "Update", "Awareness", "QueryAwareness", "Auth"}


def test_mutations_are_deterministic_and_mostly_different() -> None:
    seeds = corpus()
    assert list(iter_frames(50, seed=7)) == list(iter_frames(50, seed=7))
    originals = {seed.frame for seed in seeds}
    frames = list(iter_frames(2000, seed=3))
    assert sum(frame not in originals for frame in frames) > 1900


def _typed(transactions: int) -> bytes:
    """240 characters typed by client 1000001, in one insert or one insert per character."""
    writer: Doc[Any] = Doc(client_id=1_000_001)
    text = writer.get("text", type=Text)
    for i in range(0, 240, 240 // transactions):
        text.insert(i, "x" * (240 // transactions))
    return writer.get_update()


def _tiptap_with_bad_parent() -> bytes:
    """The Tiptap document Yjs wrote (tests/golden) with one byte changed: a struct's parent
    points at a string item instead of a type. Found by the fuzzer."""
    update = bytearray((GOLDEN / "tiptap_doc.bin").read_bytes())
    assert update[868] == 0x7C  # parent clock 124 ...
    update[868] = 0x6C  # ... becomes 108
    return bytes(update)


# Found by the fuzzer: one struct of an existing client with a clock past 2**32 and an origin
# inside that client's text; pycrdt panics half-way through applying it.
OVERFLOWING_CLOCK = bytes.fromhex("0101c1843d97c392f8ea0184c1843dec01012e00")

REFUSED_CASES = {
    "overflowing-clock-one-insert": (lambda: _typed(1), lambda: OVERFLOWING_CLOCK),
    "overflowing-clock-240-inserts": (lambda: _typed(240), lambda: OVERFLOWING_CLOCK),
    "tiptap-bad-parent": (lambda: None, _tiptap_with_bad_parent),
}


@pytest.mark.parametrize("case", list(REFUSED_CASES))
def test_a_refused_update_leaves_the_document_unchanged(case: str) -> None:
    """``Room.apply``: "InvalidUpdate: ... the document is unchanged then". Each of these
    updates is refused (its connection closed with 1007, never committed), yet pycrdt has
    applied part of it to the room's document, which new clients are then served."""
    make_base, make_hostile = REFUSED_CASES[case]
    room = Room("victim", Doc())
    base = make_base()
    if base is not None:
        room.apply(base)
    state, encoded, content = fingerprint(room)
    with pytest.raises(InvalidUpdate) as refused:
        room.apply(make_hostile())
    if isinstance(refused.value, DocumentCorrupted):
        # pycrdt failed half-way: the room says so, and the hub discards it and reloads the
        # document from storage (test_fuzz_findings_against_a_real_server checks that).
        return
    assert str(room.doc.get("text", type=Text)) == content, "refused content is in the text"
    assert clocks(room.doc) == state, "the refused update changed the state vector"
    assert len(room.doc.get_update()) == encoded, "the refused update changed the document"


def test_an_update_missing_its_predecessor_does_not_make_later_updates_costlier(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Found by this fuzzer: after one accepted update whose predecessor never comes (any
    writer can send one), every later update of the room is merged with all updates since.

    The work is measured deterministically as the bytes the room hands to ``merge_updates``:
    typing must cost about as much per keystroke in the second half as in the first.
    """
    merged: list[int] = []
    real_merge = updates.merge_updates

    def counting_merge(*parts: bytes) -> bytes:
        merged.append(sum(map(len, parts)))
        return real_merge(*parts)

    monkeypatch.setattr(updates, "merge_updates", counting_merge)
    room = Room("victim", Doc())
    hostile: Doc[Any] = Doc(client_id=77)
    hostile.get("text", type=Text).insert(0, "a")
    state = hostile.get_state()
    hostile.get("text", type=Text).insert(1, "b")
    room.apply(hostile.get_update(state))  # clock 1 of client 77, without clock 0
    writer: Doc[Any] = Doc(client_id=5)
    keystrokes: list[bytes] = []
    writer.observe(lambda event: keystrokes.append(event.update))
    text = writer.get("text", type=Text)
    for _ in range(600):
        text.insert(len(text), "x")
    costs = []
    for update in keystrokes:
        before = sum(merged)
        room.apply(update)
        costs.append(sum(merged) - before)
    assert str(room.doc.get("text", type=Text)) == "x" * 600
    first, second = sum(costs[:300]), sum(costs[300:])
    assert second <= 1.5 * first + 10_000, (
        f"merge work per keystroke grows with the room's history: {first} bytes merged for"
        f" keystrokes 1-300, {second} for 301-600, {costs[-1]} for the last one alone"
    )


@pytest.mark.e2e
async def test_fuzz_in_process(tmp_path: Path) -> None:
    """100,000 hostile frames through the frame handler (in a child process, so that a crash
    inside pycrdt fails this test instead of killing the test run), next to a document a real
    client wrote, which stays byte-identical and is still served and editable afterwards."""
    from tests.e2e.conftest import Server
    from tests.e2e.pyclient import PyClient

    db = tmp_path / "collab.db"
    server = Server(db)
    server.start()
    async with PyClient(server.ws_url, PRECIOUS) as writer:
        text = writer.text()
        for i in range(50):
            text.insert(len(text), f"line {i}: precious content\n")
        del text[0:8]
        await writer.wait_for(lambda: writer.doc.get_state() == served_state(server))
        expected = str(text)
    assert server.stop() == 0
    before = rows_of(db, PRECIOUS)
    assert before["documents"] and (before["updates"] or before["snapshots"])

    summary = tmp_path / "summary.json"
    argv = ["--frames", str(TEST_FRAMES), "--seed", str(TEST_SEED), "--db", str(db)]
    argv += ["--connections", "0", "--stream-frames", "0", "--summary", str(summary)]
    status, output = await run_fuzzer(argv, timeout=600)
    lines = "\n".join(line for line in output.splitlines() if line.startswith("fuzz:"))
    assert status == 0, f"scripts/fuzz {' '.join(argv)}: {describe_status(status)}\n{lines}"
    result = json.loads(summary.read_text())
    assert result["frames"] >= TEST_FRAMES and result["failures"] == []
    assert result["accepted"] > 1000, "the mutations hardly reach the document"
    assert result["outcomes"]["ProtocolError"] > 1000
    assert any(name.startswith("InvalidUpdate") for name in result["outcomes"])

    assert rows_of(db, PRECIOUS) == before, "the untouched document changed in the database"
    server = Server(db)
    server.start()
    try:
        async with PyClient(server.ws_url, PRECIOUS) as reader:
            assert str(reader.text()) == expected
            reader.text().insert(0, "still editable\n")
            await reader.wait_for(lambda: reader.doc.get_state() == served_state(server))
        async with PyClient(server.ws_url, PRECIOUS) as again:
            assert str(again.text()) == "still editable\n" + expected
        async with PyClient(server.ws_url, result["rooms"][-1]) as fuzzed:
            assert "legit" in str(fuzzed.text())
    finally:
        server.stop()


async def run_fuzzer(argv: list[str], timeout: float) -> tuple[int | None, str]:
    """Run ``python -m tests.test_fuzz ARGV``; ``None`` as status when it had to be killed."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.test_fuzz",
        *argv,
        cwd=ROOT,
        env={**os.environ, "RUST_BACKTRACE": "0"},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        output, _ = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        output, _ = await proc.communicate()
        return None, output.decode(errors="replace")
    return proc.returncode, output.decode(errors="replace")


def describe_status(status: int | None) -> str:
    if status is None:
        return "hung (killed after the timeout; an endless loop inside pycrdt?)"
    if status < 0:
        return f"crashed: killed by {signal.Signals(-status).name}"
    return f"exit status {status}"


def served_state(server: Any, name: str = PRECIOUS) -> bytes:
    """The state vector of document ``name`` as the server has it (HTTP API)."""
    response = httpx.get(f"{server.http_url}/api/documents/{name}/update", timeout=10)
    if response.status_code == 404:
        return b"\x00"  # not created yet: the empty state vector
    assert response.status_code == 200, response.text
    doc: Doc[Any] = Doc()
    doc.apply_update(response.content)
    return doc.get_state()


# -- the fuzzer's findings against a real server ---------------------------------------------


def struct_update(client: int, clock: int, origin: tuple[int, int], text: str) -> bytes:
    """A v1 update of one string struct ``(client, clock)`` inserted after ``origin``."""
    content = text.encode()
    return b"".join(
        [
            write_var_uint(1),  # one client
            write_var_uint(1),  # one struct
            write_var_uint(client),
            write_var_uint(clock),
            b"\x84",  # a string, with an origin
            write_var_uint(origin[0]),
            write_var_uint(origin[1]),
            write_var_uint(len(content)),
            content,
            b"\x00",  # no deletions
        ]
    )


@pytest.mark.parametrize(
    "clock", [2**32 - 1, 2**53 - 1, 2**56 - 1], ids=["2^32-1", "2^53-1", "2^56-1"]
)
def test_an_update_that_changes_the_document_is_committed(clock: int) -> None:
    """``Room.apply`` returns whether the update needs a commit and relay. Found by the
    fuzzer: with a clock near a power of two it returns False, yet the text changed."""
    writer: Doc[Any] = Doc(client_id=1_000_001)
    writer.get("text", type=Text).insert(0, "hello world")
    base = writer.get_update()
    room = Room("victim", Doc())
    room.apply(base)
    before = fingerprint(room)
    update = struct_update(490_450, clock, (1_000_001, 4), "n")
    try:
        changed: bool | None = room.apply(update)
    except InvalidUpdate:
        changed = None  # refusing it is fine, if the document is then unchanged
    text = str(room.doc.get("text", type=Text))
    if changed:
        reloaded = apply_all(Doc(), [base, update])  # what the hub replays after a restart
        assert str(reloaded.get("text", type=Text)) == text
    else:
        assert fingerprint(room) == before, (
            f"apply() returned {changed}, so the update is neither committed nor relayed,"
            f" yet the room's text is now {text!r}"
        )


async def _send_and_settle(ws_url: str, frame: bytes) -> int | None:
    """Send ``frame`` on a new connection; its close code, or None when it was accepted."""
    async with websockets.connect(ws_url) as ws:
        with contextlib.suppress(websockets.ConnectionClosed):
            await ws.send(frame)
            await ws.send(protocol.encode(protocol.SyncStep1(b"\x00")))
            async for message in ws:
                if isinstance(message, bytes) and message[:2] == b"\x00\x01":
                    return None  # the probe was answered: the frame was taken
        return ws.close_code


@pytest.mark.e2e
async def test_fuzz_findings_against_a_real_server(tmp_path: Path) -> None:
    """Each hostile update is either refused with 1007 and leaves no trace, or accepted,
    relayed to the other peer and still there after a restart."""
    from tests.e2e.conftest import Server
    from tests.e2e.pyclient import PyClient

    server = Server(tmp_path / "collab.db")
    server.start()
    cases = {
        "tiptap-bad-parent": _tiptap_with_bad_parent(),
        "clock-2^32-1": struct_update(490_450, 2**32 - 1, (1_000_001, 4), "n"),
    }
    problems: list[str] = []
    seen: dict[str, Any] = {}
    try:
        for case, update in cases.items():
            name = f"victim/{case}"
            async with PyClient(server.ws_url, name, doc=Doc(client_id=1_000_001)) as writer:
                writer.text().insert(0, "x" * 240)
                await writer.wait_for(
                    lambda n=name: served_state(server, n) == writer.doc.get_state()
                )
                frame = protocol.encode(protocol.Update(update))
                code = await _send_and_settle(f"{server.ws_url}/{name}", frame)
                served = _content(server, name)
                seen[name] = served
                if code is not None and served != {"text": "x" * 240}:
                    problems.append(
                        f"{case}: refused with {code}, yet the server now serves {served}"
                    )
                if code is None:
                    with contextlib.suppress(TimeoutError):
                        await writer.wait_for(
                            lambda s=served: {"text": str(writer.text())} == s, 10
                        )
                    if {"text": str(writer.text())} != served:
                        problems.append(f"{case}: accepted, served as {served}, never relayed")
            async with PyClient(server.ws_url, name) as fresh:
                if fresh.doc.get_update() != b"\x00\x00" and str(fresh.text()) != served.get(
                    "text"
                ):
                    problems.append(
                        f"{case}: HTTP serves {served}, sync step 2 {str(fresh.text())!r}"
                    )
        server.restart()
        for name, served in seen.items():
            after = _content(server, name)
            if after != served:
                problems.append(f"{name}: served {served} before a restart, {after} after it")
    finally:
        server.stop()
    assert problems == [], "\n".join(problems)


def _content(server: Any, name: str) -> dict[str, Any]:
    response = httpx.get(f"{server.http_url}/api/documents/{name}/content", timeout=10)
    assert response.status_code == 200, response.text
    return dict(response.json())


# -- over the network ------------------------------------------------------------------------

DOCUMENTED_CLOSES = {1002, 1003, 1007, 1009, 4410, 4413, 4429}


async def fuzz_network(
    ws_url: str, room: str, connections: int, seed: int
) -> collections.Counter[str]:
    """One connection per mutated frame; returns how each ended (close code, or "open")."""
    rng = random.Random(seed)
    seeds = corpus()
    outcomes: collections.Counter[str] = collections.Counter()
    # answered by a sync step 2, which the server sends only as an answer to a sync step 1
    probe = protocol.encode(protocol.SyncStep1(b"\x00"))

    async def one(frame: bytes | str) -> str:
        async with websockets.connect(f"{ws_url}/{room}", max_size=None) as ws:
            with contextlib.suppress(websockets.ConnectionClosed):
                await ws.send(frame)
                await ws.send(probe)
                async for message in ws:
                    if isinstance(message, bytes) and message[:2] == b"\x00\x01":
                        return "open"  # the probe was answered: the frame was accepted
            return str(ws.close_code)

    frames: list[bytes | str] = [mutate(rng, seeds) for _ in range(connections)]
    frames += ["a text frame", b"\x00\x01\x03\x00\x01\x00"]  # a text frame, a v2-looking update
    for start in range(0, len(frames), 20):
        batch = frames[start : start + 20]
        outcomes.update(await asyncio.wait_for(asyncio.gather(*map(one, batch)), 120))
    return outcomes


async def fuzz_network_stream(
    http_url: str, ws_url: str, frames: int, seed: int
) -> collections.Counter[str]:
    """The in-process fuzzer's frames in order through real connections: every
    ``FRAMES_PER_ROOM`` frames a new room holding the real base document; each frame waits
    for the server to have handled it; a connection the server closed is replaced."""
    rng = random.Random(seed)
    seeds = corpus()
    base = base_documents()[0].get_update()
    outcomes: collections.Counter[str] = collections.Counter()
    probe = protocol.encode(protocol.SyncStep1(b"\x00"))
    sent = 0
    async with httpx.AsyncClient(timeout=30) as http:
        for room_index in itertools.count():
            if sent >= frames:
                break
            name = f"fuzz/stream-{seed}-{room_index}"
            response = await http.post(
                f"{http_url}/api/documents/{name}/update",
                content=base,
                headers={"Content-Type": "application/octet-stream"},
            )
            assert response.status_code == 200, response.text
            ws: Any = None
            try:
                for _ in range(min(FRAMES_PER_ROOM, frames - sent)):
                    frame = mutate(rng, seeds)
                    sent += 1
                    if ws is None:
                        ws = await websockets.connect(f"{ws_url}/{name}", max_size=None)
                    try:
                        await ws.send(frame)
                        await ws.send(probe)
                        while (await asyncio.wait_for(ws.recv(), 30))[:2] != b"\x00\x01":
                            pass
                        outcomes["open"] += 1
                    except websockets.ConnectionClosed:
                        outcomes[str(ws.close_code)] += 1
                        ws = None
            finally:
                if ws is not None:
                    await ws.close()
    return outcomes


def undocumented(outcomes: collections.Counter[str]) -> dict[str, int]:
    return {k: v for k, v in outcomes.items() if k != "open" and int(k) not in DOCUMENTED_CLOSES}


NETWORK_FAILURES = (OSError, TimeoutError, websockets.WebSocketException, httpx.HTTPError)


def server_failure(server: Any, what: str, exc: BaseException) -> str:
    status = server.proc.poll() if server.proc is not None else None
    state = "stopped answering" if status is None else describe_status(status)
    return f"the server {state} during {what}: {exc!r}"


@pytest.mark.e2e
async def test_fuzz_over_the_network(tmp_path: Path) -> None:
    """400 connections with one mutated frame each, then 2,000 frames of the in-process
    fuzzer's stream through reconnecting connections (about 900 of them), next to a peer
    editing a document of its own: the server survives, closes only with documented codes,
    and the peer and its document are untouched."""
    from tests.e2e.conftest import Server
    from tests.e2e.pyclient import PyClient

    server = Server(tmp_path / "collab.db")
    server.start()
    try:
        async with PyClient(server.ws_url, PRECIOUS) as writer:
            writer.text().insert(0, "precious content")
            await writer.wait_for(lambda: writer.doc.get_state() == served_state(server))
            before = writer.doc.get_update()
            outcomes = await fuzz_network(server.ws_url, "fuzz/net", 400, seed=TEST_SEED)
            print(dict(outcomes))
            assert undocumented(outcomes) == {}, f"undocumented close codes: {outcomes}"
            assert outcomes["1002"] > 50 and outcomes["1007"] > 10 and outcomes["1003"] == 1
            try:
                stream = await fuzz_network_stream(
                    server.http_url, server.ws_url, 2000, seed=TEST_SEED
                )
            except NETWORK_FAILURES as exc:
                what = f"the stream of mutated frames of scripts/fuzz --seed {TEST_SEED}"
                pytest.fail(server_failure(server, what, exc))
            print(dict(stream))
            assert undocumented(stream) == {}, f"undocumented close codes: {stream}"
            # the peer that was there all along is still served and untouched
            assert writer.close_code is None and writer.doc.get_update() == before
            writer.text().insert(0, "> ")
            await writer.wait_for(lambda: writer.doc.get_state() == served_state(server))
        async with PyClient(server.ws_url, PRECIOUS) as fresh:
            assert str(fresh.text()) == "> precious content"
        async with PyClient(server.ws_url, "fuzz/net") as fuzzed:
            assert fuzzed.synced.is_set()
        assert server.healthz()["status"] == "ok"
    finally:
        server.stop()
    log = server.log()
    assert "Traceback" not in log and "Exception in ASGI application" not in log


# -- scripts/fuzz ----------------------------------------------------------------------------


def iter_frames(count: int, seed: int = 0) -> Iterator[bytes]:
    """The first ``count`` hostile frames of a run with ``seed``."""
    rng = random.Random(seed)
    seeds = corpus()
    for _ in range(count):
        yield mutate(rng, seeds)


def main(argv: list[str] | None = None) -> int:
    """``scripts/fuzz``: the in-process fuzzer for longer, then the network part."""
    parser = argparse.ArgumentParser(
        prog="scripts/fuzz", description="Mutation fuzzer for collab's frame handling."
    )
    parser.add_argument("--frames", type=int, default=1_000_000, help="in-process frames [1e6]")
    parser.add_argument("--seed", type=int, default=None, help="random seed [time-based]")
    parser.add_argument("--frames-per-room", type=int, default=FRAMES_PER_ROOM)
    parser.add_argument(
        "--connections", type=int, default=2000, help="one-frame connections [2000]"
    )
    parser.add_argument(
        "--stream-frames",
        type=int,
        default=20_000,
        help="frames streamed through reconnecting connections to a real server [20000]",
    )
    parser.add_argument("--db", type=Path, default=None, help="database [a temporary file]")
    parser.add_argument("--progress-every", type=int, default=10_000, help="frames [10000]")
    parser.add_argument("--summary", type=Path, default=None, help="write a JSON summary here")
    parser.add_argument(
        "--editors",
        type=float,
        default=None,
        metavar="SECONDS",
        help="instead: fuzz a room for SECONDS beside honest Yjs and pycrdt editors, then check"
        " that the server, every editor and a fresh Yjs client hold the same document and that"
        " an unrelated document kept relaying within a second (tests/fuzz_editors.py)",
    )
    parser.add_argument(
        "--keep",
        type=Path,
        default=None,
        metavar="DIR",
        help="with --editors: run in DIR and keep it (database, server log, and on a"
        " divergence the server's and a fresh Yjs client's states)",
    )
    parser.add_argument(
        "--sequence",
        type=_seed_range,
        default=None,
        metavar="FIRST:LAST",
        help="instead: for seeds FIRST to LAST, 1,500 mutated updates through the integrator"
        " one after another, the accepted ones through real Yjs; report the seeds where Yjs"
        " ends elsewhere (tests/fuzz_sequence.py)",
    )
    parser.add_argument(
        "--minimise",
        action="store_true",
        help="with --sequence: cut each diverging seed down to the updates that diverge",
    )
    parser.add_argument(
        "--keep-corrupted",
        action="store_true",
        help="go on fuzzing a room after a refused update changed its document (this is how"
        " pycrdt gets to crash or hang: the run may die)",
    )
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else int(time.time())
    if args.editors is not None:
        return _editors_main(args.editors, seed, args.summary, args.keep)
    if args.minimise and args.sequence is None:
        parser.error("--minimise needs --sequence FIRST:LAST")
    if args.sequence is not None:
        from tests.fuzz_sequence import run as run_sequence

        first, last = args.sequence
        return 1 if run_sequence(first, last, args.minimise) else 0
    print(f"fuzz: seed {seed}: {args.frames} frames in process", flush=True)
    status = 0
    with tempfile.TemporaryDirectory() as folder:
        db = args.db or Path(folder) / "fuzz.db"
        report = asyncio.run(
            fuzz_in_process(
                db,
                args.frames,
                seed,
                frames_per_room=args.frames_per_room,
                progress=lambda r: print(f"fuzz: {r.line()}", flush=True),
                progress_every=args.progress_every,
                keep_corrupted=args.keep_corrupted,
            )
        )
        print(f"fuzz: done: {report.line()}", flush=True)
        problems = problems_of(report, db, args.frames)
        for problem in problems[:50]:
            print(f"fuzz: FAILURE: {problem}", flush=True)
        if problems:
            status = 1
        else:
            print(f"fuzz: all {len(report.rooms)} rooms reload as they were served", flush=True)
        if args.summary:
            args.summary.write_text(json.dumps({**report.summary(), "problems": problems}))
        if args.connections or args.stream_frames:
            status |= asyncio.run(
                _network_main(Path(folder), args.connections, args.stream_frames, seed)
            )
    print(f"fuzz: {'FAILED' if status else 'passed'} (seed {seed})", flush=True)
    return status


def _seed_range(text: str) -> tuple[int, int]:
    """``FIRST:LAST`` (or one seed) as two ints, FIRST <= LAST (argparse type)."""
    first, _, last = text.partition(":")
    try:
        seeds = int(first), int(last or first)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not FIRST:LAST (two seeds)") from None
    if seeds[0] > seeds[1]:
        raise argparse.ArgumentTypeError(f"{text!r}: FIRST is after LAST")
    return seeds


def _editors_main(seconds: float, seed: int, summary: Path | None, keep: Path | None) -> int:
    """``scripts/fuzz --editors SECONDS`` (see :mod:`tests.fuzz_editors`)."""
    from tests.fuzz_editors import FuzzFailure, run

    print(f"fuzz: seed {seed}: {seconds:g} s beside honest editors", flush=True)
    try:
        result = run(seconds, seed, keep)
    except FuzzFailure as exc:
        print(f"fuzz: FAILURE: {exc}", flush=True)
        print(f"fuzz: FAILED (seed {seed})", flush=True)
        return 1
    print(f"fuzz: {json.dumps(result)}", flush=True)
    if summary:
        summary.write_text(json.dumps(result))
    problems = []
    if result["divergence"]:
        problems.append(f"the documents differ: {result['text_lengths']}")
    if result["other_room_max_ms"] is None or result["other_room_max_ms"] > 1000:
        problems.append(f"the unrelated room stalled: {result['other_room_max_ms']} ms")
    if result["honest_structs_missing"]:
        problems.append(f"a fresh client misses {result['honest_structs_missing']} honest structs")
    if result["sigterm_exit_status"] != 0:
        problems.append(f"SIGTERM: exit status {result['sigterm_exit_status']}")
    for problem in problems:
        print(f"fuzz: FAILURE: {problem}", flush=True)
    print(f"fuzz: {'FAILED' if problems else 'passed'} (seed {seed})", flush=True)
    return 1 if problems else 0


async def _network_main(folder: Path, connections: int, stream_frames: int, seed: int) -> int:
    from tests.e2e.conftest import Server
    from tests.e2e.pyclient import PyClient

    server = Server(folder / "network.db")
    server.start()
    problems = []
    try:
        async with PyClient(server.ws_url, PRECIOUS) as writer:
            writer.text().insert(0, "precious content")
            await writer.wait_for(lambda: writer.doc.get_state() == served_state(server))
        started = time.monotonic()
        outcomes = await fuzz_network(server.ws_url, "fuzz/net", connections, seed)
        seconds = time.monotonic() - started
        print(f"fuzz: network: {connections} connections in {seconds:.1f} s: {dict(outcomes)}")
        started = time.monotonic()
        try:
            stream = await fuzz_network_stream(server.http_url, server.ws_url, stream_frames, seed)
        except NETWORK_FAILURES as exc:
            problems.append(server_failure(server, "the stream of mutated frames", exc))
            raise
        seconds = time.monotonic() - started
        print(f"fuzz: network: {stream_frames} streamed frames in {seconds:.1f} s: {dict(stream)}")
        for name, counter in (("connections", outcomes), ("stream", stream)):
            if undocumented(counter):
                problems.append(f"undocumented close codes ({name}): {undocumented(counter)}")
        async with PyClient(server.ws_url, PRECIOUS) as reader:
            if str(reader.text()) != "precious content":
                problems.append(f"the untouched document now reads {str(reader.text())!r}")
    except NETWORK_FAILURES as exc:
        if not problems:
            problems.append(server_failure(server, "the network part", exc))
    finally:
        server.stop()
    log = server.log()
    if "Traceback" in log or "Exception in ASGI application" in log:
        problems.append("tracebacks in the server log")
    for problem in problems:
        print(f"fuzz: network FAILURE: {problem}", flush=True)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
