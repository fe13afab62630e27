"""``create_app(settings)``: the Starlette application, its routes and its lifespan.

No globals: the store and the hub live in ``app.state`` for the lifetime of the app.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles

from collab import api
from collab.hub import Hub
from collab.metrics import CONTENT_TYPE
from collab.settings import Settings
from collab.stores import DocumentStore, SQLiteStore
from collab.websocket import sync_endpoint

__all__ = ["WebAssetsMissing", "create_app", "open_store", "web_dist"]

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


def open_store(settings: Settings) -> SQLiteStore:
    """The SQLite store of ``settings.db``, locked for this process (the hub checkpoints it).

    Raises:
        DatabaseInUse: another process serves the file (the message names its pid).
        StoreError: the file cannot be opened or migrated.
    """
    return SQLiteStore(
        settings.db, synchronous=settings.synchronous, autocheckpoint=False, lock=True
    )


def create_app(
    settings: Settings, *, require_web: bool = False, store: DocumentStore | None = None
) -> Starlette:
    """Build the application.

    Args:
        settings: the server settings.
        require_web: raise when the built editor is missing instead of serving without it.
        store: the opened store (closed with the app); by default the SQLite file
            ``settings.db``, opened when the app starts, refused when another process has it.

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
        hub = Hub(store or open_store(settings), settings)
        await hub.start()
        app.state.settings = settings
        app.state.hub = hub
        app.state.token_secret = secret
        log.info(
            "serving %s (schema version %d), auth %s",
            Path(settings.db).absolute(),
            hub.store.schema_version(),
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

    async def icon(request: Request) -> Response:
        path = dist / request.url.path.lstrip("/")
        if not path.is_file():
            return await not_found(request, HTTPException(404))
        return FileResponse(path, headers={"Cache-Control": "public, max-age=86400"})

    async def not_found(request: Request, exc: Exception) -> Response:
        """A browser asking for a page that does not exist gets the editor's styled 404 page
        (the page routes on its path and says so), with status 404; others get api's answer."""
        accepts_html = "text/html" in request.headers.get("accept", "")
        if accepts_html and not request.url.path.startswith("/api/") and index.is_file():
            return FileResponse(index, status_code=404)
        return await api.http_error(request, exc)

    routes: list[Route | WebSocketRoute | Mount] = [
        WebSocketRoute("/sync", sync_endpoint),  # no name: refused with 4400 and a reason
        WebSocketRoute("/sync/{name:anypath}", sync_endpoint),
        Route("/healthz", healthz),
        Route("/metrics", metrics),
        *api.routes(),
        Route("/", editor),
        Route("/d/{name:path}", editor),
        Route("/favicon.ico", icon),
        Route("/favicon.svg", icon),
    ]
    if (dist / "assets").is_dir():
        routes.append(Mount("/assets", StaticFiles(directory=dist / "assets"), name="assets"))
    return Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={404: not_found, 405: api.http_error},
    )
