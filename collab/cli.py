"""The ``collab`` command: ``collab serve`` and friends."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from types import FrameType
from typing import Any

import uvicorn
from starlette.applications import Starlette

from collab.app import WebAssetsMissing, create_app, open_store
from collab.auth import Role, mint_token
from collab.export import FORMATS, LAYOUTS
from collab.logs import configure as configure_logs
from collab.names import InvalidName, validate_name
from collab.process import limit_malloc_retention, tune_gc
from collab.settings import Settings, SettingsError, describe
from collab.startup import StartupError, check_database_path, listen
from collab.stores import StoreError
from collab.stores.dsn import is_postgres
from collab.workers import supervise
from collab.wsserver import DirectProtocol

__all__ = ["main"]

log = logging.getLogger("collab")


def _escaped(text: str) -> str:
    """A help text as argparse wants it: it formats help with ``%``, so ``90%`` is ``90%%``."""
    return text.replace("%", "%%")


def _add_settings(parser: argparse.ArgumentParser) -> None:
    for row in describe():
        kind = row["type"]
        repeated = kind is tuple
        if kind is bool:  # a switch: --webhook-include-text
            parser.add_argument(
                row["flag"],
                dest=row["name"],
                action="store_const",
                const=True,
                default=None,
                help=_escaped(f"{row['help']} [env {row['env']}=1]"),
            )
            continue
        parser.add_argument(
            row["flag"],
            dest=row["name"],
            type=str if repeated else kind,
            action="append" if repeated else "store",
            default=None,
            help=_escaped(f"{row['help']} [env {row['env']}, default {row['default']!r}]"),
        )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = argparse.ArgumentParser(
        prog="collab", description="collab: a y-websocket server with durable SQLite storage."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the server")
    _add_settings(serve)
    serve.add_argument(
        "--no-web",
        action="store_true",
        help="start even when the web editor is not built (API and WebSocket only)",
    )
    token = commands.add_parser(
        "token", help="mint an access token (needs --auth-secret or COLLAB_AUTH_SECRET)"
    )
    token.add_argument("doc", help="document name, or a prefix ending in * (team/*, or *)")
    token.add_argument(
        "--role",
        default="write",
        choices=["read", "write", "admin"],
        help="read: receive only; write: also edit; admin: also delete [write]",
    )
    token.add_argument("--ttl", default="1h", help="lifetime: 90s, 30m, 1h, 7d [1h]")
    token.add_argument(
        "--subject", default=None, help="who holds it (the sub claim; versions' author)"
    )
    for name in ("auth_secret", "auth_secret_file", "auth_algorithm"):
        row = next(r for r in describe() if r["name"] == name)
        token.add_argument(row["flag"], dest=name, default=None, help=row["help"])
    doctor = commands.add_parser("doctor", help="check a database and print a summary")
    doctor.add_argument(
        "--db",
        dest="db",
        default=None,
        help="database file or postgresql:// URL [env COLLAB_DB, default data/collab.db]",
    )
    doctor.add_argument(
        "--quick", action="store_true", help="skip decoding every document with pycrdt"
    )
    doctor.add_argument(
        "--repair",
        action="store_true",
        help="move stored rows that no longer decode to the quarantine and list it"
        " (the database must not be served meanwhile)",
    )
    doctor.add_argument(
        "--restore", type=int, action="append", default=[], metavar="ID",
        help="with --repair: put quarantined row ID back in its document's log",
    )  # fmt: skip
    doctor.add_argument(
        "--drop", type=int, action="append", default=[], metavar="ID",
        help="with --repair: delete quarantined row ID",
    )  # fmt: skip
    _add_backup_commands(commands)
    return parser


def _add_source_flags(parser: argparse.ArgumentParser) -> None:
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--server",
        default=None,
        metavar="URL",
        help="server URL [env COLLAB_SERVER, default http://127.0.0.1:8000]",
    )
    where.add_argument(
        "--db",
        default=None,
        metavar="DB",
        help="the database (file or postgresql:// URL) instead of a server (import: server"
        " stopped)",
    )
    parser.add_argument(
        "--token", default=None, help="bearer token for --server [env COLLAB_TOKEN]"
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress or summary lines")


def _add_backup_commands(commands: Any) -> None:
    """``collab export`` and ``collab import`` (see collab.backup)."""
    export = commands.add_parser(
        "export", help="write documents as Yjs updates, JSON, Markdown, HTML or text"
    )
    export.add_argument("name", nargs="?", help="document name (or --all)")
    export.add_argument("--all", action="store_true", help="every document, into --out DIR")
    export.add_argument(
        "--format",
        choices=list(FORMATS),
        default=None,
        help="output format [from --out's extension, else yjs]",
    )
    export.add_argument(
        "--out", default=None, metavar="PATH", help="file (or folder with --all) [stdout]"
    )
    export.add_argument(
        "--at",
        default=None,
        metavar="TIME",
        help="as it was then: ISO 8601 or Unix seconds (from the log, or the newest version)",
    )
    export.add_argument(
        "--version",
        default=None,
        type=int,
        metavar="ID",
        help="a stored version (its id in the versions listing)",
    )
    export.add_argument(
        "--field",
        default=None,
        metavar="ROOT",
        help="the root to export [the editor's 'default', else the only root]",
    )
    export.add_argument(
        "--schema",
        choices=list(LAYOUTS),
        default=None,
        help="the editor layout to read the root with [detected from its structure]",
    )
    _add_source_flags(export)
    restore = commands.add_parser("import", help="apply Yjs update files as documents")
    restore.add_argument("name", nargs="?", help="document name")
    restore.add_argument("file", nargs="?", help="a Yjs update file (export --format yjs)")
    restore.add_argument("--all", default=None, metavar="DIR", help="a folder of export --all")
    restore.add_argument(
        "--replace", action="store_true", help="overwrite existing non-empty documents"
    )
    _add_source_flags(restore)


def parse_duration(text: str) -> float:
    """``90s``, ``30m``, ``1h``, ``7d`` or plain seconds, to seconds.

    Raises:
        SettingsError: for anything else or a non-positive duration.
    """
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    number, unit = (text[:-1], units[text[-1]]) if text[-1:] in units else (text, 1)
    try:
        seconds = float(number) * unit
    except ValueError as exc:
        raise SettingsError(f"bad duration {text!r}: use e.g. 90s, 30m, 1h or 7d") from exc
    if seconds <= 0:
        raise SettingsError("duration must be positive")
    return seconds


def check_grant_name(doc: str) -> None:
    """Check the ``doc`` claim of a token: a valid document name, or a prefix ending in ``*``
    that starts valid names (``team/*``, ``*``).

    Raises:
        SettingsError: naming the rule the name breaks.
    """
    try:
        if doc.endswith("*"):
            validate_name(doc[:-1] + "x")
        else:
            validate_name(doc)
    except InvalidName as exc:
        what = "prefix" if doc.endswith("*") else "document name"
        raise SettingsError(f"cannot grant {what} {doc!r}: {exc}") from exc


def mint(args: argparse.Namespace) -> int:
    """``collab token``: print a signed token to stdout."""
    settings = Settings.from_sources(vars(args))
    secret = settings.token_secret()
    if not secret:
        print(
            "collab: set --auth-secret, --auth-secret-file or COLLAB_AUTH_SECRET", file=sys.stderr
        )
        return 2
    check_grant_name(args.doc)
    ttl = parse_duration(args.ttl)
    print(
        mint_token(
            secret,
            args.doc,
            Role.parse(args.role),
            ttl,
            algorithm=settings.auth_algorithm,
            subject=args.subject,
        )
    )
    return 0


class _Server(uvicorn.Server):
    """uvicorn's server, closing our peers with 1001 before uvicorn closes them with 1012."""

    def __init__(self, config: uvicorn.Config, app: Starlette) -> None:
        super().__init__(config)
        self.app = app

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


def serve(settings: Settings, *, require_web: bool, argv: Sequence[str] = ()) -> int:
    """Run the server until SIGINT or SIGTERM; returns the exit status (README "Command-line
    exit status": 1 when the port, the database or the web editor is unusable, 2 for bad
    settings such as a weak secret).

    Checked in this order, each failure one line on stderr: the secret, the port (bound here
    and handed to uvicorn, so a busy port is found before the database is touched), the
    database path, then opening and migrating the database. With ``workers`` above 1, it
    runs that many worker processes instead (:mod:`collab.workers`), which check the same.
    """
    settings.token_secret()  # SettingsError (exit 2) before anything is opened
    if settings.workers > 1:
        return supervise(argv, settings.workers)
    log_config = configure_logs(settings.log_level, settings.log_format)
    limit_malloc_retention()  # before the store and the documents allocate (collab.process)
    try:
        # a cluster node: the nodes on this machine may share the port (SO_REUSEPORT)
        sock = listen(settings.host, settings.port, reuse_port=bool(settings.redis))
    except StartupError as exc:
        print(f"collab: {exc}", file=sys.stderr)
        return 1
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
    server = _Server(config, app)
    tune_gc()  # what exists now lives as long as the process (collab.process)
    server.run(sockets=[sock])  # uvicorn picks its event loop here: uvloop when installed
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``collab`` console script."""
    args = build_parser().parse_args(argv)
    try:
        if args.command == "serve":
            settings = Settings.from_sources(vars(args))
            raw = list(sys.argv[1:] if argv is None else argv)
            return serve(settings, require_web=not args.no_web, argv=raw)
        if args.command == "token":
            return mint(args)
        # Imported here: a serving process does not need them (2 MiB of RSS with httpx).
        if args.command == "export":
            from collab.backup import run_export

            return run_export(args)
        if args.command == "import":
            from collab.backup import run_import

            return run_import(args)
        if args.command == "doctor":
            from collab.doctor import check, repair

            db = Settings.from_sources({"db": args.db}).db
            if args.repair:
                report = repair(db, restore=tuple(args.restore), drop=tuple(args.drop))
            else:
                report = check(db, decode=not args.quick, hint="--db" if args.db is None else "")
            print(report.render())
            return 0 if report.ok else 1
    except SettingsError as exc:
        print(f"collab: {exc}", file=sys.stderr)
        return 2
    return 1


if __name__ == "__main__":
    sys.exit(main())
