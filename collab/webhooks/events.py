"""Document events: what the outbox stores, the change feed returns and webhooks deliver."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "CREATED",
    "DELETED",
    "CHANGED",
    "EVENT_TYPES",
    "RESTORED",
    "VERSION_CREATED",
    "Delivery",
    "Event",
]

CREATED = "document.created"
CHANGED = "document.changed"
DELETED = "document.deleted"
VERSION_CREATED = "version.created"
RESTORED = "document.restored"
EVENT_TYPES = (CREATED, CHANGED, DELETED, VERSION_CREATED, RESTORED)


@dataclass(frozen=True, slots=True)
class Event:
    """One stored event.

    Attributes:
        id: the outbox id: increasing, the change feed's cursor and the idempotency key.
        type: one of :data:`EVENT_TYPES`.
        document: the document name.
        created_at: Unix seconds.
        data: the type's fields (``document.changed``: ``state_vector`` (base64),
            ``size_bytes``, and ``text`` when the text export is asked for).
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
            "created_at": datetime.fromtimestamp(self.created_at, UTC).isoformat(),
            "data": self.data,
        }

    def body(self) -> bytes:
        """The exact bytes POSTed to an endpoint (and signed)."""
        return json.dumps(self.payload(), separators=(",", ":"), sort_keys=True).encode()


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
