"""Issue 19 items 10 (the second half), 11 and 12 with real y-websocket clients (Node, unmodified
``y-websocket`` 3.1 and ``yjs``) on a real server: what the stock client does with the
server's answer, and what it shows its user."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from collab.websocket import CloseCode
from tests.e2e.conftest import Server
from tests.e2e.nodepeer import NodePeer
from tests.e2e.pyclient import PyClient, awareness_frame, awareness_view
from tests.e2e.test_ops import metric, scrape

pytestmark = pytest.mark.e2e


async def closed_for_good(editor: NodePeer, code: int, word: str) -> None:
    """The editor's connection was closed with ``code`` and a reason naming ``word``, and the
    y-websocket client gave up for good ('closed' event): no reconnect is scheduled."""
    status = await editor.call("wait_close")
    assert status["last_close"]["code"] == code, status
    assert word in status["last_close"]["reason"], status
    status = await editor.call("status")
    assert status["terminal_close"]["code"] == code, status
    assert not status["should_connect"] and status["close_count"] == 1, status


async def test_a_client_holding_an_edit_over_the_message_limit_is_told_once(
    server_factory: Any, node_modules: None
) -> None:
    """Item 10: an editor holding a local edit over ``--max-message-bytes`` was closed 1009
    on every reconnect (19 times in 20 s): y-websocket retries every code outside
    4400-4499. It is now closed once with 4413 and a reason, and the stock client stops."""
    server: Server = server_factory(["--max-message-bytes", "4096"])
    async with NodePeer(server.ws_url, "limits/held") as editor:
        await editor.call("wait_synced")
        await editor.call("disconnect")
        await editor.call("insert", index=0, text="x" * 10_000)  # typed while offline
        await editor.call("connect")  # its sync step 2 carries the whole edit
        await closed_for_good(editor, CloseCode.TOO_LARGE, "limit")
    text = await scrape(server)
    assert metric(text, "collab_closes_total", code=str(CloseCode.TOO_LARGE)) == 1
    assert metric(text, "collab_closes_total", code="1009") == 0


async def test_presence_cannot_be_removed_or_forged_by_another_connection(
    server: Server, node_modules: None
) -> None:
    """Item 11: any connection (a read token too) could send awareness entries for another
    connection's client id: ``null`` removed a live editor's presence for everyone, a state
    with another name impersonated it. Entries for client ids the sender does not own are
    dropped: Yjs clients in the room and newcomers keep the editor's own state."""
    room = "presence/forged"
    async with NodePeer(server.ws_url, room) as alice, NodePeer(server.ws_url, room) as bob:
        await alice.call("awareness_set", state={"user": "alice"})
        await bob.call("wait_awareness", count=2)
        mallory = await PyClient(server.ws_url, room).connect()
        try:
            await mallory.raw(awareness_frame(7777, 1, {"user": "mallory"}))  # its own
            await mallory.raw(awareness_frame(alice.client_id, 50, None))
            await mallory.raw(awareness_frame(alice.client_id, 51, {"user": "not alice"}))
            await mallory.raw(awareness_frame(7777, 2, {"user": "mallory", "done": True}))
            done = {"user": "mallory", "done": True}  # relayed after the forged entries
            wait = {"count": 3, "client": 7777, "state": done}
            states = (await bob.call("wait_awareness", **wait))["states"]
            assert states[str(alice.client_id)] == {"user": "alice"}, states
            assert mallory.close_code is None  # dropped, not a protocol error
            newcomer = await PyClient(server.ws_url, room).connect()
            try:
                await newcomer.wait_for(lambda: 7777 in awareness_view(newcomer.received))
                seen = awareness_view(newcomer.received)
                assert seen[alice.client_id] == {"user": "alice"}, seen
            finally:
                await newcomer.close()
        finally:
            await mallory.close()
        # alice herself may still change her presence (mallory has left: two states)
        await alice.call("awareness_set", state={"user": "alice", "cursor": 3})
        moved = {"user": "alice", "cursor": 3}
        await bob.call("wait_awareness", count=2, client=alice.client_id, state=moved)


async def test_editors_of_a_deleted_document_are_told_once_and_stop(
    server: Server, node_modules: None
) -> None:
    """Item 12: a client holding a deleted document's content reconnected five times a
    second forever (1007 on every attempt; y-websocket retries any code outside 4400-4499).
    Now both the editor connected at the delete and one that was offline then and comes back
    with the old content are closed once with 4410, a reason saying so, and stop."""
    room = "deleted/editors"
    async with NodePeer(server.ws_url, room) as online, NodePeer(server.ws_url, room) as offline:
        await online.call("insert", index=0, text="old content")
        await offline.call("wait_text", equals="old content")
        await offline.call("disconnect")
        async with httpx.AsyncClient(base_url=server.http_url) as http:
            assert (await http.delete(f"/api/documents/{room}")).status_code == 200
        await offline.call("connect")  # its sync step 2 brings the deleted content back
        for editor in (online, offline):
            await closed_for_good(editor, CloseCode.DOCUMENT_DELETED, "deleted")
    text = await scrape(server)
    assert metric(text, "collab_closes_total", code=str(CloseCode.DOCUMENT_DELETED)) == 2
    async with httpx.AsyncClient(base_url=server.http_url) as http:
        content = (await http.get(f"/api/documents/{room}/content")).json()
        assert content.get("text", "") == "", content
