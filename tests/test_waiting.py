"""What waits for a missing predecessor, sent again: :meth:`collab.waiting.Waiting.unseen`."""

from __future__ import annotations

import pytest
from pycrdt import Doc, Text, merge_updates

from collab import structs
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
    again = bytes([1, 1, 5, 1, 0x84, 5, 0, 2]) + b"bc\x00"  # 5:1-2, origin 5:0, "bc"
    assert len(structs.parse(again).runs[0].structs) == 1
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


def test_an_echo_beside_what_integrates_is_applied_once() -> None:
    """Seeds 398 and 424 of the sequence test, in short: an update whose other structs
    integrate carries, at a clock that waits already, the same content; pycrdt is given only
    what integrates (given the whole update, it kept the struct pending a second time)."""
    kept = typed(7, "a", "k")
    other = typed(8, "z")
    integrator = Integrator(Doc())
    assert integrator.apply(kept[1])  # 7:1 "k" waits for 7:0
    assert integrator.apply(merge_updates(other[0], kept[1]))  # 8:0 integrates
    integrator.apply(kept[0])
    assert sorted(str(integrator.doc.get("text", type=Text))) == ["a", "k", "z"]
    assert integrator.pending == []


def test_other_content_at_clocks_that_wait_is_refused() -> None:
    """Seeds 398, 424 and 683 of the sequence test, in short: a forger sends clocks that
    wait again with other content. Yjs's merge of what waits keeps one writing or the
    other depending on their kinds and its sort (seed 683: a GC struct at the clock of a
    waiting item wins), so the update is refused whole and what waits is unchanged."""
    kept = typed(7, "a", "k", "l")
    forged = typed(7, "a", "#")
    other = typed(8, "z")
    gc = bytes([1, 1, 7, 1, 0, 2, 0])  # client 7, clock 1: GC of length 2, no deletions
    integrator = Integrator(Doc())
    assert integrator.apply(merge_updates(kept[1], kept[2]))  # 7:1-2 "kl" wait for 7:0
    waiting = list(integrator.pending)
    for update in (merge_updates(other[0], forged[1]), gc):
        with pytest.raises(InvalidUpdate, match="other content"):
            integrator.apply(update)
        assert integrator.pending == waiting
    assert str(integrator.doc.get("text", type=Text)) == ""
    integrator.apply(kept[0])
    assert str(integrator.doc.get("text", type=Text)) == "akl"


def test_a_zero_length_item_next_to_what_waits_is_refused() -> None:
    """Yjs writes what waits from the struct holding its first clock (``findIndexSS``),
    which leaves out a leading zero-length item or not depending on where its binary search
    lands; such an item at or next to clocks that wait is refused."""
    kept = typed(7, "a", "k")
    zero = bytes([1, 1, 7, 2, 0x84, 7, 1, 0, 0])  # 7:2, origin 7:1, an empty string
    integrator = Integrator(Doc())
    assert integrator.apply(kept[1])  # 7:1 waits
    with pytest.raises(InvalidUpdate, match="zero-length"):
        integrator.apply(zero)
    integrator.apply(kept[0])
    assert str(integrator.doc.get("text", type=Text)) == "ak"


def test_a_skip_over_clocks_that_wait_is_no_content() -> None:
    """The fuzz beside editors: an update whose Skip struct lies over clocks that wait was
    read as an item (1011, internal error). A Skip is a gap, which Yjs's merge of what waits
    filters: the item after it waits too."""
    kept = typed(7, "a", "k", "l")
    k, skip, m = b"\x84\x07\x00\x01k", b"\x0a\x01", b"\x84\x07\x02\x01m"
    again = bytes([1, 3, 7, 1]) + k + skip + m + b"\x00"  # "k" again, Skip 7:2, "m" at 7:3
    integrator = Integrator(Doc())
    assert integrator.apply(merge_updates(kept[1], kept[2]))  # 7:1-2 "kl" wait for 7:0
    assert integrator.apply(again)
    integrator.apply(kept[0])
    assert str(integrator.doc.get("text", type=Text)) == "aklm"
