"""Clients of the other protocol: a Hocuspocus provider on ``/sync/{name}``, or a y-websocket
client on ``/hocuspocus``, each told once in the log (they retry forever)."""

from __future__ import annotations

import logging

__all__ = ["WRONG_ENDPOINT", "log_wrong_protocol"]

log = logging.getLogger("collab.websocket")

WRONG_ENDPOINT = "this is the y-websocket endpoint: Hocuspocus providers connect to /hocuspocus"
"""The close reason for a Hocuspocus provider on ``/sync/{name}``."""

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
