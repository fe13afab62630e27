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
)

PROFILES = {p.name: p for p in (FULL, QUICK, SMOKE)}


def get_profile(name: str) -> Profile:
    return PROFILES[name]
