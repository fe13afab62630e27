"""Clients of the other protocol: a Hocuspocus provider on ``/sync/{name}``, or a y-websocket
client on ``/hocuspocus``: how one is recognised, the close reason it is given, and its log
(each told once: they retry forever)."""

from __future__ import annotations

import logging

from collab import protocol
from collab.protocol import ProtocolError

__all__ = [
    "HOCUSPOCUS_WRONG_ENDPOINT",
    "SYNC_WRONG_ENDPOINT",
    "is_y_websocket",
    "log_wrong_protocol",
]

log = logging.getLogger("collab.websocket")

SYNC_WRONG_ENDPOINT = (
    "this is the y-websocket endpoint: Hocuspocus providers connect to /hocuspocus"
)
"""The close reason for a Hocuspocus provider on ``/sync/{name}``."""

HOCUSPOCUS_WRONG_ENDPOINT = (
    "this is the Hocuspocus endpoint: y-websocket clients connect to /sync/{name}"
)
"""The close reason for a y-websocket client on ``/hocuspocus``."""

_told: dict[tuple[str | None, str], None] = {}
"""Clients already told they use the wrong endpoint (bounded, oldest forgotten first)."""


def log_wrong_protocol(who: str | None, reason: str) -> None:
    """Log a client of the other protocol (``who``: its address) once at info, its retries
    at debug: a provider retries forever, and each retry is no news."""
    key = (who, reason)
    if key in _told:
        log.debug("client of the other protocol again", extra={"client": who, "reason": reason})
        return
    _told[key] = None
    if len(_told) > 1024:
        del _told[next(iter(_told))]
    log.info("client of the other protocol", extra={"client": who, "reason": reason})


def is_y_websocket(frame: bytes) -> bool:
    """Whether ``frame`` reads as a y-websocket message (a client on the wrong endpoint)."""
    try:
        protocol.decode(frame)
    except ProtocolError:
        return False
    return True
