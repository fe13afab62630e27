"""Scenario sizes: ``full`` (the issue's parameters), ``quick`` (shorter) and ``smoke`` (tiny)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Profile:
    name: str
    rounds: int
    writer_trace: str = "automerge-paper"
    writer_limit: int = 120_000  # transactions per stream (about 95k updates)
    small_trace: str = "friendsforever_flat"
    ingest_trace: str = "automerge-paper"
    ingest_limit: int | None = None  # None: the whole trace (259,778 transactions)
    deadline: float = 420.0  # hard limit of one load-generator run, seconds
    fanout: dict[str, Any] = field(default_factory=dict)
    saturation: dict[str, Any] = field(default_factory=dict)
    many_rooms: dict[str, Any] = field(default_factory=dict)
    ingest: dict[str, Any] = field(default_factory=dict)
    idle: dict[str, Any] = field(default_factory=dict)
    observers: dict[str, Any] = field(default_factory=dict)
    presence: dict[str, Any] = field(default_factory=dict)
    presence_fast: dict[str, Any] = field(default_factory=dict)
    join_storm: dict[str, Any] = field(default_factory=dict)
    doc_memory: dict[str, Any] = field(default_factory=dict)
    paste_edits: dict[str, Any] = field(default_factory=dict)


FULL = Profile(
    name="full",
    rounds=3,
    fanout={"readers": 50, "rate": 100.0, "updates": 1000, "settle": 0.5, "drain_timeout": 10.0},
    saturation={
        "writers": 4,
        "laps": 4,  # streams per writer, one after the other (see load.writer_streams)
        "readers": 10,
        "window": 256,  # updates in flight per writer, acknowledged by the echo reader
        "batch": 64,  # updates written at once
        "settle": 0.5,
        "warmup": 2.0,
        "measure": 5.0,
    },
    many_rooms={
        "rooms": 300,
        "clients": 3,
        "period": 3.0,  # each client sends one update every `period` seconds
        "updates_each": 12,
        "settle": 1.0,
        "warmup": 3.0,
        "measure": 10.0,
    },
    ingest={
        "timeout": 300.0,
        "poll": 0.05,
        "warm_joins": 5,
        "join_timeout": 30.0,
        "cold_timeout": 30.0,
        "settle_timeout": 90.0,  # wait for background storage to go idle before the restart
    },
    idle={"connections": 1000, "settle": 2.0},
    observers={
        "readers": 1500,
        "rate": 100.0,
        "updates": 1000,
        "settle": 1.0,
        "drain_timeout": 30.0,
        "join_timeout": 240.0,
    },
    presence={
        "clients": 500,
        "rate": 1.0,  # cursor moves per second per client
        "observers": 50,  # clients that time every move they receive (the rest count bytes)
        "settle": 1.0,
        "warmup": 2.0,
        "measure": 8.0,
        "drain": 10.0,  # at most, for every move to reach every observer
        "join_timeout": 120.0,
    },
    presence_fast={
        "clients": 200,
        "rate": 10.0,
        "observers": 20,
        "settle": 1.0,
        "warmup": 2.0,
        "measure": 8.0,
        "drain": 10.0,  # at most, for every move to reach every observer
        "join_timeout": 120.0,
    },
    join_storm={
        "size_mb": 20,
        "joiners": 150,
        "timeout": 90.0,  # per joiner
        "seed_timeout": 300.0,
        "settle": 2.0,
        "settle_timeout": 120.0,  # background storage going idle before the restart
    },
    doc_memory={
        "sizes_mb": [1, 5, 20],
        # first documents kept open before the measured ones: a process's one-off costs are
        # paid on them (each below collab's --hibernate-bytes of 1 MiB: never hibernated),
        # SQLite's page cache filled to its 2 MiB bound among them
        "warmups": 2,
        "warmup_mb": 0.9,
        "settle": 2.0,
        "seed_timeout": 300.0,
        # seconds without a write before the idle figure: collab's --hibernate-seconds (30)
        # plus its sweep period (a quarter of it) and the release of the freed memory
        "idle": 45.0,
    },
    paste_edits={
        "paste_mb": 3,  # the pasted text: the trace's final text repeated, one insertion
        "edits": 2000,  # one-character insertions and deletions inside it, alternately
        "readers": 2,  # the first one's receipt of an edit lets the writer send the next
        "settle": 1.0,
        "settle_timeout": 30.0,  # the server going idle after the paste (storage written)
        "paste_timeout": 60.0,
        "ack_timeout": 30.0,  # at most, for one edit to reach the first reader
        "join_timeout": 60.0,
    },
)

QUICK = Profile(
    name="quick",
    rounds=1,
    ingest_limit=60_000,
    deadline=150.0,
    fanout={**FULL.fanout, "updates": 250},
    saturation={**FULL.saturation, "warmup": 1.0, "measure": 2.0},
    many_rooms={**FULL.many_rooms, "settle": 0.5, "warmup": 1.0, "measure": 3.0},
    ingest={
        **FULL.ingest,
        "warm_joins": 3,
        "timeout": 60.0,
        "cold_timeout": 15.0,
        "settle_timeout": 20.0,
    },
    idle={"connections": 1000, "settle": 1.0},
    observers={**FULL.observers, "updates": 300},
    presence={**FULL.presence, "warmup": 1.0, "measure": 4.0},
    presence_fast={**FULL.presence_fast, "warmup": 1.0, "measure": 4.0},
    join_storm=FULL.join_storm,
    doc_memory=FULL.doc_memory,
    paste_edits={**FULL.paste_edits, "edits": 500},
)

SMOKE = Profile(
    name="smoke",
    rounds=1,
    writer_trace="friendsforever_flat",
    writer_limit=12_000,
    ingest_trace="friendsforever_flat",
    ingest_limit=2000,
    deadline=60.0,
    fanout={"readers": 5, "rate": 200.0, "updates": 40, "settle": 0.2, "drain_timeout": 10.0},
    saturation={**FULL.saturation, "writers": 2, "readers": 3, "warmup": 0.3, "measure": 0.5},
    many_rooms={
        **FULL.many_rooms,
        "rooms": 5,
        "period": 0.5,
        "settle": 0.2,
        "warmup": 0.3,
        "measure": 0.6,
    },
    ingest={**FULL.ingest, "warm_joins": 2, "timeout": 30.0, "cold_timeout": 20.0},
    idle={"connections": 20, "settle": 0.2},
    observers={**FULL.observers, "readers": 20, "updates": 30, "rate": 200.0, "settle": 0.2},
    presence={
        **FULL.presence,
        "clients": 10,
        "rate": 5.0,
        "observers": 3,
        "settle": 0.2,
        "warmup": 0.3,
        "measure": 0.6,
        "drain": 10.0,
    },
    presence_fast={
        **FULL.presence_fast,
        "clients": 6,
        "rate": 20.0,
        "observers": 2,
        "settle": 0.2,
        "warmup": 0.3,
        "measure": 0.6,
        "drain": 10.0,
    },
    join_storm={**FULL.join_storm, "size_mb": 0.05, "joiners": 5, "settle": 0.2},
    doc_memory={
        **FULL.doc_memory,
        "sizes_mb": [0.01, 0.02, 0.05],
        "warmups": 1,
        "warmup_mb": 0.01,
        "settle": 0.2,
        "idle": 0.3,
    },
    paste_edits={**FULL.paste_edits, "paste_mb": 0.05, "edits": 40, "settle": 0.2},
)

PROFILES = {p.name: p for p in (FULL, QUICK, SMOKE)}


def get_profile(name: str) -> Profile:
    return PROFILES[name]
