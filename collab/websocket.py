"""The WebSocket endpoint ``/sync/{name}``: admission, then a y-websocket session over the
fast path when the server offers it (``collab serve``), else over the portable ASGI path.

``CloseCode`` (every close code collab sends) lives in :mod:`collab.errors`; the session in
:mod:`collab.sessions.ywebsocket`.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from starlette.websockets import WebSocket

from collab.auth import host_allowed, origin_allowed
from collab.errors import CloseCode, CollabError, Refused
from collab.hub import Hub
from collab.names import parse_name, raw_route_path
from collab.sessions.access import Access, Authorizer
from collab.sessions.ywebsocket import Connection
from collab.settings import Settings
from collab.transports.asgi import AsgiTransport
from collab.wsserver import DIRECT

__all__ = ["CloseCode", "sync_endpoint"]

log = logging.getLogger("collab.websocket")


class Serving(Protocol):
    """What the endpoint needs of the ``Collab`` in ``app.state.collab``."""

    hub: Hub | None
    settings: Settings
    authorizer: Authorizer
    rechecks: bool  # keep each connection's WebSocket to check its access again
    check_host: bool  # refuse Host headers that name no name the server serves


async def sync_endpoint(websocket: WebSocket) -> None:
    """Serve ``/sync/{name}``: a y-websocket room per document name.

    The name is taken from the raw path below the mount point and decoded once by
    :func:`collab.names.parse_name`. The Origin, the name and the access are checked before
    any document data is sent; a refusal closes the connection after the handshake, so the
    client sees the reason.
    """
    collab: Serving = websocket.app.state.collab
    hub = collab.hub
    await websocket.accept()
    if hub is None:
        log.error("collab is not started: enter `collab.lifespan()` in the app's lifespan")
        await websocket.close(CloseCode.INTERNAL_ERROR, "server not started")
        return
    try:
        name, access = await _admit(
            websocket, collab.settings, collab.authorizer, check_host=collab.check_host
        )
    except CollabError as exc:
        hub.metrics.closes[exc.close_code] += 1
        client = websocket.client.host if websocket.client else None
        extra = {"code": int(exc.close_code), "reason": str(exc), "client": client}
        log.warning("refusing connection", extra=extra)
        await websocket.close(exc.close_code, str(exc)[:123])
        return
    direct = websocket.scope.get("extensions", {}).get(DIRECT)
    transport: Any = (
        direct
        if direct is not None
        else AsgiTransport(websocket, collab.settings.max_message_bytes)
    )
    connection = Connection(
        transport,
        hub,
        name,
        access,
        collab.settings,
        source=websocket if collab.rechecks else None,
        client=websocket.client.host if websocket.client else None,
    )
    log.info("connection opened", extra={"room": name, "peer": connection.id})
    await connection.open()
    if direct is None:
        await transport.run()  # the ASGI path needs this task as long as the connection


async def _admit(
    websocket: WebSocket, settings: Settings, authorizer: Authorizer, *, check_host: bool
) -> tuple[str, Access]:
    """Check Host, Origin, document name and access.

    Raises:
        CollabError: with the close code and reason (Refused, InvalidName, AuthError).
    """
    headers = websocket.headers
    if check_host and not host_allowed(headers.get("host"), settings.allowed_hosts, settings.host):
        raise Refused(CloseCode.FORBIDDEN, "host not allowed (DNS rebinding?): see --allowed-host")
    if not origin_allowed(headers.get("origin"), headers.get("host"), settings.allowed_origins):
        raise Refused(CloseCode.FORBIDDEN, "origin not allowed")
    path = raw_route_path(websocket.scope)
    name = parse_name(path.removeprefix("/sync").removeprefix("/"))
    return name, await authorizer.access(websocket, name)
