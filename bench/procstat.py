"""CPU time and resident memory of a process tree, read from ``/proc`` (Linux)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # the command name (field 2) may hold spaces: split after its closing parenthesis
    return raw[raw.rindex(")") + 2 :].split()


def descendants(pid: int) -> list[int]:
    """``pid`` and every process below it."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(int(entry.name))
        if fields is not None:
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds used so far by ``pids`` (all their threads)."""
    total = 0
    for pid in pids:
        fields = _stat_fields(pid)
        if fields is not None:
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / _TICKS


def rss_bytes(pids: list[int]) -> int:
    """Resident set size of ``pids`` together, in bytes."""
    total = 0
    for pid in pids:
        try:
            pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
        except (OSError, IndexError, ValueError):
            continue
        total += pages * _PAGE
    return total


class PeakRss:
    """The peak resident set size of ``pids`` together (bytes), sampled every ``period``
    seconds from the moment it is made until :meth:`stop` (an asyncio task: make it on the
    running event loop)."""

    def __init__(self, pids: list[int], period: float = 0.05) -> None:
        self.pids, self.period = pids, period
        self.peak = rss_bytes(pids)
        self._running = True
        self._task = asyncio.create_task(self._sample())

    async def _sample(self) -> None:
        while self._running:
            self.peak = max(self.peak, rss_bytes(self.pids))
            await asyncio.sleep(self.period)

    async def stop(self) -> int:
        """Stop sampling; the peak, in bytes."""
        self._running = False
        await self._task
        return self.peak


def machine_busy_seconds() -> float:
    """CPU seconds all cores spent busy since boot (``/proc/stat``), for the external-load check."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except (OSError, IndexError):
        return 0.0
    ticks = [int(x) for x in fields]
    busy = sum(ticks[:3]) + sum(ticks[5:8])  # user nice system, irq softirq steal
    return busy / _TICKS
