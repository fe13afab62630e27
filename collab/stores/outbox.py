"""Document events: what a store's outbox keeps, the change feed returns and webhooks deliver.

:class:`EventOutbox` is the part of the storage seam that webhooks and the change feed use;
:class:`collab.stores.sqlite_outbox.SQLiteOutbox` implements it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

__all__ = [
    "CHANGED",
    "CREATED",
    "DELETED",
    "EVENT_TYPES",
    "RENAMED",
    "RESTORED",
    "VERSION_CREATED",
    "Delivery",
    "Event",
    "EventOutbox",
    "version_event",
]

CREATED = "document.created"
CHANGED = "document.changed"
DELETED = "document.deleted"
VERSION_CREATED = "version.created"
RESTORED = "document.restored"
RENAMED = "document.renamed"
EVENT_TYPES = (CREATED, CHANGED, DELETED, VERSION_CREATED, RESTORED, RENAMED)


@dataclass(frozen=True, slots=True)
class Event:
    """One stored event.

    Attributes:
        id: the outbox id: increasing, the change feed's cursor and the idempotency key.
        type: one of :data:`EVENT_TYPES`.
        document: the document name.
        created_at: Unix seconds.
        data: the type's fields (``document.changed``: ``state_vector`` (base64),
            ``size_bytes``, and ``text`` when the text export is asked for;
            ``document.renamed``: ``from`` and ``to``, the old and new names, with
            ``document`` the old name).
    """

    id: int
    type: str
    document: str
    created_at: float
    data: dict[str, Any]

    @property
    def key(self) -> str:
        """The event id as receivers see it (``evt_<id>``)."""
        return f"evt_{self.id}"

    def payload(self) -> dict[str, Any]:
        """The JSON object sent to webhooks and returned by the change feed."""
        return {
            "id": self.key,
            "cursor": self.id,
            "type": self.type,
            "document": self.document,
            "created_at": datetime.fromtimestamp(self.created_at, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "data": self.data,
        }

    def body(self) -> bytes:
        """The exact bytes POSTed to an endpoint (and signed)."""
        return json.dumps(self.payload(), separators=(",", ":"), sort_keys=True).encode()


def version_event(version: Any) -> dict[str, Any]:
    """The ``data`` of a ``version.created`` event for a :class:`VersionRecord`: its id,
    label, author and whether it was automatic."""
    return {
        "version": version.id,
        "label": version.label,
        "author": version.author,
        "automatic": version.automatic,
    }


@dataclass(frozen=True, slots=True)
class Delivery:
    """One event waiting for one endpoint.

    Attributes:
        event: the event.
        endpoint: the receiver URL.
        attempts: failed attempts so far.
        next_at: Unix seconds of the next attempt.
        state: ``pending``, ``delivered`` or ``dead`` (gave up after the retry window).
        last_error: why the last attempt failed, if one did.
    """

    event: Event
    endpoint: str
    attempts: int
    next_at: float
    state: str = "pending"
    last_error: str | None = None


class EventOutbox(Protocol):
    """A store's events, their webhook deliveries and the documents' change marks.

    Blocking methods, called on the store's thread. Events are written by the store itself in
    the transactions that cause them (``document.created`` with the first update,
    ``document.deleted`` with the deletion, a change mark with every commit); these methods
    read them and move deliveries along.
    """

    def record(self, name: str, type_: str, data: dict[str, Any]) -> None:
        """Write one event now, in a transaction of its own (an event whose cause is already
        committed, such as ``document.restored`` after the restore's update)."""

    def events_after(self, cursor: int, limit: int) -> list[Event]:
        """Up to ``limit`` events with ids above ``cursor``, oldest first."""

    def last_event_id(self) -> int:
        """The newest event's id (0 when there is none)."""

    def due_changes(self, marked_before: float) -> list[tuple[str, float]]:
        """``(name, marked_at)`` of documents changed before ``marked_before``, unreported."""

    def report_changes(self, changes: list[tuple[str, float, str, dict[str, Any]]]) -> int:
        """Turn change marks ``(name, marked_at, type, data)`` into events, all in one
        transaction; how many were written (a mark gone or newer is skipped)."""

    def register_endpoints(self, endpoints: tuple[str, ...]) -> None:
        """Webhook endpoints now configured: a new one gets the events from now on."""

    def due_deliveries(self, endpoints: tuple[str, ...], now: float, limit: int) -> list[Delivery]:
        """The oldest pending delivery of each ``(endpoint, document)``, when due by ``now``."""

    def deliveries(
        self, *, state: str | None = None, after: int = 0, limit: int = 100
    ) -> list[Delivery]:
        """Deliveries by event id, optionally of one ``state``."""

    def delivery_done(self, event_id: int, endpoint: str) -> None:
        """Mark a delivery delivered."""

    def delivery_failed(
        self, event_id: int, endpoint: str, error: str, next_at: float | None
    ) -> None:
        """Count a failed attempt: retried at ``next_at``, dead when it is ``None``."""

    def prune(self, older_than: float) -> int:
        """Delete events older than ``older_than`` whose deliveries are all finished."""
