"""What ``collab doctor`` says about a document whose stored rows do not decode, for both
stores: which rows (the snapshot, log rows by id) and the command that moves them aside."""

from __future__ import annotations

import shlex
from collections.abc import Sequence

from pycrdt import merge_updates

from collab.errors import NOT_OURS
from collab.updates import InvalidUpdate, check_update

__all__ = ["counted", "repair_hint", "undecodable"]


def repair_hint(db: str, *, masked: bool = False) -> str:
    """The command that moves what does not decode aside, for the database ``db`` (an SQLite
    file's absolute path, or a PostgreSQL URL whose password shows as ``****`` when
    ``masked``), quoted to paste in a shell."""
    hint = f"stop the server, then `collab doctor --repair --db {shlex.quote(db)}`"
    if masked:
        hint += " (your password in place of ****)"
    return hint + " moves what does not decode to the quarantine (README, Operations: Quarantine)"


def counted(count: int, noun: str) -> str:
    """``count`` (with thousands separators) and ``noun``, plural unless it is one:
    ``counted(1, "byte")`` is ``"1 byte"``, ``counted(1200, "update")`` ``"1,200 updates"``."""
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def undecodable(
    name: str, snapshot: bytes | None, rows: Sequence[tuple[int, bytes]], hint: str
) -> str | None:
    """Merge document ``name``'s stored ``snapshot`` (``None``: none) and log ``rows`` (id and
    bytes, in log order) with pycrdt; the problem to report when they do not decode.

    Returns:
        ``None`` when they merge; else a line naming the document, each row (or the snapshot)
        that does not decode on its own as a Yjs v1 update with its size and why, and
        ``hint`` (:func:`repair_hint`); or, when each decodes on its own, pycrdt's message.
    """
    parts = ([snapshot] if snapshot is not None else []) + [data for _, data in rows]
    try:
        if parts:
            merge_updates(*parts)
        return None
    except NOT_OURS:
        raise
    except BaseException as exc:  # pycrdt panics are not Exceptions
        merged = str(exc)
    labelled = ([("snapshot", snapshot)] if snapshot is not None else []) + [
        (f"update row {row_id}", data) for row_id, data in rows
    ]
    bad = []
    for label, data in labelled:
        try:
            check_update(data)
        except InvalidUpdate as exc:
            bad.append(f"{label} ({counted(len(data), 'byte')}): {exc}")
    if not bad:
        return f"document {name!r} cannot be decoded: {merged}"
    return f"document {name!r} cannot be decoded: {'; '.join(bad)}; {hint}"
