"""Open the store the ``--db`` setting names: an SQLite file, or a PostgreSQL database."""

from __future__ import annotations

from collab.store import Store
from collab.stores.dsn import is_postgres

__all__ = ["open_store"]


def open_store(
    db: str, *, synchronous: str = "NORMAL", autocheckpoint: bool = True, lock: bool = False
) -> Store:
    """The store of ``db``: a ``postgresql://`` (or ``postgres://``) URL opens a
    :class:`~collab.stores.postgres.PostgresStore`, anything else is an SQLite file.

    Args:
        db: the ``--db`` setting.
        synchronous: SQLite's ``synchronous`` pragma (PostgreSQL: ignored; the server's
            ``synchronous_commit`` decides).
        autocheckpoint: SQLite: whether commits may checkpoint the WAL themselves.
        lock: PostgreSQL: refuse to open a database another collab process serves, and
            hold it while open (a serving process).

    Raises:
        StoreError: when the database cannot be opened (a PostgreSQL password never shows).
    """
    if is_postgres(db):
        from collab.stores.postgres import PostgresStore

        return PostgresStore(db, lock=lock)  # type: ignore[return-value]
    return Store(db, synchronous=synchronous, autocheckpoint=autocheckpoint)
