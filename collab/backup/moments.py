"""Moments in time for ``--at`` and the manifest: parsing and ISO 8601 formatting."""

from __future__ import annotations

import math
from datetime import UTC, datetime

from collab.backup.errors import EXIT_USAGE, BackupError

__all__ = ["compacted_detail", "iso", "not_yet_detail", "parse_moment"]


def parse_moment(text: str) -> float:
    """``text`` as Unix seconds: a number (Unix seconds) or an ISO 8601 date or date-time.

    A date-time without a UTC offset is local time; a date alone is local midnight.

    Raises:
        BackupError: (usage) for anything else.
    """
    value = text.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        if not math.isfinite(seconds):
            raise BackupError(f"bad time {text!r}: not a finite number", EXIT_USAGE)
        return seconds
    if value[-1:] in ("Z", "z"):
        value = value[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise BackupError(
            f"bad time {text!r}: use ISO 8601 (2026-11-29T12:00:00Z) or Unix seconds", EXIT_USAGE
        ) from None
    if moment.tzinfo is None:
        moment = moment.astimezone()  # local time, like date(1)
    return moment.timestamp()


def iso(seconds: float) -> str:
    """Unix seconds as ISO 8601 UTC with milliseconds (the HTTP API's form)."""
    moment = datetime.fromtimestamp(seconds, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def compacted_detail(name: str, at: float, earliest: float) -> str:
    """Why document ``name``'s state at ``at`` cannot be rebuilt (``collab export --at`` and
    the HTTP ``?at=``): compaction folded that moment and no version is that old."""
    return (
        f"the history of {name!r} at {iso(at)} was compacted into a snapshot and no version is"
        f" that old; the earliest moment it still covers is {iso(earliest)}"
    )


def not_yet_detail(name: str, at: float, created_at: float) -> str:
    """Why document ``name`` has no state at ``at``: it was created later."""
    return f"{name!r} did not exist yet at {iso(at)}: it was created at {iso(created_at)}"
