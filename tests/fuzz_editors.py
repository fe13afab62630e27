"""``scripts/fuzz --editors SECONDS``: hostile frames beside honest editors (issue 19).

A real server; in one room two honest Yjs editors (Node, real ``yjs`` and ``y-websocket``,
``tests/e2e/node/peer.mjs``) and a pycrdt editor type at random places while fuzzing
connections send mutated frames into the same room: the corpus of ``tests/test_fuzz.py`` and
mutations of a ghost editor's updates (a pycrdt document that types and is never connected,
so its structs name clients and clocks close to the room's). Meanwhile, in an unrelated
room, one client writes and another times each relay.

At the end, typing and fuzzing stop, and the server, every editor and a fresh Yjs client
must hold the same text: a refused update never changed the server's document, and nothing
the server accepted decodes differently in Yjs. Every honest edit must reach the fresh
client: its state vector covers every editor's (an edit is a run of structs; one left out,
or stored in place of the editor's own at its clock, leaves the fresh client short of that
editor's clock). Then the server is sent SIGTERM with the editors still connected and must
exit 0; started again (the editors gone), it must load the same document. The summary gives
frames, rate, how the fuzzing connections ended, the texts' lengths, divergence, the honest
structs the fresh client misses, the recovery time (from the input's stop until every
editor holds the server's document and a new document's first write is relayed), the other
room's relay latencies, the server's peak RSS (``VmHWM``) and its RSS at the end, and the
SIGTERM stop's time and exit status.

The honest editors' own updates are not mutated: structs of a live editor's client id from
another connection are refused by the server (tests/e2e/test_client_ids.py), so they would
only measure that refusal; the ghost's structs name clients and clocks close to the room's.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import contextlib
import random
import shutil
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
from collab.updates import state_vector
from tests.e2e.conftest import Server
from tests.e2e.nodepeer import NodePeer, NodePeerError, ensure_node_modules
from tests.e2e.pyclient import PyClient
from tests.e2e.test_ops import metric
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


async def _relay_latency(
    server: Server, stop: asyncio.Event, slow: list[tuple[float, float]] | None = None
) -> list[float]:
    """Relay latencies (seconds) of an unrelated room: one writer, one reader; those over
    0.5 s also go to ``slow`` as (wall-clock start, seconds), to match the server's log."""
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
            if slow is not None and latencies[-1] > 0.5:
                slow.append((time.time() - latencies[-1], latencies[-1]))
            await asyncio.sleep(0.05)
    return latencies


def peak_rss_kib(pid: int, field: str = "VmHWM") -> int:
    """The process' peak resident set (``VmHWM``; ``VmRSS``: the current one), in KiB (0
    when unknown)."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
    return 0


def missing_structs(editors: dict[str, dict[int, int]], fresh: dict[int, int]) -> int:
    """How many structs (clock units) of the editors' state vectors ``fresh`` lacks."""
    return sum(
        max(0, clock - fresh.get(client, 0))
        for vector in editors.values()
        for client, clock in vector.items()
    )


async def _first_write_relayed(server: Server) -> None:
    """A new document's first write reaches a second client (the server serves again)."""
    name = f"fuzz/after-{time.monotonic_ns()}"
    async with PyClient(server.ws_url, name) as writer, PyClient(server.ws_url, name) as reader:
        writer.text().insert(0, "back")
        await reader.wait_for(lambda: str(reader.text()) == "back", 120)


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
        slow: list[tuple[float, float]] = []
        latency = asyncio.create_task(_relay_latency(server, stop, slow))
        await asyncio.sleep(seconds)
        stop.set()
        stopped = time.monotonic()
        try:
            typed = sum(await asyncio.gather(*typing))
        except NodePeerError as exc:  # a Yjs editor threw on something the server relayed
            stop.set()
            raise FuzzFailure(f"an honest Yjs editor died: {exc}") from exc
        outcomes: collections.Counter[str] = collections.Counter()
        for counter in await asyncio.gather(*fuzzing):
            outcomes.update(counter)
        latencies = await latency
        elapsed = stopped - started
        await py.barrier()
        texts, vectors = await _converged(server, peers, py)
        ids = {"pycrdt": py.doc.client_id}
        for i, peer in enumerate(peers):
            ids[f"yjs{i}"] = (await peer.call("client_id"))["client_id"]
        await _first_write_relayed(server)
        recovery = time.monotonic() - stopped
        assert server.proc is not None
        rss = peak_rss_kib(server.proc.pid)
        rss_end = peak_rss_kib(server.proc.pid, "VmRSS")
        async with httpx.AsyncClient(base_url=server.http_url, timeout=30) as http:
            scraped = (await http.get("/metrics")).text
        committed = metric(scraped, "collab_updates_committed_total")
        # SIGTERM with the editors still connected: a clean stop closes them and exits 0
        terminating = time.monotonic()
        status = server.stop(timeout=60)
        sigterm_seconds = time.monotonic() - terminating
        await py.close()
        for peer in peers:  # gone before the restart: they would send their state again
            await peer.close()
        # what was stored: the document a restarted server loads (the database as the first
        # server left it is kept beside it: the restarted one may compact it on load)
        for path in folder.glob("editors.db*"):
            shutil.copyfile(path, folder / path.name.replace("editors", "before_restart"))
        server.start(timeout=120)
        async with httpx.AsyncClient(base_url=server.http_url, timeout=120) as http:
            stored = (await http.get(f"/api/documents/{ROOM}/update")).content
        texts["after_restart"] = str(apply_all(Doc(), [stored]).get("text", type=Text))
        if texts["after_restart"] != texts["server"]:  # kept beside the database, to minimise
            (folder / "restart_state.bin").write_bytes(stored)
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
        "updates_committed": int(committed),
        "text_lengths": lengths,
        "divergence": len(set(texts.values())) != 1,
        "honest_structs": sum(vectors[name].get(ids[name], 0) for name in ids),
        "honest_structs_missing": missing_structs(
            {name: vectors[name] for name in ids}, vectors["fresh_yjs"]
        ),
        "recovery_seconds": round(recovery, 2),
        "other_room_relays": len(latencies),
        "other_room_p50_ms": round(statistics.median(latencies) * 1000, 2) if latencies else None,
        "other_room_p99_ms": round(_p99(latencies) * 1000, 2) if latencies else None,
        "other_room_max_ms": round(max(latencies) * 1000, 2) if latencies else None,
        "other_room_slow": [
            (time.strftime("%H:%M:%S", time.gmtime(at)), round(seconds * 1000))
            for at, seconds in slow[:20]
        ],
        "peak_rss_mib": round(rss / 1024, 1),
        "end_rss_mib": round(rss_end / 1024, 1),
        "sigterm_stop_seconds": round(sigterm_seconds, 2),
        "sigterm_exit_status": status,
    }


def _p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


async def _converged(
    server: Server, peers: list[NodePeer], py: PyClient
) -> tuple[dict[str, str], dict[str, dict[int, int]]]:
    """The texts once every editor holds what the server holds (or after 120 s), and the
    state vectors of the editors and of a fresh Yjs client."""
    deadline = time.monotonic() + 120
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
                (server.db_path.parent / "server_state.bin").write_bytes(state)
                break
            await asyncio.sleep(0.2)
    vectors = {"pycrdt": state_vector(py.doc.get_state())}
    for i, peer in enumerate(peers):
        vectors[f"yjs{i}"] = await _vector(peer)
    async with NodePeer(server.ws_url, ROOM) as fresh:
        await fresh.call("wait_synced", timeout=60)
        texts["fresh_yjs"] = (await fresh.call("get_text"))["text"]
        vectors["fresh_yjs"] = await _vector(fresh)
        if len(set(texts.values())) != 1:  # kept beside the database, to minimise
            fresh_state = base64.b64decode((await fresh.call("state_update"))["update"])
            (server.db_path.parent / "fresh_yjs_state.bin").write_bytes(fresh_state)
    return texts, vectors


async def _vector(peer: NodePeer) -> dict[int, int]:
    encoded = (await peer.call("state_vector"))["state_vector"]
    return state_vector(base64.b64decode(encoded))


def run(seconds: float, seed: int, keep: Path | None = None) -> dict[str, Any]:
    """:func:`fuzz_with_editors` in a temporary folder, or in ``keep`` (kept: the database,
    the server's log, the server's state once the editors converged, and on a divergence a
    fresh client's state and the state a restarted server loaded)."""
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        return asyncio.run(fuzz_with_editors(keep, seconds, seed))
    with tempfile.TemporaryDirectory() as folder:
        return asyncio.run(fuzz_with_editors(Path(folder), seconds, seed))
