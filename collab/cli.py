"""The ``collab`` command: ``collab serve`` and friends."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from typing import Any

import uvicorn
from starlette.applications import Starlette

from collab.app import WebAssetsMissing, create_app
from collab.settings import Settings, SettingsError, describe

__all__ = ["main"]

log = logging.getLogger("collab")


def _add_settings(parser: argparse.ArgumentParser) -> None:
    for row in describe():
        kind = row["type"]
        parser.add_argument(
            row["flag"],
            dest=row["name"],
            type=kind,
            default=None,
            help=f"{row['help']} [env {row['env']}, default {row['default']!r}]",
        )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = argparse.ArgumentParser(prog="collab", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the server")
    _add_settings(serve)
    serve.add_argument(
        "--no-web",
        action="store_true",
        help="start even when the web editor is not built (API and WebSocket only)",
    )
    return parser


class _Server(uvicorn.Server):
    """uvicorn's server, closing our peers with 1001 before uvicorn closes them with 1012."""

    def __init__(self, config: uvicorn.Config, app: Starlette) -> None:
        super().__init__(config)
        self.app = app

    async def shutdown(self, sockets: Any = None) -> None:
        for server in self.servers:
            server.close()
        hub = getattr(self.app.state, "hub", None)
        if hub is not None:
            await hub.close()
        await super().shutdown(sockets)


def serve(settings: Settings, *, require_web: bool) -> int:
    """Run the server until SIGINT or SIGTERM; returns the exit status."""
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        app = create_app(settings, require_web=require_web)
    except WebAssetsMissing as exc:
        print(f"collab: {exc}", file=sys.stderr)
        return 2
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        ws_max_size=settings.max_message_bytes,
        ws_per_message_deflate=False,
        log_level=settings.log_level,
        lifespan="on",
        timeout_graceful_shutdown=10,
    )
    server = _Server(config, app)
    asyncio.run(server.serve())
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``collab`` console script."""
    args = build_parser().parse_args(argv)
    try:
        if args.command == "serve":
            settings = Settings.from_sources(vars(args))
            return serve(settings, require_web=not args.no_web)
    except SettingsError as exc:
        print(f"collab: {exc}", file=sys.stderr)
        return 2
    return 1


if __name__ == "__main__":
    sys.exit(main())
