"""Pure parts of history: retention (on a fake clock) and text blocks between versions."""

from __future__ import annotations

import random
from typing import Any

from pycrdt import Doc, Map, Text, XmlElement, XmlFragment, XmlText

from collab.history.blocks import diff_blocks, text_blocks
from collab.history.retention import DAY, HOUR, RetentionPolicy, VersionStamp, expired

# -- retention -----------------------------------------------------------------------------------


class FakeClock:
    def __init__(self, start: float) -> None:
        self.now = start

    def advance(self, seconds: float) -> None:
        self.now += seconds


def test_retention_over_a_simulated_month() -> None:
    """A month of editing sessions, an automatic version every few minutes to hours (and a
    few named ones), the policy applied after each new version as the hub does."""
    rng = random.Random(23)
    clock = FakeClock(1_800_000_000.0)
    policy = RetentionPolicy()
    kept: dict[int, VersionStamp] = {}
    made: list[VersionStamp] = []
    start = clock.now
    while clock.now < start + 30 * DAY:
        clock.advance(rng.choice([60, 300, 900, 3600, 4 * 3600]) * rng.random() + 1)
        version = VersionStamp(len(made) + 1, clock.now, automatic=rng.random() > 0.05)
        made.append(version)
        kept[version.id] = version
        for gone in expired(kept.values(), clock.now, policy):
            del kept[gone]
    now = clock.now
    # one application over everything ever made keeps the same versions
    assert sorted(kept) == sorted(set(v.id for v in made) - set(expired(made, now, policy)))
    automatic = [v for v in made if v.automatic]
    # named versions are never deleted
    assert {v.id for v in made if not v.automatic} <= set(kept)
    # everything from the last day
    assert {v.id for v in automatic if now - v.created_at <= DAY} <= set(kept)
    # one an hour for a week: the newest of each hour
    for days, width in ((7, HOUR), (30, DAY)):
        buckets: dict[int, list[VersionStamp]] = {}
        for v in automatic:
            if DAY < now - v.created_at <= days * DAY:
                buckets.setdefault(int(v.created_at // width), []).append(v)
        for members in buckets.values():
            newest = max(members, key=lambda v: v.created_at)
            assert newest.id in kept
    # and nothing else past the first day
    for v in automatic:
        age = now - v.created_at
        if v.id in kept and age > DAY:
            same_hour = [
                w for w in automatic if int(w.created_at // HOUR) == int(v.created_at // HOUR)
            ]
            same_day = [
                w for w in automatic if int(w.created_at // DAY) == int(v.created_at // DAY)
            ]
            newest_hour = max(same_hour, key=lambda w: w.created_at)
            newest_day = max(same_day, key=lambda w: w.created_at)
            assert (age <= 7 * DAY and v is newest_hour) or v is newest_day
    assert len(kept) < len(made) / 3  # the policy did drop most of them


def newest(versions: list[VersionStamp], of: VersionStamp, width: float) -> VersionStamp:
    """The newest of ``versions`` in the hour or day (``width``) of version ``of``."""
    bucket = int(of.created_at // width)
    return max(
        (v for v in versions if int(v.created_at // width) == bucket), key=lambda v: v.created_at
    )


def test_retention_windows_are_configurable() -> None:
    now = 10 * DAY
    versions = [VersionStamp(i, now - i * 600, automatic=True) for i in range(1, 1000)]
    everything = RetentionPolicy(keep_all_seconds=30 * DAY)
    assert expired(versions, now, everything) == []
    only_an_hour = RetentionPolicy(keep_all_seconds=HOUR, hourly_seconds=0, daily_seconds=0)
    assert set(expired(versions, now, only_an_hour)) == {v.id for v in versions if v.id > 6}
    # the newest automatic version stays whatever the windows
    nothing = RetentionPolicy(keep_all_seconds=0, hourly_seconds=0, daily_seconds=0)
    assert set(expired(versions, now + 30 * DAY, nothing)) == {v.id for v in versions} - {1}
    days_two = RetentionPolicy(keep_all_seconds=0, hourly_seconds=0, daily_seconds=2 * DAY)
    kept = {v.id for v in versions} - set(expired(versions, now, days_two))
    assert len(kept) == 2  # the newest of days 9 and 8 (day 7's newest is 2 days + 10 min old)
    assert all(now - versions[i - 1].created_at <= 2 * DAY for i in kept)


# -- text blocks --------------------------------------------------------------------------------


def rich(*paragraphs: str) -> bytes:
    doc: Doc[Any] = Doc()
    fragment = doc.get("default", type=XmlFragment)
    for paragraph in paragraphs:
        fragment.children.append(XmlElement("paragraph", contents=[XmlText(paragraph)]))
    return doc.get_update()


def test_blocks_of_a_rich_document_and_their_differences() -> None:
    old, new = rich("one", "two", "three"), rich("one", "2", "three", "four")
    assert text_blocks(old) == ["one", "two", "three"]
    assert diff_blocks(text_blocks(old), text_blocks(new)) == [
        {"op": "equal", "text": "one"},
        {"op": "removed", "text": "two"},
        {"op": "added", "text": "2"},
        {"op": "equal", "text": "three"},
        {"op": "added", "text": "four"},
    ]


def test_blocks_of_a_plain_text_and_of_other_roots() -> None:
    doc: Doc[Any] = Doc()
    doc.get("text", type=Text).insert(0, "line 1\n\nline 2\n")
    assert text_blocks(doc.get_update()) == ["line 1", "line 2"]
    other: Doc[Any] = Doc()
    other.get("settings", type=Map)["a"] = 1
    assert '"a": 1' in "".join(text_blocks(other.get_update()))
    assert text_blocks(Doc().get_update()) == []
