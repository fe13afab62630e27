"""The SQLite store: group commit, compaction (pending structs kept), listing, migrations."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import pytest
from pycrdt import Array, Doc, Map, Text
from sqlite_utils import Database

from collab.integrator import apply_all
from collab.stores import Store, StoreBusy, StoreError
from collab.stores.sqlite import BUSY_TIMEOUT, SCHEMA_VERSION, migrations
from collab.stores.sqlite_schema import collab_version


def updates_of(doc: Doc[Any], edit: Any) -> list[bytes]:
    collected: list[bytes] = []
    sub = doc.observe(lambda event: collected.append(event.update))
    edit()
    doc.unobserve(sub)
    return collected


def rebuild(store: Store, name: str) -> Doc[Any]:
    return apply_all(Doc(), store.load(name).updates_in_order())


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "db" / "collab.db")


def test_append_creates_and_counts(store: Store) -> None:
    store.append([("a", b"\x00\x00"), ("b", b"\x00\x00"), ("a", b"\x00\x00")])
    a = store.get("a")
    assert a is not None and a.updates == 2 and a.size_bytes == 4
    assert store.count() == 2
    assert store.get("missing") is None


def test_one_batch_keeps_every_document_s_rows_in_order(store: Store) -> None:
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


def test_compaction_keeps_content_and_shrinks_the_log(store: Store) -> None:
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


def test_compaction_into_a_given_state_folds_the_whole_log(store: Store) -> None:
    """The hub passes its room's live document: no replay, every row folds into it."""
    doc: Doc[Any] = Doc()
    text = doc.get("text", type=Text)
    store.append([("d", u) for u in updates_of(doc, lambda: text.insert(0, "first "))])
    store.compact("d")
    written = updates_of(doc, lambda: [text.insert(len(text), f"w{i} ") for i in range(50)])
    store.append([("d", u) for u in written])
    result = store.compact("d", doc.get_update())
    assert result is not None and result.rows == len(written)
    assert result.log_bytes == sum(map(len, written))
    assert result.bytes_after == len(doc.get_update())
    assert str(rebuild(store, "d").get("text", type=Text)) == str(text)
    assert store.log_stats("d") == (0, 0)
    record = store.get("d")
    assert record is not None and record.updates == 0 and record.size_bytes == result.bytes_after


def test_compaction_keeps_updates_waiting_for_a_predecessor(store: Store) -> None:
    doc: Doc[Any] = Doc()
    text = doc.get("text", type=Text)
    first = updates_of(doc, lambda: text.insert(0, "one "))
    missing = updates_of(doc, lambda: text.insert(4, "two "))
    last = updates_of(doc, lambda: text.insert(8, "three"))
    store.append([("d", u) for u in first + last])  # "two" never arrived yet
    store.compact("d")
    store.append([("d", u) for u in missing])
    assert str(rebuild(store, "d").get("text", type=Text)) == "one two three"


def test_compaction_keeps_deletions_waiting_for_their_content(store: Store) -> None:
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


def test_listing_pages_by_name_and_by_update_time(store: Store) -> None:
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


def test_delete_leaves_a_tombstone(store: Store) -> None:
    store.append([("d", b"\x00\x00")])
    assert store.delete("d") is True
    assert store.get("d") is None
    assert store.load("d").tombstone is not None
    assert store.delete("d") is False


def test_database_of_an_older_version_is_upgraded(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    db = Database(path)
    migrations.apply(db, stop_before="m002_tombstones")
    db.execute("INSERT INTO documents VALUES ('kept', 1.0, 1.0, 2, 1)")
    db.conn.commit()
    db.close()
    store = Store(path)
    assert store.schema_version() == SCHEMA_VERSION
    assert store.get("kept") is not None


def test_an_autoincrement_log_keeps_its_rows_and_order_when_upgraded(tmp_path: Path) -> None:
    """m004 rebuilds ``updates`` without AUTOINCREMENT: ids, order and bytes are kept, and
    new rows follow the old ones."""
    path = tmp_path / "old.db"
    db = Database(path)
    migrations.apply(db, stop_before="m004_log_ids_without_autoincrement")
    db.execute("INSERT INTO documents VALUES ('d', 1.0, 1.0, 6, 3)")
    for row_id, data in [(7, b"\x00\x01"), (9, b"\x00\x02"), (12, b"\x00\x03")]:
        db.execute("INSERT INTO updates VALUES (?, 'd', ?, 1.0)", [row_id, data])
    db.conn.commit()
    db.close()
    store = Store(path)
    assert store.schema_version() == SCHEMA_VERSION
    store.append([("d", b"\x00\x04")])
    rows = store.db.execute("SELECT id, data FROM updates ORDER BY id").fetchall()
    assert rows[:3] == [(7, b"\x00\x01"), (9, b"\x00\x02"), (12, b"\x00\x03")]
    assert rows[3] == (13, b"\x00\x04")
    assert store.load("d").updates == [b"\x00\x01", b"\x00\x02", b"\x00\x03", b"\x00\x04"]
    schema = store.db.execute("SELECT sql FROM sqlite_master WHERE name = 'updates'").fetchone()
    assert "AUTOINCREMENT" not in schema[0]
    assert store.db.table("updates").indexes[0].columns == ["name", "id"]


def test_rows_written_after_a_compaction_emptied_the_log_are_never_lost(store: Store) -> None:
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
    assert store.db.execute("SELECT count(*) FROM updates").fetchone()[0] == len(more)


def test_unusable_database_is_a_store_error(tmp_path: Path) -> None:
    bad = tmp_path / "not-a-db"
    bad.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="cannot open"):
        Store(bad)


def test_counters_lost_in_a_crash_are_recounted_when_the_database_opens(tmp_path: Path) -> None:
    """Counters wait in memory until a checkpoint; a crash loses them, never a row."""
    path = tmp_path / "collab.db"
    crashed = Store(path)  # never closed: the process "dies" with counters unwritten
    crashed.append([("d", b"\x00\x00"), ("d", b"\x00\x00\x00")])
    crashed.checkpoint()
    crashed.append([("d", b"\x00\x00"), ("e", b"\x00\x00")])
    on_disk = sqlite3.connect(path).execute("SELECT name, updates FROM documents").fetchall()
    assert sorted(on_disk) == [("d", 2), ("e", 0)], "the last counters were never written"
    reopened = Store(path)
    for name, updates, size in (("d", 3, 7), ("e", 1, 2)):
        record = reopened.get(name)
        assert record is not None and (record.updates, record.size_bytes) == (updates, size)
    reopened.close()
    clean = Store(path)  # closed cleanly: nothing to recount
    assert clean.db.execute("PRAGMA user_version").fetchone()[0] == 0
    record = clean.get("d")
    assert record is not None and record.updates == 3


def test_a_checkpoint_writes_the_counters_for_other_readers(tmp_path: Path) -> None:
    path = tmp_path / "collab.db"
    store = Store(path)
    store.append([("new", b"\x00\x00")])
    other = sqlite3.connect(path)  # another process: doctor, export --db
    query = "SELECT updates, size_bytes FROM documents WHERE name = 'new'"
    assert other.execute(query).fetchall() == [(0, 0)], "the row exists from the first commit"
    store.checkpoint()
    assert other.execute(query).fetchall() == [(1, 2)]


def locked_store(path: Path) -> tuple[Store, sqlite3.Connection]:
    """A store holding document ``known``, and another connection holding the write lock."""
    store = Store(path)
    store.append([("known", b"\x00\x00")])
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    return store, other


@pytest.mark.parametrize(
    "batch",
    [
        [("known", b"\x00\x00")],  # one statement, committed on its own (autocommit)
        [("known", b"\x00\x00"), ("known", b"\x00\x00\x00")],  # one statement, many rows
        [("known", b"\x00\x00"), ("new", b"\x00\x00")],  # creates a document: a transaction
    ],
    ids=["one-update", "one-document", "new-document"],
)
def test_a_failed_commit_writes_nothing_and_the_store_goes_on(
    tmp_path: Path, batch: list[tuple[str, bytes]]
) -> None:
    store, other = locked_store(tmp_path / "collab.db")
    store.db.execute("PRAGMA busy_timeout = 0")  # fail at once instead of in 5 s
    with pytest.raises(StoreError, match="commit failed"):
        store.append(batch)
    other.execute("ROLLBACK")
    assert not store.db.conn.in_transaction
    assert len(store.load("known").updates) == 1 and store.get("new") is None
    store.append(batch)
    assert len(store.load("known").updates) == 1 + sum(name == "known" for name, _ in batch)
    record = store.get("known")
    assert record is not None and record.updates == len(store.load("known").updates)


@pytest.mark.parametrize(
    "batch",
    [[("known", b"\x00\x00")], [("known", b"\x00\x00"), ("new", b"\x00\x00")]],
    ids=["one-update", "new-document"],
)
def test_a_commit_that_must_not_wait_for_a_lock_fails_at_once_and_writes_nothing(
    tmp_path: Path, batch: list[tuple[str, bytes]]
) -> None:
    store, other = locked_store(tmp_path / "collab.db")
    with pytest.raises(StoreBusy):
        store.append(batch, wait=False)
    assert not store.db.conn.in_transaction
    assert store.db.execute("PRAGMA busy_timeout").fetchone()[0] == 0
    assert len(store.load("known").updates) == 1
    # any other call waits for locks again (SQLite's busy timeout)
    assert store.db.execute("PRAGMA busy_timeout").fetchone()[0] == BUSY_TIMEOUT * 1000
    other.execute("ROLLBACK")
    store.append(batch, wait=False)
    assert store.get("new") is not None or len(batch) == 1
    assert len(store.load("known").updates) == 2


def test_a_database_with_an_unknown_migration_is_refused_naming_its_writer(
    tmp_path: Path,
) -> None:
    """Issue 19 item 7: a migration this version does not know (a newer collab wrote the
    file) was served with no error; now the store refuses it in one line."""
    path = tmp_path / "future.db"
    Store(path).close()
    db = Database(path)
    db.execute(
        "INSERT INTO _sqlite_migrations (migration_set, name, applied_at)"
        " VALUES ('collab', 'm099_future_format', '2027-01-01 00:00:00')"
    )
    db.conn.commit()
    with pytest.raises(StoreError, match="m099_future_format") as refused:
        Store(path)
    assert "\n" not in str(refused.value)
    assert f"by collab {collab_version()}" in str(refused.value)
    db.execute("UPDATE meta SET value = '9.9.9' WHERE key = 'schema_written_by'")
    db.conn.commit()
    db.close()
    with pytest.raises(StoreError, match=r"written by collab 9\.9\.9 \(schema migration"):
        Store(path)


def test_an_empty_database_file_is_said(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Issue 19, also seen: a zero-length file started silently as an empty database."""
    path = tmp_path / "empty.db"
    path.touch()
    with caplog.at_level("WARNING", logger="collab.store"):
        Store(path).close()
    assert "was empty: starting a new database" in caplog.text


def test_an_unwritable_shared_memory_file_is_refused_before_sqlite_maps_it(
    tmp_path: Path,
) -> None:
    """Issue 19, also seen: an immutable ``-shm`` file killed the process with SIGBUS."""
    path = tmp_path / "c.db"
    Store(path).close()
    shm = tmp_path / "c.db-shm"
    shm.write_bytes(bytes(32768))
    chattr = shutil.which("chattr")
    if chattr is None or subprocess.run([chattr, "+i", str(shm)], check=False).returncode:
        pytest.skip("chattr +i is not available here")
    try:
        with pytest.raises(StoreError, match=r"c\.db-shm"):
            Store(path)
    finally:
        subprocess.run([chattr, "-i", str(shm)], check=True)
