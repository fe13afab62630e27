"""Webhook signatures, backoff and the SQLite outbox (pure parts; delivery end to end is in
tests/e2e/test_webhooks.py)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from sqlite_utils import Database

from collab.outbox import Outbox, create_tables
from collab.webhooks import InvalidSignature, sign, verify
from collab.webhooks.delivery import backoff
from collab.webhooks.events import CHANGED, CREATED, DELETED

SECRET = "s3cret-s3cret-s3cret-s3cret-s3cret"


def test_signature_round_trip_and_tampering() -> None:
    body = b'{"id":"evt_1"}'
    header = sign(SECRET, body, timestamp=1_000)
    assert verify(SECRET, header, body, now=1_010) == 1_000
    with pytest.raises(InvalidSignature, match="does not match"):
        verify(SECRET, header, body + b" ", now=1_010)
    with pytest.raises(InvalidSignature, match="does not match"):
        verify("another-secret", header, body, now=1_010)
    with pytest.raises(InvalidSignature, match="tolerance"):
        verify(SECRET, header, body, now=1_000 + 301)
    with pytest.raises(InvalidSignature, match="malformed"):
        verify(SECRET, "v1=abc", body, now=1_000)
    with pytest.raises(InvalidSignature, match="no X-Collab-Signature"):
        verify(SECRET, None, body)


def test_signature_accepts_any_of_several_during_rotation() -> None:
    body = b"{}"
    old = sign("old-secret", body, timestamp=50).split(",")[1]
    new = sign(SECRET, body, timestamp=50)
    assert verify(SECRET, f"{new},{old}", body, now=50) == 50
    assert verify("old-secret", f"{new},{old}", body, now=50) == 50


def test_backoff_grows_is_capped_and_jittered() -> None:
    rng = random.Random(7)
    delays = [backoff(n, base=1.0, cap=60.0, rng=rng) for n in range(1, 12)]
    assert all(0.5 * min(60.0, 2 ** (n - 1)) <= d <= min(60.0, 2 ** (n - 1))
               for n, d in zip(range(1, 12), delays, strict=True))
    assert max(delays) <= 60.0
    assert len(set(delays)) == len(delays)  # jitter: no two alike


@pytest.fixture
def outbox(tmp_path: Path) -> Outbox:
    db = Database(tmp_path / "o.db")
    db.execute("PRAGMA foreign_keys=ON")
    create_tables(db)
    return Outbox(db, ["http://a.example/hook", "http://b.example/hook"])


def test_deliveries_are_ordered_per_endpoint_and_document(outbox: Outbox) -> None:
    outbox.created(["d1", "d2"], 10.0)
    outbox.add("d1", CHANGED, {"size_bytes": 3}, 11.0)
    due = outbox.due_deliveries(now=100.0, limit=100)
    # Only the head of each (endpoint, document): d1's created and d2's created, per endpoint.
    assert sorted((d.endpoint, d.event.document, d.event.type) for d in due) == [
        ("http://a.example/hook", "d1", CREATED),
        ("http://a.example/hook", "d2", CREATED),
        ("http://b.example/hook", "d1", CREATED),
        ("http://b.example/hook", "d2", CREATED),
    ]
    first = next(d for d in due if d.event.document == "d1" and d.endpoint.startswith("http://a"))
    outbox.delivery_failed(first.event.id, first.endpoint, "HTTP 500", next_at=50.0)
    # Not due before its retry time, and d1's next event waits behind it on that endpoint.
    later = outbox.due_deliveries(now=40.0, limit=100)
    assert not [d for d in later if d.endpoint.startswith("http://a") and d.event.document == "d1"]
    outbox.delivery_done(first.event.id, first.endpoint)
    nxt = [d for d in outbox.due_deliveries(now=40.0, limit=100)
           if d.endpoint.startswith("http://a") and d.event.document == "d1"]
    assert [d.event.type for d in nxt] == [CHANGED]
    # A dead delivery lets the next one go too, and is listed as dead.
    b_first = next(d for d in due if d.event.document == "d1" and d.endpoint.startswith("http://b"))
    outbox.delivery_failed(b_first.event.id, b_first.endpoint, "timeout", next_at=None)
    dead = outbox.deliveries(state="dead")
    assert [(d.event.id, d.attempts, d.last_error) for d in dead] == [(b_first.event.id, 1, "timeout")]


def test_change_marks_become_one_event_each(outbox: Outbox) -> None:
    assert outbox.unmarked(["a", "b"]) == ["a", "b"]
    outbox.mark_changed(["a", "b"], 5.0)
    outbox.committed_marks(["a", "b"])
    assert outbox.unmarked(["a", "b", "c"]) == ["c"]
    outbox.mark_changed(["a"], 9.0)  # already marked: keeps the first moment
    assert outbox.due_changes(marked_before=6.0) == [("a", 5.0), ("b", 5.0)]
    assert outbox.report_change("a", 5.0, CHANGED, {"size_bytes": 1})
    assert not outbox.report_change("a", 5.0, CHANGED, {"size_bytes": 1})  # reported once
    assert outbox.unmarked(["a"]) == ["a"]
    outbox.deleted("b", 7.0)
    assert outbox.due_changes(marked_before=100.0) == []
    assert [e.type for e in outbox.events_after(0, 10)] == [CHANGED, DELETED]
    assert outbox.last_event_id() == outbox.events_after(0, 10)[-1].id


def test_prune_keeps_events_still_being_delivered(outbox: Outbox) -> None:
    outbox.created(["a", "b"], 1.0)
    events = outbox.events_after(0, 10)
    for endpoint in outbox.endpoints:
        outbox.delivery_done(events[0].id, endpoint)
    assert outbox.prune(older_than=2.0) == 1
    assert [e.document for e in outbox.events_after(0, 10)] == ["b"]
    assert {d.event.document for d in outbox.deliveries()} == {"b"}
