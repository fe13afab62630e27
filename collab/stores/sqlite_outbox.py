"""The SQLite outbox of document events (webhooks and the change feed): all of its SQL.

Tables (migration ``m006_outbox``):

* ``events``: ``id`` (AUTOINCREMENT: never given twice; the feed's cursor and the webhooks'
  idempotency key), ``name``, ``type``, ``created_at``, ``data`` (JSON).
* ``webhook_endpoints``: each endpoint ever configured and ``fanned_out``, the last event id
  that has its delivery rows. A new endpoint starts at the newest event (no backfill).
* ``deliveries``: one row per event and endpoint: ``state`` (``pending``, ``delivered``,
  ``dead``), ``attempts``, ``next_at``, ``last_error``.
* ``changes``: documents changed since their last ``document.changed`` event, with the moment
  of the first such change; written by a trigger on ``updates`` (migration
  ``m009_change_marks_by_trigger``) in the statement that appends the update, so a crash
  neither loses nor invents a change event.

The store calls the ``*_in_transaction`` methods inside its own transactions; the others open
theirs, and raise :class:`StoreError` when the database fails (as the PostgreSQL outbox's
do). Blocking; called from the store's one thread.
"""

from __future__ import annotations

import functools
import json
import sqlite3
import time
from collections.abc import Callable, Sequence
from typing import Any, ParamSpec, TypeVar

from sqlite_utils import Database

from collab.stores.base import StoreError
from collab.stores.outbox import CREATED, DELETED, RENAMED, Delivery, Event

__all__ = ["SQLiteOutbox", "create_tables"]

_EVENT = "e.id, e.type, e.name, e.created_at, e.data"


def create_tables(db: Database) -> None:
    """Create the outbox tables (a migration step)."""
    db.execute(
        "CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL,"
        " type TEXT NOT NULL, created_at FLOAT NOT NULL, data TEXT NOT NULL)"
    )
    db.execute(
        "CREATE TABLE webhook_endpoints (endpoint TEXT PRIMARY KEY, fanned_out INTEGER NOT NULL)"
    )
    db.execute(
        "CREATE TABLE deliveries (event_id INTEGER NOT NULL REFERENCES events (id)"
        " ON DELETE CASCADE, endpoint TEXT NOT NULL, name TEXT NOT NULL,"
        " state TEXT NOT NULL DEFAULT 'pending', attempts INTEGER NOT NULL DEFAULT 0,"
        " next_at FLOAT NOT NULL, last_error TEXT, PRIMARY KEY (event_id, endpoint))"
    )
    db.execute("CREATE INDEX deliveries_due ON deliveries (state, endpoint, name, event_id)")
    db.execute("CREATE TABLE changes (name TEXT PRIMARY KEY, marked_at FLOAT NOT NULL)")


P = ParamSpec("P")
R = TypeVar("R")


def _store_errors(method: Callable[P, R]) -> Callable[P, R]:
    """``method`` raising :class:`StoreError` (naming it) for a failure of the database."""

    @functools.wraps(method)
    def wrapped(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(*args, **kwargs)
        except sqlite3.Error as exc:
            raise StoreError(f"the outbox's {method.__name__} failed: {exc}") from exc

    return wrapped


def _event(row: Sequence[Any]) -> Event:
    return Event(int(row[0]), row[1], row[2], float(row[3]), json.loads(row[4]))


class SQLiteOutbox:
    """Events, webhook deliveries and change marks on the store's connection.

    Args:
        db: the store's database (its one connection).
    """

    def __init__(self, db: Database) -> None:
        self.db = db

    # -- inside the store's transactions ----------------------------------------------------

    def add_in_transaction(self, name: str, type_: str, data: dict[str, Any], now: float) -> int:
        """Insert one event; its id."""
        cursor = self.db.execute(
            "INSERT INTO events (name, type, created_at, data) VALUES (?, ?, ?, ?)",
            [name, type_, now, json.dumps(data, separators=(",", ":"))],
        )
        return int(cursor.lastrowid or 0)

    def created_in_transaction(self, names: Sequence[str], now: float) -> None:
        """``document.created`` for each of ``names``."""
        for name in names:
            self.add_in_transaction(name, CREATED, {}, now)

    def deleted_in_transaction(self, name: str, now: float) -> None:
        """``document.deleted``; a change not reported yet goes with the document."""
        self.db.execute("DELETE FROM changes WHERE name = ?", [name])
        self.add_in_transaction(name, DELETED, {}, now)

    def renamed_in_transaction(self, old: str, new: str, now: float) -> None:
        """``document.renamed`` (under the old name, with ``from`` and ``to``); a change not
        reported yet is the new name's."""
        self.db.execute("UPDATE changes SET name = ? WHERE name = ?", [new, old])
        self.add_in_transaction(old, RENAMED, {"from": old, "to": new}, now)

    # -- EventOutbox -------------------------------------------------------------------------

    @_store_errors
    def record(self, name: str, type_: str, data: dict[str, Any]) -> None:
        """Write one event now, in a transaction of its own."""
        with self.db.atomic():
            self.add_in_transaction(name, type_, data, time.time())

    @_store_errors
    def events_after(self, cursor: int, limit: int) -> list[Event]:
        """Up to ``limit`` events with ids above ``cursor``, oldest first."""
        rows = self.db.execute(
            f"SELECT {_EVENT} FROM events e WHERE e.id > ? ORDER BY e.id LIMIT ?", [cursor, limit]
        ).fetchall()
        return [_event(row) for row in rows]

    @_store_errors
    def last_event_id(self) -> int:
        """The newest event's id (0 when there is none)."""
        return int(self.db.execute("SELECT coalesce(max(id), 0) FROM events").fetchone()[0])

    @_store_errors
    def due_changes(self, marked_before: float) -> list[tuple[str, float]]:
        """``(name, marked_at)`` of documents changed before ``marked_before``, unreported."""
        rows = self.db.execute(
            "SELECT name, marked_at FROM changes WHERE marked_at <= ? ORDER BY marked_at",
            [marked_before],
        ).fetchall()
        return [(row[0], float(row[1])) for row in rows]

    @_store_errors
    def report_changes(self, changes: list[tuple[str, float, str, dict[str, Any]]]) -> int:
        """Turn change marks ``(name, marked_at, type, data)`` into events, in one
        transaction; how many were written (a mark gone or newer, the document deleted
        meanwhile, is skipped)."""
        reported = 0
        with self.db.atomic():
            now = time.time()
            for name, marked_at, type_, data in changes:
                if self.db.execute(
                    "DELETE FROM changes WHERE name = ? AND marked_at = ?", [name, marked_at]
                ).rowcount:
                    self.add_in_transaction(name, type_, data, now)
                    reported += 1
        return reported

    @_store_errors
    def register_endpoints(self, endpoints: tuple[str, ...]) -> None:
        """A newly configured endpoint gets the events from now on (no backfill)."""
        self.db.execute(
            "INSERT INTO webhook_endpoints (endpoint, fanned_out) SELECT value,"
            " (SELECT coalesce(max(id), 0) FROM events) FROM json_each(?) WHERE true"
            " ON CONFLICT(endpoint) DO NOTHING",
            [json.dumps(endpoints)],
        )

    @_store_errors
    def due_deliveries(self, endpoints: tuple[str, ...], now: float, limit: int) -> list[Delivery]:
        """Create the delivery rows of new events, then return the oldest pending delivery of
        each ``(endpoint, document)`` that is due by ``now``."""
        wanted = json.dumps(endpoints)
        with self.db.atomic():
            self.db.execute(
                "INSERT INTO deliveries (event_id, endpoint, name, next_at)"
                " SELECT e.id, w.endpoint, e.name, e.created_at FROM webhook_endpoints w"
                " JOIN events e ON e.id > w.fanned_out"
                " WHERE w.endpoint IN (SELECT value FROM json_each(?))",
                [wanted],
            )
            self.db.execute(
                "UPDATE webhook_endpoints SET fanned_out = (SELECT coalesce(max(id), 0)"
                " FROM events) WHERE endpoint IN (SELECT value FROM json_each(?))",
                [wanted],
            )
        rows = self.db.execute(
            f"SELECT {_EVENT}, d.endpoint, d.attempts, d.next_at FROM deliveries d"
            " JOIN events e ON e.id = d.event_id WHERE d.state = 'pending' AND d.next_at <= ?"
            " AND d.endpoint IN (SELECT value FROM json_each(?))"
            " AND d.event_id = (SELECT min(event_id) FROM deliveries o WHERE o.state = 'pending'"
            " AND o.endpoint = d.endpoint AND o.name = d.name) ORDER BY d.event_id LIMIT ?",
            [now, wanted, limit],
        ).fetchall()
        return [Delivery(_event(row), row[5], int(row[6]), float(row[7])) for row in rows]

    @_store_errors
    def deliveries(
        self, *, state: str | None = None, after: int = 0, limit: int = 100
    ) -> list[Delivery]:
        """Deliveries by event id, optionally of one ``state``."""
        rows = self.db.execute(
            f"SELECT {_EVENT}, d.endpoint, d.attempts, d.next_at, d.state, d.last_error"
            " FROM deliveries d JOIN events e ON e.id = d.event_id"
            " WHERE d.event_id > ?1 AND (?2 IS NULL OR d.state = ?2)"
            " ORDER BY d.event_id, d.endpoint LIMIT ?3",
            [after, state, limit],
        ).fetchall()
        return [
            Delivery(_event(row), row[5], int(row[6]), float(row[7]), row[8], row[9])
            for row in rows
        ]

    @_store_errors
    def delivery_done(self, event_id: int, endpoint: str) -> None:
        """Mark one delivery delivered."""
        self.db.execute(
            "UPDATE deliveries SET state = 'delivered', attempts = attempts + 1, last_error = NULL"
            " WHERE event_id = ? AND endpoint = ?",
            [event_id, endpoint],
        )

    @_store_errors
    def delivery_failed(
        self, event_id: int, endpoint: str, error: str, next_at: float | None
    ) -> None:
        """Count a failed attempt: retried at ``next_at``, or dead when it is ``None``."""
        self.db.execute(
            "UPDATE deliveries SET attempts = attempts + 1, last_error = ?1,"
            " state = CASE WHEN ?2 IS NULL THEN 'dead' ELSE 'pending' END,"
            " next_at = coalesce(?2, next_at) WHERE event_id = ?3 AND endpoint = ?4",
            [error, next_at, event_id, endpoint],
        )

    @_store_errors
    def prune(self, older_than: float) -> int:
        """Delete events older than ``older_than`` whose deliveries are all finished."""
        cursor = self.db.execute(
            "DELETE FROM events WHERE created_at < ? AND NOT EXISTS (SELECT 1 FROM deliveries"
            " d WHERE d.event_id = events.id AND d.state = 'pending')",
            [older_than],
        )
        return int(cursor.rowcount)
