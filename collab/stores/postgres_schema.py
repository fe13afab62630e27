"""The PostgreSQL store's schema and its versioned migrations.

Migrations are applied in order at start, each once, in one transaction (with the others
missing) that also records them in ``collab_migrations`` (PostgreSQL's DDL is transactional: a
failed migration leaves nothing). A transaction-level advisory lock makes processes that
start at once (cluster mode) migrate one after the other. A database that has applied a
migration this release does not know was written by a newer collab and is refused.

Tables (names are ``text COLLATE "C"``: sorted by code point, as SQLite sorts them, so that
listing and its cursors behave the same on both stores):

* ``documents``: ``name``, ``created_at`` and ``updated_at`` (Unix seconds), ``size_bytes``
  (snapshot plus log bytes) and ``updates`` (log rows since the last compaction), written in
  the same statement as the log rows they count.
* ``updates``: the append-only log of raw Yjs v1 updates (``bytea``); ``id`` comes from an
  identity sequence, so a document's rows are in arrival order.
* ``snapshots``: at most one compacted state per document, the last log id it merged and
  ``covers_until``, the ``created_at`` of the newest update merged.
* ``tombstones``: the merged state of deleted documents.
* ``events``, ``webhook_endpoints``, ``deliveries``, ``changes``: the outbox of document
  events (:mod:`collab.stores.postgres_outbox`).
* ``versions``: stored states of documents with a label, author and time
  (:mod:`collab.stores.postgres_versions`).
"""

from __future__ import annotations

from collections.abc import Callable

import psycopg

__all__ = ["MIGRATIONS", "MIGRATIONS_TABLE", "SCHEMA_VERSION", "applied", "migrate"]

MIGRATIONS_TABLE = "collab_migrations"
"""The table of applied migrations (name, time)."""

_LOCK = 0x636F6C6C6162  # "collab": the advisory lock key of migrations

Migration = tuple[str, Callable[[psycopg.Connection], None]]


def _m001_initial(conn: psycopg.Connection) -> None:
    """Documents, the update log, snapshots and tombstones."""
    conn.execute(
        'CREATE TABLE documents (name text COLLATE "C" PRIMARY KEY,'
        " created_at double precision NOT NULL, updated_at double precision NOT NULL,"
        " size_bytes bigint NOT NULL, updates bigint NOT NULL)"
    )
    conn.execute("CREATE INDEX documents_updated_at ON documents (updated_at DESC, name)")
    conn.execute(
        "CREATE TABLE updates (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
        ' name text COLLATE "C" NOT NULL, data bytea NOT NULL,'
        " created_at double precision NOT NULL)"
    )
    conn.execute("CREATE INDEX updates_name_id ON updates (name, id)")
    conn.execute(
        'CREATE TABLE snapshots (name text COLLATE "C" PRIMARY KEY, data bytea NOT NULL,'
        " created_at double precision NOT NULL, last_update_id bigint NOT NULL,"
        " covers_until double precision)"
    )
    conn.execute(
        'CREATE TABLE tombstones (name text COLLATE "C" PRIMARY KEY, data bytea NOT NULL,'
        " deleted_at double precision)"
    )


def _m002_outbox(conn: psycopg.Connection) -> None:
    """The event outbox of webhooks and the change feed (see
    :mod:`collab.stores.postgres_outbox`)."""
    from collab.stores.postgres_outbox import create_tables

    create_tables(conn)


def _m003_versions(conn: psycopg.Connection) -> None:
    """Stored versions of documents (see :mod:`collab.stores.postgres_versions`)."""
    from collab.stores.postgres_versions import create_versions

    create_versions(conn)


def _m004_quarantine(conn: psycopg.Connection) -> None:
    """Rows that no longer decode, moved aside (see :mod:`collab.stores.postgres_quarantine`)."""
    from collab.stores.postgres_quarantine import create_quarantine

    create_quarantine(conn)


MIGRATIONS: list[Migration] = [
    ("m001_initial", _m001_initial),
    ("m002_outbox", _m002_outbox),
    ("m003_versions", _m003_versions),
    ("m004_quarantine", _m004_quarantine),
]
"""Every migration, in order; a new one is appended, never inserted or changed."""

SCHEMA_VERSION = len(MIGRATIONS)


def applied(conn: psycopg.Connection) -> list[str]:
    """The names of the migrations the database has applied (none when it is new)."""
    exists = conn.execute("SELECT to_regclass(%s) IS NOT NULL", [MIGRATIONS_TABLE]).fetchone()
    if not exists or not exists[0]:
        return []
    rows = conn.execute(f"SELECT name FROM {MIGRATIONS_TABLE} ORDER BY applied_at, name")
    return [row[0] for row in rows]


def migrate(conn: psycopg.Connection, migrations: list[Migration] | None = None) -> int:
    """Apply the migrations the database lacks; how many it has now.

    Args:
        conn: an autocommit connection.
        migrations: the list to apply (:data:`MIGRATIONS`; tests pass a prefix).

    Raises:
        RuntimeError: when the database holds migrations this release does not know.
        psycopg.Error: when a migration fails (nothing of it stays).
    """
    migrations = MIGRATIONS if migrations is None else migrations
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", [_LOCK])
        conn.execute(
            f"CREATE TABLE IF NOT EXISTS {MIGRATIONS_TABLE} (name text PRIMARY KEY,"
            " applied_at timestamptz NOT NULL DEFAULT clock_timestamp())"
        )
        done = set(applied(conn))
        unknown = done - {name for name, _ in MIGRATIONS}
        if unknown:
            raise RuntimeError(
                f"the database was written by a newer collab (migrations {sorted(unknown)}):"
                " upgrade collab"
            )
        for name, apply in migrations:
            if name not in done:
                apply(conn)
                conn.execute(f"INSERT INTO {MIGRATIONS_TABLE} (name) VALUES (%s)", [name])
                done.add(name)
    return len(done)
