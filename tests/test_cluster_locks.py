"""The nodes of a cluster share a database; a single server and cluster nodes exclude each
other (SQLite: a shared or exclusive flock on ``<db>.lock``; PostgreSQL: a shared or
exclusive advisory lock)."""

from __future__ import annotations

from pathlib import Path

import pytest

from collab.stores import DatabaseInUse, SQLiteStore
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
