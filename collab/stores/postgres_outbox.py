"""The PostgreSQL outbox of document events (webhooks and the change feed): all of its SQL.

The same tables as the SQLite outbox (:mod:`collab.stores.sqlite_outbox`), created by
migration ``m002_outbox``: ``events`` (an identity id, never given twice: the feed's cursor and
the webhooks' idempotency key), ``webhook_endpoints``, ``deliveries`` and ``changes``. The
store writes ``document.created`` events and change marks in the statement that appends the
updates (``PostgresStore.append``), and ``document.deleted`` in the deletion's transaction
(:func:`deleted_in_transaction`); the methods here read them and move deliveries along, each
call one transaction on the store's connection.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

import psycopg

from collab.stores.outbox import DELETED, RENAMED, Delivery, Event
from collab.stores.postgres_connection import Connection

__all__ = [
    "PostgresOutbox",
    "create_tables",
    "deleted_in_transaction",
    "renamed_in_transaction",
]

_EVENT = "e.id, e.type, e.name, e.created_at, e.data"


def create_tables(conn: psycopg.Connection) -> None:
    """Create the outbox tables (a migration step)."""
    conn.execute(
        "CREATE TABLE events (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
        ' name text COLLATE "C" NOT NULL, type text NOT NULL,'
        " created_at double precision NOT NULL, data text NOT NULL)"
    )
    conn.execute(
        "CREATE TABLE webhook_endpoints (endpoint text PRIMARY KEY, fanned_out bigint NOT NULL)"
    )
    conn.execute(
        "CREATE TABLE deliveries (event_id bigint NOT NULL REFERENCES events (id)"
        ' ON DELETE CASCADE, endpoint text NOT NULL, name text COLLATE "C" NOT NULL,'
        " state text NOT NULL DEFAULT 'pending', attempts integer NOT NULL DEFAULT 0,"
        " next_at double precision NOT NULL, last_error text, PRIMARY KEY (event_id, endpoint))"
    )
    conn.execute("CREATE INDEX deliveries_due ON deliveries (state, endpoint, name, event_id)")
    conn.execute(
        'CREATE TABLE changes (name text COLLATE "C" PRIMARY KEY,'
        " marked_at double precision NOT NULL)"
    )


def add_in_transaction(
    conn: psycopg.Connection, name: str, type_: str, data: dict[str, Any], now: float
) -> None:
    """Insert one event inside the caller's transaction."""
    conn.execute(
        "INSERT INTO events (name, type, created_at, data) VALUES (%s, %s, %s, %s)",
        [name, type_, now, json.dumps(data, separators=(",", ":"))],
    )


def deleted_in_transaction(conn: psycopg.Connection, name: str, now: float) -> None:
    """``document.deleted`` for ``name``; a change not reported yet goes with the document."""
    conn.execute("DELETE FROM changes WHERE name = %s", [name])
    conn.execute(
        "INSERT INTO events (name, type, created_at, data) VALUES (%s, %s, %s, '{}')",
        [name, DELETED, now],
    )


def renamed_in_transaction(conn: psycopg.Connection, old: str, new: str, now: float) -> None:
    """``document.renamed`` (under the old name, with ``from`` and ``to``); a change not
    reported yet is the new name's."""
    conn.execute("UPDATE changes SET name = %s WHERE name = %s", [new, old])
    add_in_transaction(conn, old, RENAMED, {"from": old, "to": new}, now)


def _event(row: Sequence[Any]) -> Event:
    return Event(int(row[0]), row[1], row[2], float(row[3]), json.loads(row[4]))


class PostgresOutbox:
    """Events, webhook deliveries and change marks of one PostgreSQL collab database (the
    :class:`~collab.stores.outbox.EventOutbox` of a
    :class:`~collab.stores.postgres.PostgresStore`).

    Args:
        db: the store's connection.
    """

    def __init__(self, db: Connection) -> None:
        self.db = db

    def record(self, name: str, type_: str, data: dict[str, Any]) -> None:
        """Write one event now, in a transaction of its own."""
        with self.db.session("write an event") as conn:
            add_in_transaction(conn, name, type_, data, time.time())

    def events_after(self, cursor: int, limit: int) -> list[Event]:
        """Up to ``limit`` events with ids above ``cursor``, oldest first."""
        with self.db.session("read events") as conn:
            rows = conn.execute(
                f"SELECT {_EVENT} FROM events e WHERE e.id > %s ORDER BY e.id LIMIT %s",
                [cursor, limit],
            ).fetchall()
        return [_event(row) for row in rows]

    def last_event_id(self) -> int:
        """The newest event's id (0 when there is none)."""
        with self.db.session("read events") as conn:
            row = conn.execute("SELECT coalesce(max(id), 0) FROM events").fetchone()
        return int(row[0]) if row else 0

    def due_changes(self, marked_before: float) -> list[tuple[str, float]]:
        """``(name, marked_at)`` of documents changed before ``marked_before``, unreported."""
        with self.db.session("read changes") as conn:
            rows = conn.execute(
                "SELECT name, marked_at FROM changes WHERE marked_at <= %s"
                " ORDER BY marked_at, name",
                [marked_before],
            ).fetchall()
        return [(row[0], float(row[1])) for row in rows]

    def report_changes(self, changes: list[tuple[str, float, str, dict[str, Any]]]) -> int:
        """Turn change marks ``(name, marked_at, type, data)`` into events, in one
        transaction; how many were written (a mark gone or newer, the document deleted
        meanwhile, is skipped)."""
        written = 0
        with self.db.session("report changes") as conn, conn.transaction():
            now = time.time()
            for name, marked_at, type_, data in changes:
                if conn.execute(
                    "DELETE FROM changes WHERE name = %s AND marked_at = %s", [name, marked_at]
                ).rowcount:
                    conn.execute(
                        "INSERT INTO events (name, type, created_at, data) VALUES (%s, %s, %s, %s)",
                        [name, type_, now, json.dumps(data, separators=(",", ":"))],
                    )
                    written += 1
        return written

    def register_endpoints(self, endpoints: tuple[str, ...]) -> None:
        """A newly configured endpoint gets the events from now on (no backfill)."""
        with self.db.session("register endpoints") as conn:
            conn.execute(
                "INSERT INTO webhook_endpoints (endpoint, fanned_out) SELECT e,"
                " (SELECT coalesce(max(id), 0) FROM events) FROM unnest(%s::text[]) e"
                " ON CONFLICT (endpoint) DO NOTHING",
                [list(endpoints)],
            )

    def due_deliveries(self, endpoints: tuple[str, ...], now: float, limit: int) -> list[Delivery]:
        """Create the delivery rows of new events, then return the oldest pending delivery of
        each ``(endpoint, document)`` that is due by ``now``."""
        wanted = list(endpoints)
        with self.db.session("read deliveries") as conn:
            with conn.transaction():
                conn.execute(
                    "INSERT INTO deliveries (event_id, endpoint, name, next_at)"
                    " SELECT e.id, w.endpoint, e.name, e.created_at FROM webhook_endpoints w"
                    " JOIN events e ON e.id > w.fanned_out WHERE w.endpoint = ANY(%s)",
                    [wanted],
                )
                conn.execute(
                    "UPDATE webhook_endpoints SET fanned_out = (SELECT coalesce(max(id), 0)"
                    " FROM events) WHERE endpoint = ANY(%s)",
                    [wanted],
                )
            rows = conn.execute(
                f"SELECT {_EVENT}, d.endpoint, d.attempts, d.next_at FROM deliveries d"
                " JOIN events e ON e.id = d.event_id WHERE d.state = 'pending'"
                " AND d.next_at <= %s AND d.endpoint = ANY(%s)"
                " AND d.event_id = (SELECT min(event_id) FROM deliveries o"
                " WHERE o.state = 'pending' AND o.endpoint = d.endpoint AND o.name = d.name)"
                " ORDER BY d.event_id LIMIT %s",
                [now, wanted, limit],
            ).fetchall()
        return [Delivery(_event(row), row[5], int(row[6]), float(row[7])) for row in rows]

    def deliveries(
        self, *, state: str | None = None, after: int = 0, limit: int = 100
    ) -> list[Delivery]:
        """Deliveries by event id, optionally of one ``state``."""
        with self.db.session("read deliveries") as conn:
            rows = conn.execute(
                f"SELECT {_EVENT}, d.endpoint, d.attempts, d.next_at, d.state, d.last_error"
                " FROM deliveries d JOIN events e ON e.id = d.event_id"
                " WHERE d.event_id > %(after)s"
                " AND (%(state)s::text IS NULL OR d.state = %(state)s)"
                " ORDER BY d.event_id, d.endpoint LIMIT %(limit)s",
                {"after": after, "state": state, "limit": limit},
            ).fetchall()
        return [
            Delivery(_event(row), row[5], int(row[6]), float(row[7]), row[8], row[9])
            for row in rows
        ]

    def delivery_done(self, event_id: int, endpoint: str) -> None:
        """Mark one delivery delivered."""
        with self.db.session("update a delivery") as conn:
            conn.execute(
                "UPDATE deliveries SET state = 'delivered', attempts = attempts + 1,"
                " last_error = NULL WHERE event_id = %s AND endpoint = %s",
                [event_id, endpoint],
            )

    def delivery_failed(
        self, event_id: int, endpoint: str, error: str, next_at: float | None
    ) -> None:
        """Count a failed attempt: retried at ``next_at``, or dead when it is ``None``."""
        with self.db.session("update a delivery") as conn:
            conn.execute(
                "UPDATE deliveries SET attempts = attempts + 1, last_error = %(error)s,"
                " state = CASE WHEN %(next)s::float8 IS NULL THEN 'dead' ELSE 'pending' END,"
                " next_at = coalesce(%(next)s, next_at)"
                " WHERE event_id = %(event)s AND endpoint = %(endpoint)s",
                {"error": error, "next": next_at, "event": event_id, "endpoint": endpoint},
            )

    def prune(self, older_than: float) -> int:
        """Delete events older than ``older_than`` whose deliveries are all finished."""
        with self.db.session("prune events") as conn:
            cursor = conn.execute(
                "DELETE FROM events WHERE created_at < %s AND NOT EXISTS (SELECT 1 FROM"
                " deliveries d WHERE d.event_id = events.id AND d.state = 'pending')",
                [older_than],
            )
        return int(cursor.rowcount)
