"""The scenarios where servers of this kind break in the field (issue 27), for bench.load:

(g) observers: one writer, 1,500 readers; (h) presence storms: every client moves its cursor
(an awareness update) once a second, or ten times; (i) a join storm on a 20 MB document, warm
and after a restart; (j) resident memory per open document of 1, 5 and 20 MB.

The crowds are cheap for the load generator: one process, one socket per client, and clients
that only need to be there count the bytes they receive without parsing them.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from bench import bigdoc, procstat, yproto
from bench.load import (
    LatencyReader,
    Peer,
    ScenarioError,
    Target,
    _probe_state,
    close_all,
    cpu_self,
    now,
    open_all,
    percentile,
    quantiles,
    server_closed,
    wait_until,
    writer_streams,
)
from bench.profiles import Profile
from bench.yproto import read_var_uint, var_uint


def _pids(target: Target) -> list[int]:
    return procstat.descendants(target.pids[0]) if target.pids else []


# -- (g) observers -------------------------------------------------------------------------------


async def observers(target: Target, profile: Profile) -> dict[str, Any]:
    """(g) one writer at a fixed rate, a crowd of readers: delivery latency, server CPU, RSS."""
    cfg = profile.observers
    src = writer_streams(profile)[0]
    n = min(cfg["updates"], len(src.updates))
    ends = src.ends[:n]
    sent: list[float | None] = [None] * n
    room = "observers"
    writer = Peer(target, room)
    readers = [LatencyReader(target, room, src.client, ends, sent) for _ in range(cfg["readers"])]
    await open_all([writer, *readers], concurrency=100, timeout=cfg["join_timeout"])
    await asyncio.sleep(cfg["settle"])
    frames = [writer.frame(yproto.update_frame(u)) for u in src.updates[:n]]
    interval = 1.0 / cfg["rate"]
    pids = _pids(target)
    cpu0, server0 = cpu_self(), procstat.cpu_seconds(pids)
    start = now() + 0.02
    assert writer.conn is not None
    for i, frame in enumerate(frames):
        delay = start + i * interval - now()
        if delay > 0:
            await asyncio.sleep(delay)
        sent[i] = now()
        writer.conn.write(frame)
    written = now()
    server_cpu = (procstat.cpu_seconds(pids) - server0) / (written - start) * 100
    rss = procstat.rss_bytes(pids)
    client_cpu = (cpu_self() - cpu0) / (written - start) * 100
    finished = await wait_until(lambda: all(r.next >= n for r in readers), cfg["drain_timeout"])
    closed = server_closed([writer, *readers])
    close_all([writer, *readers])
    latencies = sorted(x * 1000 for r in readers for x in r.latencies)
    if not latencies:
        raise ScenarioError("no update reached any reader")
    missing = n * len(readers) - len(latencies)
    out: dict[str, Any] = {
        "p50_ms": percentile(latencies, 0.50),
        "p99_ms": percentile(latencies, 0.99),
        "max_ms": latencies[-1],
        "samples": len(latencies),
        "missing": missing,
        "server_cpu_percent": server_cpu,
        "rss_mib": rss / 2**20,
        "client_cpu_percent": client_cpu,
        "quantiles_ms": quantiles(latencies),
    }
    if not finished:
        out["error"] = f"{missing} of {n * len(readers)} deliveries missing after the drain"
    if closed:
        out["error"] = closed
    return out


# -- (h) presence storms -----------------------------------------------------------------------

AWARENESS_BASE = 1_000_000
"""Awareness client id of the first presence client (client ``i`` is ``AWARENESS_BASE + i``)."""


def awareness_frame(client_id: int, clock: int) -> bytes:
    """A y-protocols awareness message: one client's state, an editor's user and cursor (the
    relative positions y-prosemirror puts there), moved to ``clock``."""
    state = {
        "user": {"name": f"user {client_id % 10_000}", "color": "#30bced"},
        "cursor": {
            "anchor": {"type": None, "tname": "text", "item": {"client": 7, "clock": clock}},
            "head": {"type": None, "tname": "text", "item": {"client": 7, "clock": clock + 3}},
        },
    }
    entry = var_uint(client_id) + var_uint(clock) + yproto.var_string(json.dumps(state))
    return bytes((yproto.MSG_AWARENESS,)) + yproto.var_bytes(var_uint(1) + entry)


class PresencePeer(Peer):
    """A client that moves its cursor; as an observer it also times every other client's move
    from its send to its arrival here (only moves sent inside ``window``)."""

    def __init__(
        self,
        target: Target,
        room: str,
        client_id: int,
        sent: dict[int, list[float]],
        window: list[float],
    ) -> None:
        super().__init__(target, room)
        self.client_id = client_id
        self.sent = sent
        self.window = window
        self.latencies: list[float] = []
        self.seen: dict[int, int] = {}  # client id -> the last clock received

    def on_message(self, p: bytes, off: int, t: float) -> None:
        if len(p) > off and p[off] == yproto.MSG_AWARENESS:
            _, pos = read_var_uint(p, off + 1)
            count, pos = read_var_uint(p, pos)
            start, stop = self.window
            for _ in range(count):
                client, pos = read_var_uint(p, pos)
                clock, pos = read_var_uint(p, pos)
                size, pos = read_var_uint(p, pos)
                pos += size
                times = self.sent.get(client)
                if times is None or client == self.client_id or clock >= len(times):
                    continue
                # A newer state stands for the moves it supersedes (a server may merge the
                # moves of one client read together): they arrive now.
                last = self.seen.get(client, 0)
                for k in range(last + 1, clock + 1):
                    at = times[k]
                    if start <= at < stop:
                        self.latencies.append(t - at)
                if clock > last:
                    self.seen[client] = clock
            return
        super().on_message(p, off, t)


async def _presence(target: Target, cfg: dict[str, Any]) -> dict[str, Any]:
    count, rate = cfg["clients"], cfg["rate"]
    total = cfg["warmup"] + cfg["measure"]
    moves = int(total * rate) + 2
    sent: dict[int, list[float]] = {}
    window = [float("inf"), float("inf")]
    room = "presence"
    peers = []
    for i in range(count):
        sent[AWARENESS_BASE + i] = [float("inf")] * (moves + 1)
        peers.append(PresencePeer(target, room, AWARENESS_BASE + i, sent, window))
    await open_all(peers, concurrency=100, timeout=cfg["join_timeout"])
    watching = peers[: cfg["observers"]]
    for peer in peers[cfg["observers"] :]:
        assert peer.conn is not None
        peer.conn.mute = True  # the crowd only counts bytes
    await asyncio.sleep(cfg["settle"])
    schedule = sorted(
        ((k + i / count) / rate, i, k + 1) for i in range(count) for k in range(int(total * rate))
    )
    pids = _pids(target)
    marks: dict[str, float] = {}

    async def sample() -> None:
        await asyncio.sleep(cfg["warmup"])
        marks["t0"], marks["cpu0"] = now(), procstat.cpu_seconds(pids)
        marks["bytes0"] = sum(p.conn.bytes_received for p in peers if p.conn)
        window[0] = marks["t0"]
        await asyncio.sleep(cfg["measure"])
        window[1] = now()
        marks["t1"], marks["cpu1"] = window[1], procstat.cpu_seconds(pids)
        marks["bytes1"] = sum(p.conn.bytes_received for p in peers if p.conn)

    sampler = asyncio.create_task(sample())
    cpu0 = cpu_self()
    start = now()
    in_window = 0
    for at, i, clock in schedule:
        delay = start + at - now()
        if delay > 0:
            await asyncio.sleep(delay)
        peer = peers[i]
        assert peer.conn is not None
        t = now()
        sent[peer.client_id][clock] = t
        peer.conn.write(peer.frame(awareness_frame(peer.client_id, clock)))
        if window[0] <= t:
            in_window += 1
    await sampler
    last = {peer.client_id: int(total * rate) for peer in peers}  # every client's last move
    await wait_until(
        lambda: all(
            all(p.seen.get(c, 0) >= k for c, k in last.items() if c != p.client_id)
            for p in watching
        ),
        cfg["drain"],
        0.05,
    )
    client_cpu = (cpu_self() - cpu0) / (now() - start) * 100
    closed = server_closed(peers)
    close_all(peers)
    dt = marks["t1"] - marks["t0"]
    latencies = sorted(x * 1000 for p in watching for x in p.latencies)
    if not latencies:
        raise ScenarioError("no awareness update reached an observer")
    # every move sent in the window, seen by every observer but its sender
    expected = sum(
        1
        for peer in peers
        for at in sent[peer.client_id]
        if marks["t0"] <= at < marks["t1"]
        for _ in range(len(watching) - (peer in watching))
    )
    out: dict[str, Any] = {
        "aw_p50_ms": percentile(latencies, 0.50),
        "aw_p95_ms": percentile(latencies, 0.95),
        "aw_p99_ms": percentile(latencies, 0.99),
        "server_cpu_percent": (marks["cpu1"] - marks["cpu0"]) / dt * 100,
        "bytes_sent_per_s": (marks["bytes1"] - marks["bytes0"]) / dt,
        "samples": len(latencies),
        "delivered_share": len(latencies) / expected if expected else None,
        "moves_in_window": in_window,
        "client_cpu_percent": client_cpu,
    }
    if closed:
        out["error"] = closed
    return out


async def presence(target: Target, profile: Profile) -> dict[str, Any]:
    """(h) 500 clients on one document, each moving its cursor once a second."""
    return await _presence(target, profile.presence)


async def presence_fast(target: Target, profile: Profile) -> dict[str, Any]:
    """(h') 200 clients, each moving its cursor ten times a second."""
    return await _presence(target, profile.presence_fast)


# -- large documents -----------------------------------------------------------------------------


def _encode_state_vector(state: dict[int, int]) -> bytes:
    out = [var_uint(len(state))]
    for client, clock in sorted(state.items(), reverse=True):
        out += [var_uint(client), var_uint(clock)]
    return b"".join(out)


class SeedPeer(Peer):
    """A writer that can wait for the server's answer to its sync step 1 (a round trip)."""

    def __init__(self, target: Target, room: str) -> None:
        super().__init__(target, room)
        self.answered = asyncio.Event()

    def on_message(self, p: bytes, off: int, t: float) -> None:
        if p[off : off + 2] == bytes((yproto.MSG_SYNC, yproto.SYNC_STEP2)):
            self.answered.set()
        super().on_message(p, off, t)


async def seed(target: Target, room: str, doc: bigdoc.BigDocument, timeout: float) -> Peer:
    """Write ``doc`` into ``room`` (one update message per copy, each followed by a sync step 1
    whose answer paces the next: no server has more than one copy unread) and wait until the
    server has all of it; returns the writer, still connected (the document stays open)."""
    writer = SeedPeer(target, room)
    await open_all([writer])
    conn = writer.conn
    assert conn is not None
    written: dict[int, int] = {}
    deadline = now() + timeout
    for update, (client, clock) in zip(doc.updates, doc.state_vector.items(), strict=True):
        written[client] = clock
        writer.answered.clear()
        conn.write(writer.frame(yproto.update_frame(update)))
        conn.send(yproto.step1_frame(_encode_state_vector(written)))
        try:
            await asyncio.wait_for(writer.answered.wait(), max(0.1, deadline - now()))
        except TimeoutError:
            raise ScenarioError(server_closed([writer]) or "no answer while seeding") from None
    state_vector = _encode_state_vector(doc.state_vector)
    deadline = now() + timeout
    while now() < deadline and not conn.closed.done():
        try:
            state = await _probe_state(target, room, state_vector, 30.0)
        except (TimeoutError, ConnectionError, OSError):
            state = {}
        if all(state.get(c, 0) >= clock for c, clock in doc.state_vector.items()):
            return writer
        await asyncio.sleep(0.2)
    raise ScenarioError(server_closed([writer]) or f"the document was not there after {timeout} s")


class JoinPeer(Peer):
    """A fresh client that only receives the document (one of them keeps it, to check it:
    every update up to and with the sync step 2, since a server may send a large state as
    update messages ending with a sync step 2, as y-protocols allows and collab does)."""

    def __init__(self, target: Target, room: str, keep: bool = False) -> None:
        super().__init__(target, room)
        self.keep = keep
        self.received = 0
        self.parts: list[bytes] = []

    @property
    def payload(self) -> list[bytes] | None:
        """What the keeping joiner received until synced, in order (``None``: nothing)."""
        return self.parts or None

    def on_update(self, p: bytes, start: int, stop: int, t: float) -> None:
        self.received += stop - start
        if self.keep and not self.synced.done():
            self.parts.append(p[start:stop])


def _checked(result: dict[str, Any], expected: dict[int, int]) -> dict[str, Any]:
    """``result`` of a storm, its timings dropped when the sync step 2 one joiner kept is not
    the whole document (a server answering before it loaded the document from storage: its
    joiners were not synced, whatever came later)."""
    problem = _check_state(result.pop("kept"), expected)
    if problem and "error" not in result:
        result["error"] = problem
        for key in ("p50_s", "p99_s", "max_s", "peak_rss_mib"):
            result.pop(key, None)
    return result


def _check_state(payload: list[bytes] | None, expected: dict[int, int]) -> str | None:
    """Why the updates ``payload`` (up to and with the sync step 2) are not the whole
    document, or ``None``."""
    if payload is None:
        return "no sync step 2 kept"
    from pycrdt import Doc

    doc: Doc = Doc()
    for part in payload:
        doc.apply_update(part)
    state = yproto.decode_state_vector(doc.get_state())
    short = [c for c, clock in expected.items() if state.get(c, 0) < clock]
    return f"sync step 2 lacks {len(short)} of {len(expected)} clients" if short else None


async def storm(target: Target, room: str, count: int, timeout: float) -> dict[str, Any]:
    """``count`` fresh clients join ``room`` at once: seconds until each has sync step 2,
    and the server's peak RSS meanwhile."""
    pids = _pids(target)
    peers = [JoinPeer(target, room, keep=i == 0) for i in range(count)]

    async def one(peer: JoinPeer) -> float:
        t0 = now()
        await asyncio.wait_for(peer.open(), timeout)
        t1 = await asyncio.wait_for(asyncio.shield(peer.synced), max(0.1, timeout - (now() - t0)))
        return float(t1 - t0)

    peak = procstat.PeakRss(pids)
    try:
        results = await asyncio.gather(*(one(p) for p in peers), return_exceptions=True)
    finally:
        await peak.stop()
    closed = server_closed(peers)
    close_all(peers)
    times = sorted(r for r in results if isinstance(r, float))
    failed = [r for r in results if not isinstance(r, float)]
    out: dict[str, Any] = {"peak_rss_mib": peak.peak / 2**20, "joined": len(times)}
    if failed:  # figures over the joins that made it would flatter the server
        del out["peak_rss_mib"]
    elif times:
        out.update(p50_s=percentile(times, 0.5), p99_s=percentile(times, 0.99), max_s=times[-1])
    if failed:
        kinds = sorted({type(r).__name__ for r in failed})
        out["error"] = f"{len(failed)} of {count} joins failed ({', '.join(kinds)})"
    elif closed:
        out["error"] = closed
    out["kept"] = peers[0].payload
    return out


JOIN_ROOM = "join-storm"


def _big(profile: Profile, key: str, index: int = 0) -> bigdoc.BigDocument:
    cfg = getattr(profile, key)
    mib = cfg["sizes_mb"][index] if "sizes_mb" in cfg else cfg["size_mb"]
    return bigdoc.build(profile.ingest_trace, profile.ingest_limit, int(mib * 2**20), 1000 * index)


async def join_storm(target: Target, profile: Profile) -> dict[str, Any]:
    """(i) a large document, then a crowd of fresh clients joining it at once (warm)."""
    cfg = profile.join_storm
    doc = _big(profile, "join_storm")
    writer = await seed(target, JOIN_ROOM, doc, cfg["seed_timeout"])
    await asyncio.sleep(cfg["settle"])
    result = await storm(target, JOIN_ROOM, cfg["joiners"], cfg["timeout"])
    writer.close()
    return {**_checked(result, doc.state_vector), "document_bytes": doc.size}


async def join_storm_cold(target: Target, profile: Profile) -> dict[str, Any]:
    """(i, cold) the same crowd on the first load after a restart."""
    cfg = profile.join_storm
    doc = _big(profile, "join_storm")
    result = await storm(target, JOIN_ROOM, cfg["joiners"], cfg["timeout"])
    return _checked(result, doc.state_vector)


MEMORY_LABELS = ("1mb", "5mb", "20mb")


async def doc_memory(target: Target, profile: Profile) -> dict[str, Any]:
    """(j) RSS growth per open document of each size, against its encoded size: the
    documents are opened one after the other, each kept open by its writer. Each size is
    measured while active (``settle`` seconds after its last write); then, with the three
    still open, after ``idle`` seconds without a write, as a user's quiet documents are
    (a server may unload idle documents: collab hibernates them after 30 s), the growth of
    all three over their total encoded size (``x_size_idle``), beside the same while they
    were active (``x_size_active``)."""
    cfg = profile.doc_memory
    pids = _pids(target)
    writers = []
    out: dict[str, Any] = {}
    await asyncio.sleep(cfg["settle"])
    first = procstat.rss_bytes(pids)
    warm_bytes = 0
    for i in range(cfg.get("warmups", 0)):  # what a process pays once is paid on these
        warm = bigdoc.build(
            profile.ingest_trace,
            profile.ingest_limit,
            int(cfg["warmup_mb"] * 2**20),
            1000 * (len(MEMORY_LABELS) + i),
        )
        writers.append(await seed(target, f"memory-warmup-{i}", warm, cfg["seed_timeout"]))
        warm_bytes += warm.size
    if warm_bytes:
        await asyncio.sleep(cfg["settle"])
        out["mib_warmup"] = (procstat.rss_bytes(pids) - first) / 2**20
        out["bytes_warmup"] = warm_bytes
    await asyncio.sleep(cfg["settle"])
    start = before = procstat.rss_bytes(pids)
    out["rss_before_mib"] = before / 2**20
    total = 0
    try:
        for i, label in enumerate(MEMORY_LABELS):
            doc = _big(profile, "doc_memory", i)
            writers.append(await seed(target, f"memory-{label}", doc, cfg["seed_timeout"]))
            await asyncio.sleep(cfg["settle"])
            after = procstat.rss_bytes(pids)
            out[f"mib_{label}"] = (after - before) / 2**20
            out[f"x_size_{label}"] = (after - before) / doc.size
            out[f"bytes_{label}"] = doc.size
            total += doc.size
            before = after
        out["x_size_active"] = (before - start) / total
        await asyncio.sleep(cfg["idle"])
        idle = procstat.rss_bytes(pids)
        out["mib_idle"] = (idle - start) / 2**20
        out["x_size_idle"] = (idle - start) / total
        out["idle_seconds"] = cfg["idle"]
        closed = server_closed(writers)
    finally:
        close_all(writers)
    if closed:
        out["error"] = closed
    return out


SCENARIOS = {
    "observers": observers,
    "presence": presence,
    "presence_fast": presence_fast,
    "join_storm": join_storm,
    "join_storm_cold": join_storm_cold,
    "doc_memory": doc_memory,
}
