"""``collab token``: mint a signed access token for a document or a prefix."""

from __future__ import annotations

import argparse
import sys

from collab.auth import Role, mint_token
from collab.names import InvalidName, validate_name
from collab.settings import Settings, SettingsError

__all__ = ["check_grant_name", "mint", "parse_duration"]


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
        raise SettingsError(
            f"--ttl {text!r} is not a duration: use e.g. 90s, 30m, 1h or 7d"
        ) from exc
    if seconds <= 0:
        raise SettingsError(f"--ttl must be positive, not {text!r}")
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
