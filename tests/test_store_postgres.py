"""The PostgreSQL store's own behaviour: migrations, connection failures and reconnection,
locks, and the password that never shows.

The behaviour both stores share is tested in ``test_store.py``.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import psycopg
import pytest

from collab.stores import (
    DatabaseInUse,
    StoreBusy,
    StoreError,
    postgres,
    postgres_connection,
    postgres_schema,
    postgres_watchdog,
)
from collab.stores.dsn import MASK, is_postgres, masked, password
from collab.stores.folding import tombstone
from collab.stores.postgres import PostgresStore
from tests.helpers.postgres import PostgresServer, free_port


@pytest.mark.parametrize(
    ("dsn", "secret", "shown"),
    [
        (
            "postgresql://collab:s3cr%40t@db.example:5432/collab",
            "s3cr@t",
            f"postgresql://collab:{MASK}@db.example:5432/collab",
        ),
        ("postgres://u:pw@h/d?sslmode=require", "pw", f"postgres://u:{MASK}@h/d?sslmode=require"),
        ("postgresql://h/d?user=u&password=pw", "pw", f"postgresql://h/d?user=u&password={MASK}"),
        (
            "host=h dbname=d password='a b\\'c' user=u",
            "a b'c",
            f"host=h dbname=d password={MASK} user=u",
        ),
        ("postgresql://u@h/d", None, "postgresql://u@h/d"),
    ],
)
def test_connection_strings_are_shown_without_their_password(
    dsn: str, secret: str | None, shown: str
) -> None:
    assert is_postgres(dsn) or "=" in dsn
    assert password(dsn) == secret
    assert masked(dsn) == shown


def test_a_file_path_is_not_a_postgres_database() -> None:
    assert not is_postgres("data/collab.db") and masked("data/collab.db") == "data/collab.db"


def test_an_unreachable_server_is_a_store_error_without_the_password() -> None:
    dsn = f"postgresql://collab:hunter2hunter2@127.0.0.1:{free_port()}/collab"
    with pytest.raises(StoreError, match="cannot open database") as caught:
        PostgresStore(dsn, timeout=0.5)
    assert "hunter2" not in str(caught.value) and MASK in str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_a_wrong_password_is_refused_without_showing_it(postgres_server: PostgresServer) -> None:
    dsn = postgres_server.dsn().replace(postgres_server.password, "wrong-Pa55word")
    with pytest.raises(StoreError, match="password authentication failed") as caught:
        PostgresStore(dsn, timeout=2)
    assert "wrong-Pa55word" not in str(caught.value)


def test_a_new_database_gets_every_migration_once(postgres_dsn: str) -> None:
    store = PostgresStore(postgres_dsn)
    store.close()
    store = PostgresStore(postgres_dsn)
    assert store.schema_version() == postgres_schema.SCHEMA_VERSION
    with psycopg.connect(postgres_dsn) as conn:
        assert postgres_schema.applied(conn) == [name for name, _ in postgres_schema.MIGRATIONS]
    store.close()


def test_a_database_of_an_older_version_is_upgraded_at_start(
    postgres_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = PostgresStore(postgres_dsn)
    old.append([("kept", b"\x00\x00")])
    old.close()

    def m002_later(conn: psycopg.Connection) -> None:
        conn.execute("ALTER TABLE documents ADD COLUMN later text")

    monkeypatch.setattr(
        postgres_schema, "MIGRATIONS", [*postgres_schema.MIGRATIONS, ("m002_later", m002_later)]
    )
    store = PostgresStore(postgres_dsn)
    assert store.schema_version() == len(postgres_schema.MIGRATIONS)
    assert store.load("kept").updates == [b"\x00\x00"]
    with psycopg.connect(postgres_dsn) as conn:
        assert conn.execute("SELECT later FROM documents").fetchall() == [(None,)]
    store.close()


def test_a_database_written_by_a_newer_collab_is_refused(postgres_dsn: str) -> None:
    PostgresStore(postgres_dsn).close()
    with psycopg.connect(postgres_dsn) as conn:
        conn.execute("INSERT INTO collab_migrations (name) VALUES ('m999_future')")
    with pytest.raises(StoreError, match="newer collab"):
        PostgresStore(postgres_dsn)


def test_a_commit_that_must_not_wait_writes_nothing(postgres_dsn: str) -> None:
    """The hub commits on its database thread: the network is never waited for on the
    event loop (``commits_sync``), and a commit asked not to wait refuses at once."""
    store = PostgresStore(postgres_dsn)
    assert store.commits_sync
    with pytest.raises(StoreBusy):
        store.append([("d", b"\x00\x00")], wait=False)
    assert store.get("d") is None and store.log_stats("d") == (0, 0)
    store.close()


def test_a_lock_held_too_long_fails_the_commit_and_writes_nothing(
    postgres_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(postgres_connection, "LOCK_TIMEOUT", 0.1)
    store = PostgresStore(postgres_dsn)
    store.append([("known", b"\x00\x00")])
    with psycopg.connect(postgres_dsn) as other:
        other.execute("LOCK TABLE updates IN ACCESS EXCLUSIVE MODE")
        with pytest.raises(StoreError, match="locked"):
            store.append([("known", b"\x00\x00"), ("new", b"\x00\x00")])
    assert store.load("known").updates == [b"\x00\x00"] and store.get("new") is None
    store.append([("new", b"\x00\x00")])
    assert store.count() == 2
    store.close()


def test_a_statement_slower_than_the_timeout_fails_and_writes_nothing(
    postgres_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A database too slow to commit (here: waiting for a lock longer than the statement
    timeout) fails the commit instead of holding it for ever."""
    monkeypatch.setattr(postgres_connection, "LOCK_TIMEOUT", 60.0)
    monkeypatch.setattr(postgres_connection, "STATEMENT_TIMEOUT", 0.2)
    store = PostgresStore(postgres_dsn)
    with psycopg.connect(postgres_dsn) as other:
        other.execute("LOCK TABLE updates IN ACCESS EXCLUSIVE MODE")
        with pytest.raises(StoreError, match=r"timed out after 0.2 s"):
            store.append([("d", b"\x00\x00")])
    assert store.get("d") is None
    store.append([("d", b"\x00\x00")])
    assert store.count() == 1
    store.close()


def test_the_store_reconnects_when_the_database_comes_back(own_postgres: PostgresServer) -> None:
    """Server down: calls fail with a StoreError (password masked); back: calls succeed on a
    new connection, and everything committed before is there."""
    dsn = own_postgres.create_database()
    store = PostgresStore(dsn, timeout=1)
    store.append([("d", b"\x00\x01")])
    own_postgres.stop()
    for call in (lambda: store.append([("d", b"\x00\x02")]), lambda: store.load("d")):
        with pytest.raises(StoreError) as caught:
            call()
        assert own_postgres.password not in str(caught.value)
        assert "failed on postgresql://collab:****@127.0.0.1" in str(caught.value)
    with pytest.raises(StoreError, match="unreachable"):
        store.ping()
    own_postgres.start()
    # The pool reconnects with a backoff: the first call after the restart may still find no
    # connection; a call within a bounded time succeeds (a condition, not a delay).
    deadline = time.monotonic() + 30
    while True:
        try:
            store.append([("d", b"\x00\x03")])
            break
        except StoreError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    assert store.load("d").updates == [b"\x00\x01", b"\x00\x03"]
    store.ping()
    store.close()


def test_a_server_restarted_while_the_store_was_idle_costs_no_failed_call(
    own_postgres: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(postgres_connection, "IDLE_CHECK_SECONDS", 0.0)
    store = PostgresStore(own_postgres.create_database())
    store.append([("d", b"\x00\x01")])
    own_postgres.stop()
    own_postgres.start()
    store.append([("d", b"\x00\x02")])
    assert store.load("d").updates == [b"\x00\x01", b"\x00\x02"]
    store.close()


def test_one_process_at_a_time_serves_a_database(postgres_dsn: str) -> None:
    """A second server (or an import) is refused while one holds the database; readers are
    not; the lock goes with the store that held it."""
    serving = PostgresStore(postgres_dsn, lock=True)
    with pytest.raises(DatabaseInUse, match=r"in use by another collab process \(collab pid"):
        PostgresStore(postgres_dsn, lock=True)
    reader = PostgresStore(postgres_dsn, migrate=False)
    assert reader.count() == 0
    reader.close()
    serving.close()
    PostgresStore(postgres_dsn, lock=True).close()


def test_the_lock_is_taken_again_after_the_database_restarted(
    own_postgres: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(postgres_connection, "IDLE_CHECK_SECONDS", 0.0)
    dsn = own_postgres.create_database()
    store = PostgresStore(dsn, lock=True, timeout=1)
    own_postgres.stop()
    own_postgres.start()
    store.append([("d", b"\x00\x00")])  # reconnects, and holds the lock again
    with pytest.raises(DatabaseInUse):
        PostgresStore(dsn, lock=True)
    store.close()


def test_reading_a_database_collab_never_wrote_is_refused(postgres_dsn: str) -> None:
    with pytest.raises(StoreError, match="not a collab database"):
        PostgresStore(postgres_dsn, migrate=False)


def test_a_database_from_before_the_outbox_gets_it_and_keeps_its_documents(
    postgres_dsn: str,
) -> None:
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        postgres_schema.migrate(conn, postgres_schema.MIGRATIONS[:1])
        conn.execute("INSERT INTO documents VALUES ('kept', 1.0, 1.0, 2, 1)")
        conn.execute("INSERT INTO updates (name, data, created_at) VALUES ('kept', '\\x0000', 1)")
    store = PostgresStore(postgres_dsn)
    assert (
        store.schema_version() == postgres_schema.SCHEMA_VERSION == len(postgres_schema.MIGRATIONS)
    )
    assert [name for name, _ in postgres_schema.MIGRATIONS[:2]] == ["m001_initial", "m002_outbox"]
    assert store.load("kept").updates == [b"\x00\x00"]
    store.append([("kept", b"\x00\x00"), ("new", b"\x00\x00")])
    assert [(e.type, e.document) for e in store.outbox.events_after(0, 10)] == [
        ("document.created", "new")
    ]
    store.close()


def test_a_frozen_server_fails_the_call_instead_of_holding_it_for_ever(
    own_postgres: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server that is alive but answers nothing (SIGSTOP): the watchdog cuts the call's
    connection, the call fails; once the server runs again, so do new calls."""
    monkeypatch.setattr(postgres_watchdog, "LIMIT", 1.0)
    monkeypatch.setattr(postgres_watchdog, "CHECK_EVERY", 0.05)
    store = PostgresStore(own_postgres.create_database())
    store.append([("d", b"\x00\x01")])
    own_postgres.freeze()
    try:
        with pytest.raises(StoreError, match=r"no answer in 1 s, connection cut"):
            store.append([("d", b"\x00\x02")])
    finally:
        own_postgres.thaw()
    store.append([("d", b"\x00\x03")])
    # The cut commit's outcome is unknown (the frozen server may run it once thawed): it was
    # never acknowledged, and applying a Yjs update twice changes nothing.
    stored = store.load("d").updates
    assert stored[0] == b"\x00\x01" and stored[-1] == b"\x00\x03"
    store.close()


def test_the_store_s_own_work_inside_a_call_is_not_taken_for_a_frozen_server(
    postgres_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A deletion replays the document (its tombstone) between its statements, in one
    transaction: however long that takes, the watchdog counts only the waits for the server.
    (A compaction's replay runs outside any transaction.)"""
    monkeypatch.setattr(postgres_watchdog, "LIMIT", 0.2)
    monkeypatch.setattr(postgres_watchdog, "CHECK_EVERY", 0.02)
    slow_work = threading.Event()

    def slow_tombstone(*args: Any) -> Any:
        slow_work.wait(1.0)  # stands for a replay of a large log (nothing sets the event)
        return tombstone(*args)

    monkeypatch.setattr(postgres, "tombstone", slow_tombstone)
    store = PostgresStore(postgres_dsn)
    store.append([("d", b"\x00\x00"), ("d", b"\x00\x00")])
    assert store.delete("d")
    assert store.get("d") is None and store.load("d").tombstone is not None
    store.close()
