"""Open either store on a test's own database, for the suites run against both."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from collab.stores import DocumentStore, SQLiteStore
from collab.stores.postgres import PostgresStore

__all__ = ["STORES", "DocumentStore", "database", "opener"]

STORES = ["sqlite", "postgres"]
"""The ids of the store implementations, for ``pytest.mark.parametrize``."""


def database(request: pytest.FixtureRequest, kind: str, tmp_path: Path) -> str:
    """A new empty database of ``kind``: an SQLite file path, or a PostgreSQL URL (a new
    database on the session's server)."""
    if kind == "postgres":
        return str(request.getfixturevalue("postgres_dsn"))
    return str(tmp_path / "db" / "collab.db")


@contextmanager
def opener(
    request: pytest.FixtureRequest, kind: str, tmp_path: Path
) -> Iterator[Callable[[], DocumentStore]]:
    """A function that opens a store of ``kind`` on one new database (each call opens it
    again, as a restarted server would); every store it opened is closed afterwards."""
    db = database(request, kind, tmp_path)
    opened: list[DocumentStore] = []

    def open_() -> DocumentStore:
        store: DocumentStore = PostgresStore(db) if kind == "postgres" else SQLiteStore(db)
        opened.append(store)
        return store

    yield open_
    for store in opened:
        store.close()
