"""Webhooks and the change feed against a real server and a real receiver (issue 24)."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pycrdt import Doc, Text

from collab.auth import Role, mint_token
from collab.webhooks import InvalidSignature, verify
from tests.e2e.conftest import Server
from tests.e2e.pyclient import eventually
from tests.e2e.receiver import Receiver

pytestmark = pytest.mark.e2e

SECRET = "webhook-secret-of-at-least-32-bytes!!"
AUTH_SECRET = "auth-secret-auth-secret-auth-secret-0123456789"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver(SECRET).start()
    yield receiver
    receiver.stop()


def hooked(receiver: Receiver, *more: str) -> list[str]:
    return ["--webhook-url", receiver.url, "--webhook-secret", SECRET,
            "--webhook-debounce-seconds", "0.3", *more]  # fmt: skip


class Writer:
    """Edits root text ``text`` of one document over the HTTP API, one update per call."""

    def __init__(self, http: httpx.AsyncClient, name: str) -> None:
        self.http, self.name = http, name
        self.doc: Doc[Any] = Doc()
        self.text = self.doc.get("text", type=Text)

    async def type(self, chars: str) -> None:
        before = self.doc.get_state()
        self.text += chars
        update = self.doc.get_update(before)
        response = await self.http.post(
            f"/api/documents/{self.name}/update",
            content=update,
            headers={"Content-Type": "application/octet-stream"},
        )
        assert response.status_code == 200, response.text

    def state_vector(self) -> str:
        return base64.b64encode(self.doc.get_state()).decode()


async def test_signed_events_for_create_debounced_edits_and_delete(
    server_factory: Any, receiver: Receiver
) -> None:
    server = server_factory(hooked(receiver))
    async with httpx.AsyncClient(base_url=server.http_url, timeout=30) as http:
        writer = Writer(http, "notes")
        for i in range(30):
            await writer.type(f"{i} ")
        final = writer.state_vector()

        def changed_to_final() -> bool:
            return any(
                e["type"] == "document.changed" and e["data"]["state_vector"] == final
                for e in receiver.accepted()
            )

        await eventually(changed_to_final, "a change event with the final state")
        assert (await http.delete("/api/documents/notes")).status_code == 200
        await eventually(
            lambda: [e for e in receiver.accepted() if e["type"] == "document.deleted"],
            "the delete event",
        )
    events = receiver.accepted()
    kinds = [e["type"] for e in events]
    assert kinds[0] == "document.created" and kinds[-1] == "document.deleted"
    changed = [e for e in events if e["type"] == "document.changed"]
    assert 1 <= len(changed) < 30  # debounced
    assert changed[-1]["data"]["state_vector"] == final
    assert changed[-1]["data"]["size_bytes"] > 0
    assert all(e["document"] == "notes" for e in events)
    ids = [e["cursor"] for e in events]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    # Every request was signed over its exact body; a tampered body fails the check.
    for request in receiver.requests:
        verify(SECRET, request.signature, request.body)
        assert request.event_id == request.event["id"]
        with pytest.raises(InvalidSignature):
            verify(SECRET, request.signature, request.body.replace(b"notes", b"notez"))


async def test_failing_receiver_gets_every_event_once_in_order_after_recovering(
    server_factory: Any, receiver: Receiver
) -> None:
    receiver.fail_next = 3
    server = server_factory(hooked(receiver))
    async with httpx.AsyncClient(base_url=server.http_url, timeout=30) as http:
        for name in ("a", "b"):
            await Writer(http, name).type("hello")

        async def feed_complete() -> list[dict[str, Any]]:
            events = (await http.get("/api/changes")).json()["events"]
            changed = {e["document"] for e in events if e["type"] == "document.changed"}
            return events if changed == {"a", "b"} else []

        expected = {e["id"] for e in await eventually(feed_complete, "both change events")}
        await eventually(
            lambda: expected <= {e["id"] for e in receiver.accepted()},
            "every event delivered after the failures",
        )
        deliveries = (await http.get("/api/webhooks/deliveries")).json()["deliveries"]
        metrics = (await http.get("/metrics")).text
    assert sum(1 for r in receiver.requests if r.status == 500) == 3
    accepted = receiver.accepted()
    assert len(accepted) == len({e["id"] for e in accepted})  # once per id
    for name in ("a", "b"):
        cursors = [e["cursor"] for e in accepted if e["document"] == name]
        assert cursors == sorted(cursors)
    assert {d["state"] for d in deliveries} == {"delivered"}
    # attempts counts the POSTs: the 3 refused ones and the one each event was taken by
    assert sum(d["attempts"] for d in deliveries) == len(deliveries) + 3
    assert 'collab_webhook_deliveries_total{outcome="failed"} 3.0' in metrics


async def test_kill_9_between_commit_and_delivery_delivers_after_restart(
    server_factory: Any, receiver: Receiver
) -> None:
    receiver.stop()  # the endpoint is down while the edits are committed
    server = server_factory(hooked(receiver))
    async with httpx.AsyncClient(base_url=server.http_url, timeout=30) as http:
        await Writer(http, "crash").type("survives")
        await eventually(lambda: _has_change(http), "the change event in the feed")
    server.kill()
    server.start()
    back = Receiver(SECRET, port=receiver.port).start()  # the same URL answers again
    try:
        await eventually(
            lambda: (
                {e["type"] for e in back.accepted()} >= {"document.created", "document.changed"}
            ),
            "the events of the killed server delivered after its restart",
        )
        assert {e["document"] for e in back.accepted()} == {"crash"}
    finally:
        back.stop()


async def test_feed_resumes_from_a_cursor_across_a_restart(server: Server) -> None:
    async with httpx.AsyncClient(base_url=server.http_url, timeout=30) as http:
        await Writer(http, "one").type("1")
        first = (await http.get("/api/changes", params={"limit": 1})).json()
        assert [e["type"] for e in first["events"]] == ["document.created"]
        await Writer(http, "two").type("2")
    server.restart()
    async with httpx.AsyncClient(base_url=server.http_url, timeout=30) as http:
        rest = (await http.get("/api/changes", params={"since": first["next_cursor"]})).json()
        everything = (await http.get("/api/changes")).json()
        # Long-poll: nothing new yet, so it waits, then returns when the next event comes.
        waiting = asyncio.create_task(
            http.get("/api/changes", params={"since": everything["next_cursor"], "wait": 30})
        )
        await Writer(http, "three").type("3")
        woke = (await waiting).json()
    ids = [e["id"] for e in everything["events"]]
    assert len(ids) == len(set(ids))
    assert [e["id"] for e in first["events"] + rest["events"]] == ids
    assert ("document.created", "three") in [(e["type"], e["document"]) for e in woke["events"]]


async def test_feed_shows_a_token_only_what_it_may_read(server_factory: Any) -> None:
    server = server_factory(env={"COLLAB_AUTH_SECRET": AUTH_SECRET})
    admin = {"Authorization": "Bearer " + mint_token(AUTH_SECRET, "*", Role.ADMIN, 600)}
    reader = {"Authorization": "Bearer " + mint_token(AUTH_SECRET, "mine", Role.READ, 600)}
    async with httpx.AsyncClient(base_url=server.http_url, timeout=30, headers=admin) as http:
        for name in ("mine", "theirs"):
            await Writer(http, name).type("x")
        everything = (await http.get("/api/changes")).json()["events"]
        mine = (await http.get("/api/changes", headers=reader)).json()["events"]
        refused = await http.get("/api/webhooks/deliveries", headers=reader)
        anonymous = await http.get("/api/changes", headers={"Authorization": ""})
    assert {e["document"] for e in everything} == {"mine", "theirs"}
    assert {e["document"] for e in mine} == {"mine"}
    assert refused.status_code == 403 and refused.json()["error"] == "forbidden"
    assert anonymous.status_code == 401


async def test_feed_streams_server_sent_events(server: Server) -> None:
    async with httpx.AsyncClient(base_url=server.http_url, timeout=30) as http:
        await Writer(http, "streamed").type("s")
        async with http.stream(
            "GET", "/api/changes", headers={"Accept": "text/event-stream"}
        ) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            lines: list[str] = []
            async for line in response.aiter_lines():
                lines.append(line)
                if line.startswith("data:"):
                    break
    assert lines[0].startswith("id: ") and lines[1] == "event: document.created"
    assert json.loads(lines[2].removeprefix("data: "))["document"] == "streamed"


async def _has_change(http: httpx.AsyncClient) -> bool:
    events = (await http.get("/api/changes")).json()["events"]
    return any(e["type"] == "document.changed" for e in events)


async def test_a_cursor_past_the_newest_event_is_refused(server: Server) -> None:
    async with httpx.AsyncClient(base_url=server.http_url, timeout=30) as http:
        await Writer(http, "one").type("1")
        newest = (await http.get("/api/changes")).json()["next_cursor"]
        ahead = await http.get("/api/changes", params={"since": newest + 1})
        negative = await http.get("/api/changes", params={"since": -1})
    assert ahead.status_code == 400 and "past the newest event" in ahead.json()["detail"]
    assert negative.status_code == 400 and negative.json()["detail"] == "since must be 0 or more"
