"""A task that runs one piece of the hub's upkeep again and again, apart from the write path.

Hibernation sweeps and memory-release checks both wait a fixed period, run, and go on after a
failure (a bug there must not stop the upkeep for the server's life): :class:`Periodic` is that
loop, started with the hub and stopped with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import Awaitable, Callable

__all__ = ["Periodic"]

log = logging.getLogger("collab.hub")


class Periodic:
    """Runs ``work`` every ``seconds`` (waiting first) until stopped; an exception from it is
    logged (``what failed``) and the next period comes as usual.

    Args:
        seconds: the period, in seconds.
        work: a function, or a coroutine function, of no argument.
        what: what ``work`` does, for the log line of a failure (e.g. "hibernation sweep").
    """

    def __init__(
        self, seconds: float, work: Callable[[], object | Awaitable[object]], what: str
    ) -> None:
        self.seconds, self.work, self.what = seconds, work, what
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the runs (once; again after :meth:`stop`)."""
        if self._task is None:
            self._task = asyncio.create_task(self._runs())

    async def stop(self) -> None:
        """Stop the runs, waiting for one in progress to be cancelled."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _runs(self) -> None:
        while True:
            await asyncio.sleep(self.seconds)
            try:
                result = self.work()
                if inspect.isawaitable(result):
                    await result
            except Exception:  # a bug: the runs must go on
                log.exception("%s failed", self.what)
