"""ASGI middleware answering requests whose ``Host`` names no name the server serves (421).

See :func:`collab.auth.host_allowed` (DNS rebinding). WebSockets are checked by their
endpoint, which closes them with 4403 and a reason the client can read.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from collab.auth import host_allowed

__all__ = ["HostCheck"]


class HostCheck:
    """Refuse HTTP requests for a host name this server does not serve.

    Args:
        app: the ASGI application.
        allowed: ``--allowed-host`` names (``*``: any).
        served: the ``--host`` the server listens on.
    """

    def __init__(self, app: ASGIApp, allowed: tuple[str, ...], served: str) -> None:
        self.app = app
        self.allowed = allowed
        self.served = served

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            host = Headers(scope=scope).get("host")
            if not host_allowed(host, self.allowed, self.served):
                detail = f"host {host!r} is not served here (add it with --allowed-host)"
                response = JSONResponse({"error": "misdirected", "detail": detail}, 421)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
