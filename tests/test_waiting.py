"""What waits for a missing predecessor, sent again: :meth:`collab.waiting.Waiting.unseen`."""

from __future__ import annotations

import pytest
from pycrdt import Doc, Text, merge_updates

from collab.integrator import Integrator
from collab.updates import InvalidUpdate
from tests.helpers.typing import typing


def typed(client: int, *chunks: str) -> list[bytes]:
    """``client`` typing ``chunks`` one after another: one update each."""
    return typing(client, *chunks)[1]


def test_waiting_structs_sent_again_in_merged_boundaries_add_nothing() -> None:
    """Clocks 1 and 2 wait (clock 0 missing), each in its own update; a client that holds
    them pending sends them again as one struct (Yjs merges adjacent items): nothing new
    waits, and once clock 0 arrives the text is whole."""
    updates = typed(5, *"abc")
    integrator = Integrator(Doc())
    assert integrator.apply(updates[1])
    assert integrator.apply(updates[2])
    kept = list(integrator.pending)
    again = merge_updates(updates[1], updates[2])
    assert not integrator.apply(again)
    assert integrator.pending == kept
    integrator.apply(updates[0])
    assert str(integrator.doc.get("text", type=Text)) == "abc"
    assert integrator.pending == []


def test_structs_overlapping_waiting_ones_in_part_are_refused() -> None:
    """Seeds 437 and 550 of the sequence test, in short: other content at clocks that wait,
    with other boundaries (Yjs slices it when merging what waits; pycrdt's merge of the two
    did not read back and everything that waited was dropped)."""
    first = typed(5, *"abcd")
    other = typed(5, "w", "xyz")
    integrator = Integrator(Doc())
    assert integrator.apply(merge_updates(first[1], first[2]))  # clocks 1-2 wait
    kept = list(integrator.pending)
    with pytest.raises(InvalidUpdate, match="overlap"):
        integrator.apply(other[1])  # clocks 1-3 in one struct: in part
    assert integrator.pending == kept
    integrator.apply(first[0])
    assert str(integrator.doc.get("text", type=Text)) == "abc"


def test_a_rest_dropped_as_waiting_already_never_reaches_pycrdt() -> None:
    """Seeds 398 and 424 of the sequence test, in short: an update whose other structs
    integrate carries, at a clock that waits already, other content; pycrdt is given only
    what integrates (given the whole update, it kept the other content pending itself and
    integrated it later, where Yjs keeps the first)."""
    kept = typed(7, "a", "k")
    forged = typed(7, "a", "#")
    other = typed(8, "z")
    integrator = Integrator(Doc())
    assert integrator.apply(kept[1])  # 7:1 "k" waits for 7:0
    assert integrator.apply(merge_updates(other[0], forged[1]))  # 8:0 integrates
    integrator.apply(kept[0])
    text = str(integrator.doc.get("text", type=Text))
    assert "k" in text and "#" not in text
