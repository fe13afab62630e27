"""``scripts/fuzz --sequence FIRST:LAST``: the integrator against real Yjs, seed by seed.

For each seed, :func:`tests.helpers.sequence.mutations` gives a rich base document and 1,500
mutated updates of it; they go one after another through an
:class:`collab.integrator.Integrator` (the server's view: refused, waiting, integrated), and
real Yjs (Node, ``tests/e2e/node/yjs_apply.mjs``) applies the accepted ones in the same
order, and, as a client of the server would, what the integrator relayed of them. A seed
diverges when either Yjs ends with another text or state vector than the integrator (the
first excused where items that waited were written as GC: see ``Plan.unlike_yjs``).
With ``--minimise``, each diverging seed's accepted updates are cut down (delta debugging)
to the few that still diverge, printed struct by struct: the starting point of a test.
The test suite runs a dozen of these seeds (``tests/e2e/test_hostile.py``). The
integrator's log records (logger ``collab``, warnings such as waiting items Yjs reads
otherwise) are counted into the tool's summary instead of printed between its lines.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from collab import structs
from tests.helpers.sequence import against_yjs, doc_view, mutations, play, yjs_view

COUNT = 1500
"""Mutated updates per seed (as the test suite's sequence test)."""


def diverges(base: list[bytes], updates: list[bytes]) -> bool:
    """Whether Yjs applying what the integrator relays of ``updates`` ends elsewhere, or Yjs
    applying what it accepts, unless items that waited were written as GC where Yjs keeps
    an item pycrdt cannot hold (:attr:`collab.integration.Plan.unlike_yjs`)."""
    played = play(base, updates)
    reference, fed = against_yjs(played, base)
    ours = doc_view(played.integrator.doc)
    return ours != yjs_view(fed) or (
        ours != yjs_view(reference) and not played.integrator.unlike_yjs
    )


def minimise(base: list[bytes], updates: list[bytes]) -> list[bytes]:
    """The fewest of ``updates`` (delta debugging by chunks) that still diverge."""
    chunks = 2
    while len(updates) >= 2:
        size = len(updates) // chunks
        parts = [updates[i * size : (i + 1) * size] for i in range(chunks - 1)]
        parts.append(updates[(chunks - 1) * size :])
        for i in range(chunks):
            rest = [u for j, part in enumerate(parts) if j != i for u in part]
            if diverges(base, rest):
                updates, chunks = rest, max(chunks - 1, 2)
                break
        else:
            if chunks >= len(updates):
                break
            chunks = min(len(updates), chunks * 2)
    return updates


def describe(update: bytes) -> str:
    """``update`` in hex, then its structs (clock, length, kind, origin, right origin,
    parent id) per client and its delete set."""
    parsed = structs.parse(update)
    lines = [update.hex()]
    for run in parsed.runs:
        lines += [f"    {run.client} {struct[:6]}" for struct in run.structs]
    lines.append(f"    deletes {parsed.deletes}")
    return "\n".join(lines)


class _Tally(logging.Handler):
    """Counts log records by level and message (their template, a number written N and
    other values ...)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.counts: Counter[tuple[str, str]] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        message = str(record.msg).replace("%d", "N").replace("%s", "...")
        self.counts[record.levelname.lower(), message] += 1


@contextmanager
def _tallied(name: str = "collab") -> Iterator[_Tally]:
    """Logger ``name``'s warnings and errors counted, not printed, for the block's length
    (its handlers and propagation as they were afterwards)."""
    logger = logging.getLogger(name)
    tally, propagate = _Tally(), logger.propagate
    logger.addHandler(tally)
    logger.propagate = False
    try:
        yield tally
    finally:
        logger.removeHandler(tally)
        logger.propagate = propagate


def run(first: int, last: int, minimised: bool, out: Any = print) -> list[int]:
    """Seeds ``first`` to ``last`` (inclusive); the diverging ones. The integrator's log
    records while the seeds are played are counted in the last lines of ``out``, not printed
    (those of ``--minimise``'s replays are left out of the count)."""
    bad = []
    logged: Counter[tuple[str, str]] = Counter()
    with _tallied() as tally:
        for seed in range(first, last + 1):
            base, updates = mutations(seed=seed, count=COUNT, gc=True)
            diverging = diverges(base, updates)
            logged += tally.counts
            tally.counts.clear()
            if not diverging:
                continue
            bad.append(seed)
            out(f"fuzz: seed {seed} DIVERGES from Yjs")
            if minimised:
                for update in minimise(base, play(base, updates).accepted):
                    out(describe(update))
                tally.counts.clear()
    count = last - first + 1
    out(
        f"fuzz: {len(bad)} of {count} seed{'s' * (count != 1)} ({first}-{last},"
        f" {COUNT:,} mutated updates each) diverge from Yjs: {bad}"
    )
    for (level, message), times in sorted(logged.items()):
        plural = "s" * (times != 1)
        out(f"fuzz: the integrator logged {times:,} {level}{plural} (counted here): {message}")
    return bad
