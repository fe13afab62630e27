"""``Collab``: the public object that serves collab, standalone or inside another ASGI app.

``Collab(settings)`` builds everything but starts nothing; ``collab.lifespan()`` opens the
store and starts the hub (the standalone ``collab.app`` runs it itself; a host app that
mounts ``collab.app`` enters it from its own lifespan, since Starlette does not run a mounted
app's lifespan). ``collab serve`` is ``Collab`` under uvicorn with the fast WebSocket path.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from functools import partial
from typing import Any

from pycrdt import Doc
from starlette.applications import Starlette

from collab.app_routes import NotStarted, WebAssetsMissing, build_app, web_dist
from collab.app_stores import open_store, store_name
from collab.bus import Bus
from collab.errors import AuthError
from collab.history.versions import Versions
from collab.hub import ChangeHook, ConnectHook, DeleteHook, Hooks, Hub, StatelessHook
from collab.integrator import apply_all
from collab.names import validate_name
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
from collab.stores import DocumentStore
from collab.updates import EMPTY_UPDATE
from collab.webhooks.service import Webhooks

__all__ = ["Collab", "NotStarted", "WebAssetsMissing", "create_app", "open_store", "web_dist"]

log = logging.getLogger("collab.app")


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
            (README "Running several processes or machines"); by default
            ``RedisBus(settings.redis)`` when that is set, else none (one process).
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
            from collab.bus.redis import RedisBus  # redis-py only in a cluster node

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
            hub.cluster.stateless = partial(broadcast_stateless, hub)
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
        Hocuspocus client of document ``name`` (y-websocket has no such message); in cluster
        mode also, through the bus, to those of every other node with the document open
        (in the background, at most once, never stored).

        Returns:
            How many clients of this node it was sent to (0 when none has it open here).
        """
        hub = self.running()
        if hub.cluster is not None:
            hub.cluster.bus.publish_stateless(name, payload)
        return broadcast_stateless(hub, name, payload)

    # -- the ASGI app ------------------------------------------------------------------------

    def _build(self, require_web: bool) -> Starlette:
        return build_app(self, self.lifespan, require_web)


def create_app(
    settings: Settings, *, require_web: bool = False, store: DocumentStore | None = None
) -> Starlette:
    """``Collab(settings, store=store, check_host=True).app`` (the standalone app, running its
    own lifespan).

    Raises:
        WebAssetsMissing: with ``require_web`` and no ``index.html`` in the web folder.
    """
    return Collab(settings, store=store, require_web=require_web, check_host=True).app
