"""Renaming a document in the stores, SQLite and PostgreSQL (one parametrised suite): the log,
snapshot, versions, quarantine, counters and change mark move in one transaction with a
``document.renamed`` event; the old name keeps a tombstone; refusals change nothing."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pycrdt import Doc, Text

from collab.integrator import apply_all
from collab.stores import DocumentStore, NameTaken
from collab.stores.outbox import CREATED, RENAMED
from collab.updates import revives_deleted
from tests.helpers.stores import STORES, Opener, opener


@pytest.fixture(params=STORES)
def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Opener]:
    with opener(request, request.param, tmp_path) as open_:
        yield open_


@pytest.fixture
def store(open_store: Opener) -> DocumentStore:
    return open_store()


def typed(doc: Doc[Any], text: str) -> bytes:
    """Append ``text`` to the doc's Y.Text ``t``; the update it made."""
    updates: list[bytes] = []
    subscription = doc.observe(lambda event: updates.append(event.update))
    t = doc.get("t", type=Text)
    t.insert(len(t), text)
    doc.unobserve(subscription)
    return updates[0]


def text_of(store: DocumentStore, name: str) -> str:
    return str(apply_all(Doc(), store.load(name).updates_in_order()).get("t", type=Text))


def test_a_rename_moves_everything_and_leaves_a_tombstone(open_store: Opener) -> None:
    store = open_store()
    doc: Doc[Any] = Doc()
    store.append([("team/a", typed(doc, "one "))])
    store.compact("team/a")
    snapshot = store.load("team/a").snapshot
    assert snapshot is not None  # quarantined (as if it no longer decoded), then put back:
    assert store.quarantine("team/a", {}, "does not decode") == 1
    store.append([("team/a", snapshot)])
    store.compact("team/a")  # a snapshot ...
    store.append([("team/a", typed(doc, "two"))])  # ... and a log after it
    version = store.add_version("team/a", doc.get_update(), label="v1")
    before = store.get("team/a")
    assert before is not None

    assert store.rename("team/a", "team/b") is True

    assert store.get("team/a") is None and store.load("team/a").updates == []
    tombstone = store.load("team/a").tombstone
    assert tombstone is not None and revives_deleted(doc.get_update(), tombstone)
    after = store.get("team/b")
    assert after is not None
    assert (after.created_at, after.size_bytes, after.updates) == (
        before.created_at,
        before.size_bytes,
        before.updates,
    )
    assert store.load("team/b").snapshot is not None and store.load("team/b").tombstone is None
    assert text_of(store, "team/b") == "one two"
    assert [v.id for v in store.list_versions("team/b")] == [version.id]
    assert store.list_versions("team/a") == []
    assert [row.name for row in store.quarantined()] == ["team/b"]
    assert list(store.names()) == ["team/b"] and store.count() == 1
    store.append([("team/b", typed(doc, "!"))])  # writes go on under the new name
    assert text_of(store, "team/b") == "one two!"
    store.close()
    reopened = open_store()
    assert text_of(reopened, "team/b") == "one two!" and reopened.get("team/a") is None
    record = reopened.get("team/b")
    assert record is not None and record.updates == before.updates + 1


def test_a_missing_document_or_a_taken_name_changes_nothing(store: DocumentStore) -> None:
    a: Doc[Any] = Doc()
    b: Doc[Any] = Doc()
    store.append([("a", typed(a, "A")), ("b", typed(b, "B"))])
    assert store.rename("missing", "c") is False
    with pytest.raises(NameTaken, match="'b'"):
        store.rename("a", "b")
    assert (text_of(store, "a"), text_of(store, "b")) == ("A", "B")
    assert store.load("a").tombstone is None and list(store.names()) == ["a", "b"]
    assert [e.type for e in store.outbox.events_after(0, 100)] == [CREATED, CREATED]


def test_the_event_is_written_with_the_rename_and_the_change_mark_moves(
    store: DocumentStore,
) -> None:
    doc: Doc[Any] = Doc()
    store.append([("a", typed(doc, "x"))])
    assert store.rename("a", "b")
    events = store.outbox.events_after(0, 100)
    assert [(e.type, e.document, e.data) for e in events] == [
        (CREATED, "a", {}),
        (RENAMED, "a", {"from": "a", "to": "b"}),
    ]
    # The change not reported yet is the new name's: reported once, under it.
    assert [name for name, _ in store.outbox.due_changes(time.time() + 1)] == ["b"]
    store.append([("b", typed(doc, "y"))])
    assert [name for name, _ in store.outbox.due_changes(time.time() + 1)] == ["b"]


def test_renaming_back_and_over_an_old_tombstone(store: DocumentStore) -> None:
    """A name's tombstone is dropped when the document moved in carries its content (a rename
    back), and kept when it does not (a deleted document of that name stays refused)."""
    doc: Doc[Any] = Doc()
    store.append([("a", typed(doc, "kept"))])
    assert store.rename("a", "b") and store.rename("b", "a")
    assert text_of(store, "a") == "kept" and store.load("a").tombstone is None
    assert store.load("b").tombstone is not None
    gone: Doc[Any] = Doc()
    store.append([("c", typed(gone, "deleted"))])
    assert store.delete("c")
    assert store.rename("a", "c")
    tombstone = store.load("c").tombstone
    assert tombstone is not None and revives_deleted(gone.get_update(), tombstone)
    assert not revives_deleted(doc.get_update(), tombstone)
