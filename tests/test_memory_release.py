"""The release of the C heap's free pages after large writes (collab.hub.release): when it is
due, where it runs, and that the hub's writes count towards it."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from pycrdt import Doc, Text

from collab.hub import release as release_module
from collab.hub.folds import FoldThreads
from collab.hub.release import (
    FOLLOW_UP_CHECKS,
    GROWTH_MIN_BYTES,
    QUIET_BYTES,
    RELEASE_AFTER_BYTES,
    MemoryRelease,
    resident_bytes,
)
from collab.metrics import Metrics
from tests.test_connection import eventually_true, started_hub

MiB = 2**20


@pytest.fixture(autouse=True)
def steady_resident_size(monkeypatch: Any) -> list[int]:
    """The resident size the releases see: 100 MiB unless a test changes it."""
    size = [100 * MiB]
    monkeypatch.setattr(release_module, "resident_bytes", lambda: size[0])
    return size


def fresh_release() -> tuple[MemoryRelease, FoldThreads, Metrics]:
    folds = FoldThreads()
    metrics = Metrics(lambda: 0, lambda: 0)
    return MemoryRelease(folds, metrics), folds, metrics


def test_resident_bytes_reads_this_process() -> None:
    size = resident_bytes()
    assert size is None or size > MiB


def test_due_once_the_resident_size_grew_by_an_eighth(steady_resident_size: list[int]) -> None:
    release, folds, _ = fresh_release()
    try:
        assert release.resident == 100 * MiB
        steady_resident_size[0] = 100 * MiB + GROWTH_MIN_BYTES - 1
        assert not release.due(), "under the smallest growth"
        steady_resident_size[0] = 1000 * MiB
        assert release.due(), "with nothing written"
        release.resident = 1000 * MiB  # what check() records after the release
        for _ in range(FOLLOW_UP_CHECKS):
            release.due()  # the follow-up
        steady_resident_size[0] = 1100 * MiB
        assert not release.due(), "under an eighth of the size after the last release"
        steady_resident_size[0] = 1125 * MiB
        assert release.due()
    finally:
        folds.shutdown()


def test_due_after_many_bytes_then_counts_again_from_zero() -> None:
    release, folds, _ = fresh_release()
    try:
        release.wrote(RELEASE_AFTER_BYTES - 1)
        assert not release.due(), "under the threshold while writes go on"
        release.wrote(1)
        assert release.due()
        assert release.written == 0
        release.wrote(100)
        assert not release.due()
    finally:
        folds.shutdown()


def test_each_release_is_followed_by_one_more() -> None:
    release, folds, _ = fresh_release()
    try:
        release.wrote(RELEASE_AFTER_BYTES)
        assert release.due()
        checks = [release.due() for _ in range(3 * FOLLOW_UP_CHECKS)]
        assert checks.index(True) == FOLLOW_UP_CHECKS - 1 and checks.count(True) == 1, checks
    finally:
        folds.shutdown()


def test_due_once_writes_stop_after_some_bytes() -> None:
    release, folds, _ = fresh_release()
    try:
        release.wrote(QUIET_BYTES)
        assert not release.due(), "written since the last check: writes go on"
        assert release.due(), "nothing written since: the tail of the writes is released"
        assert not release.due(), "once"
        for _ in range(FOLLOW_UP_CHECKS):
            release.due()  # the follow-up
        release.wrote(QUIET_BYTES - 1)
        assert not release.due()
        assert not release.due(), "too little to be worth a release, even when quiet"
    finally:
        folds.shutdown()


async def test_check_releases_on_a_load_thread_and_counts(monkeypatch: Any) -> None:
    threads: list[str] = []

    def released() -> bool:
        threads.append(threading.current_thread().name)
        return True

    monkeypatch.setattr(release_module, "release_free_memory", released)
    release, folds, metrics = fresh_release()
    try:
        assert not await release.check()
        release.wrote(RELEASE_AFTER_BYTES)
        release.resident = None  # to see that the release records the size after it
        assert await release.check()
        assert release.resident == 100 * MiB
        assert threads and threads[0].startswith("collab-load"), threads
        assert metrics.memory_releases == 1
        assert b"collab_memory_releases_total 1.0" in metrics.render()
    finally:
        folds.shutdown()


@pytest.mark.parametrize("size", [10, 50_000])
async def test_the_hubs_writes_count_what_they_applied(tmp_path: Path, size: int) -> None:
    author: Doc[Any] = Doc()
    updates: list[bytes] = []
    author.observe(lambda event: updates.append(event.update))
    author.get("text", type=Text).insert(0, "x" * size)
    async with started_hub(tmp_path) as hub:
        before = hub.release.written
        await hub.write("doc", updates[0])
        assert hub.release.written - before == len(updates[0])
        await hub.write("doc", updates[0])  # nothing new: not applied, not counted
        assert hub.release.written - before == len(updates[0])


async def test_a_compaction_counts_the_snapshot_it_encoded(tmp_path: Path) -> None:
    author: Doc[Any] = Doc()
    updates: list[bytes] = []
    author.observe(lambda event: updates.append(event.update))
    text = author.get("text", type=Text)
    for i in range(4):
        text.insert(i, "abc")
    async with started_hub(tmp_path, compact_updates=4) as hub, hub.use("doc") as room:
        for update in updates:
            hub.write_now(room, update, "http")
        applied = hub.release.written
        assert applied == sum(map(len, updates))
        await hub.flush()
        await eventually_true(lambda: hub.metrics.compactions == 1)
        stored = await hub.run(hub.store.load, "doc")
        assert stored.snapshot
        assert hub.release.written == applied + len(stored.snapshot), "the snapshot counted"
