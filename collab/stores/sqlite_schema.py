"""The SQLite schema of :class:`collab.stores.sqlite.SQLiteStore`: its versioned migrations
(sqlite-utils) and the statements that append and count in one SQLite step (see that module's
docstring for the layout and for why many rows travel as JSON or one blob)."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from collab.stores.base import StoreError
from collab.stores.sqlite_outbox import create_tables

__all__ = [
    "APPEND_ONE",
    "COUNTS_PENDING",
    "COUNT_UPDATES",
    "CREATE_DOCUMENTS",
    "RECOUNT",
    "SCHEMA_VERSION",
    "check_files",
    "collab_version",
    "many_rows",
    "migrate",
    "migrations",
]

log = logging.getLogger("collab.store")

migrations = Migrations("collab")


@migrations()
def m001_initial(db: Database) -> None:
    """Documents, the update log and snapshots."""
    db.table("documents").create(
        {"name": str, "created_at": float, "updated_at": float, "size_bytes": int, "updates": int},
        pk="name",
        not_null={"created_at", "updated_at", "size_bytes", "updates"},
    )
    db.table("documents").create_index(["updated_at"])
    # AUTOINCREMENT until m004 (which says why it went).
    db.execute(
        "CREATE TABLE updates (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL,"
        " data BLOB NOT NULL, created_at FLOAT NOT NULL)"
    )
    db.table("updates").create_index(["name", "id"])
    db.table("snapshots").create(
        {"name": str, "data": bytes, "created_at": float, "last_update_id": int},
        pk="name",
        not_null={"data", "created_at", "last_update_id"},
    )


@migrations()
def m002_tombstones(db: Database) -> None:
    """Merged state of deleted documents, checked when a document is written again."""
    db.table("tombstones").create(
        {"name": str, "data": bytes, "deleted_at": float}, pk="name", not_null={"data"}
    )


@migrations()
def m003_snapshot_covers(db: Database) -> None:
    """``snapshots.covers_until``: the ``created_at`` of the newest update merged into the
    snapshot, so ``collab export --at`` knows which moments the history still covers. NULL for
    snapshots written before this migration (readers then use the snapshot's ``created_at``,
    which is later than every update merged into it)."""
    db.table("snapshots").add_column("covers_until", float)


@migrations()
def m004_log_ids_without_autoincrement(db: Database) -> None:
    """``updates.id`` becomes a plain rowid: AUTOINCREMENT rewrote ``sqlite_sequence`` in every
    commit, a third page for a one-update commit (measured per commit: 22 to 18 us of CPU back
    to back, about 60-75 to 50 us with the caches cold between commits). Rows keep their ids;
    a new row's id is above every row in the log, so each document's rows stay in arrival
    order (see the module docstring)."""
    db.table("updates_log").create(
        {"id": int, "name": str, "data": bytes, "created_at": float},
        pk="id",
        not_null={"name", "data", "created_at"},
    )
    db.execute(
        "INSERT INTO updates_log (id, name, data, created_at)"
        " SELECT id, name, data, created_at FROM updates"
    )
    db.table("updates").drop()  # with its index and its sqlite_sequence row
    db.rename_table("updates_log", "updates")
    db.table("updates").create_index(["name", "id"])


@migrations()
def m005_versions(db: Database) -> None:
    """``versions``: stored snapshots of documents (see :meth:`SQLiteStore.add_version`). Ids are
    never given twice (AUTOINCREMENT: a link to a deleted version must not show another);
    versions are written rarely, so its extra page per insert costs nothing."""
    db.execute(
        "CREATE TABLE versions (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL,"
        " created_at FLOAT NOT NULL, label TEXT, author TEXT, automatic INTEGER NOT NULL,"
        " size_bytes INTEGER NOT NULL, data BLOB NOT NULL)"
    )
    db.table("versions").create_index(["name", "id"])


@migrations()
def m006_outbox(db: Database) -> None:
    """The event outbox of webhooks and the change feed (see
    :mod:`collab.stores.sqlite_outbox`)."""
    create_tables(db)


@migrations()
def m007_meta(db: Database) -> None:
    """``meta``: facts about the database itself; ``schema_written_by`` is the collab version
    that last applied migrations, named when an older collab refuses the file."""
    db.table("meta").create({"key": str, "value": str}, pk="key", not_null={"value"})


@migrations()
def m008_quarantine(db: Database) -> None:
    """``quarantine``: stored rows the code could not decode, moved aside when their document
    loaded (``kind`` ``update`` with the log ``row_id`` it had, or ``snapshot``), kept until
    ``collab doctor --repair`` or an admin drops or restores them."""
    db.table("quarantine").create(
        {
            "id": int,
            "name": str,
            "kind": str,
            "row_id": int,
            "data": bytes,
            "reason": str,
            "quarantined_at": float,
        },
        pk="id",
        not_null={"name", "kind", "data", "reason", "quarantined_at"},
    )
    db.table("quarantine").create_index(["name"])


@migrations()
def m009_change_marks_by_trigger(db: Database) -> None:
    """Each row appended to ``updates`` marks its document changed (``changes``, see
    :mod:`collab.stores.sqlite_outbox`) in the statement that appends it: a commit is one
    statement, where marking from Python took a transaction of four (a third of the commits
    of a document edited steadily; measured: 300 rooms at one update a second each)."""
    db.execute(
        "CREATE TRIGGER updates_mark_changed AFTER INSERT ON updates BEGIN"
        " INSERT OR IGNORE INTO changes (name, marked_at) VALUES (new.name, new.created_at);"
        " END"
    )


SCHEMA_VERSION = len(migrations._migrations)


def collab_version() -> str:
    """This collab's version (its installed distribution's), or ``unknown``."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("collab")
    except PackageNotFoundError:
        return "unknown"


def migrate(db: Database, path: Path) -> None:
    """Apply the migrations ``db`` lacks, recording this version as the schema's writer.

    Raises:
        StoreError: when a newer collab migrated ``db`` (a migration this version does not
            know): naming the migrations and the version that wrote them, in one line.
    """
    known = {m.name for m in migrations._migrations}
    unknown = [m.name for m in migrations.applied(db) if m.name not in known]
    if unknown:
        writer = "a newer collab"
        if db["meta"].exists():
            row = db.execute("SELECT value FROM meta WHERE key = 'schema_written_by'").fetchone()
            if row:
                writer = f"collab {row[0]}"
        raise StoreError(
            f"{path} was written by {writer} (schema migration {', '.join(unknown)}), which"
            f" this collab {collab_version()} does not know: refusing to open it (upgrade collab)"
        )
    if migrations.pending(db):
        migrations.apply(db)
        db["meta"].upsert(  # type: ignore[union-attr]
            {"key": "schema_written_by", "value": collab_version()}, pk="key"
        )


def check_files(path: Path) -> bool:
    """Check the database's files before SQLite maps them; whether the database file exists
    and is empty (SQLite then starts a new database in it: the caller says so).

    Raises:
        StoreError: when the shared-memory file (``-shm``) exists but cannot be written:
            SQLite maps it, and its first write to the mapping kills the process (SIGBUS).
    """
    shm = path.with_name(path.name + "-shm")
    if shm.exists():
        try:
            with open(shm, "r+b"):
                pass
        except FileNotFoundError:
            pass  # removed meanwhile: the last connection of another process closed
        except OSError as exc:
            raise StoreError(
                f"cannot write {shm} ({exc.strerror}): SQLite needs it writable"
            ) from exc
    return path.exists() and path.stat().st_size == 0


def many_rows(
    batch: Sequence[tuple[str, bytes]], now: float
) -> tuple[str, tuple[object, ...], dict[str, tuple[int, int]]]:
    """The one INSERT statement and its parameters for a batch of several updates, and the
    ``(updates, bytes)`` each document gets from it."""
    updates = [update for _, update in batch]
    blob = b"".join(updates)
    names = {name for name, _ in batch}
    if len(names) == 1:
        (name,) = names
        lengths = json.dumps([*map(len, updates)])
        return APPEND_TO_ONE, (name, blob, now, lengths), {name: (len(batch), len(blob))}
    per_doc: dict[str, tuple[int, int]] = {}
    for name, update in batch:
        count, size = per_doc.get(name, (0, 0))
        per_doc[name] = (count + 1, size + len(update))
    rows = json.dumps([[name, len(update)] for name, update in batch])
    return APPEND_UPDATES, (blob, now, rows), per_doc


APPEND_ONE = "INSERT INTO updates (name, data, created_at) VALUES (?, ?, ?)"
"""One update ``(name, data, created_at)``."""

APPEND_UPDATES = (
    "INSERT INTO updates (name, data, created_at)"
    " SELECT name, substr(?1, start, size), ?2 FROM (SELECT key, json_extract(value, '$[0]')"
    " AS name, json_extract(value, '$[1]') AS size, 1 + sum(json_extract(value, '$[1]'))"
    " OVER (ORDER BY key) - json_extract(value, '$[1]') AS start FROM json_each(?3))"
    " ORDER BY key"
)
"""Append the updates concatenated in blob ?1 at time ?2; ?3 is a JSON array of
``[name, length]``, one per update in log order (each update starts where the previous one
ended: a running sum; ``substr`` of a blob counts bytes from 1 and gives a blob)."""

APPEND_TO_ONE = (
    "INSERT INTO updates (name, data, created_at)"
    " SELECT ?1, substr(?2, start, size), ?3 FROM (SELECT key, value AS size,"
    " 1 + sum(value) OVER (ORDER BY key) - value AS start FROM json_each(?4)) ORDER BY key"
)
""":data:`APPEND_UPDATES` for updates of one document ?1: ?4 is a JSON array of lengths."""

COUNTS_PENDING = 1
"""``PRAGMA user_version`` while counters may wait in memory (see the module docstring)."""

RECOUNT = (
    "UPDATE documents SET"
    " updates = (SELECT count(*) FROM updates u WHERE u.name = documents.name),"
    " size_bytes = coalesce((SELECT length(data) FROM snapshots s WHERE s.name = documents.name),"
    " 0) + coalesce((SELECT sum(length(data)) FROM updates u WHERE u.name = documents.name), 0),"
    " updated_at = max(updated_at,"
    " coalesce((SELECT max(created_at) FROM updates u WHERE u.name = documents.name), 0))"
)
"""Set every document's counters from its snapshot and log (one statement, one step)."""

CREATE_DOCUMENTS = (
    "INSERT INTO documents (name, created_at, updated_at, size_bytes, updates)"
    " SELECT value, ?1, ?1, 0, 0 FROM json_each(?2) WHERE true ON CONFLICT(name) DO NOTHING"
    " RETURNING name"
)
"""Create the rows of documents written for the first time at ?1; ?2 is a JSON array of
names (``WHERE true`` lets SQLite parse an upsert after a SELECT); returns the names of the
rows it created (those that existed are left alone)."""

COUNT_UPDATES = (
    "UPDATE documents SET updates = updates + json_extract(value, '$[1]'),"
    " size_bytes = size_bytes + json_extract(value, '$[2]'),"
    " updated_at = max(updated_at, json_extract(value, '$[3]'))"
    " FROM json_each(?1) WHERE documents.name = json_extract(value, '$[0]')"
)
"""Add appended updates to their documents' counters; ?1 is a JSON array of
``[name, updates, bytes, newest created_at]``."""
