"""Compaction in three steps, run against SQLite and PostgreSQL: the log read in a short
transaction, the fold outside the database thread (with a time budget), and the snapshot
written in a short transaction that checks the log it folded did not change meanwhile.

Issue 19 item 2: a fold of a document whose log holds many structs that wait ran for minutes
on the database thread, and every other room's commits and loads waited behind it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pycrdt import Doc, Text

from collab.integrator import apply_all
from collab.stores import CompactionAbandoned, DocumentStore
from collab.stores.folding import Deadline, fold
from collab.updates import same_document
from tests.helpers.stores import STORES, Opener, opener


def updates_of(doc: Doc[Any], edit: Any) -> list[bytes]:
    collected: list[bytes] = []
    sub = doc.observe(lambda event: collected.append(event.update))
    edit()
    doc.unobserve(sub)
    return collected


def text_of(store: DocumentStore, name: str) -> str:
    doc = apply_all(Doc(), store.load(name).updates_in_order())
    return str(doc.get("t", type=Text))


@pytest.fixture(params=STORES)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DocumentStore]:
    open_: Opener
    with opener(request, request.param, tmp_path) as open_:
        yield open_()


def edits(doc: Doc[Any], words: range) -> list[bytes]:
    text = doc.get("t", type=Text)
    return updates_of(doc, lambda: [text.insert(len(text), f"w{i} ") for i in words])


def test_rows_committed_between_the_read_and_the_write_stay_in_the_log(
    store: DocumentStore,
) -> None:
    """Other rooms (and this one) commit while the fold runs elsewhere: what came after the
    read is neither lost nor folded, and the document's counters stay right."""
    doc: Doc[Any] = Doc()
    first = edits(doc, range(20))
    store.append([("d", u) for u in first])
    read = store.read_for_compaction("d")
    assert read is not None and [data for _, data in read.rows] == first
    later = edits(doc, range(20, 25))
    store.append([("d", u) for u in later] + [("other", b"\x00\x00")])
    merged, kept = fold("d", read.snapshot, read.rows)
    result = store.finish_compaction(read, merged, kept)
    assert result.rows == len(first) and result.bytes_after == len(merged)
    assert store.load("d").updates == later
    assert store.log_stats("d") == (len(later), sum(map(len, later)))
    record = store.get("d")
    assert record is not None and record.updates == len(later)
    assert record.size_bytes == len(merged) + sum(map(len, later))
    assert text_of(store, "d") == "".join(f"w{i} " for i in range(25))


def test_a_fold_of_a_log_that_changed_under_it_is_abandoned(store: DocumentStore) -> None:
    """Another compaction (another node's, or an import) folded the log first: the stale
    snapshot is not written, nothing is deleted."""
    doc: Doc[Any] = Doc()
    store.append([("d", u) for u in edits(doc, range(10))])
    read = store.read_for_compaction("d")
    assert read is not None
    store.compact("d")  # someone else's, meanwhile
    later = edits(doc, range(10, 12))
    store.append([("d", u) for u in later])
    before = store.load("d")
    with pytest.raises(CompactionAbandoned, match="changed"):
        store.finish_compaction(read, *fold("d", read.snapshot, read.rows))
    assert store.load("d") == before
    assert text_of(store, "d") == "".join(f"w{i} " for i in range(12))


def test_a_fold_of_a_deleted_document_is_abandoned(store: DocumentStore) -> None:
    doc: Doc[Any] = Doc()
    store.append([("d", u) for u in edits(doc, range(5))])
    read = store.read_for_compaction("d")
    assert read is not None
    assert store.delete("d")
    with pytest.raises(CompactionAbandoned):
        store.finish_compaction(read, *fold("d", read.snapshot, read.rows))
    assert store.get("d") is None and store.load("d").snapshot is None


def test_nothing_to_read_for_an_empty_log(store: DocumentStore) -> None:
    assert store.read_for_compaction("missing") is None
    store.append([("d", u) for u in edits(Doc(), range(3))])
    store.compact("d")
    assert store.read_for_compaction("d") is None


def test_a_fold_past_its_time_budget_is_abandoned_between_two_updates() -> None:
    """The budget is checked before each update the fold replays (a fake clock here):
    past it the fold raises, and the store was never touched."""
    doc: Doc[Any] = Doc()
    rows = list(enumerate(edits(doc, range(10))))
    now = [0.0]

    def clock() -> float:
        now[0] += 1.0  # one second per update
        return now[0]

    deadline = Deadline("d", 5.0, clock)
    with pytest.raises(CompactionAbandoned, match="5 s"):
        fold("d", b"", rows, deadline)
    assert now[0] == 7.0, "checked once when made, then before each update up to the 6th"
    merged, kept = fold("d", b"", rows, Deadline("d", 100.0, clock))
    assert kept == {}
    assert str(apply_all(Doc(), [merged]).get("t", type=Text)) == str(doc.get("t", type=Text))


GHOST = 3566292559241601
"""The client id of the 10-minute fuzz's minimal failing compaction (three rows of a
mutated ghost editor's updates, each 37 bytes, "beta " at clocks 5 and 10)."""


def ghost_log() -> list[bytes]:
    """Client ``GHOST``'s clocks 0-4, then the three rows as the fuzz stored them: clock 5
    with a left origin of a client that never comes (it waits), clock 10 (a gap: waits),
    and clock 5 again with real origins (it integrates; the two that wait are tried again
    together, and the first one, at a clock the document now holds, still lacks its
    origin: both go on waiting, as in Yjs)."""
    ghost: Doc[Any] = Doc(client_id=GHOST)
    ghost.get("text", type=Text).insert(0, "alpha")
    return [
        ghost.get_update(),
        bytes.fromhex("010181c3a289e3f0aa0605c481c3a289e306aaf00281c3a289e3f0aa060305626574612000"),
        bytes.fromhex("010181c3a289e3f0aa060ac481c3a289e3f0aa060281c3a289e3f0aa060505626574612000"),
        bytes.fromhex("010181c3a289e3f0aa0605c481c3a289e3f0aa060281c3a289e3f0aa060305626574612000"),
    ]


def test_a_log_whose_outcome_depends_on_its_order_is_folded_with_what_waits() -> None:
    """The 10-minute fuzz beside editors: every compaction of the fuzzed document failed
    ("compacted state differs"), each costing a replay of the whole log (10 to 30 s of CPU)
    while other rooms' relays slowed. Two structs at the same clock of one client (a forger's
    duplicate) make the outcome depend on the order: folded first, the row at clock 10
    integrates, where in the log's order it waits behind the duplicate. The fold then keeps
    no row: its state holds what waits as the replay holds it; the document is the log's."""
    log = ghost_log()
    rows = list(enumerate([*edits(Doc(client_id=7), range(20)), *log], start=1))
    merged, kept = fold("d", b"", rows)
    assert kept == {}
    replayed = apply_all(Doc(), [data for _, data in rows])
    again = apply_all(Doc(), [merged, *(data for row_id, data in rows if row_id in kept)])
    assert str(again.get("text", type=Text)) == str(replayed.get("text", type=Text))
    assert same_document(again, replayed)
