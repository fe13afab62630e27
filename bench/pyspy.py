"""Optional profiling of collab during a scenario with py-spy (``scripts/bench --py-spy``).

py-spy is installed into ``bench/peers/tools-venv`` on first use. It attaches to the collab
process for the whole scenario (sampling, without pausing it) and writes collapsed stacks; the
summary lists the functions that were on CPU most, by self and by inclusive samples.
"""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

from bench.servers import PEERS

TOOLS = PEERS / "tools-venv"
PY_SPY = TOOLS / "bin" / "py-spy"


def install() -> None:
    if PY_SPY.exists():
        return
    print("bench: installing py-spy into bench/peers/tools-venv", file=sys.stderr)
    if not (TOOLS / "bin" / "python").exists():
        subprocess.run([sys.executable, "-m", "venv", str(TOOLS)], check=True)
    pip = [str(TOOLS / "bin" / "python"), "-m", "pip", "install", "--quiet", "py-spy"]
    subprocess.run(pip, check=True)


def attach(pid: int, out: Path, rate: int = 250) -> subprocess.Popen[bytes]:
    """Start sampling ``pid`` into ``out`` (collapsed stacks); it stops when ``pid`` exits."""
    argv = [str(PY_SPY), "record", "--pid", str(pid), "--format", "raw", "--rate", str(rate)]
    argv += ["--nonblocking", "--output", str(out)]
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _frame_name(frame: str) -> str:
    """``func (path/to/file.py:123)`` -> ``func (file.py)``."""
    name, _, where = frame.partition(" (")
    where = where.rstrip(")").rsplit(":", 1)[0]
    parts = where.split("/")
    short = "/".join(parts[-2:]) if "site-packages" in where or "python3" in where else parts[-1]
    return f"{name} ({short})"


def summarize(collapsed: Path, top: int = 25) -> str:
    """The hottest functions of a collapsed-stacks file, as text."""
    self_counts: Counter[str] = Counter()
    incl_counts: Counter[str] = Counter()
    total = 0
    for line in collapsed.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_frame_name(f) for f in stack.split(";") if f and not f.startswith("process ")]
        frames = [f for f in frames if not f.startswith("thread ")]
        if not frames:
            continue
        total += count
        self_counts[frames[-1]] += count
        for f in set(frames):
            incl_counts[f] += count
    if not total:
        return "no samples\n"
    lines = [f"{total} samples on CPU", "", "self %   function"]
    lines += [f"{100 * c / total:6.1f}   {f}" for f, c in self_counts.most_common(top)]
    lines += ["", "inclusive %   function"]
    lines += [f"{100 * c / total:6.1f}   {f}" for f, c in incl_counts.most_common(top)]
    return "\n".join(lines) + "\n"
