"""Which automatic versions a retention policy keeps.

Named versions (saved by someone, with a label) are always kept, and so is the newest automatic
version (the latest restore point, whatever the windows). Automatic versions are kept:

* every one made within ``keep_all_seconds`` (default: the last day);
* then, up to ``hourly_seconds`` old (default: a week), the newest of each hour;
* then, up to ``daily_seconds`` old (default: forever), the newest of each day.

Hours and days are UTC calendar hours and days of the version's time (Unix seconds). The
newest version of an hour stays the newest of that hour as versions come and go, so applying
the policy again and again (the hub does after each automatic version) keeps exactly what one
application over every version ever made would keep.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["DAY", "HOUR", "RetentionPolicy", "VersionStamp", "expired"]

HOUR = 3600.0
DAY = 86400.0


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    """How long automatic versions are kept (seconds; ``daily_seconds`` ``None`` is
    forever). Each window starts where the one before ends, so a shorter one later in the
    list keeps nothing more."""

    keep_all_seconds: float = DAY
    hourly_seconds: float = 7 * DAY
    daily_seconds: float | None = None


@dataclass(frozen=True, slots=True)
class VersionStamp:
    """What retention reads of a version: its id, time (Unix seconds), and whether it was
    made automatically."""

    id: int
    created_at: float
    automatic: bool


def expired(versions: Iterable[VersionStamp], now: float, policy: RetentionPolicy) -> list[int]:
    """The ids of the automatic versions ``policy`` no longer keeps at time ``now``, in
    ascending order (see the module docstring)."""
    automatic = [v for v in versions if v.automatic]
    newest_hour: dict[int, VersionStamp] = {}
    newest_day: dict[int, VersionStamp] = {}
    for version in automatic:
        for buckets, width in ((newest_hour, HOUR), (newest_day, DAY)):
            key = int(version.created_at // width)
            best = buckets.get(key)
            if best is None or (version.created_at, version.id) > (best.created_at, best.id):
                buckets[key] = version
    newest = max(automatic, key=lambda v: (v.created_at, v.id), default=None)
    gone = []
    for version in automatic:
        if version is newest:
            continue
        age = now - version.created_at
        if age <= policy.keep_all_seconds:
            continue
        if age <= policy.hourly_seconds and newest_hour[int(version.created_at // HOUR)] is version:
            continue
        daily = policy.daily_seconds is None or age <= policy.daily_seconds
        if daily and newest_day[int(version.created_at // DAY)] is version:
            continue
        gone.append(version.id)
    return sorted(gone)
