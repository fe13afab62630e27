"""``collab rename OLD NEW``: rename a document on a running server, over its HTTP API
(``POST /api/documents/{name}/rename``; the admin role on both names when auth is on).

Both names are checked against the naming rules before any request (exit 2); a refusal (no
such document, the new name taken, a token that does not allow it, the server unreachable)
is one line on stderr and exit 1.
"""

from __future__ import annotations

import argparse
import sys

from collab.backup.commands import server_of, token_of
from collab.backup.errors import EXIT_USAGE, BackupError
from collab.backup.remote import Remote
from collab.names import InvalidName, validate_name

__all__ = ["run_rename"]


def run_rename(args: argparse.Namespace) -> int:
    """Run ``collab rename``; the exit status."""
    try:
        names = []
        for what, given in (("name", args.name), ("new name", args.to)):
            try:
                names.append(validate_name(given))
            except InvalidName as exc:
                raise BackupError(f"bad {what} {given!r}: {exc}", EXIT_USAGE) from None
        old, new = names
        remote = Remote(server_of(args), token_of(args))
        try:
            record = remote.rename(old, new)
        finally:
            remote.close()
    except BackupError as exc:
        print(f"collab: {exc}", file=sys.stderr, flush=True)
        return exc.status
    print(f"renamed {old!r} to {record!r}")
    return 0
