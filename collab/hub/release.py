"""Giving the C heap's free pages back to the system after large writes: :class:`MemoryRelease`.

Measured with ``./scripts/bench --scenarios j``: a 20 MB document written into an open room
(94 updates of about 245 KB) left the server at 21 times the document's encoded size, while
the same updates applied in a bare process take 9.5 times. Half of the server's heap was free
blocks (``mallinfo2``: 205 MiB in use, 211 MiB free): what each update leaves behind once
applied (its frame, the parsed structs, the answers to sync step 1) is freed between the
document's own allocations, and glibc's ``free`` gives back only the top of its heap. A
``malloc_trim`` (:func:`collab.process.release_free_memory`) brought the process to 10.4
times in 14 ms.

So the hub counts the bytes of the updates it applies (:meth:`MemoryRelease.wrote`, on the
write path) and, every :data:`CHECK_SECONDS`, releases the free pages on a load thread (never
the database thread: commits do not wait for it) once :data:`RELEASE_AFTER_BYTES` were
written since the last release, or once writes stopped after at least :data:`QUIET_BYTES`
(the tail of a large import). A server of keystrokes releases rarely; the release of a small
heap takes a millisecond or two.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from collab.hub.folds import FoldThreads
from collab.metrics import Metrics
from collab.process import release_free_memory

__all__ = ["CHECK_SECONDS", "QUIET_BYTES", "RELEASE_AFTER_BYTES", "MemoryRelease"]

log = logging.getLogger("collab.hub")

CHECK_SECONDS = 0.5
"""Seconds between two checks of the bytes written."""

RELEASE_AFTER_BYTES = 4 * 1024 * 1024
"""Bytes of updates applied since the last release that make the next check release."""

QUIET_BYTES = 256 * 1024
"""Bytes of updates applied since the last release that make a check release once nothing
was written since the check before it."""


class MemoryRelease:
    """Releases the C heap's free pages after large writes (see the module docstring).

    Args:
        folds: the hub's fold threads (the release runs on a load thread).
        metrics: counts the releases (``collab_memory_releases_total``).
    """

    def __init__(self, folds: FoldThreads, metrics: Metrics) -> None:
        self.folds = folds
        self.metrics = metrics
        self.written = 0  # bytes of updates applied since the last release
        self._seen = 0  # ``written`` at the last check
        self._task: asyncio.Task[None] | None = None

    def wrote(self, size: int) -> None:
        """Count an update of ``size`` bytes applied to a document."""
        self.written += size

    def due(self) -> bool:
        """Whether a release is due now (and the count of the next one starts): many bytes
        written since the last release, or some and none since the last check."""
        written, seen = self.written, self._seen
        self._seen = written
        if written >= RELEASE_AFTER_BYTES or (written >= QUIET_BYTES and written == seen):
            self.written = self._seen = 0
            return True
        return False

    async def check(self) -> bool:
        """Release the free pages when :meth:`due`.

        Returns:
            Whether a release ran.
        """
        if not self.due():
            return False
        await self.folds.load(release_free_memory)
        self.metrics.memory_releases += 1
        return True

    def start(self) -> None:
        """Start the checks."""
        if self._task is None:
            self._task = asyncio.create_task(self._checks())

    async def stop(self) -> None:
        """Stop the checks."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _checks(self) -> None:
        while True:
            await asyncio.sleep(CHECK_SECONDS)
            try:
                await self.check()
            except Exception:  # a bug: the checks must go on
                log.exception("memory release failed")
