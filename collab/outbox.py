"""The SQLite outbox of document events (webhooks and the change feed): the only SQL of it.

Tables (migration ``m005_outbox`` of :mod:`collab.store`):

* ``events``: ``id`` (AUTOINCREMENT: never given twice, the feed's cursor), ``name``,
  ``type``, ``created_at`` and ``data`` (JSON).
* ``deliveries``: one row per event and webhook endpoint: ``state`` (``pending``,
  ``delivered``, ``dead``), ``attempts``, ``next_at``, ``last_error``.
* ``changes``: documents changed since their last ``document.changed`` event and when the
  first of those changes was committed (``marked_at``): written in the commit's transaction,
  so a crash neither loses nor invents a change event (:meth:`Outbox.due_changes`).

Every method runs inside the caller's transaction when there is one (the store opens it);
methods are blocking and called from the store's one thread.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from typing import Any

from sqlite_utils import Database

from collab.webhooks.events import CREATED, DELETED, Delivery, Event

__all__ = ["Outbox", "create_tables"]

_EVENT_COLUMNS = "e.id, e.type, e.name, e.created_at, e.data"


def create_tables(db: Database) -> None:
    """Create the outbox tables (a migration step)."""
    db.execute(
        "CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL,"
        " type TEXT NOT NULL, created_at FLOAT NOT NULL, data TEXT NOT NULL)"
    )
    db.execute("CREATE INDEX events_name ON events (name, id)")
    db.execute(
        "CREATE TABLE deliveries (event_id INTEGER NOT NULL REFERENCES events (id)"
        " ON DELETE CASCADE, endpoint TEXT NOT NULL, name TEXT NOT NULL,"
        " state TEXT NOT NULL DEFAULT 'pending', attempts INTEGER NOT NULL DEFAULT 0,"
        " next_at FLOAT NOT NULL, last_error TEXT, PRIMARY KEY (event_id, endpoint))"
    )
    db.execute("CREATE INDEX deliveries_due ON deliveries (state, endpoint, name, event_id)")
    db.execute("CREATE TABLE changes (name TEXT PRIMARY KEY, marked_at FLOAT NOT NULL)")


def _event(row: Sequence[Any]) -> Event:
    return Event(int(row[0]), row[1], row[2], float(row[3]), json.loads(row[4]))


class Outbox:
    """Events, their deliveries and the change marks, on the store's connection.

    Args:
        db: the store's database (its one connection).
        endpoints: webhook URLs that get a delivery row for each new event.
    """

    def __init__(self, db: Database, endpoints: Sequence[str] = ()) -> None:
        self.db = db
        self.endpoints = tuple(endpoints)
        # Names whose `changes` row is known to exist: later commits need not write it again.
        self._marked: set[str] | None = None

    # -- written in the store's transactions -------------------------------------------------

    def unmarked(self, names: Iterable[str]) -> list[str]:
        """Those of ``names`` whose change is not recorded yet (a commit must mark them)."""
        if self._marked is None:
            rows = self.db.execute("SELECT name FROM changes").fetchall()
            self._marked = {row[0] for row in rows}
        return [name for name in names if name not in self._marked]

    def mark_changed(self, names: Sequence[str], now: float) -> None:
        """Record that ``names`` changed (call inside the commit's transaction)."""
        self.db.execute(
            "INSERT INTO changes (name, marked_at) SELECT value, ? FROM json_each(?)"
            " WHERE true ON CONFLICT(name) DO NOTHING",
            [now, json.dumps(list(names))],
        )

    def committed_marks(self, names: Iterable[str]) -> None:
        """The transaction that marked ``names`` committed."""
        if self._marked is not None:
            self._marked.update(names)

    def add(self, name: str, type_: str, data: dict[str, Any], now: float) -> int:
        """Insert one event and its deliveries (inside the caller's transaction); its id."""
        cursor = self.db.execute(
            "INSERT INTO events (name, type, created_at, data) VALUES (?, ?, ?, ?)",
            [name, type_, now, json.dumps(data, separators=(",", ":"))],
        )
        event_id = int(cursor.lastrowid or 0)
        if self.endpoints:
            self.db.execute(
                "INSERT INTO deliveries (event_id, endpoint, name, next_at)"
                " SELECT ?, value, ?, ? FROM json_each(?)",
                [event_id, name, now, json.dumps(self.endpoints)],
            )
        return event_id

    def created(self, names: Sequence[str], now: float) -> None:
        """``document.created`` events for ``names`` (inside the creating transaction)."""
        for name in names:
            self.add(name, CREATED, {}, now)

    def deleted(self, name: str, now: float) -> None:
        """A ``document.deleted`` event; a change not reported yet is dropped with it."""
        self.db.execute("DELETE FROM changes WHERE name = ?", [name])
        if self._marked is not None:
            self._marked.discard(name)
        self.add(name, DELETED, {}, now)

    # -- debounced change events -------------------------------------------------------------

    def due_changes(self, marked_before: float) -> list[tuple[str, float]]:
        """``(name, marked_at)`` of documents changed before ``marked_before`` and not
        reported yet."""
        rows = self.db.execute(
            "SELECT name, marked_at FROM changes WHERE marked_at <= ? ORDER BY marked_at",
            [marked_before],
        ).fetchall()
        return [(row[0], float(row[1])) for row in rows]

    def report_change(self, name: str, marked_at: float, type_: str, data: dict[str, Any]) -> bool:
        """Turn the change mark of ``name`` into an event, in one transaction; ``False`` when
        the mark is gone (the document was deleted meanwhile)."""
        with self.db.atomic():
            gone = self.db.execute(
                "DELETE FROM changes WHERE name = ? AND marked_at = ?", [name, marked_at]
            ).rowcount
            if not gone:
                return False
            self.add(name, type_, data, time.time())
        if self._marked is not None:
            self._marked.discard(name)
        return True

    # -- reading -----------------------------------------------------------------------------

    def events_after(self, cursor: int, limit: int) -> list[Event]:
        """Up to ``limit`` events with ids above ``cursor``, oldest first."""
        rows = self.db.execute(
            f"SELECT {_EVENT_COLUMNS} FROM events e WHERE e.id > ? ORDER BY e.id LIMIT ?",
            [cursor, limit],
        ).fetchall()
        return [_event(row) for row in rows]

    def last_event_id(self) -> int:
        """The newest event's id (0 when there is none)."""
        row = self.db.execute("SELECT coalesce(max(id), 0) FROM events").fetchone()
        return int(row[0])

    def due_deliveries(self, now: float, limit: int) -> list[Delivery]:
        """The oldest pending delivery of each ``(endpoint, document)``, when it is due."""
        rows = self.db.execute(
            f"SELECT {_EVENT_COLUMNS}, d.endpoint, d.attempts, d.next_at FROM deliveries d"
            " JOIN events e ON e.id = d.event_id WHERE d.state = 'pending' AND d.next_at <= ?"
            " AND d.event_id = (SELECT min(event_id) FROM deliveries o WHERE o.state = 'pending'"
            " AND o.endpoint = d.endpoint AND o.name = d.name) ORDER BY d.event_id LIMIT ?",
            [now, limit],
        ).fetchall()
        return [Delivery(_event(row), row[5], int(row[6]), float(row[7])) for row in rows]

    def deliveries(
        self, *, state: str | None = None, after: int = 0, limit: int = 100
    ) -> list[Delivery]:
        """Deliveries by event id (``state`` filters), for ``GET /api/webhooks/deliveries``."""
        where, params = ["d.event_id > ?"], [after]
        if state is not None:
            where.append("d.state = ?")
            params.append(state)  # type: ignore[arg-type]
        rows = self.db.execute(
            f"SELECT {_EVENT_COLUMNS}, d.endpoint, d.attempts, d.next_at, d.state, d.last_error"
            " FROM deliveries d JOIN events e ON e.id = d.event_id WHERE "
            + " AND ".join(where)
            + " ORDER BY d.event_id, d.endpoint LIMIT ?",
            [*params, limit],
        ).fetchall()
        return [
            Delivery(_event(row), row[5], int(row[6]), float(row[7]), row[8], row[9])
            for row in rows
        ]

    def delivery_done(self, event_id: int, endpoint: str) -> None:
        """Mark one delivery delivered."""
        self.db.execute(
            "UPDATE deliveries SET state = 'delivered', last_error = NULL"
            " WHERE event_id = ? AND endpoint = ?",
            [event_id, endpoint],
        )

    def delivery_failed(
        self, event_id: int, endpoint: str, error: str, next_at: float | None
    ) -> None:
        """Count a failed attempt: retried at ``next_at``, or dead when it is ``None``."""
        self.db.execute(
            "UPDATE deliveries SET attempts = attempts + 1, last_error = ?,"
            " state = CASE WHEN ? IS NULL THEN 'dead' ELSE 'pending' END,"
            " next_at = coalesce(?, next_at) WHERE event_id = ? AND endpoint = ?",
            [error, next_at, next_at, event_id, endpoint],
        )

    def prune(self, older_than: float) -> int:
        """Delete events older than ``older_than`` whose deliveries are all finished."""
        cursor = self.db.execute(
            "DELETE FROM events WHERE created_at < ? AND NOT EXISTS (SELECT 1 FROM deliveries"
            " d WHERE d.event_id = events.id AND d.state = 'pending')",
            [older_than],
        )
        return int(cursor.rowcount)
