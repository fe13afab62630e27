"""The ``collab`` command: ``collab serve`` (:mod:`collab.cli_serve`), ``token``
(:mod:`collab.cli_token`), ``doctor``, ``export``, ``import`` and ``rename``
(:mod:`collab.backup`); the parser is :mod:`collab.cli_parser`."""

from __future__ import annotations

import difflib
import os
import sys
from collections.abc import Mapping, Sequence

from collab.cli_parser import build_parser, parse
from collab.cli_serve import serve
from collab.cli_token import check_grant_name, mint, parse_duration
from collab.settings import Settings, SettingsError
from collab.settings_table import describe

__all__ = ["build_parser", "check_grant_name", "main", "parse_duration", "unknown_variables"]

CLIENT_VARIABLES = ("COLLAB_SERVER", "COLLAB_TOKEN")
"""The variables of the client commands (export, import, rename), beside the settings'."""


def unknown_variables(environ: Mapping[str, str]) -> list[str]:
    """One warning per ``COLLAB_*`` variable in ``environ`` that no setting reads (a typo,
    say), naming the nearest one."""
    known = sorted({row["env"] for row in describe()} | set(CLIENT_VARIABLES))
    warnings = []
    for name in sorted(environ):
        if name.startswith("COLLAB_") and name not in known:
            close = difflib.get_close_matches(name, known, n=1, cutoff=0.8)
            hint = f" (did you mean {close[0]}?)" if close else ""
            warnings.append(f"collab: warning: {name} is not a collab setting{hint}; it is ignored")
    return warnings


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``collab`` console script."""
    args = parse(list(sys.argv[1:] if argv is None else argv))
    try:
        if args.command == "serve":
            for warning in unknown_variables(os.environ):
                print(warning, file=sys.stderr)
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
