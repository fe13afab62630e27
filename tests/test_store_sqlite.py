"""The SQLite store's own behaviour: its migrations, counters kept in memory, write locks.

The behaviour both stores share is tested in ``test_store.py``.
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest
from sqlite_utils import Database

from collab.stores import Store, StoreBusy, StoreError
from collab.stores.sqlite import BUSY_TIMEOUT, SCHEMA_VERSION, migrations
from collab.stores.sqlite_schema import collab_version


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


def test_a_locked_database_in_a_folder_that_does_not_exist_yet_is_created(tmp_path: Path) -> None:
    """``collab serve`` on a fresh checkout: ``data/`` does not exist, nor its lock file."""
    store = Store(tmp_path / "data" / "new" / "collab.db", lock=True)
    store.append([("d", b"\x00\x00")])
    store.close()
    assert (tmp_path / "data" / "new" / "collab.db").is_file()


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
