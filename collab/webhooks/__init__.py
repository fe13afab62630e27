"""Webhooks and the change feed: document events from the store's outbox, delivered signed."""

from collab.stores.outbox import EVENT_TYPES, Delivery, Event
from collab.webhooks.signature import SIGNATURE_HEADER, InvalidSignature, sign, verify

__all__ = [
    "EVENT_TYPES",
    "SIGNATURE_HEADER",
    "Delivery",
    "Event",
    "InvalidSignature",
    "sign",
    "verify",
]
