"""The serving process's tuning (collab.process): the collector's thresholds and frozen
objects."""

from __future__ import annotations

import gc

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
