"""Give the memory a large document freed back to the operating system.

A compaction encodes a whole document (tens of MB for a large one) and SQLite writes it from
the database thread; a room unloaded frees its document. glibc keeps such freed memory in its
heaps (the database thread's arena in particular) instead of returning it, so a server's
resident memory stays at its peak. ``malloc_trim(0)`` returns the free pages of every arena;
it costs about a millisecond and runs only after those rare, large frees. Elsewhere than glibc
it is a no-op.
"""

from __future__ import annotations

import ctypes
import ctypes.util

__all__ = ["trim"]


def _malloc_trim() -> object | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc.malloc_trim
    except (OSError, AttributeError):  # not glibc
        return None


_TRIM = _malloc_trim()


def trim() -> None:
    """Return the free memory of the process's heaps to the operating system (glibc)."""
    if _TRIM is not None:
        _TRIM(0)  # type: ignore[operator]
