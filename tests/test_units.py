"""An item's clocks one by one (:func:`collab.units.units`): the same content in other
boundaries compares equal, other content does not."""

from __future__ import annotations

from typing import Any

from pycrdt import Array, Doc

from collab import structs
from collab.units import units
from tests.helpers.typing import typing


def clocks(update: bytes) -> list[Any]:
    """Every clock of ``update``'s structs, client by client, as :func:`units` reads it."""
    parsed = structs.parse(update)
    return [
        u for run in parsed.runs for s in run.structs for u in units(parsed.data, run.client, s)
    ]


def test_a_string_in_one_struct_or_three_reads_the_same_clock_by_clock() -> None:
    doc, updates = typing(3, "ab", "c", "\U0001f600d")
    apart = [u for update in updates for u in clocks(update)]
    assert len(structs.parse(doc.get_update()).runs[0].structs) == 1
    merged = clocks(doc.get_update())
    assert merged == apart
    assert len(merged) == 6  # the emoji is two UTF-16 code units: two clocks
    assert merged[0][3] and not any(u[3] for u in merged[1:])  # only the first names its parent
    assert merged[1][1] == (3, 0) and merged[3][1] == (3, 2)  # origins: the clock before


def test_other_content_or_another_origin_reads_differently() -> None:
    _, honest = typing(3, "ab")
    _, other = typing(3, "ax")
    _, elsewhere = typing(4, "ab")
    assert clocks(honest[0]) != clocks(other[0])
    assert clocks(honest[0])[0][1:] == clocks(elsewhere[0])[0][1:]  # clients aside, the same


def test_array_elements_are_a_clock_each() -> None:
    doc: Doc[Any] = Doc(client_id=5)
    updates: list[bytes] = []
    doc.observe(lambda event: updates.append(event.update))
    array = doc.get("list", type=Array)
    array.extend([1, "x", {"k": [True]}])
    (update,) = updates
    read = clocks(update)
    assert [u[0] for u in read] == [8, 8, 8]  # ContentAny
    assert len({u[4] for u in read}) == 3
