"""The store's checkpoints (SQLite: the WAL's fsyncs), on the database thread, after commits.

The hub's store does not checkpoint itself: :class:`Checkpoints` asks for one every
:data:`CHECKPOINT_ROWS` log rows committed, and at most :data:`CHECKPOINT_SECONDS` after a
commit, one at a time, never while the hub stops.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from collab.hub.worker import DatabaseThread
from collab.metrics import Metrics
from collab.stores import DocumentStore, StoreError
from collab.stores.causes import cause

__all__ = ["CHECKPOINT_ROWS", "CHECKPOINT_SECONDS", "Checkpoints"]

log = logging.getLogger("collab.hub")

CHECKPOINT_ROWS = 500
"""Log rows committed between two checkpoints."""

CHECKPOINT_SECONDS = 1.0
"""Seconds from a commit to the next checkpoint at the latest."""


class Checkpoints:
    """Checkpoints of ``store`` on ``thread`` after commits.

    Args:
        store: the store (:meth:`DocumentStore.checkpoint`).
        thread: the database thread the checkpoint runs on.
        metrics: a failed checkpoint counts as a storage error (and is logged).
        closing: whether the hub stops (no checkpoint starts then).
    """

    def __init__(
        self,
        store: DocumentStore,
        thread: DatabaseThread,
        metrics: Metrics,
        closing: Callable[[], bool],
    ) -> None:
        self.store, self.thread, self.metrics, self.closing = store, thread, metrics, closing
        self._rows = 0  # log rows committed since the last checkpoint
        self._running = False
        self._timer: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def committed(self, rows: int, loop: asyncio.AbstractEventLoop) -> None:
        """``rows`` log rows were committed: checkpoint now, or within
        :data:`CHECKPOINT_SECONDS` (on ``loop``)."""
        self._rows += rows
        if self._rows >= CHECKPOINT_ROWS:
            self._start()
        elif self._timer is None:
            self._timer = loop.call_later(CHECKPOINT_SECONDS, self._start)

    def stop(self) -> None:
        """Start no more checkpoints (one running ends on its own)."""
        if self._timer is not None:
            self._timer.cancel()

    def _start(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not (self._running or self.closing()):
            self._running = True
            task = asyncio.create_task(self._checkpoint())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _checkpoint(self) -> None:
        self._rows = 0
        try:
            await self.thread.run(self.store.checkpoint)
        except StoreError as exc:
            self.metrics.storage_errors += 1
            log.error("checkpoint failed: %s", cause(exc))  # a cause, no traceback: it repeats
        finally:
            self._running = False
