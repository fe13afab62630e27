"""The load generator: one client process driving one server through one scenario.

Run by the orchestrator as ``python -m bench.load TARGET_JSON SCENARIO PROFILE OUT_JSON``.
Writers send updates precomputed from the editing traces; readers only parse frames and match
what they receive to what was sent by the clock ranges it covers. Every loop is bounded in count
and in time; a scenario that cannot finish in time reports what it got and an ``error``.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import json
import resource
import sys
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from bench import procstat, yproto
from bench.profiles import Profile, get_profile
from bench.traces import TEXT_NAME, Stream, stream, streams
from bench.wsclient import WSConnection, client_frame, connect
from bench.yproto import read_var_uint

now = time.perf_counter


class ScenarioError(RuntimeError):
    pass


@dataclass
class Target:
    """Where the server under test listens and how it frames messages."""

    name: str
    host: str
    port: int
    framing: str  # "y-websocket" or "hocuspocus"
    path_prefix: str  # "/sync/" for collab, "/hocuspocus" for its Hocuspocus endpoint, "/" else
    pids: list[int]
    # Several nodes (processes on their own ports, sharing a Redis): the clients alternate
    # between them in the order they are made (``port`` is the first).
    ports: list[int] = field(default_factory=list)
    _made: int = field(default=0, init=False)

    def next_port(self) -> int:
        """The port of the next client: ``port``, or the nodes' ports in turn."""
        if not self.ports:
            return self.port
        port = self.ports[self._made % len(self.ports)]
        self._made += 1
        return port

    def server_pids(self) -> list[int]:
        """The processes of the server (every node's, with their children)."""
        return [p for pid in self.pids for p in procstat.descendants(pid)]

    def path(self, room: str) -> str:
        """The WebSocket path: one per room, or one for every room with Hocuspocus framing."""
        return self.path_prefix if self.framing == "hocuspocus" else self.path_prefix + room


# -- peers -------------------------------------------------------------------------------------


class Peer:
    """A y-websocket (or Hocuspocus) client without a document: it answers the handshake and
    hands every received update to :meth:`on_update`."""

    def __init__(self, target: Target, room: str) -> None:
        self.target = target
        self.room = room
        self.hocuspocus = target.framing == "hocuspocus"
        self.prefix = yproto.hocuspocus_prefix(room) if self.hocuspocus else b""
        self.conn: WSConnection | None = None
        self.port = target.next_port()
        self.synced = asyncio.get_running_loop().create_future()
        self.server_state: bytes | None = None
        self.state_received = asyncio.get_running_loop().create_future()

    async def open(self, state_vector: bytes = yproto.EMPTY_STATE_VECTOR) -> Peer:
        t = self.target
        self.conn = await connect(
            t.host, self.port, t.path(self.room), self.prefix, on_message=self.on_message
        )
        if self.hocuspocus:
            self.conn.write(client_frame(yproto.hocuspocus_auth(self.room)))
        self.conn.send(yproto.step1_frame(state_vector))
        return self

    def frame(self, message: bytes) -> bytes:
        """``message`` as a complete client frame for this peer (with its prefix)."""
        return client_frame(self.prefix + message)

    def on_message(self, p: bytes, off: int, t: float) -> None:
        if len(p) <= off:
            if len(p) == 1 and p[0] == yproto.HP_PING and self.conn is not None:
                self.conn.write(client_frame(bytes((yproto.HP_PONG,))))
            return
        kind = p[off]
        if kind == yproto.MSG_SYNC:
            sync_type = p[off + 1]
            size, pos = read_var_uint(p, off + 2)
            if sync_type == yproto.SYNC_UPDATE:
                self.on_update(p, pos, pos + size, t)
            elif sync_type == yproto.SYNC_STEP2:
                self.on_update(p, pos, pos + size, t)
                if not self.synced.done():
                    self.synced.set_result(t)
            elif sync_type == yproto.SYNC_STEP1:
                self.server_state = p[pos : pos + size]
                if not self.state_received.done():
                    self.state_received.set_result(t)
                if self.conn is not None:
                    self.conn.send(yproto.step2_frame(self.reply_to_step1(self.server_state)))
        elif kind == yproto.MSG_AUTH and p[off + 1 : off + 2] == b"\x01" and not self.synced.done():
            self.synced.set_exception(ScenarioError("permission denied by the server"))

    def reply_to_step1(self, state_vector: bytes) -> bytes:
        return yproto.EMPTY_UPDATE

    def on_update(self, p: bytes, start: int, stop: int, t: float) -> None:
        pass

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()


class DocPeer(Peer):
    """A fresh client holding a real pycrdt document; ``done`` resolves when its text is
    ``expected``."""

    def __init__(self, target: Target, room: str, expected: str) -> None:
        super().__init__(target, room)
        from pycrdt import Doc, Text

        self.doc: Any = Doc()
        self.text = self.doc.get(TEXT_NAME, type=Text)
        self.expected = expected
        self.expected_len = len(expected)
        self.done = asyncio.get_running_loop().create_future()

    def on_update(self, p: bytes, start: int, stop: int, t: float) -> None:
        self.doc.apply_update(p[start:stop])
        if (
            not self.done.done()
            and len(self.text) == self.expected_len
            and str(self.text) == self.expected
        ):
            self.done.set_result(now())

    def reply_to_step1(self, state_vector: bytes) -> bytes:
        return self.doc.get_update(state_vector)


class LatencyReader(Peer):
    """Records, for every update of one writer, the delay from its send to its arrival here."""

    cache: ClassVar[dict[bytes, list[tuple[int, int, int]]]] = {}

    def __init__(self, target: Target, room: str, client: int, ends: list[int], sent: list):
        super().__init__(target, room)
        self.client = client
        self.ends = ends
        self.sent = sent
        self.next = 0
        self.latencies: list[float] = []

    def on_update(self, p: bytes, start: int, stop: int, t: float) -> None:
        update = p[start:stop]
        ranges = self.cache.get(update)
        if ranges is None:
            ranges = yproto.clock_ranges(update)
            if len(self.cache) < 100_000:
                self.cache[update] = ranges
        for client, _, end in ranges:
            if client == self.client:
                i, ends, sent, n = self.next, self.ends, self.sent, len(self.ends)
                while i < n and ends[i] <= end:
                    if sent[i] is not None:
                        self.latencies.append(t - sent[i])
                    i += 1
                self.next = i


class CountingReader(Peer):
    """Counts bytes, and remembers the last single-writer update of each writer; the updates it
    has received are counted only at :meth:`snapshot`, so the per-frame cost stays tiny."""

    def __init__(self, target: Target, room: str, streams: dict[int, list[int]]) -> None:
        super().__init__(target, room)
        self.streams = streams
        self.max_end = dict.fromkeys(streams, 0)
        self.last: dict[int, tuple[bytes, int]] = {}

    def on_update(self, p: bytes, start: int, stop: int, t: float) -> None:
        if stop - start > 3 and p[start] == 1:
            pos = start + 1
            while p[pos] & 0x80:
                pos += 1
            client = p[pos + 1]
            if client < 0x80:
                self.last[client] = (p, start)
                return
        if p[start] != 0:
            self._account(p, start)

    def _account(self, p: bytes, start: int) -> None:
        for client, _, end in yproto.clock_ranges(p, start):
            if client in self.max_end and end > self.max_end[client]:
                self.max_end[client] = end

    def snapshot(self) -> int:
        """How many sent updates this reader has received so far."""
        for p, start in self.last.values():
            self._account(p, start)
        self.last.clear()
        return sum(bisect.bisect_right(self.streams[c], e) for c, e in self.max_end.items())


class EchoReader(CountingReader):
    """The reader whose receipts open the writers' windows: it parses every frame."""

    def __init__(self, target: Target, room: str, streams: dict[int, list[int]]) -> None:
        super().__init__(target, room, streams)
        self.wake = asyncio.Event()

    def on_update(self, p: bytes, start: int, stop: int, t: float) -> None:
        if p[start] != 0:
            self._account(p, start)
            self.wake.set()

    def delivered(self, client: int) -> int:
        return bisect.bisect_right(self.streams[client], self.max_end[client])


# -- helpers -------------------------------------------------------------------------------------


async def open_all(peers: Iterable[Peer], concurrency: int = 50, timeout: float = 60.0) -> None:
    """Open ``peers`` (at most ``concurrency`` handshakes at once) and wait until each synced.

    The first peer of each room is opened before the others join it: pycrdt-websocket fails
    when several clients create the same room at once ("YRoom already running").
    """
    sem = asyncio.Semaphore(concurrency)

    async def one(peer: Peer) -> None:
        async with sem:
            await peer.open()
            await asyncio.wait_for(asyncio.shield(peer.synced), timeout)

    firsts: dict[str, Peer] = {}
    rest = []
    for peer in peers:
        if peer.room in firsts:
            rest.append(peer)
        else:
            firsts[peer.room] = peer

    async def both() -> None:
        await asyncio.gather(*(one(p) for p in firsts.values()))
        await asyncio.gather(*(one(p) for p in rest))

    await asyncio.wait_for(both(), timeout)


def server_closed(peers: Iterable[Peer]) -> str | None:
    """A description of the connections the server closed, or ``None``."""
    codes = [
        p.conn.close_code if p.conn.close_code is not None else "no close frame"
        for p in peers
        if p.conn is not None and (p.conn.close_code is not None or p.conn.closed.done())
    ]
    if not codes:
        return None
    return f"the server closed {len(codes)} connection(s): {sorted(set(map(str, codes)))}"


def close_all(peers: Iterable[Peer]) -> None:
    for peer in peers:
        peer.close()


def node_cpu_seconds(target: Target) -> list[float]:
    """CPU seconds used so far by each node of the server (each of ``target.pids`` with its
    children; one entry for a single process)."""
    return [procstat.cpu_seconds(procstat.descendants(pid)) for pid in target.pids]


def cpu_figures(per_node: list[float]) -> dict[str, Any]:
    """The server's CPU (100% = one core): all its processes, the busiest node, each node."""
    return {
        "server_cpu_percent": sum(per_node),
        "server_cpu_max_node_percent": max(per_node, default=0.0),
        "server_cpu_percent_per_node": per_node,
    }


def cpu_self() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def quantiles(values: list[float], points: int = 200) -> list[float]:
    """``points + 1`` evenly spaced quantiles of ``values`` (for the charts)."""
    if not values:
        return []
    ordered = sorted(values)
    n = len(ordered)
    return [ordered[min(n - 1, round(i * (n - 1) / points))] for i in range(points + 1)]


def percentile(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def wait_until(predicate: Callable[[], bool], timeout: float, step: float = 0.01) -> bool:
    deadline = now() + timeout
    while not predicate():
        if now() > deadline:
            return False
        await asyncio.sleep(step)
    return True


def writer_streams(profile: Profile) -> list[Stream]:
    """The saturation writers' streams, lap by lap: writer ``i`` (from 0) of ``n`` writes
    streams ``i``, ``i + n``, ... one after the other (each lap a client id of its own, so a
    server that takes a writer's updates faster than one trace lasts still gets new ones)."""
    cfg = profile.saturation
    clients = list(range(1, cfg["writers"] * cfg["laps"] + 1))
    return streams(profile.writer_trace, clients, limit=profile.writer_limit, fold=True)


# -- scenarios -------------------------------------------------------------------------------------


async def fanout(target: Target, profile: Profile) -> dict[str, Any]:
    """(a) one writer at a fixed rate, many readers: delivery latency."""
    cfg = profile.fanout
    src = writer_streams(profile)[0]
    n = min(cfg["updates"], len(src.updates))
    ends = src.ends[:n]
    sent: list[float | None] = [None] * n
    room = "fanout"
    readers = [LatencyReader(target, room, src.client, ends, sent) for _ in range(cfg["readers"])]
    writer = Peer(target, room)
    await open_all([*readers, writer])
    await asyncio.sleep(cfg["settle"])
    frames = [writer.frame(yproto.update_frame(u)) for u in src.updates[:n]]
    interval = 1.0 / cfg["rate"]
    cpu0 = cpu_self()
    node_cpu0 = node_cpu_seconds(target)
    start = now() + 0.02
    for i, frame in enumerate(frames):
        delay = start + i * interval - now()
        if delay > 0:
            await asyncio.sleep(delay)
        sent[i] = now()
        assert writer.conn is not None
        writer.conn.write(frame)
    finished = await wait_until(lambda: all(r.next >= n for r in readers), cfg["drain_timeout"])
    elapsed = now() - start
    client_cpu = (cpu_self() - cpu0) / elapsed * 100
    node_cpu1 = node_cpu_seconds(target)
    node_cpu = [(c1 - c0) / elapsed * 100 for c0, c1 in zip(node_cpu0, node_cpu1, strict=True)]
    closed = server_closed([*readers, writer])
    close_all([*readers, writer])
    latencies = [x * 1000 for r in readers for x in r.latencies]
    missing = n * len(readers) - len(latencies)
    ordered = sorted(latencies)
    if not ordered:
        raise ScenarioError("no update reached any reader")
    out = {
        "p50_ms": percentile(ordered, 0.50),
        "p99_ms": percentile(ordered, 0.99),
        "max_ms": ordered[-1],
        "mean_ms": sum(ordered) / len(ordered),
        "samples": len(ordered),
        "missing": missing,
        "client_cpu_percent": client_cpu,
        **cpu_figures(node_cpu),
        "quantiles_ms": quantiles(ordered),
    }
    if not finished:
        out["error"] = f"{missing} of {n * len(readers)} deliveries missing after the drain timeout"
    if closed:
        out["error"] = closed
    return out


async def saturation(target: Target, profile: Profile) -> dict[str, Any]:
    """(b) several writers as fast as the server accepts them, readers count deliveries."""
    cfg = profile.saturation
    sources = writer_streams(profile)
    ends = {s.client: s.ends for s in sources}
    laps = [sources[i :: cfg["writers"]] for i in range(cfg["writers"])]
    room = "saturation"
    echo = EchoReader(target, room, ends)
    readers: list[CountingReader] = [echo] + [
        CountingReader(target, room, ends) for _ in range(cfg["readers"] - 1)
    ]
    writers = [Peer(target, room) for _ in laps]
    await open_all([*readers, *writers])
    await asyncio.sleep(cfg["settle"])
    stop = False
    exhausted: list[int] = []
    window = cfg["window"]
    batch = cfg["batch"]

    async def write(peer: Peer, srcs: list[Stream]) -> None:
        frames = [peer.frame(yproto.update_frame(u)) for src in srcs for u in src.updates]
        clients = [src.client for src in srcs]
        conn = peer.conn
        assert conn is not None
        sent, n = 0, len(frames)
        while not stop and sent < n:
            room_left = window - (sent - sum(map(echo.delivered, clients)))
            if room_left <= 0:
                echo.wake.clear()
                try:
                    await asyncio.wait_for(echo.wake.wait(), 10.0)
                except TimeoutError:
                    raise ScenarioError("no echo for 10 s: the server stalled") from None
                continue
            k = min(room_left, batch, n - sent)
            conn.write(b"".join(frames[sent : sent + k]))
            sent += k
            await conn.drain()
            await asyncio.sleep(0)
        if sent >= n:
            exhausted.append(clients[0])

    tasks = [asyncio.create_task(write(p, s)) for p, s in zip(writers, laps, strict=True)]
    try:
        await asyncio.sleep(cfg["warmup"])
        node_cpu0 = node_cpu_seconds(target)
        t0, cpu0 = now(), cpu_self()
        counts0 = [r.snapshot() for r in readers]
        bytes0 = [r.conn.bytes_received for r in readers if r.conn]
        await asyncio.sleep(cfg["measure"])
        t1, cpu1 = now(), cpu_self()
        node_cpu1 = node_cpu_seconds(target)
        counts1 = [r.snapshot() for r in readers]
        bytes1 = [r.conn.bytes_received for r in readers if r.conn]
        for task in tasks:
            if task.done() and task.exception():
                raise task.exception()  # type: ignore[misc]
        closed = server_closed([*readers, *writers])
    finally:
        stop = True
        await asyncio.gather(*tasks, return_exceptions=True)
        close_all([*readers, *writers])
    dt = t1 - t0
    per_reader = [(c1 - c0) / dt for c0, c1 in zip(counts0, counts1, strict=True)]
    out = {
        "updates_per_s_per_reader": sum(per_reader) / len(per_reader),
        "slowest_reader_updates_per_s": min(per_reader),
        "bytes_per_s_all_readers": (sum(bytes1) - sum(bytes0)) / dt,
        "client_cpu_percent": (cpu1 - cpu0) / dt * 100,
        **cpu_figures([(c1 - c0) / dt * 100 for c0, c1 in zip(node_cpu0, node_cpu1, strict=True)]),
    }
    if exhausted:
        out["warning"] = "a writer ran out of precomputed updates before the end"
    if closed:
        out["error"] = closed
    return out


async def many_rooms(target: Target, profile: Profile) -> dict[str, Any]:
    """(c) many small rooms at a low rate: the server's CPU and memory."""
    cfg = profile.many_rooms
    rooms, per_room = cfg["rooms"], cfg["clients"]
    count = rooms * per_room
    clients = [1000 + i for i in range(count)]
    sources = streams(profile.small_trace, clients, limit=cfg["updates_each"], fold=True)
    peers = [Peer(target, f"room-{i // per_room:04d}") for i in range(count)]
    await open_all(peers, concurrency=50, timeout=120)
    await asyncio.sleep(cfg["settle"])
    period = cfg["period"]
    total = cfg["warmup"] + cfg["measure"]
    schedule = sorted(
        (i * period / count + k * period, i)
        for i in range(count)
        for k in range(int(total / period) + 1)
    )
    next_update = [0] * count
    pids = target.server_pids()
    marks: dict[str, float] = {}
    rss_samples: list[int] = []

    async def sample() -> None:
        await asyncio.sleep(cfg["warmup"])
        marks["t0"], marks["cpu0"], marks["self0"] = now(), procstat.cpu_seconds(pids), cpu_self()
        end = marks["t0"] + cfg["measure"]
        while now() < end:
            rss_samples.append(procstat.rss_bytes(pids))
            await asyncio.sleep(min(1.0, max(0.0, end - now())))
        marks["t1"], marks["cpu1"], marks["self1"] = now(), procstat.cpu_seconds(pids), cpu_self()
        rss_samples.append(procstat.rss_bytes(pids))

    sampler = asyncio.create_task(sample())
    start = now()
    sent = 0
    for at, i in schedule:
        if at > total:
            break
        delay = start + at - now()
        if delay > 0:
            await asyncio.sleep(delay)
        k = next_update[i]
        if k < len(sources[i].updates):
            conn = peers[i].conn
            assert conn is not None
            conn.write(peers[i].frame(yproto.update_frame(sources[i].updates[k])))
            next_update[i] = k + 1
            sent += 1
    await sampler
    await asyncio.sleep(0.5)
    received = sum(p.conn.frames_received for p in peers if p.conn)
    closed = server_closed(peers)
    close_all(peers)
    dt = marks["t1"] - marks["t0"]
    return {
        "cpu_percent": (marks["cpu1"] - marks["cpu0"]) / dt * 100,
        "rss_mib": rss_samples[-1] / 2**20,
        "rss_mean_mib": sum(rss_samples) / len(rss_samples) / 2**20,
        "updates_sent": sent,
        "frames_received": received,
        "client_cpu_percent": (marks["self1"] - marks["self0"]) / dt * 100,
        **({"error": closed} if closed else {}),
    }


async def _full_join(target: Target, room: str, expected: str, timeout: float) -> float | None:
    """Seconds until a fresh client has ``expected`` as its text (``None`` on timeout)."""
    t0 = now()
    peer = DocPeer(target, room, expected)
    try:
        await asyncio.wait_for(peer.open(), timeout)
        t1 = await asyncio.wait_for(asyncio.shield(peer.done), max(0.1, timeout - (now() - t0)))
        return t1 - t0
    except (TimeoutError, ConnectionError, OSError):
        return None
    finally:
        peer.close()


async def _probe_state(target: Target, room: str, state_vector: bytes, timeout: float) -> dict:
    """The server's state vector of ``room`` as a fresh client sees it after its handshake."""
    peer = Peer(target, room)
    try:
        await asyncio.wait_for(peer.open(state_vector), timeout)
        await asyncio.wait_for(asyncio.shield(peer.synced), timeout)
        await asyncio.wait_for(asyncio.shield(peer.state_received), timeout)
        assert peer.server_state is not None
        return yproto.decode_state_vector(peer.server_state)
    finally:
        peer.close()


INGEST_ROOM = "ingest"


async def ingest(target: Target, profile: Profile) -> dict[str, Any]:
    """(d) a whole trace from one writer as fast as it goes, until a fresh client has it all;
    then (e, warm) fresh clients joining the open room."""
    cfg = profile.ingest
    src = stream(profile.ingest_trace, client=1, limit=profile.ingest_limit)
    n = len(src.updates)
    final_clock = yproto.decode_state_vector(src.state_vector)[src.client]
    writer = Peer(target, INGEST_ROOM)
    await open_all([writer])
    frames = [writer.frame(yproto.update_frame(u)) for u in src.updates]
    # Chunks end on frame boundaries: a reply the peer writes between two chunks (to a late
    # sync step 1, a ping) must never land inside a frame.
    chunks, size, start = [], 0, 0
    for i, frame in enumerate(frames):
        size += len(frame)
        if size >= 1 << 18 or i == len(frames) - 1:
            chunks.append(b"".join(frames[start : i + 1]))
            size, start = 0, i + 1
    blob_size = sum(map(len, chunks))
    conn = writer.conn
    assert conn is not None
    cpu0 = cpu_self()
    t0 = now()
    for piece in chunks:
        conn.write(piece)
        await conn.drain()
    t_sent = now()
    deadline = t0 + cfg["timeout"]
    done_at = None
    probes = 0
    while now() < deadline and not conn.closed.done():
        probes += 1
        try:
            state = await _probe_state(target, INGEST_ROOM, src.state_vector, 10.0)
        except (TimeoutError, ConnectionError, OSError):
            state = {}
        if state.get(src.client, 0) >= final_clock:
            left = deadline - now()
            if await _full_join(target, INGEST_ROOM, src.text, left) is not None:
                done_at = now()
                break
        await asyncio.sleep(cfg["poll"])
    out: dict[str, Any] = {
        "updates": n,
        "bytes": blob_size,
        "send_s": t_sent - t0,
        "probes": probes,
        "client_cpu_percent": (cpu_self() - cpu0) / (now() - t0) * 100,
    }
    if done_at is None:
        out["error"] = server_closed([writer]) or (
            f"the final text was not there after {cfg['timeout']} s"
        )
    else:
        out["ingest_s"] = done_at - t0
        out["ingest_updates_per_s"] = n / (done_at - t0)
        warm = []
        for _ in range(cfg["warm_joins"]):
            took = await _full_join(target, INGEST_ROOM, src.text, cfg["join_timeout"])
            if took is not None:
                warm.append(took * 1000)
        if warm:
            out["warm_join_ms"] = sorted(warm)[len(warm) // 2]
            out["warm_join_samples_ms"] = warm
        else:
            out["warm_error"] = "no fresh client got the full text"
    writer.close()
    return out


async def cold_join(target: Target, profile: Profile) -> dict[str, Any]:
    """(e, cold) the first fresh client after a restart: loaded from storage."""
    cfg = profile.ingest
    src = stream(profile.ingest_trace, client=1, limit=profile.ingest_limit)
    took = await _full_join(target, INGEST_ROOM, src.text, cfg["cold_timeout"])
    if took is None:
        return {"cold_join_ms": None, "error": f"no full text after {cfg['cold_timeout']} s"}
    return {"cold_join_ms": took * 1000}


async def idle(target: Target, profile: Profile) -> dict[str, Any]:
    """(f) memory per idle connection: RSS growth over ``connections`` joined clients."""
    cfg = profile.idle
    pids = target.server_pids()
    room = "idle"
    first = Peer(target, room)
    await open_all([first])
    await asyncio.sleep(cfg["settle"])
    rss0 = procstat.rss_bytes(pids)
    peers = [Peer(target, room) for _ in range(cfg["connections"])]
    await open_all(peers, concurrency=100, timeout=120)
    await asyncio.sleep(cfg["settle"])
    rss1 = procstat.rss_bytes(pids)
    open_count = sum(1 for p in peers if p.conn and not p.conn.closed.done())
    closed = server_closed([first, *peers])
    close_all([first, *peers])
    if closed:
        return {"error": closed}
    return {
        "kib_per_connection": (rss1 - rss0) / len(peers) / 1024,
        "rss_before_mib": rss0 / 2**20,
        "rss_after_mib": rss1 / 2**20,
        "still_open": open_count,
    }


SCENARIOS: dict[str, Callable[[Target, Profile], Awaitable[dict[str, Any]]]] = {
    "fanout": fanout,
    "saturation": saturation,
    "many_rooms": many_rooms,
    "ingest": ingest,
    "cold_join": cold_join,
    "idle": idle,
}


def _raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 65536)), hard))


def main(argv: list[str]) -> int:
    target_json, scenario, profile_name, out_path = argv
    target = Target(**json.loads(target_json))
    profile = get_profile(profile_name)
    # the field's scenarios (g)-(j) and (k); they import this module
    from bench import field, paste

    SCENARIOS.update(field.SCENARIOS)
    SCENARIOS.update(paste.SCENARIOS)
    _raise_fd_limit()
    try:
        import uvloop

        runner: Any = uvloop.run
    except ImportError:
        runner = asyncio.run

    async def run() -> dict[str, Any]:
        try:
            return await asyncio.wait_for(SCENARIOS[scenario](target, profile), profile.deadline)
        # RuntimeError: ScenarioError, also as bench.load's (this file runs as __main__)
        except (RuntimeError, TimeoutError, ConnectionError, OSError) as exc:
            return {"error": f"{type(exc).__name__}: {exc}"}

    result = runner(run())
    with open(out_path, "w") as f:
        json.dump(result, f)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
