"""``Collab``: the public object that serves collab, standalone or inside another ASGI app.

``Collab(settings)`` builds everything but starts nothing; ``collab.lifespan()`` opens the
store and starts the hub (the standalone ``collab.app`` runs it itself; a host app that
mounts ``collab.app`` enters it from its own lifespan, since Starlette does not run a mounted
app's lifespan). ``collab serve`` is ``Collab`` under uvicorn with the fast WebSocket path.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

from pycrdt import Doc
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles

from collab import api
from collab.bus import Bus, RedisBus
from collab.errors import AuthError, CollabError
from collab.history.versions import Versions
from collab.hocuspocus_endpoint import (
    hocuspocus_endpoint,
    root_endpoint,
    unknown_endpoint,
    wrong_endpoint,
)
from collab.hostcheck import HostCheck
from collab.hub import ChangeHook, ConnectHook, DeleteHook, Hooks, Hub, StatelessHook
from collab.integrator import apply_all
from collab.metrics import CONTENT_TYPE
from collab.names import InvalidName, raw_route_path, validate_name
from collab.sessions.access import (
    AuthorizeHook,
    Authorizer,
    HookAccess,
    OpenAccess,
    TokenAccess,
)
from collab.sessions.hocuspocus_channel import broadcast_stateless
from collab.sessions.ywebsocket import Connection
from collab.settings import Settings
from collab.stores import DocumentStore, SQLiteStore, StoreError
from collab.stores.dsn import is_postgres, masked
from collab.updates import EMPTY_UPDATE
from collab.webhooks import feed
from collab.webhooks.service import Webhooks
from collab.websocket import sync_endpoint

__all__ = ["Collab", "NotStarted", "WebAssetsMissing", "create_app", "open_store", "web_dist"]

log = logging.getLogger("collab.app")

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


def store_name(store: DocumentStore, settings: Settings) -> str:
    """What the log calls a store: an SQLite file by its absolute path (a relative ``--db``
    starts from the current folder, easy to get wrong), PostgreSQL by its URL without the
    password, any other store by its class."""
    if isinstance(store, SQLiteStore):
        return str(store.path.absolute())
    if is_postgres(settings.db) and type(store).__name__ == "PostgresStore":
        return masked(settings.db)
    return type(store).__name__


def open_store(settings: Settings) -> DocumentStore:
    """The store ``settings.db`` names, locked for this process: a ``postgresql://`` (or
    ``postgres://``) URL opens a :class:`~collab.stores.postgres.PostgresStore`, anything else
    is an SQLite file (the hub checkpoints it).

    Raises:
        DatabaseInUse: another process serves the database (the message names it).
        StoreError: the database cannot be opened or migrated (a password never shows).
    """
    if is_postgres(settings.db):
        from collab.stores.postgres import PostgresStore

        # Cluster nodes share the database (they meet through Redis): a shared lock.
        return PostgresStore(settings.db, lock=True, shared_lock=bool(settings.redis))
    return SQLiteStore(
        settings.db,
        synchronous=settings.synchronous,
        autocheckpoint=False,
        lock=True,
        shared_lock=bool(settings.redis),  # the cluster's nodes on this machine share it
    )


class Collab:
    """collab in one object: WebSocket sync, HTTP API and editor, on one store.

    Args:
        settings: limits, storage and auth settings (``Settings()`` by default).
        store: a :class:`~collab.stores.DocumentStore` to use instead of the SQLite file
            ``settings.db``; collab closes it when its lifespan ends (so a Collab given a
            store runs one lifespan; with the SQLite file, each lifespan opens it again).
        authorize: ``authorize(request_or_websocket, name)``, sync or async, returning
            ``"read"``, ``"write"``, ``"admin"`` or ``None`` (refused: 4403 / 403). Replaces
            the token check (``--auth-secret``), which is the default when a secret is set.
        on_change: ``on_change(name, update, origin)`` after each update is committed
            (``origin``: ``"websocket"``, ``"http"``, ``"edit"``).
        on_connect, on_disconnect: ``(name, info)`` when a WebSocket peer joins or leaves a
            document (``info``: ``peer`` id, ``role``, ``client`` address).
        on_delete: ``on_delete(name)`` after a document is deleted.
        bus: the cross-node bus: ``RedisBus(url)`` makes this process a node of a cluster
            (DESIGN.md section 6); by default ``RedisBus(settings.redis)`` when that is set,
            else none (one process).
        on_stateless: ``on_stateless(name, payload, origin)`` for each Stateless message a
            Hocuspocus client sends (``/hocuspocus``); answer with :meth:`broadcast_stateless`.
        require_web: refuse to build without the built web editor.
        check_host: answer only requests whose ``Host`` is a loopback name, ``--host`` or an
            ``--allowed-host`` (DNS rebinding: HTTP 421, WebSocket 4403); ``collab serve``
            does. An app embedding collab checks hosts its own way (Starlette's
            ``TrustedHostMiddleware``).

    Hooks may be sync or async; a raising or hanging hook is logged and isolated (see
    :mod:`collab.hub.hooks`).

    Raises:
        WebAssetsMissing: with ``require_web`` and no built editor.
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        store: DocumentStore | None = None,
        authorize: AuthorizeHook | None = None,
        on_change: ChangeHook | None = None,
        on_connect: ConnectHook | None = None,
        on_disconnect: ConnectHook | None = None,
        on_delete: DeleteHook | None = None,
        on_stateless: StatelessHook | None = None,
        require_web: bool = False,
        bus: Bus | None = None,
        check_host: bool = False,
    ) -> None:
        self.settings = settings or Settings()
        if bus is None and self.settings.redis:
            bus = RedisBus(self.settings.redis)
        self.bus = bus
        self.check_host = check_host
        self._store = store
        self._store_closed = False
        self.hooks = Hooks(
            on_change=on_change,
            on_connect=on_connect,
            on_disconnect=on_disconnect,
            on_delete=on_delete,
            on_stateless=on_stateless,
            timeout=self.settings.hook_timeout_seconds,
        )
        secret = self.settings.token_secret()
        self.authorizer: Authorizer
        if authorize is not None:
            self.authorizer = HookAccess(authorize)
        elif secret:
            self.authorizer = TokenAccess(secret, self.settings.auth_algorithm)
        else:
            self.authorizer = OpenAccess()
        self.rechecks = not isinstance(self.authorizer, OpenAccess)
        self.hub: Hub | None = None
        self.webhooks: Webhooks | None = None  # while started: events, deliveries, the feed
        self.versions: Versions | None = None  # while started: saving and restoring versions
        self.app = self._build(require_web)

    # -- lifecycle ---------------------------------------------------------------------------

    def lifespan(self, app: object = None) -> AbstractAsyncContextManager[None]:
        """Open the store and start the hub for the ``async with`` body; on exit commit what
        is queued, close every peer with 1001, let the hooks finish and close the store.

        Pass it to a host app's lifespan (``async with collab.lifespan(): yield``); the
        standalone ``collab.app`` runs it itself (``app`` is Starlette's argument, unused).

        Raises:
            DatabaseInUse: another process serves the SQLite file.
            StoreError: the store cannot be opened.
        """
        return self._running()

    @asynccontextmanager
    async def _running(self) -> AsyncIterator[None]:
        if self.hub is not None:
            raise RuntimeError("collab is already started")
        if self._store_closed:
            raise RuntimeError("the store given to Collab was closed by its last lifespan")
        store = self._store or open_store(self.settings)
        hub = Hub(store, self.settings, self.hooks, self.bus)
        if hub.cluster is not None:
            hub.cluster.reauthorize = hub.cluster.spawn_reauthorize(self._reauthorize_here)
        await hub.start()
        webhooks = Webhooks(hub, self.settings)
        try:
            await webhooks.start()
        except BaseException:
            await hub.close()
            raise
        self.hub, self.webhooks = hub, webhooks
        self.versions = Versions(hub, self.settings)
        log.info(
            "serving %s (schema version %d), %s",
            store_name(store, self.settings),
            store.schema_version(),
            self.authorizer.description,
        )
        try:
            yield
        finally:
            versions, self.versions = self.versions, None
            self.hub, self.webhooks = None, None
            self._store_closed = self._store is not None  # else: the file opens again
            if versions is not None:
                await versions.close()
            await webhooks.close()
            await hub.close()

    def running(self) -> Hub:
        """The started hub.

        Raises:
            NotStarted: outside :meth:`lifespan`.
        """
        if self.hub is None:
            raise NotStarted("collab is not started: enter collab.lifespan() in the app's lifespan")
        return self.hub

    # -- server-side access ------------------------------------------------------------------

    def edit(self, name: str) -> AbstractAsyncContextManager[Doc[Any]]:
        """``async with collab.edit(name) as doc:`` edit document ``name`` with pycrdt.

        ``doc`` is a copy of the committed document; on exit what the body changed is
        written like any edit (:meth:`Hub.write`: limits, commit, relay to every peer,
        ``on_change`` with origin ``"edit"``). Works whether or not the room is open; the
        room stays open for the body. Nothing is written when the body raises.

        Raises:
            InvalidName, NotStarted, DocumentTooLarge, StoreError: see :meth:`Hub.write`.
        """
        return self._edit(validate_name(name))

    @asynccontextmanager
    async def _edit(self, name: str) -> AsyncIterator[Doc[Any]]:
        hub = self.running()
        async with hub.use(name):
            # through the integrator: what waits for a missing predecessor stays out
            doc = apply_all(Doc(), [await hub.state(name)])
            before = doc.get_state()
            yield doc
            update = doc.get_update(before)
            if update != EMPTY_UPDATE:
                await hub.write(name, update, "edit")

    async def reauthorize(self, name: str | None = None) -> int:
        """Check the access of the open WebSocket connections again (of document ``name``, or
        of every document), after the host changed permissions: a connection refused now is
        closed with the refusal's code (4403 for ``None``), one given ``"read"`` becomes
        read-only, one given ``"write"`` may write again.

        Returns:
            How many connections were closed (on this node; in cluster mode the other nodes
            are told to check theirs too).
        """
        hub = self.running()
        if hub.cluster is not None:
            await hub.cluster.announce("reauthorize", name or "")
        return await self._reauthorize_here(name)

    async def _reauthorize_here(self, name: str | None = None) -> int:
        hub = self.running()
        closed = 0
        for peer in hub.rooms.peers(name):
            if not isinstance(peer, Connection) or peer.source is None:
                continue
            try:
                access = await self.authorizer.access(peer.source, peer.name)
            except AuthError as exc:
                closed += peer.recheck(None, exc)
            else:
                closed += peer.recheck(access)
        return closed

    def broadcast_stateless(self, name: str, payload: str) -> int:
        """Send a Stateless message (``payload``, a string the application defines) to every
        Hocuspocus client of document ``name`` on this server (y-websocket has no such message).

        Returns:
            How many clients it was sent to (0 when none has the document open).
        """
        return broadcast_stateless(self.running(), name, payload)

    # -- the ASGI app ------------------------------------------------------------------------

    def _build(self, require_web: bool) -> Starlette:
        dist = web_dist(self.settings)
        index = dist / "index.html"
        if require_web and not index.is_file():
            raise WebAssetsMissing(
                f"the web editor is not built: {index} is missing. Run ./scripts/build-web "
                "(or `npm ci && npm run build` in web/), or point --web-dist at a built copy."
            )

        async def healthz(request: Request) -> Response:
            hub = self.hub
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
            body: dict[str, object] = {"status": "ok", "open_rooms": hub.open_rooms}
            if hub.cluster is not None:
                bus = hub.cluster.bus
                body["node"] = bus.node
                if not bus.healthy:
                    body.update(status="unavailable", error="bus_unavailable", detail=bus.reason)
                    return JSONResponse(body, 503)
            return JSONResponse(body)

        async def metrics(request: Request) -> Response:
            hub = self.hub
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
            lifespan=self.lifespan,
            exception_handlers={404: not_found, 405: api.http_error},
        )
        app.state.collab = self
        app.state.settings = self.settings
        if self.check_host:
            app.add_middleware(
                HostCheck, allowed=self.settings.allowed_hosts, served=self.settings.host
            )
        return app


def create_app(
    settings: Settings, *, require_web: bool = False, store: DocumentStore | None = None
) -> Starlette:
    """``Collab(settings, store=store, check_host=True).app`` (the standalone app, running its
    own lifespan).

    Raises:
        WebAssetsMissing: with ``require_web`` and no ``index.html`` in the web folder.
    """
    return Collab(settings, store=store, require_web=require_web, check_host=True).app
