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
from collab.hub.release import QUIET_BYTES, RELEASE_AFTER_BYTES, MemoryRelease
from collab.metrics import Metrics
from tests.test_connection import started_hub


def fresh_release() -> tuple[MemoryRelease, FoldThreads, Metrics]:
    folds = FoldThreads()
    metrics = Metrics(lambda: 0, lambda: 0)
    return MemoryRelease(folds, metrics), folds, metrics


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


def test_due_once_writes_stop_after_some_bytes() -> None:
    release, folds, _ = fresh_release()
    try:
        release.wrote(QUIET_BYTES)
        assert not release.due(), "written since the last check: writes go on"
        assert release.due(), "nothing written since: the tail of the writes is released"
        assert not release.due(), "once"
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
        assert await release.check()
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
