"""(k) edits inside a large paste, for bench.load: one writer pastes a large text into a
``Y.Text`` in one update, then makes one-character edits inside it from its top to its bottom
(a proofreading pass), each sent once the previous one reached the first reader (as fast as
the server relays them, one at a time).

Each edit splits the item holding the rest of the pasted text; pycrdt (yrs) copies the
split string into new buffers, up to the text's size per edit, allocated and freed. The
keystroke traces (insertions at the end of short items) and (j) (documents written in large
copies) never make a server do that. An allocator that gave freed pages back at once made
these edits 20-26 times slower in collab (commit dc5329c): every such buffer was faulted in
again. Edits spread in another order (each in the largest gap left, golden-ratio steps) split
ever smaller items and did not show it (pycrdt's ``apply_update`` of the 2,000 edits: 0.05
against 0.03 s; in this order 2.5 against 0.12 s).

The text is the trace's final text repeated (:mod:`bench.traces`), no random characters; the
paste and the edits are Yjs v1 updates made beforehand with pycrdt (cached). Readers parse
only the clocks an update inserts (:func:`bench.yproto.clock_ranges`) or deletes
(:func:`bench.yproto.delete_set`), which name each edit.
"""

from __future__ import annotations

import asyncio
import bisect
import hashlib
import json
import pickle
from dataclasses import dataclass
from typing import Any

from bench import procstat, yproto
from bench.load import (
    Peer,
    ScenarioError,
    Target,
    _full_join,
    close_all,
    cpu_self,
    now,
    open_all,
    percentile,
    server_closed,
    wait_until,
)
from bench.profiles import Profile
from bench.traces import CACHE, TEXT_NAME, cache_write, stream

WRITER = 5
"""The writer's client id."""

ROOM = "paste-edits"
_FORMAT = 1  # bump when the cached layout changes


@dataclass
class PasteEdits:
    """A paste and the edits inside it, precomputed.

    Attributes:
        paste: one Yjs v1 update inserting the whole text (client :data:`WRITER`).
        paste_end: the writer's clock after the paste (UTF-16 code units of the text).
        edits: one update per one-character edit, insertions and deletions alternately.
        marks: per edit, ``(deleted, clock)``: a deletion's deleted clock, or an insertion's
            end clock (both of :data:`WRITER`), which name the edit in a relayed update.
        text: the text after the last edit.
    """

    paste: bytes
    paste_end: int
    edits: list[bytes]
    marks: list[tuple[bool, int]]
    text: str


def _mark(update: bytes) -> tuple[bool, int]:
    """What names the one-character edit ``update``; ``ValueError`` if it is no such edit."""
    ranges = [r for r in yproto.clock_ranges(update) if r[0] == WRITER]
    deleted = [d for d in yproto.delete_set(update) if d[0] == WRITER]
    if len(ranges) == 1 and not deleted:
        return False, ranges[0][2]
    if deleted == [(WRITER, deleted[0][1], 1)] and not ranges:
        return True, deleted[0][1]
    raise ValueError("an edit is not one insertion or one deleted character")


def build(trace: str, limit: int | None, chars: int, count: int) -> PasteEdits:
    """The final text of ``trace`` (its first ``limit`` transactions) repeated to ``chars``
    characters and pasted at once, then ``count`` edits spread over it from its start to its
    end: edit ``k`` (from 0) inserts (``k`` even; a character of the pasted text) or deletes
    (``k`` odd) one character at the fraction ``(k + 1) / (count + 1)`` of the text's length.
    Cached in ``bench/peers/cache``.

    Raises:
        ValueError: the trace's text is empty or not ASCII (pycrdt's text indices are UTF-8
            bytes: a position could fall inside a character).
    """
    import pycrdt
    from pycrdt import Doc, Text

    key = json.dumps([_FORMAT, trace, limit, chars, count, pycrdt.__version__])
    path = CACHE / f"paste-{hashlib.sha256(key.encode()).hexdigest()[:16]}.pickle"
    if path.exists():
        with path.open("rb") as f:
            cached: PasteEdits = pickle.load(f)
            return cached
    source = stream(trace, client=1, limit=limit).text
    if not source or not source.isascii():
        raise ValueError(f"the text of {trace} is empty or not ASCII")
    pasted = (source * (chars // len(source) + 1))[:chars]
    doc: Doc = Doc(client_id=WRITER)
    text = doc.get(TEXT_NAME, type=Text)
    updates: list[bytes] = []
    doc.observe(lambda event: updates.append(event.update))
    text.insert(0, pasted)
    for k in range(count):
        at = int((k + 1) / (count + 1) * len(text))
        if k % 2 == 0:
            text.insert(at, pasted[at % len(pasted)])
        else:
            del text[at : at + 1]
    paste, edits = updates[0], updates[1:]
    result = PasteEdits(
        paste, yproto.clock_ranges(paste)[0][2], edits, [_mark(u) for u in edits], str(text)
    )
    cache_write(path, result)
    return result


def of_profile(profile: Profile) -> PasteEdits:
    """The paste and edits of ``profile`` (its ``paste_edits`` sizes, on its ingest trace)."""
    cfg = profile.paste_edits
    chars = int(cfg["paste_mb"] * 2**20)
    return build(profile.ingest_trace, profile.ingest_limit, chars, cfg["edits"])


class EditReader(Peer):
    """Notes when the paste and each edit arrive here, and each edit's delay since its send."""

    def __init__(self, target: Target, room: str, work: PasteEdits, sent: list[float]) -> None:
        super().__init__(target, room)
        self.paste_end = work.paste_end
        inserts = sorted((c, k) for k, (deleted, c) in enumerate(work.marks) if not deleted)
        deletes = sorted((c, k) for k, (deleted, c) in enumerate(work.marks) if deleted)
        self.insert_ends, self.insert_edits = [c for c, _ in inserts], [k for _, k in inserts]
        self.delete_clocks, self.delete_edits = [c for c, _ in deletes], [k for _, k in deletes]
        self.sent = sent
        self.seen = bytearray(len(work.edits))
        self.arrived = 0  # edits received
        self.latencies: list[float] = []
        self.paste_at: float | None = None
        self.wake = asyncio.Event()

    def on_update(self, p: bytes, start: int, stop: int, t: float) -> None:
        update = p[start:stop]
        for client, first, end in yproto.clock_ranges(update):
            if client != WRITER:
                continue
            if first < self.paste_end <= end and self.paste_at is None:
                self.paste_at = t
            lo = bisect.bisect_right(self.insert_ends, first)
            for i in range(lo, bisect.bisect_right(self.insert_ends, end)):
                self._arrive(self.insert_edits[i], t)
        for client, clock, length in yproto.delete_set(update):
            if client != WRITER:
                continue
            lo = bisect.bisect_left(self.delete_clocks, clock)
            for i in range(lo, bisect.bisect_left(self.delete_clocks, clock + length)):
                self._arrive(self.delete_edits[i], t)

    def _arrive(self, edit: int, t: float) -> None:
        if not self.seen[edit]:
            self.seen[edit] = 1
            self.arrived += 1
            self.latencies.append(t - self.sent[edit])
            self.wake.set()


async def _quiet(pids: list[int], timeout: float, window: float = 0.5) -> None:
    """Wait (at most ``timeout`` seconds) until ``pids`` used under 2% CPU for ``window``."""
    deadline = now() + timeout
    while now() < deadline:
        c0 = procstat.cpu_seconds(pids)
        await asyncio.sleep(window)
        if procstat.cpu_seconds(pids) - c0 < 0.02 * window:
            return


async def paste_edits(target: Target, profile: Profile) -> dict[str, Any]:
    """(k) a large paste, then one-character edits inside it one at a time: each edit's
    delivery latency, the server's CPU seconds for all of them, a fresh client's time to the
    full text right after the last one, and the server's peak RSS over the whole run."""
    cfg = profile.paste_edits
    work = of_profile(profile)
    n = len(work.edits)
    sent = [0.0] * n
    writer = Peer(target, ROOM)
    readers = [EditReader(target, ROOM, work, sent) for _ in range(cfg["readers"])]
    await open_all([*readers, writer])
    pids = target.server_pids()
    peak = procstat.PeakRss(pids)
    conn = writer.conn
    assert conn is not None
    try:
        await asyncio.sleep(cfg["settle"])
        cpu0, t0 = procstat.cpu_seconds(pids), now()
        conn.write(writer.frame(yproto.update_frame(work.paste)))
        await conn.drain()
        if not await wait_until(
            lambda: all(r.paste_at is not None for r in readers), cfg["paste_timeout"]
        ):
            raise ScenarioError(server_closed([*readers, writer]) or "the paste did not arrive")
        out: dict[str, Any] = {
            "paste_bytes": len(work.paste),
            "paste_ms": (max(r.paste_at or t0 for r in readers) - t0) * 1000,
            "paste_cpu_s": procstat.cpu_seconds(pids) - cpu0,
        }
        await asyncio.sleep(cfg["settle"])
        await _quiet(pids, cfg["settle_timeout"])  # the paste's storage written, if behind
        frames = [writer.frame(yproto.update_frame(u)) for u in work.edits]
        first = readers[0]
        self0, cpu0, t0 = cpu_self(), procstat.cpu_seconds(pids), now()
        for i, frame in enumerate(frames):
            while first.arrived < i:
                first.wake.clear()
                try:
                    await asyncio.wait_for(first.wake.wait(), cfg["ack_timeout"])
                except TimeoutError:
                    closed = server_closed([*readers, writer])
                    raise ScenarioError(closed or f"edit {i} of {n} did not arrive") from None
            sent[i] = now()
            conn.write(frame)
        done = await wait_until(lambda: all(r.arrived == n for r in readers), cfg["ack_timeout"])
        t1, cpu1 = now(), procstat.cpu_seconds(pids)
        out.update(
            server_cpu_s=cpu1 - cpu0,
            edits_s=t1 - t0,
            client_cpu_percent=(cpu_self() - self0) / (t1 - t0) * 100,
        )
        took = await _full_join(target, ROOM, work.text, cfg["join_timeout"])
        closed = server_closed([*readers, writer])
    finally:
        await peak.stop()
        close_all([*readers, writer])
    latencies = sorted(x * 1000 for r in readers for x in r.latencies)
    missing = n * len(readers) - len(latencies)
    if latencies:
        out.update(
            p50_ms=percentile(latencies, 0.50),
            p99_ms=percentile(latencies, 0.99),
            max_ms=latencies[-1],
        )
    out.update(samples=len(latencies), missing=missing, peak_rss_mib=peak.peak / 2**20)
    if took is not None:
        out["late_join_ms"] = took * 1000
    else:
        out["error"] = f"no fresh client had the full text after {cfg['join_timeout']} s"
    if not done:
        out["error"] = f"{missing} of {n * len(readers)} deliveries missing"
    if closed:
        out["error"] = closed
    return out


SCENARIOS = {"paste_edits": paste_edits}
