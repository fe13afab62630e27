"""The argument parser of the ``collab`` command: every subcommand and its flags (the
settings' flags come from :func:`collab.settings_table.describe`).

A mistake in the command line is one line on stderr naming the (sub)command, with a
suggestion for a misspelt flag or command, and exit status 2 (argparse would print the whole
usage first: 45 lines for ``collab serve``)."""

from __future__ import annotations

import argparse
import difflib
from collections.abc import Iterable, Sequence
from typing import Any, NoReturn

from collab.export import FORMATS, LAYOUTS
from collab.settings_table import describe
from collab.stores.sqlite_schema import collab_version

__all__ = ["DESCRIPTION", "build_parser", "parse"]

DESCRIPTION = (
    "collab: a real-time collaboration server for Yjs clients (y-websocket, Hocuspocus and"
    " Tiptap), with a web editor, an HTTP API, versions, export and durable SQLite or"
    " PostgreSQL storage."
)


class _Parser(argparse.ArgumentParser):
    """argparse's parser, whose errors are one line pointing at ``--help``; ``commands``
    maps each subcommand's name to its parser."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.commands: dict[str, _Parser] = {}

    def error(self, message: str) -> NoReturn:
        """Exit 2 with ``PROG: MESSAGE (see PROG --help)``."""
        self.fail(message)

    def fail(self, message: str, hint: str = "") -> NoReturn:
        """Exit 2 with one line: ``PROG: MESSAGE (HINT see PROG --help)``."""
        self.exit(
            2, f"{self.prog}: {message} ({hint + ' ' if hint else ''}see {self.prog} --help)\n"
        )


def _did_you_mean(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"did you mean {close[0]}?" if close else ""


def parse(argv: Sequence[str]) -> argparse.Namespace:
    """The parsed command line ``argv`` (without the program name).

    Exits 2 (one line on stderr) for no command, an unknown command, an argument the
    command does not take (suggesting the nearest command or flag), or ``doctor --restore``
    or ``--drop`` without ``--repair``.
    """
    parser = build_parser()
    commands = parser.commands
    choices = ", ".join(commands)
    if argv and not argv[0].startswith("-") and argv[0] not in commands:
        parser.fail(f"no command {argv[0]!r}: choose {choices}", _did_you_mean(argv[0], commands))
    args, extras = parser.parse_known_args(argv)
    if args.command is None:
        parser.fail(f"choose a command: {choices}")
    if extras:
        command = commands[args.command]
        flags = [flag for action in command._actions for flag in action.option_strings]
        hints = [_did_you_mean(extra.split("=")[0], flags) for extra in extras if extra[:1] == "-"]
        command.fail(f"unrecognized arguments: {' '.join(extras)}", next(filter(None, hints), ""))
    if args.command == "doctor" and not args.repair and (args.restore or args.drop):
        flag = "--restore" if args.restore else "--drop"
        commands["doctor"].fail(f"{flag} goes with --repair: collab doctor --repair {flag} ID")
    return args


_UNITS = ("BYTES", "SECONDS", "HOURS", "DAYS", "PORT", "WORKERS")
_METAVARS = {"synchronous": "MODE", "redis": "URL", "web_dist": "DIR"}


def _metavar(name: str, flag: str, kind: type) -> str:
    """A flag's value as help shows it: its unit (``--max-message-bytes BYTES``), ``N`` for
    another number, else the flag's last word, singular (``--allowed-origin ORIGIN``)."""
    word = flag.rsplit("-", 1)[-1].upper()
    if kind in (int, float) and word not in _UNITS:
        return "N"
    return _METAVARS.get(name, word)


def _shown(value: Any) -> str:
    """A default as a user would type it: ``(empty)`` for nothing, a list comma-separated."""
    if value in ("", ()):
        return "(empty)"
    if isinstance(value, tuple):
        return ",".join(value)
    return str(value)


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
            metavar=_metavar(row["name"], row["flag"], kind),
            help=_escaped(f"{row['help']} [env {row['env']}, default {_shown(row['default'])}]"),
        )


def build_parser() -> _Parser:
    """The argument parser of every subcommand."""
    parser = _Parser(prog="collab", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"collab {collab_version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    parser.commands = commands.choices
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
    rename = commands.add_parser(
        "rename", help="rename a document on a running server (admin role on both names)"
    )
    rename.add_argument("name", help="the document's name")
    rename.add_argument("to", help="its new name")
    rename.add_argument(
        "--server",
        default=None,
        metavar="URL",
        help="server URL [env COLLAB_SERVER, default http://127.0.0.1:8000]",
    )
    rename.add_argument("--token", default=None, help="bearer token [env COLLAB_TOKEN]")
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
