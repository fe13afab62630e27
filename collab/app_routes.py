"""The Starlette app of a :class:`collab.app.Collab`: the WebSocket endpoints, the HTTP API,
the change feed, health and metrics, and the web editor's pages (its styled 404 included)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles

from collab import api
from collab.errors import CollabError
from collab.hocuspocus_endpoint import (
    hocuspocus_endpoint,
    root_endpoint,
    unknown_endpoint,
    wrong_endpoint,
)
from collab.hostcheck import HostCheck
from collab.metrics import CONTENT_TYPE
from collab.names import InvalidName, raw_route_path
from collab.settings import Settings
from collab.stores import StoreError
from collab.webhooks import feed
from collab.websocket import Serving, sync_endpoint

__all__ = ["NotStarted", "WebAssetsMissing", "build_app", "web_dist"]

_PING_SECONDS = 10.0
"""How long /healthz waits for a database server to answer before it reports it down."""


class WebAssetsMissing(RuntimeError):
    """The built web editor (``web/dist``) is missing."""


class NotStarted(CollabError):
    """``collab.lifespan()`` is not running: nothing can be served or edited yet."""

    http_status = 503
    code = "not_started"


def web_dist(settings: Settings) -> Path:
    """The folder of the built web editor: the setting, or ``collab/web_dist``.

    In a checkout ``collab/web_dist`` is a symlink to ``web/dist``; in a wheel it holds a copy.
    """
    if settings.web_dist:
        return Path(settings.web_dist)
    return Path(__file__).resolve().parent / "web_dist"


def check_web(settings: Settings) -> None:
    """Check that the built web editor is there (``collab serve`` does so before it opens
    the database).

    Raises:
        WebAssetsMissing: no ``index.html`` in the web folder, saying how to build it.
    """
    index = web_dist(settings) / "index.html"
    if not index.is_file():
        raise WebAssetsMissing(
            f"the web editor is not built: {index} is missing. Run ./scripts/build-web "
            "(or `npm ci && npm run build` in web/), or point --web-dist at a built copy."
        )


def build_app(collab: Serving, lifespan: Callable[[Any], Any], require_web: bool) -> Starlette:
    """The app serving ``collab`` (set as its ``app.state.collab``), running ``lifespan``.

    Raises:
        WebAssetsMissing: with ``require_web`` and no ``index.html`` in the web folder.
    """
    dist = web_dist(collab.settings)
    index = dist / "index.html"
    if require_web:
        check_web(collab.settings)

    async def healthz(request: Request) -> Response:
        hub = collab.hub
        if hub is None:
            return api.error_response(NotStarted("collab is not started"))
        ping = getattr(hub.store, "ping", None)  # a database server: is it reachable?
        if ping is not None:
            try:
                await asyncio.wait_for(asyncio.to_thread(ping), _PING_SECONDS)
            except (StoreError, TimeoutError) as exc:
                reason = str(exc) or f"no answer from the database in {_PING_SECONDS:g} s"
                detail = {"error": "database_unreachable", "detail": reason}
                return JSONResponse({"status": "unavailable", **detail}, 503)
        failing = hub.committer.storage.reported  # until a commit succeeds again
        if failing is not None:
            detail = {"error": "storage_failing", "detail": f"the last commit failed: {failing}"}
            return JSONResponse({"status": "unavailable", **detail}, 503)
        body: dict[str, object] = {"status": "ok", "open_rooms": hub.open_rooms}
        if hub.cluster is not None:
            bus = hub.cluster.bus
            body["node"] = bus.node
            if not bus.healthy:
                body.update(status="unavailable", error="bus_unavailable", detail=bus.reason)
                return JSONResponse(body, 503)
        return JSONResponse(body)

    async def metrics(request: Request) -> Response:
        hub = collab.hub
        if hub is None:
            return api.error_response(NotStarted("collab is not started"))
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
        """A browser asking for a page that does not exist gets the editor's styled 404
        page (the page routes on its path and says so) with status 404; others get the
        API's answer."""
        accepts_html = "text/html" in request.headers.get("accept", "")
        try:
            api_path = raw_route_path(request.scope).startswith("/api/")
        except InvalidName:
            api_path = False
        if accepts_html and not api_path and index.is_file():
            return FileResponse(index, status_code=404)
        return await api.http_error(request, exc)

    routes: list[Route | WebSocketRoute | Mount] = [
        WebSocketRoute("/sync", sync_endpoint),  # no name: refused with 4400 and a reason
        WebSocketRoute("/sync/{name:anypath}", sync_endpoint),
        WebSocketRoute("/hocuspocus", hocuspocus_endpoint),
        WebSocketRoute("/hocuspocus/{name:anypath}", wrong_endpoint),
        WebSocketRoute("/", root_endpoint),
        WebSocketRoute("/{path:anypath}", unknown_endpoint),  # 404 (not Starlette's 403)
        Route("/healthz", healthz),
        Route("/metrics", metrics),
        *api.routes(),
        *feed.routes(),
        Route("/", editor),
        Route("/d/{name:path}", editor),
        Route("/favicon.ico", icon),
        Route("/favicon.svg", icon),
    ]
    if (dist / "assets").is_dir():
        routes.append(Mount("/assets", StaticFiles(directory=dist / "assets"), name="assets"))
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={404: not_found, 405: api.http_error},
    )
    app.state.collab = collab
    app.state.settings = collab.settings
    if collab.check_host:
        app.add_middleware(
            HostCheck, allowed=collab.settings.allowed_hosts, served=collab.settings.host
        )
    return app
