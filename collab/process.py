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
* **The C allocator** is left as it is. A fixed glibc ``mmap`` threshold (128 KiB,
  ``mallopt(M_MMAP_THRESHOLD)``) kept the resident size of a large open document closer to
  the document, but mapped and unmapped every large buffer pycrdt reallocates: 2,000
  one-character edits inside a 3 MB pasted text took 4.5 s instead of 0.39 s (1.5 million
  page faults), so it was dropped; glibc's free pages go back through
  :func:`release_free_memory` after large writes, and ``collab serve`` runs on jemalloc
  where the system has it (:mod:`collab.allocator`).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc

from collab.allocator import jemalloc_active, purge

__all__ = [
    "GC_YOUNG_THRESHOLD",
    "release_free_memory",
    "tune_gc",
]

GC_YOUNG_THRESHOLD = 50_000
"""Allocations of container objects between two collections of the youngest generation
(CPython's default is 700); the older generations keep their default thresholds."""


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
