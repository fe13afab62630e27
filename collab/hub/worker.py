"""The database thread: every blocking store call runs here, one at a time, in order."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

__all__ = ["DatabaseThread"]

T = TypeVar("T")


class DatabaseThread:
    """One worker thread for the store (its methods block and want one thread at a time).

    :attr:`jobs` counts the calls submitted and not finished yet (even when their caller was
    cancelled): the event loop may use the store itself only while it is 0.
    """

    def __init__(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="collab-db")
        self.jobs = 0

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        """Run the blocking call ``fn(*args)`` on the thread and return its result."""
        return await self.submit(fn, *args)

    def submit(self, fn: Callable[..., T], *args: object) -> asyncio.Future[T]:
        """Queue ``fn(*args)`` on the thread now (jobs run in submission order)."""
        loop = asyncio.get_running_loop()
        job = self._executor.submit(fn, *args)
        self.jobs += 1
        job.add_done_callback(lambda _: loop.call_soon_threadsafe(self._job_done))
        return asyncio.wrap_future(job)

    def _job_done(self) -> None:
        self.jobs -= 1

    def shutdown(self) -> None:
        """Wait for the queued calls, then stop the thread."""
        self._executor.shutdown(wait=True)
