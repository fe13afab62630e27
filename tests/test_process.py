"""The serving process's tuning (collab.process): the collector's thresholds and frozen
objects, and glibc's mmap threshold."""

from __future__ import annotations

import gc
import platform
import subprocess
import sys

import pytest

from collab import process


@pytest.fixture
def restored_gc():
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


def test_tune_gc_freezes_what_exists_and_collects_the_young_less_often(restored_gc) -> None:
    _, older, oldest = gc.get_threshold()
    process.tune_gc()
    assert gc.get_freeze_count() > 1000  # the modules and classes imported so far
    assert gc.get_threshold() == (process.GC_YOUNG_THRESHOLD, older, oldest)
    cycle: list[object] = []
    cycle.append(cycle)
    del cycle
    assert gc.collect() >= 1, "cycles made after the freeze are still collected"


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_limit_malloc_retention_sets_glibc_threshold() -> None:
    # In a child: the setting is process-wide and stays for the process's life.
    code = "from collab import process; print(process.limit_malloc_retention())"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "True"
