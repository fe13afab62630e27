"""Issue 19 item 1, the rest: a client id a live connection writes with (structs or awareness)
is that connection's while it is open. Another connection's (or an HTTP write's) structs of
that client id are refused, the sender closed with 1013 (retryable: an honest client that
reconnects before the server noticed its old socket died gets in once the old one is gone).

Before, a forged struct at a live editor's *next* clock, sent before the editor's own, won
everywhere: the editor's edit at that clock was then ignored as already known.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from pycrdt import Doc, Text

from collab import protocol
from collab.websocket import CloseCode
from tests.e2e.conftest import OCTETS, Server
from tests.e2e.pyclient import PyClient, awareness_frame, awareness_view

pytestmark = pytest.mark.e2e

ALICE = 3_000_000_007


def forged_next(editor: Doc[Any], text: str) -> bytes:
    """An update of ``editor``'s client id at its next clock: ``text`` at the start."""
    forger: Doc[Any] = Doc(client_id=editor.client_id)
    forger.apply_update(editor.get_update())
    state = forger.get_state()
    forger.get("text", type=Text).insert(0, text)
    return forger.get_update(state)


async def content(server: Server, name: str) -> str:
    async with httpx.AsyncClient(base_url=server.http_url) as http:
        return str((await http.get(f"/api/documents/{name}/content")).json().get("text", ""))


async def test_a_forged_struct_at_a_live_editors_next_clock_is_refused(server: Server) -> None:
    alice_doc: Doc[Any] = Doc(client_id=ALICE)
    async with (
        PyClient(server.ws_url, "d", alice_doc) as alice,
        PyClient(server.ws_url, "d") as bob,
    ):
        alice.text().insert(0, "hi")
        await bob.wait_for(lambda: str(bob.text()) == "hi")
        attacker = await PyClient(server.ws_url, "d").connect()
        await attacker.raw(protocol.encode(protocol.Update(forged_next(alice_doc, "X"))))
        assert await attacker.wait_closed() == CloseCode.TRY_AGAIN_LATER
        assert f"client id {ALICE} is in use by another connection" in attacker.close_reason
        alice.text().insert(2, "!")  # at the clock the forgery took
        await bob.wait_for(lambda: str(bob.text()) == "hi!")
        await alice.barrier()
        assert str(alice.text()) == "hi!"
        assert alice.close_code is None and bob.close_code is None
    assert await content(server, "d") == "hi!"


async def test_an_http_write_of_a_live_editors_client_id_is_refused_with_409(
    server: Server,
) -> None:
    alice_doc: Doc[Any] = Doc(client_id=ALICE)
    async with PyClient(server.ws_url, "d", alice_doc) as alice:
        alice.text().insert(0, "hi")
        await alice.barrier()
        async with httpx.AsyncClient(base_url=server.http_url) as http:
            response = await http.post(
                "/api/documents/d/update", content=forged_next(alice_doc, "X"), headers=OCTETS
            )
        assert response.status_code == 409, response.text
        assert response.json()["error"] == "client_id_in_use"
        alice.text().insert(2, "!")
        await alice.barrier()
    assert await content(server, "d") == "hi!"
    # once the editor has gone, its client id is free again
    async with httpx.AsyncClient(base_url=server.http_url) as http:
        later = await http.post(
            "/api/documents/d/update", content=forged_next(alice_doc, "X"), headers=OCTETS
        )
        assert later.status_code == 200, later.text
    assert await content(server, "d") == "Xhi!"


async def test_an_editor_reconnecting_before_its_old_socket_closed_gets_in_once_it_has(
    server: Server,
) -> None:
    """The same client id on a new connection while the old one is still open (the server
    has not noticed it died): its writes are refused with 1013, which clients retry; once
    the old connection is gone, the reconnect's sync step 2 brings the edit made meanwhile."""
    first_doc: Doc[Any] = Doc(client_id=ALICE)
    async with PyClient(server.ws_url, "d") as bob:
        first = await PyClient(server.ws_url, "d", first_doc).connect()
        await first.raw(awareness_frame(ALICE, 1, {"user": "alice"}))
        first.text().insert(0, "a")
        await bob.wait_for(lambda: str(bob.text()) == "a")
        await bob.wait_for(lambda: awareness_view(bob.received).get(ALICE) == {"user": "alice"})
        tab: Doc[Any] = Doc(client_id=ALICE)  # the editor's document, on a new socket
        tab.apply_update(first_doc.get_update())
        second = await PyClient(server.ws_url, "d", tab).connect()
        await second.raw(awareness_frame(ALICE, 2, {"user": "alice (again)"}))
        second.text().insert(1, "b")
        assert await second.wait_closed() == CloseCode.TRY_AGAIN_LATER
        assert "retry once it has closed" in second.close_reason
        assert awareness_view(bob.received)[ALICE] == {"user": "alice"}
        await first.close()  # the server notices the old socket is gone
        third = await PyClient(server.ws_url, "d", tab).connect()
        await third.raw(awareness_frame(ALICE, 3, {"user": "alice (back)"}))
        await bob.wait_for(lambda: str(bob.text()) == "ab")
        await bob.wait_for(
            lambda: awareness_view(bob.received).get(ALICE) == {"user": "alice (back)"}
        )
        third.text().insert(2, "c")
        await bob.wait_for(lambda: str(bob.text()) == "abc")
        assert third.close_code is None
        await third.close()
    assert await content(server, "d") == "abc"


async def test_one_registry_a_client_id_announced_in_awareness_is_owned_for_writes(
    server: Server,
) -> None:
    """A connection that announced client id 77 in awareness owns it for writes too, and
    one that wrote structs of client id 88 owns it for awareness."""
    async with PyClient(server.ws_url, "d") as bob, PyClient(server.ws_url, "d") as present:
        await present.raw(awareness_frame(77, 1, {"user": "p"}))
        await bob.wait_for(lambda: awareness_view(bob.received).get(77) == {"user": "p"})
        intruder = await PyClient(server.ws_url, "d", Doc(client_id=77)).connect()
        intruder.text().insert(0, "as 77")
        assert await intruder.wait_closed() == CloseCode.TRY_AGAIN_LATER
        writer = await PyClient(server.ws_url, "d", Doc(client_id=88)).connect()
        writer.text().insert(0, "w")
        await bob.wait_for(lambda: str(bob.text()) == "w")
        await present.raw(awareness_frame(88, 1, {"user": "not 88"}))  # dropped
        await writer.raw(awareness_frame(88, 1, {"user": "88"}))
        await bob.wait_for(lambda: awareness_view(bob.received).get(88) == {"user": "88"})
        assert all(state != {"user": "not 88"} for state in awareness_view(bob.received).values())
        await writer.close()
