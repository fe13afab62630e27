"""``collab serve --workers N``: N cluster nodes on one machine behind one port.

Each worker is a ``collab serve --redis ... --workers 1`` process. Every cluster node binds
its port with ``SO_REUSEPORT``, so the kernel spreads new connections over the workers (no
sticky sessions are needed: any node serves any document). The supervisor forwards SIGINT
and SIGTERM to the workers, and starts again a worker that died.
"""

from __future__ import annotations

import ctypes
import logging
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from types import FrameType

__all__ = ["supervise", "worker_argv"]

log = logging.getLogger("collab.workers")

RESTART_SECONDS = 1.0  # wait before starting a dead worker again
_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def worker_argv(argv: Sequence[str]) -> list[str]:
    """The command line of one worker: ``argv`` (``collab``'s arguments) with ``--workers``
    replaced by ``--workers 1``."""
    out: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--workers":
            skip = True
        elif not arg.startswith("--workers="):
            out.append(arg)
    return [sys.executable, "-m", "collab", *out, "--workers", "1"]


def _die_with_parent() -> None:
    """In a worker, before it runs: a SIGTERM when the supervisor dies, however it dies
    (Linux's ``PR_SET_PDEATHSIG``; elsewhere nothing), so no worker outlives it."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


def _start(command: list[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(command, preexec_fn=_die_with_parent)


def supervise(argv: Sequence[str], workers: int) -> int:
    """Run ``workers`` worker processes until SIGINT or SIGTERM; returns the exit status.

    A worker that dies is started again, unless it refused to start (exit status 1 or 2:
    a busy port, an unusable database, bad settings, the message on stderr): then every
    worker is stopped and that status returned.
    """
    command = worker_argv(argv)
    procs: list[subprocess.Popen[bytes]] = [_start(command) for _ in range(workers)]
    stopping = False

    def stop(sig: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(sig)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    print(f"collab: {workers} workers, pids {[p.pid for p in procs]}", file=sys.stderr)
    while not stopping:
        time.sleep(0.2)
        for index, proc in enumerate(procs):
            if proc.poll() is None or stopping:
                continue
            if proc.returncode in (1, 2):  # refused to start: starting it again would too
                stop(signal.SIGTERM, None)
                for other in procs:
                    other.wait()
                return proc.returncode
            print(f"collab: worker {proc.pid} exited ({proc.returncode}), restarting",
                  file=sys.stderr)  # fmt: skip
            time.sleep(RESTART_SECONDS)
            procs[index] = _start(command)
    status = 0
    for proc in procs:
        status = max(status, abs(proc.wait()))
    return status
