"""``collab serve --workers N``: N cluster nodes on one machine behind one port.

Each worker is a ``collab serve --redis ... --workers 1`` process. Every cluster node binds
its port with ``SO_REUSEPORT``, so the kernel spreads new connections over the workers (no
sticky sessions are needed: any node serves any document). The supervisor stops the workers
on SIGINT or SIGTERM, and starts again a worker that died.
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
    # In a process group of its own: a terminal's Ctrl-C (SIGINT to the foreground group)
    # reaches the supervisor only, which sends each worker one SIGTERM (two signals would
    # make a worker exit at once, see collab.cli_serve; a SIGINT would make one still
    # starting print a KeyboardInterrupt traceback).
    return subprocess.Popen(command, preexec_fn=_die_with_parent, process_group=0)


def supervise(argv: Sequence[str], workers: int) -> int:
    """Run ``workers`` worker processes until SIGINT or SIGTERM; returns the exit status.

    Either signal is passed on to every worker as one SIGTERM: a worker it ends (one still
    starting, before its own handlers are installed) stopped as asked, so the status is 0
    unless a worker failed otherwise. A worker that dies is started again, unless it refused
    to start (exit status 1 or 2: a busy port, an unusable database, bad settings, the
    message on stderr): then every worker is stopped and that status returned.
    """
    command = worker_argv(argv)
    received: list[int] = []  # the signals to stop on (SIGTERM is sent to the workers below)

    def stop(sig: int, frame: FrameType | None) -> None:
        received.append(sig)  # only noted: a worker being started now must get it too

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    procs: list[subprocess.Popen[bytes]] = []
    while len(procs) < workers and not received:
        procs.append(_start(command))
    print(f"collab: {workers} workers, pids {[p.pid for p in procs]}", file=sys.stderr)
    status = 0
    while not received:
        time.sleep(0.2)
        for index, proc in enumerate(procs):
            if proc.poll() is None or received:
                continue
            if proc.returncode in (1, 2):  # refused to start: starting it again would too
                received.append(signal.SIGTERM)
                status = proc.returncode
                break
            print(f"collab: worker {proc.pid} exited ({proc.returncode}), restarting",
                  file=sys.stderr)  # fmt: skip
            time.sleep(RESTART_SECONDS)
            if not received:
                procs[index] = _start(command)
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        code = proc.wait()
        if code != -signal.SIGTERM:  # ended by the signal sent: stopped as asked
            status = max(status, abs(code))
    return status
