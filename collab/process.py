"""Process-wide tuning of a serving process: the garbage collector and the C allocator.

Both are measured choices (``./scripts/bench``, scenarios (g) and (j); the README's
Benchmarks section has the figures), applied once by ``collab serve`` before it serves:

* **The cyclic garbage collector.** CPython 3.11 collects its youngest generation after
  every 700 allocations of container objects, and everything once the survivors of those
  collections grew by a quarter. A server relaying 100 updates a second to 1,500 peers
  allocates a few containers per peer and update; the youngest generation was collected 150
  times a second, promoting what happened to be alive, and a full collection (every object
  of every connection, about 100,000) paused the event loop for 15-85 ms several times in a
  few seconds: the tail of the delivery latency. :func:`tune_gc` freezes the objects that
  exist once the application is built (modules, classes, the app: never garbage, never
  scanned again, ``gc.freeze``) and collects the youngest generation after
  :data:`GC_YOUNG_THRESHOLD` allocations instead, so fewer objects are promoted and full
  collections become rare. Reference counting frees everything acyclic at once as before;
  only the detection of cycles is less frequent.
* **glibc's malloc.** Its threshold for serving a large allocation with ``mmap`` starts at
  128 KiB and rises to the size of any such block freed (up to 32 MiB), after which large
  temporary buffers (a 20 MB document's state for a compaction, sync step 2 replies, merged
  bursts) come from the heap, between the document's own small allocations, and their pages
  are never given back. :func:`limit_malloc_retention` fixes the threshold at
  :data:`MMAP_THRESHOLD_BYTES` (``mallopt(M_MMAP_THRESHOLD)``, which also stops its
  adjustment): such buffers are mapped and unmapped, and the resident size of a large open
  document stays closer to the document itself. Other C libraries are left alone, and so
  is glibc's ``malloc`` when the process allocates with jemalloc (:mod:`collab.allocator`,
  the default where the system has it): both functions are then no-ops.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import logging

from collab.allocator import jemalloc_active, purge

__all__ = [
    "GC_YOUNG_THRESHOLD",
    "MMAP_THRESHOLD_BYTES",
    "limit_malloc_retention",
    "release_free_memory",
    "tune_gc",
]

log = logging.getLogger("collab.process")

GC_YOUNG_THRESHOLD = 50_000
"""Allocations of container objects between two collections of the youngest generation
(CPython's default is 700); the older generations keep their default thresholds."""

MMAP_THRESHOLD_BYTES = 128 * 1024
"""Allocations from this size on are served by ``mmap`` and returned at ``free`` (glibc's
initial value, kept fixed)."""

_M_MMAP_THRESHOLD = -3  # glibc's malloc.h


def tune_gc() -> None:
    """Freeze every object alive now (call it once the application is built) and make the
    youngest generation's collections rarer (see the module docstring)."""
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, older, oldest)


def _libc() -> ctypes.CDLL | None:
    try:
        return ctypes.CDLL(ctypes.util.find_library("c"))
    except (OSError, TypeError):
        return None


def release_free_memory() -> bool:
    """Give the pages malloc holds free back to the system (glibc's ``malloc_trim(0)``, in
    every arena): a hibernated room's document was freed in thousands of small blocks, which
    glibc keeps mapped otherwise. Takes tens of milliseconds on a large heap; ctypes releases
    the GIL meanwhile, so call it from a worker thread.

    Under jemalloc (:mod:`collab.allocator`) its arenas' unused dirty pages are purged
    instead (:func:`collab.allocator.purge`).

    Returns:
        Whether memory was released (``False`` too with another C library).
    """
    if jemalloc_active():
        return purge()
    libc = _libc()
    trim = getattr(libc, "malloc_trim", None)
    if trim is None:
        return False
    trim.argtypes = (ctypes.c_size_t,)
    trim.restype = ctypes.c_int
    return int(trim(0)) == 1


def limit_malloc_retention() -> bool:
    """Fix glibc's ``mmap`` threshold at :data:`MMAP_THRESHOLD_BYTES` (see the module
    docstring).

    Returns:
        Whether it was set: ``False`` with another C library (musl has no ``mallopt``), or
        when the process allocates with jemalloc.
    """
    if jemalloc_active():
        return False
    mallopt = getattr(_libc(), "mallopt", None)
    if mallopt is None:
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    done = int(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)) == 1
    if not done:
        log.debug("mallopt(M_MMAP_THRESHOLD) refused")
    return done
