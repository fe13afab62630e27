"""The C allocator of a serving process: jemalloc when the system has it (``--allocator``).

A pycrdt document lives in Rust (yrs), one heap block per item: 160 bytes for the item, which
glibc's ``malloc`` serves from a 176-byte chunk (a size word, then 16-byte alignment), and
small strings in 32-byte chunks; jemalloc serves them from its 160-byte and 16-byte size
classes. Measured with ``./scripts/bench --scenarios j`` and in a bare process applying the
same updates (README, Benchmarks): a document takes 9.5 times its encoded size with glibc
(freed pages given back by ``malloc_trim``), 8.8 times with jemalloc. A Python process
cannot change its allocator once running, so :func:`use_jemalloc` starts ``collab serve``
again in the same process (``execve``: the same process id, arguments and environment) with
the library in ``LD_PRELOAD``, before anything is opened or bound.

jemalloc is told (``MALLOC_CONF``, unless the environment sets it) to give freed pages back
after one second, from a background thread (:data:`JEMALLOC_CONF`). Its default ten-second
decay kept what an update or a compaction left behind resident (a 5 MB document at 11.5
times its size two seconds after its last write). No decay at all (the setting until
commit 47ff9fd: 8.8, 8.9 and 8.5 times for documents of 1, 5 and 20 MB, against 9.2, 9.2 and
9.0 with a one-second decay and 9.65, 9.6-9.9 and 9.1-9.6 with glibc, measured in ``collab
serve`` two seconds after the last write, after two first documents, as (j) does) made
jemalloc return and fault in again every large buffer pycrdt reallocates: 2,000
one-character edits inside a 3 MB pasted text took 9.0 s in pycrdt's ``apply_update``
instead of 0.35 s (a newcomer's trial found it). In the bench's fan-out, saturation and
300-rooms scenarios the CPU of the settings did not differ beyond the noise of a shared
machine. Where the server gives free pages back after large writes and hibernations, it
purges jemalloc's arenas instead of calling glibc's ``malloc_trim`` (:func:`purge`,
:mod:`collab.process`).

Where the library is missing (``apt-get install libjemalloc2`` on Debian; the scripts and
the Docker image install it), or with ``--allocator system``, the process keeps glibc's
``malloc`` as before.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import logging
import os
import sys
from collections.abc import Mapping
from pathlib import Path

__all__ = [
    "JEMALLOC_CONF",
    "description",
    "jemalloc_active",
    "jemalloc_library",
    "preload_environment",
    "purge",
    "started_as_collab",
    "use_jemalloc",
]

log = logging.getLogger("collab")

JEMALLOC_CONF = "dirty_decay_ms:1000,muzzy_decay_ms:0,background_thread:true"
"""jemalloc's options for a server: pages freed go back to the system after a second
(``MADV_DONTNEED``, from jemalloc's background thread, also when the process is idle), none
lazily freed and still counted as resident; the pages a burst of edits frees are reused by
the next edits instead of faulted in again."""

_LIBRARY_DIRS = (
    "/usr/lib/x86_64-linux-gnu",
    "/usr/lib/aarch64-linux-gnu",
    "/usr/lib64",
    "/usr/lib",
)
_LIBRARY_NAME = "libjemalloc.so.2"
_ARENAS_ALL = 4096  # jemalloc's MALLCTL_ARENAS_ALL: every arena


def jemalloc_library() -> str | None:
    """The path of the system's jemalloc shared library (Debian's ``libjemalloc2``), or
    ``None`` when there is none."""
    for folder in _LIBRARY_DIRS:
        path = Path(folder) / _LIBRARY_NAME
        if path.is_file():
            return str(path)
    name = ctypes.util.find_library("jemalloc")  # the dynamic linker's cache (ldconfig -p)
    return name if name and Path(name).is_absolute() and Path(name).is_file() else None


@functools.cache
def jemalloc_active() -> bool:
    """Whether this process allocates with jemalloc (its ``mallctl`` is linked in)."""
    try:
        return hasattr(ctypes.CDLL(None), "mallctl")
    except OSError:
        return False


def purge() -> bool:
    """Give every jemalloc arena's unused dirty pages back to the system now
    (``mallctl("arena.<MALLCTL_ARENAS_ALL>.purge")``), as glibc's ``malloc_trim`` does for
    its heap; ctypes releases the GIL meanwhile.

    Returns:
        Whether it ran (``False`` when the process does not allocate with jemalloc).
    """
    if not jemalloc_active():
        return False
    mallctl = ctypes.CDLL(None).mallctl
    mallctl.argtypes = (ctypes.c_char_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p)
    mallctl.argtypes += (ctypes.c_size_t,)
    mallctl.restype = ctypes.c_int
    return int(mallctl(f"arena.{_ARENAS_ALL}.purge".encode(), None, None, None, 0)) == 0


def preload_environment(
    environ: Mapping[str, str], library: str | None, allocator: str
) -> dict[str, str] | None:
    """The environment to start this process again with, so that it allocates with jemalloc;
    ``None`` when it should go on as it is: ``allocator`` is ``"system"``, there is no
    ``library``, or ``LD_PRELOAD`` names it already (this is the process started again, or
    the user preloaded it: never a second start).

    Args:
        environ: the process's environment.
        library: the path of jemalloc's shared library (:func:`jemalloc_library`).
        allocator: the ``--allocator`` setting, ``"jemalloc"`` or ``"system"``.
    """
    if allocator != "jemalloc" or library is None:
        return None
    preloaded = environ.get("LD_PRELOAD", "").replace(":", " ").split()
    if library in preloaded or any(Path(p).name == Path(library).name for p in preloaded):
        return None
    env = dict(environ)
    env["LD_PRELOAD"] = " ".join([library, *preloaded])
    env.setdefault("MALLOC_CONF", JEMALLOC_CONF)
    return env


def started_as_collab(script: str) -> bool:
    """Whether ``script`` (``sys.argv[0]``) is the ``collab`` command: its console script,
    or ``python -m collab``. Only then may the process start itself again: an application
    that runs ``collab serve`` from its own code would be run again from its start."""
    path = Path(script)
    return path.name == "collab" or (path.name == "__main__.py" and path.parent.name == "collab")


def use_jemalloc(allocator: str) -> None:
    """Start this process again with jemalloc preloaded (:func:`preload_environment`), in
    place (``os.execve``: it does not return), when it should and it is the ``collab``
    command (:func:`started_as_collab`); else return. A failed ``execve`` is logged and the
    process goes on with glibc's ``malloc``."""
    if not started_as_collab(sys.argv[0]):
        return
    env = preload_environment(os.environ, jemalloc_library(), allocator)
    if env is None:
        return
    argv = list(sys.orig_argv)
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execve(sys.executable, argv, env)
    except OSError as exc:
        log.warning("cannot start again with jemalloc (%s); going on with malloc", exc)


def description(allocator: str) -> str:
    """What this process allocates with, for the start-up log: ``"jemalloc (PATH)"``, or
    glibc's ``malloc`` and why (``allocator`` is the ``--allocator`` setting)."""
    if jemalloc_active():
        return f"jemalloc ({jemalloc_library() or 'preloaded'})"
    if allocator == "system":
        return "glibc malloc (--allocator system)"
    if jemalloc_library() is None:
        return "glibc malloc (no libjemalloc2 on this system: apt-get install libjemalloc2)"
    return "glibc malloc (not started as the collab command)"
