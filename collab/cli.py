"""The ``collab`` command: ``collab serve`` (:mod:`collab.cli_serve`), ``token``
(:mod:`collab.cli_token`), ``doctor``, ``export``, ``import`` and ``rename``
(:mod:`collab.backup`); the parser is :mod:`collab.cli_parser`."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from collab.cli_parser import build_parser
from collab.cli_serve import serve
from collab.cli_token import check_grant_name, mint, parse_duration
from collab.settings import Settings, SettingsError

__all__ = ["build_parser", "check_grant_name", "main", "parse_duration"]


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
