"""The stores' shared behaviour, run against SQLite and PostgreSQL (one parametrised suite):
group commit, compaction (pending structs kept), tombstones, listing, reopening.

Each store's own matters (migrations, locks, connection failures) are in
``test_store_sqlite.py`` and ``test_store_postgres.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pycrdt import Array, Doc, Map, Text

from collab.backup.states import clients
from collab.integrator import apply_all
from collab.stores import (
    DeletedMeanwhile,
    DocumentNotFound,
    DocumentStore,
    HistoryCompacted,
    NotCreatedYet,
    StoredDocument,
)
from tests.helpers.stores import STORES, Opener, opener


def updates_of(doc: Doc[Any], edit: Any) -> list[bytes]:
    collected: list[bytes] = []
    sub = doc.observe(lambda event: collected.append(event.update))
    edit()
    doc.unobserve(sub)
    return collected


def rebuild(store: DocumentStore, name: str) -> Doc[Any]:
    return apply_all(Doc(), store.load(name).updates_in_order())


@pytest.fixture(params=STORES)
def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Opener]:
    """Opens a store (SQLite, then PostgreSQL) on the test's database: again to reopen it."""
    with opener(request, request.param, tmp_path) as open_:
        yield open_


@pytest.fixture
def store(open_store: Opener) -> DocumentStore:
    return open_store()


def test_append_creates_and_counts(store: DocumentStore) -> None:
    store.append([("a", b"\x00\x00"), ("b", b"\x00\x00"), ("a", b"\x00\x00")])
    a = store.get("a")
    assert a is not None and a.updates == 2 and a.size_bytes == 4
    assert store.count() == 2
    assert store.get("missing") is None


def test_one_batch_keeps_every_document_s_rows_in_order(store: DocumentStore) -> None:
    """A batch is one statement: rows of interleaved documents land in arrival order."""
    batch = [
        (name, bytes([i % 256, 0, 255, i // 256])) for i in range(300) for name in ("a", "é/ü", "a")
    ]
    store.append(batch)
    store.append([("é/ü", b"\x00" * 5000)])
    for name in ("a", "é/ü"):
        expected = [update for doc, update in batch if doc == name]
        if name == "é/ü":
            expected.append(b"\x00" * 5000)
        assert store.load(name).updates == expected
        record = store.get(name)
        assert record is not None and record.updates == len(expected)
        assert record.size_bytes == sum(map(len, expected))


def test_compaction_keeps_content_and_shrinks_the_log(store: DocumentStore) -> None:
    doc: Doc[Any] = Doc()
    text, meta, items = (
        doc.get("text", type=Text),
        doc.get("meta", type=Map),
        doc.get("items", type=Array),
    )

    def edit() -> None:
        for i in range(200):
            text.insert(len(text), f"w{i} ")
        meta["title"] = "paper"
        items.append(1)
        del text[0:10]

    store.append([("d", u) for u in updates_of(doc, edit)])
    before = rebuild(store, "d")
    result = store.compact("d")
    assert result is not None and result.rows > 200
    after = rebuild(store, "d")
    assert str(after.get("text", type=Text)) == str(text)
    assert after.get("meta", type=Map).to_py() == {"title": "paper"}
    assert after.get("items", type=Array).to_py() == [1.0]
    assert after.get_state() == before.get_state()
    record = store.get("d")
    assert record is not None and record.updates == 0 and record.size_bytes == result.bytes_after
    assert store.log_stats("d") == (0, 0)
    assert store.compact("d") is None


def test_compaction_into_a_given_state_folds_the_whole_log(store: DocumentStore) -> None:
    """The hub passes its room's live document: no replay, every row folds into it."""
    doc: Doc[Any] = Doc()
    text = doc.get("text", type=Text)
    store.append([("d", u) for u in updates_of(doc, lambda: text.insert(0, "first "))])
    first = store.compact("d")
    assert first is not None
    written = updates_of(doc, lambda: [text.insert(len(text), f"w{i} ") for i in range(50)])
    store.append([("d", u) for u in written])
    result = store.compact("d", doc.get_update())
    assert result is not None and result.rows == len(written)
    assert result.log_bytes == sum(map(len, written))
    assert result.bytes_before == first.bytes_after + result.log_bytes  # the old snapshot's too
    assert result.bytes_after == len(doc.get_update())
    assert str(rebuild(store, "d").get("text", type=Text)) == str(text)
    assert store.log_stats("d") == (0, 0)
    record = store.get("d")
    assert record is not None and record.updates == 0 and record.size_bytes == result.bytes_after


def test_compaction_keeps_updates_waiting_for_a_predecessor(store: DocumentStore) -> None:
    doc: Doc[Any] = Doc()
    text = doc.get("text", type=Text)
    first = updates_of(doc, lambda: text.insert(0, "one "))
    missing = updates_of(doc, lambda: text.insert(4, "two "))
    last = updates_of(doc, lambda: text.insert(8, "three"))
    store.append([("d", u) for u in first + last])  # "two" never arrived yet
    store.compact("d")
    store.append([("d", u) for u in missing])
    assert str(rebuild(store, "d").get("text", type=Text)) == "one two three"


def test_compaction_keeps_deletions_waiting_for_their_content(store: DocumentStore) -> None:
    doc: Doc[Any] = Doc()
    text = doc.get("text", type=Text)
    insert = updates_of(doc, lambda: text.insert(0, "hello"))
    delete = updates_of(doc, lambda: text.__delitem__(slice(1, 3)))
    store.append([("d", u) for u in delete])  # the content it deletes has not arrived yet
    store.compact("d")
    exported: Doc[Any] = Doc()
    exported.apply_update(store.state("d"))  # an unloaded document's HTTP state carries it
    store.append([("d", u) for u in insert])
    assert str(rebuild(store, "d").get("text", type=Text)) == "hlo"
    for update in insert:
        exported.apply_update(update)
    assert str(exported.get("text", type=Text)) == "hlo"


def test_listing_pages_by_name_and_by_update_time(store: DocumentStore) -> None:
    for i in range(25):
        store.append([(f"team/doc{i:02}", b"\x00\x00")])
    names, after = [], None
    while True:
        page = store.list(limit=10, after=after)
        names += [r.name for r in page]
        if len(page) < 10:
            break
        after = (None, page[-1].name)
    assert names == sorted(f"team/doc{i:02}" for i in range(25))
    newest = store.list(limit=5, sort="updated_at")
    assert newest[0].name == "team/doc24"
    assert [r.name for r in store.list(prefix="team/doc1")] == [f"team/doc1{i}" for i in range(10)]
    assert store.list(prefix="%") == []


def test_delete_leaves_a_tombstone(store: DocumentStore) -> None:
    store.append([("d", b"\x00\x00")])
    assert store.delete("d") is True
    assert store.get("d") is None
    assert store.load("d").tombstone is not None
    assert store.delete("d") is False


def test_rows_written_after_a_compaction_emptied_the_log_are_never_lost(
    store: DocumentStore,
) -> None:
    """Ids of deleted rows may be given again; compaction deletes only what it merged."""
    doc: Doc[Any] = Doc()
    text = doc.get("t", type=Text)
    first = updates_of(doc, lambda: text.insert(0, "ab"))
    store.append([("d", u) for u in first])
    store.compact("d")  # the whole log, the newest rows of the table: ids free again
    later = updates_of(doc, lambda: text.insert(2, "cd"))
    store.append([("d", u) for u in later])
    assert str(rebuild(store, "d").get("t", type=Text)) == "abcd"
    store.compact("d")
    more = updates_of(doc, lambda: text.insert(4, "ef"))
    store.append([("d", u) for u in more])
    assert str(rebuild(store, "d").get("t", type=Text)) == "abcdef"
    assert store.log_stats("d") == (len(more), sum(map(len, more)))


def test_a_reopened_store_holds_everything_committed(
    open_store: Opener,
) -> None:
    """A restart: snapshot, log after it, counters and tombstones are read back."""
    store = open_store()
    doc: Doc[Any] = Doc()
    text = doc.get("t", type=Text)
    store.append([("d", u) for u in updates_of(doc, lambda: text.insert(0, "before "))])
    store.compact("d")
    store.append([("d", u) for u in updates_of(doc, lambda: text.insert(7, "after"))])
    store.append([("gone", b"\x00\x00")])
    store.delete("gone")
    expected = store.get("d")
    store.close()
    reopened = open_store()
    assert str(rebuild(reopened, "d").get("t", type=Text)) == "before after"
    assert reopened.get("d") == expected
    assert reopened.load("gone").tombstone is not None and reopened.get("gone") is None
    assert list(reopened.names()) == ["d"] and reopened.count() == 1


def test_state_is_the_whole_document_in_one_update(store: DocumentStore) -> None:
    doc: Doc[Any] = Doc()
    text = doc.get("t", type=Text)
    store.append([("d", u) for u in updates_of(doc, lambda: text.insert(0, "one "))])
    store.compact("d")
    store.append([("d", u) for u in updates_of(doc, lambda: text.insert(4, "two"))])
    copy: Doc[Any] = Doc()
    copy.apply_update(store.state("d"))
    assert str(copy.get("t", type=Text)) == "one two"
    assert store.state("missing") == Doc().get_update()


def test_listing_by_update_time_pages_through_ties_and_names(store: DocumentStore) -> None:
    """Documents written in one commit share their update time: the cursor's name breaks
    the tie, so no page repeats or skips one. Names sort by code point on both stores."""
    store.append([(name, b"\x00\x00") for name in ("b", "a", "Z", "é", "a/1", "ab")])
    store.append([("later", b"\x00\x00")])
    assert list(store.names()) == ["Z", "a", "a/1", "ab", "b", "later", "é"]
    seen, after = [], None
    while page := store.list(limit=2, sort="updated_at", after=after):
        seen += [r.name for r in page]
        after = (page[-1].updated_at, page[-1].name)
    assert seen == ["later", "Z", "a", "a/1", "ab", "b", "é"]
    assert [r.name for r in store.list(prefix="a")] == ["a", "a/1", "ab"]
    assert [r.name for r in store.list(prefix="a", after=(None, "a/1"))] == ["ab"]
    assert store.list(prefix="_") == [] and store.count() == 7


def test_a_deleted_document_written_again_starts_afresh_and_keeps_its_tombstone(
    store: DocumentStore,
) -> None:
    """The tombstone grows with every deletion, so content of an earlier life stays refused."""
    first: Doc[Any] = Doc()
    text = first.get("t", type=Text)
    store.append([("d", u) for u in updates_of(first, lambda: text.insert(0, "a"))])
    store.delete("d")
    second: Doc[Any] = Doc()
    other = second.get("t", type=Text)
    store.append([("d", u) for u in updates_of(second, lambda: other.insert(0, "b"))])
    record = store.get("d")
    assert record is not None and record.updates == 1
    assert str(rebuild(store, "d").get("t", type=Text)) == "b"
    store.delete("d")
    tombstone = store.load("d").tombstone
    assert tombstone is not None
    assert clients(tombstone) == {first.client_id, second.client_id}


def test_a_transaction_writes_all_or_nothing(store: DocumentStore) -> None:
    """An import of many documents: a failure half-way leaves the database as it was."""
    store.append([("kept", b"\x00\x00")])
    with pytest.raises(RuntimeError), store.transaction():
        store.append([("a", b"\x00\x00")])
        store.purge("kept")
        raise RuntimeError("the import failed half-way")
    assert store.get("a") is None and store.load("kept").updates == [b"\x00\x00"]
    with store.transaction():
        store.append([("a", b"\x00\x00")])
        store.append([("b", b"\x00\x00")])
    assert list(store.names()) == ["a", "b", "kept"]


def test_purge_removes_the_document_and_its_tombstone(store: DocumentStore) -> None:
    store.append([("d", b"\x00\x00")])
    store.delete("d")
    assert store.load("d").tombstone is not None
    store.purge("d")
    assert store.load("d") == StoredDocument(None, [], None) and store.get("d") is None


def test_load_at_reads_what_was_stored_at_a_moment(store: DocumentStore) -> None:
    doc: Doc[Any] = Doc()
    text = doc.get("t", type=Text)
    store.append([("d", u) for u in updates_of(doc, lambda: text.insert(0, "one "))])
    first = store.get("d")
    store.append([("d", u) for u in updates_of(doc, lambda: text.insert(4, "two"))])
    second = store.get("d")
    assert first is not None and second is not None
    assert first.created_at == second.created_at < second.updated_at

    def text_at(at: float | None) -> str:
        return str(apply_all(Doc(), store.load_at("d", at).updates_in_order()).get("t", type=Text))

    assert text_at(None) == text_at(second.updated_at) == "one two"
    assert text_at(first.created_at) == "one "
    assert store.load_at("d").tombstone is None
    with pytest.raises(NotCreatedYet):
        store.load_at("d", first.created_at - 1)
    store.compact("d")
    with pytest.raises(HistoryCompacted) as compacted:
        store.load_at("d", first.created_at)
    assert compacted.value.earliest == second.updated_at
    assert text_at(second.updated_at) == text_at(None) == "one two"
    store.delete("d")
    with pytest.raises(DocumentNotFound) as gone:
        store.load_at("d")
    assert gone.value.deleted_at is not None
    with pytest.raises(DocumentNotFound) as never:
        store.load_at("never")
    assert never.value.deleted_at is None


def test_an_append_fenced_by_a_load_is_refused_once_another_node_deleted_the_document(
    open_store: Opener,
) -> None:
    """Cluster mode: two nodes share the database; an edit one node commits after the other
    deleted the document (before it heard of the delete) must not bring it back."""
    node_a, node_b = open_store(), open_store()
    doc: Doc[Any] = Doc()
    text = doc.get("t", type=Text)
    node_b.append([("d", u) for u in updates_of(doc, lambda: text.insert(0, "old"))])
    loaded = node_b.load("d")
    assert loaded.deleted_at is None
    node_b.append(
        [("d", u) for u in updates_of(doc, lambda: text.insert(3, "!"))], fence={"d": None}
    )
    assert node_a.delete("d") is True
    stale = updates_of(doc, lambda: text.insert(4, " stale"))
    with pytest.raises(DeletedMeanwhile) as refused:
        node_b.append(
            [("e", b"\x00\x00"), *(("d", u) for u in stale)], fence={"d": None, "e": None}
        )
    assert refused.value.names == ["d"]
    assert node_b.get("d") is None and node_b.load("d").updates == [] and node_b.get("e") is None
    # the next life of the document, loaded after the delete, is written (and recorded)
    again = node_b.load("d")
    assert again.deleted_at is not None and again.tombstone is not None
    fresh: Doc[Any] = Doc()
    other = fresh.get("t", type=Text)
    life = updates_of(fresh, lambda: other.insert(0, "new"))
    node_b.append([("d", u) for u in life], fence={"d": again.deleted_at})
    record = node_b.get("d")  # (SQLite: each process writes its counts later)
    assert record is not None and record.updates == len(life) and node_a.get("d") is not None
    assert str(rebuild(node_a, "d").get("t", type=Text)) == "new"
