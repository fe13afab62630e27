"""Giving the C heap's free pages back to the system after large writes: :class:`MemoryRelease`.

Measured with ``./scripts/bench --scenarios j``: a 20 MB document written into an open room
(94 updates of about 245 KB) left the server at 21 times the document's encoded size, while
the same updates applied in a bare process take 9.5 times. Half of the server's heap was free
blocks (``mallinfo2``: 205 MiB in use, 211 MiB free): what each update leaves behind once
applied (its frame, the parsed structs, the answers to sync step 1) is freed between the
document's own allocations, and glibc's ``free`` gives back only the top of its heap. A
``malloc_trim`` (:func:`collab.process.release_free_memory`) brought the process to 10.4
times in 14 ms.

Encoding a whole document (a compaction's snapshot) fills the free pages again: when a
compaction ran after the last release, the 20 MB document was back at 21 times, with
nothing else happening (its encoding's temporary allocations come from the free heap and
are freed there).

So the hub counts the bytes of the updates it applies (:meth:`MemoryRelease.wrote`, on the
write path) and of the snapshots its compactions encode, and, every :data:`CHECK_SECONDS`,
releases the free pages on a load thread (never the database thread: commits do not wait
for it) once :data:`RELEASE_AFTER_BYTES` were counted since the last release, or once the
count stopped growing after at least :data:`QUIET_BYTES` (the tail of a large import), or
once the resident size grew by :data:`GROWTH_FRACTION` of what it was after the last release
(at least :data:`GROWTH_MIN_BYTES`): free pages also filled again seconds after a release
with nothing written (the 20 MB document back at 21 times in some runs), and a growth of
live memory costs one release per eighth. Each release is followed by one more
:data:`FOLLOW_UP_CHECKS` checks later (in a few runs the 20 MB document stayed at 21 times
after a release that found the memory still in use). A server of keystrokes releases rarely; the
release of a small heap takes a millisecond or two.
"""

from __future__ import annotations

import logging
import os

from collab.hub.folds import FoldThreads
from collab.hub.periodic import Periodic
from collab.metrics import Metrics
from collab.process import release_free_memory

__all__ = [
    "CHECK_SECONDS",
    "FOLLOW_UP_CHECKS",
    "GROWTH_FRACTION",
    "GROWTH_MIN_BYTES",
    "QUIET_BYTES",
    "RELEASE_AFTER_BYTES",
    "MemoryRelease",
    "resident_bytes",
]

log = logging.getLogger("collab.hub")

CHECK_SECONDS = 0.5
"""Seconds between two checks of the bytes written."""

RELEASE_AFTER_BYTES = 4 * 1024 * 1024
"""Bytes of updates applied since the last release that make the next check release."""

QUIET_BYTES = 256 * 1024
"""Bytes of updates applied since the last release that make a check release once nothing
was written since the check before it."""

GROWTH_FRACTION = 1 / 8
"""Growth of the resident size since the last release (a fraction of it) that makes the next
check release."""

GROWTH_MIN_BYTES = 32 * 1024 * 1024
"""The smallest growth of the resident size that makes a check release."""

FOLLOW_UP_CHECKS = 10
"""Checks after a release when one more release follows (unless another came meanwhile)."""


def resident_bytes() -> int | None:
    """The process's resident size in bytes (``/proc/self/statm``), ``None`` where there is
    no such file."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


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
        self.resident: int | None = resident_bytes()  # after the last release
        self._rss = resident_bytes  # the resident size now (a fake one in tests)
        self._follow_up: int | None = None  # checks until the follow-up release
        self._checks = Periodic(CHECK_SECONDS, self.check, "memory release")

    def wrote(self, size: int) -> None:
        """Count an update of ``size`` bytes applied to a document."""
        self.written += size

    def due(self) -> bool:
        """Whether a release is due now (and the count of the next one starts): many bytes
        written since the last release, or some and none since the last check, or the
        resident size grew by an eighth since the last release, or the follow-up of the
        last release."""
        written, seen = self.written, self._seen
        self._seen = written
        follow_up = self._follow_up
        if follow_up is not None:
            self._follow_up = follow_up - 1 if follow_up > 1 else None
            if follow_up == 1:
                self.written = self._seen = 0
                return True
        if written >= RELEASE_AFTER_BYTES or (written >= QUIET_BYTES and written == seen):
            return self._start_over()
        now, before = self._rss(), self.resident
        if now is None or before is None:
            return False
        if now - before >= max(GROWTH_MIN_BYTES, before * GROWTH_FRACTION):
            return self._start_over()
        return False

    def _start_over(self) -> bool:
        self.written = self._seen = 0
        self._follow_up = FOLLOW_UP_CHECKS
        return True

    async def check(self) -> bool:
        """Release the free pages when :meth:`due`.

        Returns:
            Whether a release ran.
        """
        if not self.due():
            return False
        await self.folds.load(release_free_memory)
        self.resident = self._rss()
        self.metrics.memory_releases += 1
        return True

    def start(self) -> None:
        """Start the checks."""
        self._checks.start()

    async def stop(self) -> None:
        """Stop the checks."""
        await self._checks.stop()
