"""The ``collab`` command: ``collab serve`` (:mod:`collab.cli_serve`), ``token``
(:mod:`collab.cli_token`), ``doctor``, ``export``, ``import`` and ``rename``
(:mod:`collab.backup`); the parser is :mod:`collab.cli_parser`.

This module imports little: :func:`main` installs its signal handlers first, then imports
the rest (about a second), so a SIGTERM or Ctrl-C meanwhile ends the command quietly, as it
does once the server runs (exit status 0, no traceback)."""

from __future__ import annotations

import difflib
import importlib
import os
import signal
import sys
import threading
from collections.abc import Mapping, Sequence
from types import FrameType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collab.cli_parser import build_parser
    from collab.cli_token import check_grant_name, parse_duration

__all__ = ["build_parser", "check_grant_name", "main", "parse_duration", "unknown_variables"]

_LATER = {
    "build_parser": "collab.cli_parser",
    "check_grant_name": "collab.cli_token",
    "parse_duration": "collab.cli_token",
}


def __getattr__(name: str) -> Any:
    module = _LATER.get(name)
    if module is None:
        raise AttributeError(f"module 'collab.cli' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


CLIENT_VARIABLES = ("COLLAB_SERVER", "COLLAB_TOKEN")
"""The variables of the client commands (export, import, rename), beside the settings'."""


def unknown_variables(environ: Mapping[str, str]) -> list[str]:
    """One warning per ``COLLAB_*`` variable in ``environ`` that no setting reads (a typo,
    say), naming the nearest one."""
    from collab.settings_table import describe

    known = sorted({row["env"] for row in describe()} | set(CLIENT_VARIABLES))
    warnings = []
    for name in sorted(environ):
        if name.startswith("COLLAB_") and name not in known:
            close = difflib.get_close_matches(name, known, n=1, cutoff=0.8)
            hint = f" (did you mean {close[0]}?)" if close else ""
            warnings.append(f"collab: warning: {name} is not a collab setting{hint}; it is ignored")
    return warnings


def _stop_while_starting(sig: int, frame: FrameType | None) -> None:
    """SIGINT or SIGTERM before the command's own handlers (uvicorn's, once serving): stop
    quietly, exit status 0 (what a signal does once the server runs)."""
    raise SystemExit(0)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``collab`` console script: the exit status (README "Command-line
    exit status"). A Ctrl-C in a command other than ``serve`` ends it with 130, quietly."""
    quiet = threading.current_thread() is threading.main_thread()  # signals: main thread only
    previous = [(s, signal.signal(s, _stop_while_starting)) for s in _SIGNALS] if quiet else []
    try:
        return _run(list(sys.argv[1:] if argv is None else argv), previous)
    except KeyboardInterrupt:
        return 130
    finally:
        for sig, handler in previous:
            if handler is not None:
                signal.signal(sig, handler)


_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _run(raw: list[str], previous: Sequence[tuple[int, Any]]) -> int:
    from collab.cli_parser import parse
    from collab.settings import Settings, SettingsError

    args = parse(raw)
    if args.command != "serve":  # the defaults again (Ctrl-C: KeyboardInterrupt, see main)
        for sig, handler in previous:
            if handler is not None:
                signal.signal(sig, handler)
    try:
        if args.command == "serve":
            from collab.cli_serve import serve

            settings = Settings.from_sources(vars(args))
            warnings = unknown_variables(os.environ)
            return serve(settings, require_web=not args.no_web, argv=raw, warnings=warnings)
        if args.command == "token":
            from collab.cli_token import mint

            return mint(args)
        # Imported here: a serving process does not need them (2 MiB of RSS with httpx).
        if args.command == "export":
            from collab.backup import run_export

            return run_export(args)
        if args.command == "import":
            from collab.backup import run_import

            return run_import(args)
        if args.command == "rename":
            from collab.backup.rename import run_rename

            return run_rename(args)
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
