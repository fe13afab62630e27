"""The real editing traces the tests replay: ``../shared/data`` beside the checkout, or the
folder the ``COLLAB_BENCH_DATA`` environment variable names (as ``./scripts/bench`` reads it)."""

from bench.traces import DATA

__all__ = ["DATA"]
