"""Open either store on a test's own database, for the suites run against both."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from collab.stores import DocumentStore, SQLiteStore
from collab.stores.postgres import PostgresStore

__all__ = ["STORES", "Opener", "database", "opener"]

STORES = ["sqlite", "postgres"]
"""The ids of the store implementations, for ``pytest.mark.parametrize``."""


def database(request: pytest.FixtureRequest, kind: str, tmp_path: Path) -> str:
    """A new empty database of ``kind``: an SQLite file path, or a PostgreSQL URL (a new
    database on the session's server)."""
    if kind == "postgres":
        return str(request.getfixturevalue("postgres_server").create_database())
    return str(tmp_path / "db" / "collab.db")


class Opener:
    """Opens a store of ``kind`` on one database ``db`` (each call opens it again, as a
    restarted server would); :meth:`close_all` closes every store it opened."""

    def __init__(self, kind: str, db: str) -> None:
        self.kind, self.db = kind, db
        self.opened: list[DocumentStore] = []

    def __call__(self) -> DocumentStore:
        store: DocumentStore = (
            PostgresStore(self.db) if self.kind == "postgres" else SQLiteStore(self.db)
        )
        self.opened.append(store)
        return store

    def close_all(self) -> None:
        for store in self.opened:
            store.close()


@contextmanager
def opener(request: pytest.FixtureRequest, kind: str, tmp_path: Path) -> Iterator[Opener]:
    """An :class:`Opener` of a new database of ``kind``; its stores are closed afterwards."""
    open_ = Opener(kind, database(request, kind, tmp_path))
    yield open_
    open_.close_all()
