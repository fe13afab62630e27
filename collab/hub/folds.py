"""The fold threads: where the CPU-heavy replays of stored updates run, off the database
thread, so one document's load or compaction never holds up other rooms' commits and loads.

Loads (the rebuild of a document from its snapshot and log) run on a few threads of their
own, so loads of different documents do not wait for one another; compactions' folds run
on one thread, one at a time (they are background work). A replay calls its pace (see
:data:`collab.stores.folding.Pace`) before each update it applies: there a compaction's
time budget and the hub's stop end it, and a test's :attr:`FoldThreads.gate` holds it.

pycrdt keeps the GIL while it applies one update, so the event loop gets it back between
two updates, within the interpreter's switch interval (5 ms); a replay is many small
updates (each row of the log is one burst of a client's messages).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from collab.stores.folding import Pace

__all__ = ["LOAD_THREADS", "FoldThreads"]

T = TypeVar("T")

LOAD_THREADS = 4
"""Threads rebuilding documents at once: a fifth load waits for one of them."""


class FoldThreads:
    """The threads of loads' rebuilds and compactions' folds.

    Attributes:
        gate: a test seam: called with the document's name before each update a replay
            applies, on the replaying thread (a test holds a replay there).
    """

    def __init__(self, load_threads: int = LOAD_THREADS) -> None:
        self._loads = ThreadPoolExecutor(load_threads, thread_name_prefix="collab-load")
        self._folds = ThreadPoolExecutor(1, thread_name_prefix="collab-fold")
        self.gate: Callable[[str], None] | None = None

    def pace(self, name: str, check: Pace) -> Pace:
        """The pace of a replay of document ``name``: the gate (if set), then ``check``
        (which raises to end the replay)."""
        gate = self.gate
        if gate is None:
            return check

        def paced() -> None:
            gate(name)
            check()

        return paced

    async def load(self, fn: Callable[..., T], *args: object) -> T:
        """Run the rebuild ``fn(*args)`` on a load thread and return its result."""
        return await asyncio.wrap_future(self._loads.submit(fn, *args))

    async def fold(self, fn: Callable[..., T], *args: object) -> T:
        """Run the compaction fold ``fn(*args)`` on the fold thread (after those queued)."""
        return await asyncio.wrap_future(self._folds.submit(fn, *args))

    def shutdown(self) -> None:
        """Wait for the running replays (the hub's stop ends them at their next update),
        then stop the threads."""
        self._loads.shutdown(wait=True)
        self._folds.shutdown(wait=True)
