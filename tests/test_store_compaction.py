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
