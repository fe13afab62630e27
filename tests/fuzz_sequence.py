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
The test suite runs a dozen of these seeds (``tests/e2e/test_hostile.py``).
"""

from __future__ import annotations

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


def run(first: int, last: int, minimised: bool, out: Any = print) -> list[int]:
    """Seeds ``first`` to ``last`` (inclusive); the diverging ones."""
    bad = []
    for seed in range(first, last + 1):
        base, updates = mutations(seed=seed, count=COUNT, gc=True)
        if not diverges(base, updates):
            continue
        bad.append(seed)
        out(f"fuzz: seed {seed} DIVERGES from Yjs")
        if minimised:
            for update in minimise(base, play(base, updates).accepted):
                out(describe(update))
    count = last - first + 1
    out(
        f"fuzz: {len(bad)} of {count} seed{'s' * (count != 1)} ({first}-{last},"
        f" {COUNT:,} mutated updates each) diverge from Yjs: {bad}"
    )
    return bad
