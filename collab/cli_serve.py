"""``collab serve``: the checks before start (secret, port, web editor, database path,
database), each one line and an exit status, then uvicorn with collab's WebSocket path."""

from __future__ import annotations

import logging
import os
import socket
import sys
from collections.abc import Sequence
from types import FrameType
from typing import Any

import uvicorn
from starlette.applications import Starlette

from collab.allocator import description as allocator_description
from collab.allocator import use_jemalloc
from collab.app import WebAssetsMissing, create_app, open_store
from collab.app_routes import check_web
from collab.logs import configure as configure_logs
from collab.process import tune_gc
from collab.settings import Settings
from collab.startup import StartupError, check_database_path, listen
from collab.stores import StoreError
from collab.stores.dsn import is_postgres
from collab.workers import supervise
from collab.wsserver import DirectProtocol

__all__ = ["serve"]

log = logging.getLogger("collab")


class _Server(uvicorn.Server):
    """uvicorn's server, closing our peers with 1001 before uvicorn closes them with 1012."""

    def __init__(self, config: uvicorn.Config, app: Starlette, web: bool, allocator: str) -> None:
        super().__init__(config)
        self.app = app
        self.web = web
        self.allocator = allocator  # the --allocator setting

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        """uvicorn's start, then one line with the address to open (uvicorn's own "running
        on" line is not printed for sockets handed to it) and one with the memory allocator
        (once serving: a start that fails stays one line on stderr)."""
        await super().startup(sockets)
        if self.should_exit or not sockets:
            return
        host, port = sockets[0].getsockname()[:2]
        host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)  # all interfaces: this machine
        where = f"[{host}]" if ":" in host else host
        scheme = "https" if self.config.ssl_certfile else "http"
        what = "the document list and the editor" if self.web else "the HTTP API and WebSocket"
        log.info("open %s://%s:%d/ (%s)", scheme, where, port, what)
        log.info("memory allocator: %s", allocator_description(self.allocator))

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        """First SIGINT/SIGTERM: graceful shutdown, exit status 0. Second: exit at once.

        uvicorn re-raises the signal after a graceful shutdown (so the process dies of it);
        collab exits 0 instead, as service managers expect of a clean stop.
        """
        if self.should_exit:
            log.warning("second signal %d: exiting at once", sig)
            os._exit(1)
        log.info("signal %d: shutting down", sig)
        self.should_exit = True

    async def shutdown(self, sockets: Any = None) -> None:
        for server in self.servers:
            server.close()
        collab = self.app.state.collab
        if collab.versions is not None:  # the editing sessions end with their versions
            await collab.versions.close()
        if collab.webhooks is not None:  # before the hub: its reporter reads through the hub
            await collab.webhooks.close()
        hub = collab.hub
        if hub is not None:
            await hub.close()
        await super().shutdown(sockets)


def serve(
    settings: Settings,
    *,
    require_web: bool,
    argv: Sequence[str] = (),
    warnings: Sequence[str] = (),
) -> int:
    """Run the server until SIGINT or SIGTERM; returns the exit status (README "Command-line
    exit status": 1 when the port, the database or the web editor is unusable, 2 for bad
    settings such as a weak secret).

    Checked in this order, each failure one line on stderr: the secret, the port (bound here
    and handed to uvicorn, so a busy port is found before the database is touched), the web
    editor, the database path, then opening and migrating the database. With ``workers`` above 1, it
    runs that many worker processes instead (:mod:`collab.workers`), which check the same.
    ``warnings`` (lines for stderr) are printed once, by the process that goes on (not before
    it starts itself again with jemalloc).
    """
    settings.token_secret()  # SettingsError (exit 2) before anything is opened
    use_jemalloc(settings.allocator)  # starts again with jemalloc (collab.allocator), or returns
    for warning in warnings:
        print(warning, file=sys.stderr)
    if settings.workers > 1:
        return supervise(argv, settings.workers)
    log_config = configure_logs(settings.log_level, settings.log_format)
    try:
        # a cluster node: the nodes on this machine may share the port (SO_REUSEPORT)
        sock = listen(settings.host, settings.port, reuse_port=bool(settings.redis))
    except StartupError as exc:
        print(f"collab: {exc}", file=sys.stderr)
        return 1
    try:
        if require_web:  # before the database file is created
            check_web(settings)
    except WebAssetsMissing as exc:
        sock.close()
        print(f"collab: {exc}", file=sys.stderr)
        return 2
    try:
        if not is_postgres(settings.db):  # a PostgreSQL URL is checked by connecting
            check_database_path(settings.db)
        store = open_store(settings)
    except (StartupError, StoreError) as exc:  # DatabaseInUse: another server has the file
        sock.close()
        print(f"collab: {exc}", file=sys.stderr)
        return 1
    try:
        app = create_app(settings, require_web=require_web, store=store)
    except WebAssetsMissing as exc:
        store.close()
        sock.close()
        print(f"collab: {exc}", file=sys.stderr)
        return 2
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        # uvicorn's sans-I/O WebSocket protocol (no tasks of its own per connection, unlike
        # the legacy one), plus the direct sends the endpoint relays with.
        ws=DirectProtocol,
        ws_max_size=settings.max_message_bytes,
        ws_per_message_deflate=False,
        log_level=settings.log_level,
        log_config=log_config,
        lifespan="on",
        timeout_graceful_shutdown=10,
        ssl_certfile=settings.ssl_certfile or None,
        ssl_keyfile=settings.ssl_keyfile or None,
    )
    server = _Server(config, app, require_web, settings.allocator)
    tune_gc()  # what exists now lives as long as the process (collab.process)
    server.run(sockets=[sock])  # uvicorn picks its event loop here: uvloop when installed
    return 0
