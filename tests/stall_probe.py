"""``scripts/stall``: does one heavy document's load or compaction stall the others? (issue 19
item 2)

A real server on a database holding one heavy document: ``rows`` log rows of 500 structs each
whose left origin (client 999999) never exists, so every struct waits and a load or a
compaction replays the whole log (the issue's shape, stored before the pending bounds
existed). Meanwhile, in an unrelated room, one client writes every 50 ms and another times
each relay. Phases: ``idle`` (nothing else), ``load`` (a client joins the heavy document, and
a new document is joined 0.2 s later and timed), ``compaction`` (the heavy room gets enough
writes to pass ``--compact-updates``; a new document is joined and timed again). Prints, per
phase, the other room's relay p50/p99/max and the new documents' join times, as JSON.

    ./scripts/stall                # 512 heavy rows
    ./scripts/stall --rows 256
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from collab.stores import SQLiteStore
from tests.e2e.conftest import Server
from tests.e2e.pyclient import PyClient

OTHER = "stall/other"
HEAVY = "stall/heavy"


def _var(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def waiting_rows(rows: int, items: int = 500, client: int = 4242) -> list[bytes]:
    """``rows`` updates of ``items`` one-character strings of ``client``, each with left
    origin 999999#0 (never sent): Yjs keeps every one pending."""
    updates, clock = [], 0
    for _ in range(rows):
        body = bytearray(_var(1) + _var(items) + _var(client) + _var(clock))
        for _ in range(items):
            body += b"\x84" + _var(999999) + _var(0) + _var(1) + b"x"
        body += _var(0)
        clock += items
        updates.append(bytes(body))
    return updates


async def _relays(server: Server, stop: asyncio.Event, out: list[tuple[float, float]]) -> None:
    async with PyClient(server.ws_url, OTHER) as writer, PyClient(server.ws_url, OTHER) as reader:
        for i in range(1_000_000):
            if stop.is_set():
                return
            marker = f"{i};"
            started = time.monotonic()
            writer.text().insert(0, marker)
            await reader.wait_for(lambda m=marker: str(reader.text()).startswith(m), 120)
            out.append((started, time.monotonic() - started))
            await asyncio.sleep(0.05)


async def _join_time(server: Server, name: str) -> float:
    started = time.monotonic()
    async with PyClient(server.ws_url, name):
        return time.monotonic() - started


async def _metric(server: Server, name: str) -> float:
    async with httpx.AsyncClient() as http:
        text = (await http.get(f"{server.http_url}/metrics")).text
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0


def _summary(samples: list[float]) -> dict[str, Any]:
    if not samples:
        return {"relays": 0}
    ordered = sorted(samples)
    return {
        "relays": len(samples),
        "p50_ms": round(statistics.median(ordered) * 1000, 1),
        "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000, 1),
        "max_ms": round(ordered[-1] * 1000, 1),
    }


async def probe(folder: Path, rows: int) -> dict[str, Any]:
    """Run the three phases and return the summary (see the module docstring)."""
    db = folder / "stall.db"
    store = SQLiteStore(db)
    store.append([(HEAVY, update) for update in waiting_rows(rows)])
    store.close()
    extra = ["--compact-updates", str(rows + 5), "--compact-bytes", str(1 << 30)]
    server = Server(db, extra=extra)
    server.start()
    stop = asyncio.Event()
    samples: list[tuple[float, float]] = []
    marks: dict[str, float] = {}
    joins: dict[str, float] = {}
    try:
        relays = asyncio.create_task(_relays(server, stop, samples))
        marks["idle"] = time.monotonic()
        await asyncio.sleep(3)
        marks["load"] = time.monotonic()
        heavy = asyncio.create_task(PyClient(server.ws_url, HEAVY).connect())
        await asyncio.sleep(0.2)
        joins["new_document_during_load_s"] = await _join_time(server, "stall/new-1")
        client = await asyncio.wait_for(heavy, 300)
        joins["heavy_load_s"] = time.monotonic() - marks["load"]
        marks["compaction"] = time.monotonic()
        for i in range(10):
            client.text("other").insert(0, f"{i}")
        await client.barrier()
        await asyncio.sleep(0.2)
        joins["new_document_during_compaction_s"] = await _join_time(server, "stall/new-2")
        for _ in range(3000):
            done = await _metric(server, "collab_compactions_total")
            done += await _metric(server, "collab_compactions_abandoned_total")
            done += await _metric(server, "collab_storage_errors_total")
            if done:
                break
            await asyncio.sleep(0.1)
        joins["compaction_s"] = time.monotonic() - marks["compaction"]
        marks["end"] = time.monotonic()
        await asyncio.sleep(1)
        stop.set()
        await asyncio.wait_for(relays, 120)
        await client.close()
    finally:
        stop.set()
        server.stop()
    phases = {}
    names = ["idle", "load", "compaction", "end"]
    for name, until in itertools.pairwise(names):
        phases[name] = _summary([lat for at, lat in samples if marks[name] <= at < marks[until]])
    return {"rows": rows, "structs": rows * 500, **phases, "joins_s": joins}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=512)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        summary = asyncio.run(probe(Path(folder), args.rows))
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
