"""Which store a :class:`collab.app.Collab` opens for ``settings.db``, and how the log names it."""

from __future__ import annotations

from collab.settings import Settings
from collab.stores import DocumentStore, SQLiteStore
from collab.stores.dsn import is_postgres, masked

__all__ = ["open_store", "store_name"]


def store_name(store: DocumentStore, settings: Settings) -> str:
    """What the log calls a store: an SQLite file by its absolute path (a relative ``--db``
    starts from the current folder, easy to get wrong), PostgreSQL by its URL without the
    password, any other store by its class."""
    if isinstance(store, SQLiteStore):
        return str(store.path.absolute())
    if is_postgres(settings.db) and type(store).__name__ == "PostgresStore":
        return masked(settings.db)
    return type(store).__name__


def open_store(settings: Settings) -> DocumentStore:
    """The store ``settings.db`` names, locked for this process: a ``postgresql://`` (or
    ``postgres://``) URL opens a :class:`~collab.stores.postgres.PostgresStore`, anything else
    is an SQLite file (the hub checkpoints it).

    Raises:
        DatabaseInUse: another process serves the database (the message names it).
        StoreError: the database cannot be opened or migrated (a password never shows).
    """
    if is_postgres(settings.db):
        from collab.stores.postgres import PostgresStore

        # Cluster nodes share the database (they meet through Redis): a shared lock.
        return PostgresStore(settings.db, lock=True, shared_lock=bool(settings.redis))
    return SQLiteStore(
        settings.db,
        synchronous=settings.synchronous,
        autocheckpoint=False,
        lock=True,
        shared_lock=bool(settings.redis),  # the cluster's nodes on this machine share it
    )
