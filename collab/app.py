"""``create_app(settings)``: the Starlette application, its routes and its lifespan.

No globals: the store and the hub live in ``app.state`` for the lifetime of the app.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from collab import api
from collab.auth import host_allowed
from collab.hub import Hub
from collab.metrics import CONTENT_TYPE
from collab.settings import Settings
from collab.store import Store
from collab.websocket import sync_endpoint

__all__ = ["HostCheck", "WebAssetsMissing", "create_app", "web_dist"]

log = logging.getLogger("collab.app")


class WebAssetsMissing(RuntimeError):
    """The built web editor (``web/dist``) is missing."""


def web_dist(settings: Settings) -> Path:
    """The folder of the built web editor: the setting, or ``collab/web_dist``.

    In a checkout ``collab/web_dist`` is a symlink to ``web/dist``; in a wheel it holds a copy.
    """
    if settings.web_dist:
        return Path(settings.web_dist)
    return Path(__file__).resolve().parent / "web_dist"


def create_app(settings: Settings, *, require_web: bool = False) -> Starlette:
    """Build the application.

    Args:
        settings: the server settings.
        require_web: raise when the built editor is missing instead of serving without it.

    Raises:
        WebAssetsMissing: with ``require_web`` and no ``index.html`` in the web folder.
    """
    dist = web_dist(settings)
    index = dist / "index.html"
    if require_web and not index.is_file():
        raise WebAssetsMissing(
            f"the web editor is not built: {index} is missing. Run ./scripts/build-web "
            "(or `npm ci && npm run build` in web/), or point --web-dist at a built copy."
        )

    secret = settings.token_secret()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        store = Store(settings.db, synchronous=settings.synchronous, autocheckpoint=False)
        hub = Hub(store, settings)
        await hub.start()
        app.state.settings = settings
        app.state.hub = hub
        app.state.token_secret = secret
        log.info(
            "serving %s (schema version %d), auth %s",
            settings.db,
            store.schema_version(),
            "on" if secret else "off",
        )
        try:
            yield
        finally:
            await hub.close()

    async def healthz(request: Request) -> Response:
        hub: Hub = request.app.state.hub
        return JSONResponse({"status": "ok", "open_rooms": hub.open_rooms})

    async def metrics(request: Request) -> Response:
        hub: Hub = request.app.state.hub
        return Response(hub.metrics.render(), media_type=CONTENT_TYPE)

    async def editor(request: Request) -> Response:
        if not index.is_file():
            return JSONResponse(
                {"error": "web_not_built", "detail": "the web editor is not built"}, 404
            )
        return FileResponse(index)

    routes: list[Route | WebSocketRoute | Mount] = [
        WebSocketRoute("/sync", sync_endpoint),  # no name: refused with 4400 and a reason
        WebSocketRoute("/sync/{name:anypath}", sync_endpoint),
        Route("/healthz", healthz),
        Route("/metrics", metrics),
        *api.routes(),
        Route("/", editor),
        Route("/d/{name:path}", editor),
    ]
    if (dist / "assets").is_dir():
        routes.append(Mount("/assets", StaticFiles(directory=dist / "assets"), name="assets"))
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={404: api.http_error, 405: api.http_error},
    )
    app.add_middleware(HostCheck, allowed=settings.allowed_hosts, served=settings.host)
    return app


class HostCheck:
    """Answer HTTP requests whose ``Host`` is no name this server serves with 421 (see
    :func:`collab.auth.host_allowed`: DNS rebinding). WebSockets are checked by their endpoint,
    which closes them with 4403 and a reason.

    Args:
        app: the ASGI application.
        allowed: ``--allowed-host`` names.
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
