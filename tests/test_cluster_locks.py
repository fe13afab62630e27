"""The nodes of a cluster share a database; a single server and cluster nodes exclude each
other (SQLite: a shared or exclusive flock on ``<db>.lock``; PostgreSQL: a shared or
exclusive advisory lock)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from collab.stores import DatabaseInUse, SQLiteStore
from collab.stores.lock import ProcessLock
from collab.stores.postgres import PostgresStore


def test_sqlite_nodes_share_the_file_and_a_single_server_is_kept_apart(tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    nodes = [SQLiteStore(db, lock=True, shared_lock=True) for _ in range(2)]
    with pytest.raises(DatabaseInUse, match="nodes of a collab cluster"):
        SQLiteStore(db, lock=True)
    for store in nodes:
        store.close()
    single = SQLiteStore(db, lock=True)
    with pytest.raises(DatabaseInUse, match="not a cluster node"):
        SQLiteStore(db, lock=True, shared_lock=True)
    single.close()
    SQLiteStore(db, lock=True, shared_lock=True).close()


def test_postgres_nodes_share_the_database_and_a_single_server_is_kept_apart(
    postgres_dsn: str,
) -> None:
    nodes = [PostgresStore(postgres_dsn, lock=True, shared_lock=True) for _ in range(2)]
    with pytest.raises(DatabaseInUse, match="in use by another collab process"):
        PostgresStore(postgres_dsn, lock=True)
    for store in nodes:
        store.close()
    single = PostgresStore(postgres_dsn, lock=True)
    with pytest.raises(DatabaseInUse, match="not a cluster node"):
        PostgresStore(postgres_dsn, lock=True, shared_lock=True)
    single.close()
    PostgresStore(postgres_dsn, lock=True, shared_lock=True).close()


_PROBE = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
try:
    fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    print("free")
except OSError:
    print("held")
"""


def _probe(lock_file: Path) -> str:
    """What another process finds of ``lock_file``'s record lock: "held" or "free"."""
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, str(lock_file)], capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def test_the_set_up_of_a_shared_file_is_one_process_at_a_time(tmp_path: Path) -> None:
    """ProcessLock.setting_up holds the lock file's record lock, which another process sees
    (nodes sharing the file with their flock still wait for it), and gives it back."""
    lock = ProcessLock(tmp_path / "c.db", shared=True)
    try:
        with lock.setting_up():
            assert _probe(lock.path) == "held"
        assert _probe(lock.path) == "free"
    finally:
        lock.release()


_OPEN = """
import sys, time
from collab.stores import SQLiteStore
start = float(sys.argv[2])
while time.time() < start:
    pass
SQLiteStore(sys.argv[1], lock=True, shared_lock=True, autocheckpoint=False).close()
print("ok")
"""


def test_cluster_nodes_started_at_once_on_a_new_file_all_open_it(tmp_path: Path) -> None:
    """Six processes opening one new SQLite file at the same moment, eight times: each opens
    it (before the set-up was serialized, about one start in fifteen failed with "table
    events already exists" or "database is locked"; a race, so this may miss it)."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    for attempt in range(8):
        db = tmp_path / f"new-{attempt}.db"
        start = str(time.time() + 1.0)
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", _OPEN, str(db), start],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=env,
            )
            for _ in range(6)
        ]
        results = [proc.communicate(timeout=120) for proc in procs]
        for (out, err), proc in zip(results, procs, strict=True):
            assert proc.returncode == 0 and out.strip() == "ok", err[-2000:]
        store = SQLiteStore(db)
        assert list(store.names()) == []  # the schema, once: its tables answer
        store.close()
