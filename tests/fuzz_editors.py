"""``scripts/fuzz --editors SECONDS``: hostile frames beside honest editors (issue 19).

A real server; in one room two honest Yjs editors (Node, real ``yjs`` and ``y-websocket``,
``tests/e2e/node/peer.mjs``) and a pycrdt editor type at random places while fuzzing
connections send mutated frames into the same room: the corpus of ``tests/test_fuzz.py`` and
mutations of a ghost editor's updates (a pycrdt document that types and is never connected,
so its structs name clients and clocks close to the room's). Meanwhile, in an unrelated
room, one client writes and another times each relay.

At the end, typing and fuzzing stop, and the server, every editor and a fresh Yjs client
must hold the same text: a refused update never changed the server's document, and nothing
the server accepted decodes differently in Yjs. The summary gives frames, rate, how the
fuzzing connections ended, the texts' lengths, divergence, the other room's relay latencies
and the server's peak RSS (``VmHWM``).

The honest editors' own updates are not mutated: structs of a live editor's client id from
another connection are refused by the server (tests/e2e/test_client_ids.py), so they would
only measure that refusal; the ghost's structs name clients and clocks close to the room's.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import websockets
from pycrdt import Doc, Text

from collab import protocol
from collab.integrator import apply_all
from tests.e2e.conftest import Server
from tests.e2e.nodepeer import NodePeer, NodePeerError, ensure_node_modules
from tests.e2e.pyclient import PyClient
from tests.e2e.yjsref import yjs_apply
from tests.test_fuzz import Seed, _sync, corpus, mutate

ROOM = "fuzz/editors"


class FuzzFailure(RuntimeError):
    """The scene broke: an honest editor died."""


OTHER = "fuzz/other"
WORDS = ["alpha ", "beta ", "gamma ", "delta ", "é ", "😀 ", "\n", "lorem "]


def ghost_seeds(rng: random.Random, count: int) -> list[Seed]:
    """Update frames of a pycrdt editor that types and deletes, never connected."""
    ghost: Doc[Any] = Doc()
    updates: list[bytes] = []
    ghost.observe(lambda event: updates.append(event.update))
    text = ghost.get("text", type=Text)
    for _ in range(count):
        if len(str(text)) > 10 and rng.random() < 0.2:
            start = rng.randrange(len(str(text)) - 3)
            del text[start : start + 2]
        else:
            text.insert(rng.randrange(len(str(text)) + 1), rng.choice(WORDS[:4]))
    return [_sync(2, update) for update in updates]


async def _type_yjs(peer: NodePeer, rng: random.Random, stop: asyncio.Event) -> int:
    """Type until ``stop``; how many edits. A peer that dies (a relayed message its Yjs
    client threw on) raises NodePeerError: a finding."""
    typed = 0
    while not stop.is_set():
        # at a character boundary, as an editor's cursor is (read and written in one step):
        # an insert inside an emoji's surrogate pair makes Yjs write U+FFFD where yrs keeps it
        await peer.call("insert_anywhere", text=rng.choice(WORDS))
        typed += 1
        await asyncio.sleep(0.02)
    return typed


async def _type_py(client: PyClient, rng: random.Random, stop: asyncio.Event) -> int:
    typed = 0
    while not stop.is_set():
        text = client.text()
        # pycrdt 0.14 counts Text positions in UTF-8 bytes where Yjs counts UTF-16 units:
        # random places only while the text is ASCII (the Yjs editors type "é" and emoji)
        current = str(text)
        text.insert(rng.randrange(len(current) + 1) if current.isascii() else 0, "py ")
        typed += 1
        await asyncio.sleep(0.02)
    return typed


async def _fuzz(
    ws_url: str, seeds: list[Seed], rng: random.Random, stop: asyncio.Event
) -> collections.Counter[str]:
    """Send mutated frames on one connection after another until ``stop``; how they ended."""
    outcomes: collections.Counter[str] = collections.Counter()
    probe = protocol.encode(protocol.SyncStep1(b"\x00"))
    while not stop.is_set():
        try:
            async with websockets.connect(f"{ws_url}/{ROOM}", max_size=None) as ws:
                while not stop.is_set():
                    for _ in range(20):
                        await ws.send(mutate(rng, seeds))
                        outcomes["frames"] += 1
                    await ws.send(probe)  # paced by the server's answer
                    while (await asyncio.wait_for(ws.recv(), 30))[:2] != b"\x00\x01":
                        pass
        except websockets.ConnectionClosed as exc:
            code = exc.rcvd.code if exc.rcvd is not None else None
            outcomes[str(code)] += 1
    return outcomes


async def _relay_latency(server: Server, stop: asyncio.Event) -> list[float]:
    """Relay latencies (seconds) of an unrelated room: one writer, one reader."""
    latencies: list[float] = []
    async with PyClient(server.ws_url, OTHER) as writer, PyClient(server.ws_url, OTHER) as reader:
        for i in range(1_000_000):
            if stop.is_set():
                break
            marker = f"{i};"
            started = time.monotonic()
            writer.text().insert(0, marker)
            await reader.wait_for(lambda m=marker: str(reader.text()).startswith(m), 60)
            latencies.append(time.monotonic() - started)
            await asyncio.sleep(0.05)
    return latencies


def peak_rss_kib(pid: int) -> int:
    """The process' peak resident set (``VmHWM``), in KiB (0 when unknown)."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


async def fuzz_with_editors(
    folder: Path, seconds: float, seed: int, fuzzers: int = 3
) -> dict[str, Any]:
    """Run the scene for ``seconds`` and return its summary (see the module docstring)."""
    ensure_node_modules()
    rng = random.Random(seed)
    seeds = corpus() + ghost_seeds(rng, 400)
    server = Server(folder / "editors.db")
    server.start()
    stop = asyncio.Event()
    peers: list[NodePeer] = []
    try:
        peers = [await NodePeer.start(server.ws_url, ROOM) for _ in range(2)]
        for peer in peers:
            await peer.call("wait_synced", timeout=30)
        py = await PyClient(server.ws_url, ROOM).connect()
        started = time.monotonic()
        typing = [
            asyncio.create_task(_type_yjs(peer, random.Random(seed + i), stop))
            for i, peer in enumerate(peers)
        ]
        typing.append(asyncio.create_task(_type_py(py, random.Random(seed + 9), stop)))
        fuzzing = [
            asyncio.create_task(_fuzz(server.ws_url, seeds, random.Random(seed + 100 + i), stop))
            for i in range(fuzzers)
        ]
        latency = asyncio.create_task(_relay_latency(server, stop))
        await asyncio.sleep(seconds)
        stop.set()
        try:
            typed = sum(await asyncio.gather(*typing))
        except NodePeerError as exc:  # a Yjs editor threw on something the server relayed
            stop.set()
            raise FuzzFailure(f"an honest Yjs editor died: {exc}") from exc
        outcomes: collections.Counter[str] = collections.Counter()
        for counter in await asyncio.gather(*fuzzing):
            outcomes.update(counter)
        latencies = await latency
        elapsed = time.monotonic() - started
        await py.barrier()
        texts = await _converged(server, peers, py)
        rss = peak_rss_kib(server.proc.pid) if server.proc is not None else 0
        await py.close()
    finally:
        stop.set()
        for peer in peers:
            await peer.close()
        server.stop()
    frames = outcomes.pop("frames", 0)
    lengths = {name: len(text) for name, text in texts.items()}
    return {
        "seconds": round(elapsed, 1),
        "frames": frames,
        "frames_per_second": round(frames / elapsed),
        "connections_closed": dict(outcomes),
        "honest_edits": typed,
        "text_lengths": lengths,
        "divergence": len(set(texts.values())) != 1,
        "other_room_relays": len(latencies),
        "other_room_p50_ms": round(statistics.median(latencies) * 1000, 2) if latencies else None,
        "other_room_p99_ms": round(_p99(latencies) * 1000, 2) if latencies else None,
        "other_room_max_ms": round(max(latencies) * 1000, 2) if latencies else None,
        "peak_rss_mib": round(rss / 1024, 1),
    }


def _p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


async def _converged(server: Server, peers: list[NodePeer], py: PyClient) -> dict[str, str]:
    """The texts once every editor holds what the server holds (or after 60 s)."""
    deadline = time.monotonic() + 60
    async with httpx.AsyncClient(base_url=server.http_url, timeout=30) as http:
        while True:
            # the server's document as pycrdt holds it, and as a Yjs client decodes its state
            # (the "text" root may also hold map entries from fuzzed updates: both ignore them)
            state = (await http.get(f"/api/documents/{ROOM}/update")).content
            served = str(apply_all(Doc(), [state]).get("text", type=Text))
            (decoded,) = await asyncio.to_thread(yjs_apply, [state])
            texts = {"server": served, "server_in_yjs": decoded["texts"]["text"]}
            texts["pycrdt"] = str(py.text())
            for i, peer in enumerate(peers):
                texts[f"yjs{i}"] = (await peer.call("get_text"))["text"]
            if len(set(texts.values())) == 1 or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.2)
    async with NodePeer(server.ws_url, ROOM) as fresh:
        await fresh.call("wait_synced", timeout=60)
        texts["fresh_yjs"] = (await fresh.call("get_text"))["text"]
    return texts


def run(seconds: float, seed: int) -> dict[str, Any]:
    """:func:`fuzz_with_editors` in a temporary folder."""
    with tempfile.TemporaryDirectory() as folder:
        return asyncio.run(fuzz_with_editors(Path(folder), seconds, seed))
