"""The WebSocket endpoint ``/hocuspocus``, and the ones that tell a client where to go.

``/hocuspocus`` checks the Origin, then hands the socket to a
:class:`~collab.sessions.hocuspocus.HocuspocusSession` over the fast path when the server offers
it (``collab serve``), else over the portable ASGI path. Access is decided per document, when
its Auth message comes: the token it carries goes through the app's one access check (the
``authorize`` hook, or collab's tokens) as the socket's ``?token=`` and ``Authorization:
Bearer`` would (see :class:`TokenConn`).

A y-websocket client given ``ws://host/hocuspocus`` as its server URL connects to
``/hocuspocus/{room}``; a client given the bare server URL connects to ``/``: both are told in
the close reason which endpoint to use, logged once at info. Any other path has no endpoint:
HTTP 404 with a JSON error naming the endpoints (the ASGI denial-response extension, which
uvicorn offers), or, on a server without it, 4404 with the same words.
"""

from __future__ import annotations

import logging
from typing import Any

from starlette.datastructures import Headers, QueryParams
from starlette.responses import JSONResponse
from starlette.websockets import WebSocket

from collab.auth import origin_allowed
from collab.errors import CloseCode
from collab.sessions.access import Access
from collab.sessions.hocuspocus import WRONG_ENDPOINT, HocuspocusSession
from collab.sessions.wrong_protocol import log_wrong_protocol
from collab.transports.asgi import AsgiTransport
from collab.websocket import Serving
from collab.wsserver import DIRECT

__all__ = [
    "NO_ENDPOINT",
    "TokenConn",
    "hocuspocus_endpoint",
    "root_endpoint",
    "unknown_endpoint",
    "wrong_endpoint",
]

log = logging.getLogger("collab.hocuspocus")

NO_ENDPOINT = (
    "no WebSocket endpoint here: Hocuspocus providers connect to /hocuspocus,"
    " y-websocket clients to /sync/{name}"
)
"""The close reason for a WebSocket to ``/``."""


class TokenConn:
    """The socket as the access check sees it for one document: its Auth ``token`` as the
    ``token`` query parameter and an ``Authorization: Bearer`` header (replacing the socket's
    own); everything else is the socket's (``scope``, ``client``, ``cookies``...).

    Args:
        websocket: the ``/hocuspocus`` socket.
        token: the token of the document's Auth message (``""`` without one).
    """

    def __init__(self, websocket: WebSocket, token: str) -> None:
        self.websocket = websocket
        self.token = token
        params = [(k, v) for k, v in websocket.query_params.multi_items() if k != "token"]
        self.query_params = QueryParams([*params, ("token", token)] if token else params)
        raw = [(k, v) for k, v in websocket.headers.raw if k != b"authorization"]
        if token:
            raw.append((b"authorization", f"Bearer {token}".encode()))
        self.headers = Headers(raw=raw)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.websocket, name)


async def hocuspocus_endpoint(websocket: WebSocket) -> None:
    """Serve ``/hocuspocus``: many documents on one socket, each authorised by its Auth."""
    collab: Serving = websocket.app.state.collab
    hub = collab.hub
    await websocket.accept()
    if hub is None:
        log.error("collab is not started: enter `collab.lifespan()` in the app's lifespan")
        await websocket.close(CloseCode.INTERNAL_ERROR, "server not started")
        return
    client = websocket.client.host if websocket.client else None
    headers = websocket.headers
    allowed = collab.settings.allowed_origins
    if not origin_allowed(headers.get("origin"), headers.get("host"), allowed):
        hub.metrics.closes[CloseCode.FORBIDDEN] += 1
        extra = {"code": int(CloseCode.FORBIDDEN), "reason": "origin not allowed", "client": client}
        log.warning("refusing connection", extra=extra)
        await websocket.close(CloseCode.FORBIDDEN, "origin not allowed")
        return

    async def authorize(name: str, token: str) -> tuple[Access, object]:
        conn = TokenConn(websocket, token)
        access = await collab.authorizer.access(conn, name)
        return access, conn if collab.rechecks else None

    direct = websocket.scope.get("extensions", {}).get(DIRECT)
    transport: Any = (
        direct
        if direct is not None
        else AsgiTransport(websocket, collab.settings.max_message_bytes)
    )
    session = HocuspocusSession(transport, hub, collab.settings, authorize, client)
    log.info("hocuspocus socket opened", extra={"client": client})
    transport.detach(session)
    if direct is None:
        await transport.run()  # the ASGI path needs this task as long as the connection


async def wrong_endpoint(websocket: WebSocket) -> None:
    """``/hocuspocus/{room}``: a y-websocket client given ``/hocuspocus`` as its URL."""
    await _refuse(websocket, WRONG_ENDPOINT)


async def root_endpoint(websocket: WebSocket) -> None:
    """``/``: a client given the bare server URL (a Hocuspocus provider, usually)."""
    await _refuse(websocket, NO_ENDPOINT)


async def unknown_endpoint(websocket: WebSocket) -> None:
    """Any other path: no endpoint here. HTTP 404 with ``{"error": "not_found", "detail"}``
    when the server can answer the handshake with a response, else 4404 and the detail."""
    path = websocket.scope.get("path", "")
    detail = f"no WebSocket endpoint at {path}: " + NO_ENDPOINT.split(": ", 1)[1]
    if "websocket.http.response" in websocket.scope.get("extensions", {}):
        error = {"error": "not_found", "detail": detail}
        await websocket.send_denial_response(JSONResponse(error, status_code=404))
        return
    await websocket.accept()
    await websocket.close(CloseCode.NOT_FOUND, detail.encode()[:123].decode(errors="ignore"))


async def _refuse(websocket: WebSocket, reason: str) -> None:
    collab: Serving = websocket.app.state.collab
    await websocket.accept()
    if collab.hub is not None:
        collab.hub.metrics.closes[CloseCode.PROTOCOL_ERROR] += 1
    log_wrong_protocol(websocket.client.host if websocket.client else None, reason)
    await websocket.close(CloseCode.PROTOCOL_ERROR, reason)
