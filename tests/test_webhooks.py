"""Webhook signatures, backoff and the stores' outbox, SQLite and PostgreSQL (pure parts;
delivery end to end is in tests/e2e/test_webhooks.py)."""

from __future__ import annotations

import base64
import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from collab.stores import DocumentStore
from collab.stores.outbox import CHANGED, CREATED, DELETED, EventOutbox
from collab.webhooks import InvalidSignature, sign, verify
from collab.webhooks.delivery import backoff
from tests.helpers.stores import STORES, Opener, opener

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
    assert all(
        0.5 * min(60.0, 2 ** (n - 1)) <= d <= min(60.0, 2 ** (n - 1))
        for n, d in zip(range(1, 12), delays, strict=True)
    )
    assert max(delays) <= 60.0
    assert len(set(delays)) == len(delays)  # jitter: no two alike


A = "http://a.example/hook"
B = "http://b.example/hook"


def update_for(client: int) -> bytes:
    """A one-character insert by ``client`` into root text ``text``."""
    return bytes([1, 1, client, 0, 4, 1, 4]) + b"text" + b"\x01X\x00"


@pytest.fixture(params=STORES)
def opened(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Opener]:
    """Opens stores (SQLite, then PostgreSQL) on the test's database."""
    with opener(request, request.param, tmp_path) as open_:
        yield open_


@pytest.fixture
def store(opened: Opener) -> DocumentStore:
    return opened()


def types(outbox: EventOutbox) -> list[tuple[str, str]]:
    return [(e.type, e.document) for e in outbox.events_after(0, 100)]


def test_commits_write_created_events_and_change_marks(
    store: DocumentStore, opened: Opener
) -> None:
    store.append([("d1", update_for(1)), ("d2", update_for(2))])
    store.append([("d1", update_for(3))])
    assert types(store.outbox) == [(CREATED, "d1"), (CREATED, "d2")]
    marks = store.outbox.due_changes(marked_before=time.time() + 1)
    assert [name for name, _ in marks] == ["d1", "d2"]
    # The mark keeps the first change's moment; reporting it writes one event, once.
    name, marked_at = marks[0]
    assert store.outbox.report_changes([(name, marked_at, CHANGED, {"size_bytes": 1})]) == 1
    assert store.outbox.report_changes([(name, marked_at, CHANGED, {"size_bytes": 1})]) == 0
    store.append([("d1", update_for(4))])  # changed again: marked again
    assert [n for n, _ in store.outbox.due_changes(time.time() + 1)] == ["d2", "d1"]
    assert store.delete("d2")
    assert [n for n, _ in store.outbox.due_changes(time.time() + 1)] == ["d1"]
    assert types(store.outbox)[-2:] == [(CHANGED, "d1"), (DELETED, "d2")]
    # After a restart: the marks are still there, existing documents are not "created" again.
    store.close()
    again = opened()
    again.append([("d1", update_for(5)), ("d3", update_for(6))])
    assert types(again.outbox)[-1:] == [(CREATED, "d3")]
    assert [n for n, _ in again.outbox.due_changes(time.time() + 1)] == ["d1", "d3"]


def test_changes_of_many_documents_are_reported_at_once(store: DocumentStore) -> None:
    """A reporter tick writes the events of every due document in one transaction; a mark
    gone meanwhile (the document deleted) is skipped, the others are written."""
    store.append([("d1", update_for(1)), ("d2", update_for(2)), ("d3", update_for(3))])
    marks = store.outbox.due_changes(time.time() + 1)
    assert store.delete("d2")
    changes = [(name, at, CHANGED, {"size_bytes": 1}) for name, at in marks]
    assert store.outbox.report_changes(changes) == 2
    assert [t for t in types(store.outbox) if t[0] == CHANGED] == [(CHANGED, "d1"), (CHANGED, "d3")]
    assert store.outbox.due_changes(time.time() + 1) == []


def test_deliveries_are_ordered_per_endpoint_and_document(store: DocumentStore) -> None:
    outbox = store.outbox
    store.append([("before", update_for(9))])  # before the endpoints existed: not delivered
    outbox.register_endpoints((A, B))
    store.append([("d1", update_for(1)), ("d2", update_for(2))])
    d1_marked = outbox.due_changes(time.time() + 1)[1][1]
    assert outbox.report_changes([("d1", d1_marked, CHANGED, {})]) == 1
    due = outbox.due_deliveries((A, B), now=time.time() + 1, limit=100)
    # Only the head of each (endpoint, document): each document's created event.
    assert sorted((d.endpoint, d.event.document, d.event.type) for d in due) == [
        (A, "d1", CREATED),
        (A, "d2", CREATED),
        (B, "d1", CREATED),
        (B, "d2", CREATED),
    ]
    first = next(d for d in due if d.event.document == "d1" and d.endpoint == A)
    retry_at = time.time() + 50
    outbox.delivery_failed(first.event.id, A, "HTTP 500", next_at=retry_at)
    # Not due before its retry time, and d1's next event waits behind it on that endpoint.
    assert not [
        d for d in outbox.due_deliveries((A,), time.time() + 1, 100) if d.event.document == "d1"
    ]
    outbox.delivery_done(first.event.id, A)
    nxt = [d for d in outbox.due_deliveries((A,), time.time() + 1, 100) if d.event.document == "d1"]
    assert [d.event.type for d in nxt] == [CHANGED]
    # A dead delivery lets the next one go too, and is listed as dead.
    b_first = next(d for d in due if d.event.document == "d1" and d.endpoint == B)
    outbox.delivery_failed(b_first.event.id, B, "timeout", next_at=None)
    dead = outbox.deliveries(state="dead")
    assert [(d.event.id, d.attempts, d.last_error) for d in dead] == [
        (b_first.event.id, 1, "timeout")
    ]
    nxt_b = [
        d for d in outbox.due_deliveries((B,), time.time() + 1, 100) if d.event.document == "d1"
    ]
    assert [d.event.type for d in nxt_b] == [CHANGED]
    # An endpoint no longer configured gets nothing new.
    store.append([("d4", update_for(4))])
    outbox.due_deliveries((A,), time.time() + 1, 100)
    assert not [d for d in outbox.deliveries() if d.endpoint == B and d.event.document == "d4"]


def test_prune_keeps_events_still_being_delivered(store: DocumentStore) -> None:
    outbox = store.outbox
    outbox.register_endpoints((A,))
    store.append([("a", update_for(1)), ("b", update_for(2))])
    due = outbox.due_deliveries((A,), time.time() + 1, 100)
    outbox.delivery_done(next(d for d in due if d.event.document == "a").event.id, A)
    assert outbox.prune(older_than=time.time() + 1) == 1
    assert [e.document for e in outbox.events_after(0, 10)] == ["b"]
    assert {d.event.document for d in outbox.deliveries()} == {"b"}


def test_readme_signature_check_accepts_collab_signatures() -> None:
    """The README's 10-line receiver check, run as written, agrees with collab's signing."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme[readme.index("## Webhooks and change feed") :]
    code = section[section.index("```python") + len("```python") : section.index("```\n\n")]
    namespace: dict[str, object] = {}
    exec(code, namespace)
    check = namespace["verify"]
    assert callable(check)
    body = b'{"id":"evt_1"}'
    check(SECRET, sign(SECRET, body), body)
    with pytest.raises(ValueError, match="bad signature"):
        check(SECRET, sign(SECRET, body), body + b"!")


async def test_versions_and_restores_are_events(tmp_path: Path) -> None:
    """A saved version is a ``version.created`` event (written with the version), a restore a
    ``document.restored`` one after its automatic version."""
    from tests.test_http_api import in_process

    async with in_process(tmp_path) as started:
        http = started.http
        headers = {"Content-Type": "application/octet-stream"}
        created = await http.post("/api/documents/v/update", content=update_for(1), headers=headers)
        assert created.status_code == 200, created.text
        saved = await http.post("/api/documents/v/versions", json={"label": "first"})
        assert saved.status_code in (200, 201), saved.text
        version = saved.json()["id"]
        await http.post("/api/documents/v/update", content=update_for(2), headers=headers)
        restored = await http.post(f"/api/documents/v/versions/{version}/restore")
        assert restored.status_code == 200, restored.text
        events = (await http.get("/api/changes")).json()["events"]
    kinds = [(e["type"], e["data"]) for e in events if e["type"] != "document.changed"]
    assert kinds[0] == ("document.created", {})
    assert kinds[1] == (
        "version.created",
        {"version": version, "label": "first", "author": None, "automatic": False},
    )
    automatic = kinds[2]
    assert automatic[0] == "version.created" and automatic[1]["automatic"] is True
    assert kinds[3] == (
        "document.restored",
        {"version": version, "saved_version": automatic[1]["version"]},
    )


async def test_a_change_event_carries_the_documents_state_vector(tmp_path: Path) -> None:
    """``document.changed`` describes the document's state vector: every client's clock,
    none for structs that wait for a missing predecessor."""
    from pycrdt import Doc, Text

    from collab.updates import state_vector
    from collab.webhooks.service import Webhooks
    from tests.test_connection import started_hub

    authors: list[Doc[Any]] = [Doc(client_id=7), Doc(client_id=9)]
    updates: list[bytes] = []
    for author in authors:
        author.observe(lambda event: updates.append(event.update))
        author.get("text", type=Text).insert(0, "abc")
    later = Doc(client_id=11)
    later_updates: list[bytes] = []
    later.observe(lambda event: later_updates.append(event.update))
    text = later.get("text", type=Text)
    text.insert(0, "x")
    text.insert(1, "y")
    async with started_hub(tmp_path) as hub:
        for update in updates:
            await hub.write("doc", update)
        await hub.write("doc", later_updates[1])  # waits for client 11's first struct
        data = (await Webhooks(hub, hub.settings).describe(["doc"]))["doc"]
    assert data is not None
    described = state_vector(base64.b64decode(data["state_vector"]))
    assert described == {7: 3, 9: 3}


async def test_a_change_event_reads_the_state_vector_without_encoding_the_document(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Describing a change reads the state vector from the document (open room or loaded
    from the store), never from its whole state encoded: for a 20 MB document that took
    170 MiB and half a second of the event loop at every event while it was edited."""
    from pycrdt import Doc, Text

    from collab.integrator import Integrator
    from collab.room import Room
    from collab.updates import state_vector
    from collab.webhooks.service import Webhooks
    from tests.test_connection import started_hub

    author: Doc[Any] = Doc(client_id=5)
    updates: list[bytes] = []
    author.observe(lambda event: updates.append(event.update))
    author.get("text", type=Text).insert(0, "hello")

    def encoded(*_: object) -> bytes:
        raise AssertionError("the document's state was encoded")

    async with started_hub(tmp_path) as hub:
        await hub.write("doc", updates[0])
        monkeypatch.setattr(Room, "state", encoded)
        monkeypatch.setattr(Integrator, "state_update", encoded)
        async with hub.rooms.use("doc"):
            opened = (await Webhooks(hub, hub.settings).describe(["doc"]))["doc"]
    async with started_hub(tmp_path) as hub:  # a restart: not open, read from the store
        assert hub.rooms.room("doc") is None
        stored = (await Webhooks(hub, hub.settings).describe(["doc"]))["doc"]
    for data in (opened, stored):
        assert data is not None
        assert state_vector(base64.b64decode(data["state_vector"])) == {5: 5}
