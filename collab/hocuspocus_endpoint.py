"""The Starlette WebSocket endpoints ``/hocuspocus`` and the ones that say where to go.

``/hocuspocus`` hands the socket to a :class:`~collab.hocuspocus_session.HocuspocusSession`
once the Origin is checked (tokens come later, one per document, in Auth messages). A
y-websocket client given ``ws://host/hocuspocus`` as its server URL connects to
``/hocuspocus/{room}``; a client given the bare server URL connects to ``/``: both are told in
the close reason which endpoint to use, logged once at info.
"""

from __future__ import annotations

import logging

from starlette.websockets import WebSocket

from collab.auth import origin_allowed
from collab.errors import CloseCode
from collab.hocuspocus_session import WRONG_ENDPOINT, HocuspocusSession
from collab.hub import Hub
from collab.settings import Settings
from collab.websocket import log_wrong_protocol
from collab.wsserver import DIRECT

__all__ = ["NO_ENDPOINT", "hocuspocus_endpoint", "root_endpoint", "wrong_endpoint"]

log = logging.getLogger("collab.hocuspocus")

NO_ENDPOINT = (
    "no WebSocket endpoint here: Hocuspocus providers connect to /hocuspocus,"
    " y-websocket clients to /sync/{name}"
)
"""The close reason for a WebSocket to ``/``."""


async def hocuspocus_endpoint(websocket: WebSocket) -> None:
    """Serve ``/hocuspocus``: many documents on one socket, each authorised by its Auth."""
    hub: Hub = websocket.app.state.hub
    settings: Settings = websocket.app.state.settings
    await websocket.accept()
    direct = websocket.scope.get("extensions", {}).get(DIRECT)
    if direct is None:
        log.error("the server does not offer %s: run collab with `collab serve`", DIRECT)
        await websocket.close(CloseCode.INTERNAL_ERROR, "server misconfigured")
        return
    client = websocket.client.host if websocket.client else None
    headers = websocket.headers
    if not origin_allowed(headers.get("origin"), headers.get("host"), settings.allowed_origins):
        hub.metrics.closes[CloseCode.FORBIDDEN] += 1
        log.warning("refusing connection", extra={"code": 4403, "reason": "origin not allowed"})
        await websocket.close(CloseCode.FORBIDDEN, "origin not allowed")
        return
    on_stateless = getattr(websocket.app.state, "on_stateless", None)
    secret: str = websocket.app.state.token_secret
    session = HocuspocusSession(direct, hub, settings, secret, on_stateless, client)
    log.info("hocuspocus socket opened", extra={"client": client})
    direct.detach(session)


async def wrong_endpoint(websocket: WebSocket) -> None:
    """``/hocuspocus/{room}``: a y-websocket client given ``/hocuspocus`` as its URL."""
    await _refuse(websocket, WRONG_ENDPOINT)


async def root_endpoint(websocket: WebSocket) -> None:
    """``/``: a client given the bare server URL (a Hocuspocus provider, usually)."""
    await _refuse(websocket, NO_ENDPOINT)


async def _refuse(websocket: WebSocket, reason: str) -> None:
    hub: Hub = websocket.app.state.hub
    await websocket.accept()
    hub.metrics.closes[CloseCode.PROTOCOL_ERROR] += 1
    log_wrong_protocol(websocket.client.host if websocket.client else None, reason)
    await websocket.close(CloseCode.PROTOCOL_ERROR, reason)
