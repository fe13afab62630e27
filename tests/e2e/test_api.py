"""End-to-end HTTP API (issue 4): httpx against a real `collab serve` process, where a socket
matters (WebSocket peers, live relay, a restart); the rest runs in-process in
``tests/test_http_api.py``.

Documents are made with pycrdt (and a real Yjs peer in Node where a browser's bytes matter);
every error is checked for its status, its JSON ``{"error", "detail"}`` body, and for leaving
the database exactly as it was.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import websockets
from pycrdt import Doc, Map, Text

from collab import protocol
from tests.e2e.conftest import OCTETS, Server
from tests.e2e.nodepeer import NodePeer
from tests.e2e.pyclient import PyClient, eventually
from tests.test_http_api import (
    ISO_UTC,
    LONG,
    assert_error,
    b64url,
    db_dump,
    listing,
    path,
    post,
    text_update,
)

pytestmark = pytest.mark.e2e


# -- helpers -------------------------------------------------------------------------------------


@pytest.fixture
async def http(server: Server) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.http_url, timeout=LONG) as client:
        yield client


# -- listing and records -------------------------------------------------------------------------


async def test_listing_reflects_documents_made_over_websocket_and_http(
    server: Server, http: httpx.AsyncClient
) -> None:
    over_ws = {
        "plain": "plain",
        "team/notes": "team/notes",  # a literal slash in the WebSocket URL
        "ws/encoded": "ws%2Fencoded",  # the same name, slash percent-encoded
        "ünïcødé 文档": quote("ünïcødé 文档", safe=""),
    }
    over_http = ["deep/a/b/c", "50% off & more?", "#hash;semi", "emoji 🎉/ok", "update"]
    clients = []
    for name, url_name in over_ws.items():
        client = await PyClient(server.ws_url, url_name).connect()
        client.text().insert(0, f"written to {name}")
        await client.barrier()
        clients.append(client)
    for name in over_http:
        record = await post(http, name, text_update(f"posted to {name}"))
        assert record["name"] == name

    records = {r["name"]: r for r in await listing(http)}
    assert set(records) == set(over_ws) | set(over_http)
    for name, record in records.items():
        assert set(record) == {"name", "created_at", "updated_at", "size_bytes", "updates", "peers"}
        assert ISO_UTC.fullmatch(record["created_at"]), record
        assert ISO_UTC.fullmatch(record["updated_at"]), record
        created = datetime.fromisoformat(record["created_at"].replace("Z", "+00:00"))
        updated = datetime.fromisoformat(record["updated_at"].replace("Z", "+00:00"))
        assert created <= updated
        assert abs(time.time() - created.timestamp()) < 3600
        assert record["size_bytes"] > 0 and record["updates"] >= 1
        assert record["peers"] == (1 if name in over_ws else 0), record

    # Round trips: each name reads back through its fully encoded path, and names with a slash
    # also through the path with literal slashes; the content is the one written.
    for name in [*over_ws, *over_http]:
        for url in {path(name), "/api/documents/" + quote(name, safe="/")}:
            response = await http.get(url)
            assert response.status_code == 200, (url, response.text)
            assert response.json()["name"] == name
        content = (await http.get(path(name, "content"))).json()
        assert content["text"] in (f"written to {name}", f"posted to {name}")
        disposition = (await http.get(path(name, "export"), params={"format": "text"})).headers[
            "content-disposition"
        ]
        assert disposition == "attachment; filename*=UTF-8''" + quote(
            name.replace("/", "_") + ".txt", safe=""
        )

    for client in clients:
        await client.close()

    async def no_peers() -> bool:
        return all(r["peers"] == 0 for r in await listing(http))

    await eventually(no_peers, "the peer counts to drop to 0")


async def test_a_y_websocket_client_reaches_a_name_with_reserved_characters_encoded(
    server: Server, http: httpx.AsyncClient, node_modules: None
) -> None:
    """y-websocket's URL is serverUrl + '/' + roomname, as given: a name holding ``?``, ``#``
    or a space goes in percent-encoded (each segment, as the web editor and the README's
    example encode it), and the server decodes it once, to the same document a client
    reaching it through the fully encoded path edits."""
    name = "plan? #2/a b"
    encoded = "/".join(quote(segment, safe="") for segment in name.split("/"))
    assert encoded == "plan%3F%20%232/a%20b"  # what encodeURIComponent makes of each segment
    async with (
        NodePeer(server.ws_url, encoded) as peer,
        PyClient(server.ws_url, quote(name, safe="")) as client,
    ):
        await peer.call("wait_synced", timeout=LONG)
        await peer.call("insert", index=0, text="from Yjs")
        await client.wait_for(lambda: str(client.text()) == "from Yjs", LONG)
        await client.barrier()
    assert [r["name"] for r in await listing(http)] == [name]
    assert (await http.get(path(name, "content"))).json() == {"text": "from Yjs"}


async def test_reading_a_document_over_websocket_leaves_its_record_alone(
    server: Server, http: httpx.AsyncClient
) -> None:
    await post(http, "read-only", text_update("just read me"))
    before = (await http.get(path("read-only"))).json()
    rows_before = db_dump(server.db_path)["updates"]
    async with PyClient(server.ws_url, "read-only") as viewer:
        assert str(viewer.text()) == "just read me"
        await viewer.barrier()
    after = (await http.get(path("read-only"))).json()
    assert after["updated_at"] == before["updated_at"], "a viewer that edited nothing bumped it"
    assert after["updates"] == before["updates"]
    assert after["size_bytes"] == before["size_bytes"]
    assert db_dump(server.db_path)["updates"] == rows_before


# -- reading and writing state -------------------------------------------------------------------


async def test_posted_update_reaches_connected_clients_live(
    server: Server, http: httpx.AsyncClient, node_modules: None
) -> None:
    async with PyClient(server.ws_url, "live") as client, NodePeer(server.ws_url, "live") as peer:
        await peer.call("wait_synced", timeout=LONG)
        record = await post(http, "live", text_update("from http"))
        assert record["name"] == "live" and record["peers"] == 2
        await client.wait_for(lambda: str(client.text()) == "from http", LONG)
        await peer.call("wait_text", equals="from http", timeout=LONG)
        # A second POST from another pycrdt document merges with the first.
        await post(http, "live", text_update("!", field="other"))
        await client.wait_for(lambda: str(client.doc.get("other", type=Text)) == "!", LONG)
        # And an editor's change is visible through the API.
        client.text().insert(len(client.text()), " and ws")
        await client.barrier()
        content = (await http.get(path("live", "content"))).json()
        assert content == {"text": "from http and ws", "other": "!"}


async def test_state_vector_diff_brings_an_older_state_up_to_date(
    server: Server, http: httpx.AsyncClient
) -> None:
    async with PyClient(server.ws_url, "sv") as a, PyClient(server.ws_url, "sv") as b:
        a.text().insert(0, "one")
        await a.barrier()
        old: Doc[Any] = Doc()
        old.apply_update(a.doc.get_update())
        old_state = old.get_state()

        b.text().insert(3, " two")
        b.doc.get("m", type=Map)["k"] = "v"
        del b.text()[0:1]
        await b.barrier()
        await a.wait_for(lambda: str(a.text()) == "ne two", LONG)

        full = await http.get(path("sv", "update"))
        assert full.status_code == 200
        assert full.headers["content-type"] == "application/octet-stream"
        response = await http.get(path("sv", "update"), params={"state_vector": b64url(old_state)})
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "application/octet-stream"
        diff = response.content
        assert 0 < len(diff) < len(full.content)

        old.apply_update(diff)
        assert str(old.get("text", type=Text)) == "ne two"
        assert old.get("m", type=Map).to_py() == {"k": "v"}
        assert old.get_state() == a.doc.get_state()

        # A state vector that already has everything yields an update that adds nothing.
        current = a.doc.get_state()
        response = await http.get(path("sv", "update"), params={"state_vector": b64url(current)})
        fresh: Doc[Any] = Doc()
        fresh.apply_update(full.content)
        before = fresh.get_update()
        fresh.apply_update(response.content)
        assert fresh.get_update() == before

    for bad in ["!!!", b64url(b"\xff\xff\xff"), b64url(b"\x05"), "a"]:
        assert_error(await http.get(path("sv", "update"), params={"state_vector": bad}), 400)


# -- delete --------------------------------------------------------------------------------------


async def test_delete_closes_peers_and_a_stale_editor_cannot_resurrect_the_document(
    server: Server, http: httpx.AsyncClient, node_modules: None
) -> None:
    a = await PyClient(server.ws_url, "doomed").connect()
    async with NodePeer(server.ws_url, "doomed") as peer:
        await peer.call("wait_synced", timeout=LONG)
        a.text().insert(0, "old content")
        await peer.call("wait_text", equals="old content", timeout=LONG)
        await a.barrier()
        await post(http, "survivor", text_update("unrelated"))
        stale_state = a.doc.get_update()

        first_close = asyncio.create_task(peer.call("wait_close", timeout=LONG))
        response = await http.delete(path("doomed"))
        assert response.status_code == 200, response.text
        assert await a.wait_closed(LONG) == 4410
        assert a.close_reason
        closed = await first_close
        assert closed["last_close"]["code"] == 4410
        await a.close()

        assert [r["name"] for r in await listing(http)] == ["survivor"]
        assert_error(await http.get(path("doomed")), 404)
        assert_error(await http.get(path("doomed", "content")), 404)
        assert_error(await http.delete(path("doomed")), 404)

        # A stale pycrdt editor reconnects: its sync step 2 (the old content) is refused.
        stale: Doc[Any] = Doc()
        stale.apply_update(stale_state)
        again = await PyClient(server.ws_url, "doomed", doc=stale).connect()
        assert await again.wait_closed(LONG) not in (1000, 1001)
        assert_error(await http.get(path("doomed")), 404)

        # So is the real Yjs peer, told to connect again after its 4410.
        await peer.call("connect")
        closed = await peer.call("wait_close", after=closed["close_count"], timeout=LONG)
        assert closed["last_close"]["code"] not in (1000, 1001)
        assert_error(await http.get(path("doomed")), 404)

        # And the old state posted over HTTP.
        before = db_dump(server.db_path)
        assert_error(
            await http.post(path("doomed", "update"), content=stale_state, headers=OCTETS), 400
        )
        assert db_dump(server.db_path) == before

        # The name can be used afresh, and the stale content stays out even after a restart.
        await post(http, "doomed", text_update("a new life"))
        assert (await http.get(path("doomed", "content"))).json() == {"text": "a new life"}
        await peer.call("disconnect")
    await asyncio.to_thread(server.restart)
    async with httpx.AsyncClient(base_url=server.http_url, timeout=LONG) as http2:
        stale = Doc()
        stale.apply_update(stale_state)
        again = await PyClient(server.ws_url, "doomed", doc=stale).connect()
        await again.wait_closed(LONG)
        async with PyClient(server.ws_url, "doomed") as fresh:
            assert str(fresh.text()) == "a new life"
        assert (await http2.get(path("doomed", "content"))).json() == {"text": "a new life"}


# -- refused requests ----------------------------------------------------------------------------


BAD_NAMES = [
    "",  # empty
    "a//b",  # empty segment
    "a/",  # trailing slash: empty segment
    "%2F",  # "/" alone
    "%2E%2E",  # ".."
    "a/%2E%2E/b",
    "a/%2E",
    "%00",  # control characters
    "line%0Abreak",
    "%7F",
    "%FF",  # not UTF-8 once decoded
    "%C3",
    "x" * 256,  # over 255 bytes
    quote("é" * 128, safe=""),  # 256 bytes in UTF-8
]


async def test_bad_names_are_400_and_change_nothing(
    server: Server, http: httpx.AsyncClient
) -> None:
    await post(http, "fine", text_update("fine"))
    before = db_dump(server.db_path)
    update = text_update("should not be stored")
    problems = []  # every bad name is tried, and all the wrong answers reported together
    for raw in BAD_NAMES:
        base = "/api/documents/" + raw
        requests = [("GET", base), ("DELETE", base), ("POST", base + "/update")]
        requests += [("GET", f"{base}/{action}") for action in ("update", "content", "export")]
        for method, url in requests:
            response = await http.request(
                method, url, content=update if method == "POST" else None, headers=OCTETS
            )
            try:
                assert_error(response, 400)
            except (AssertionError, ValueError):
                problems.append(f"{method} {url}: {response.status_code} {response.text[:80]!r}")
    # The WebSocket endpoint applies the same rules.
    for raw in ["%2E%2E", "a//b", "%00", "line%0Abreak", "%FF"]:
        try:
            client = await PyClient(server.ws_url, raw).connect(handshake=False)
        except websockets.InvalidStatus as exc:
            problems.append(f"WebSocket /sync/{raw}: handshake refused: {exc}")
            continue
        code = await client.wait_closed(LONG)
        if code != 4400 or not client.close_reason:
            problems.append(f"WebSocket /sync/{raw}: closed {code} {client.close_reason!r}")
    assert not problems, "\n".join(problems)
    assert db_dump(server.db_path) == before
    # The longest valid name is accepted (the limit is inclusive).
    await post(http, "x" * 255, update)


async def test_invalid_bodies_are_400_and_change_nothing(
    server: Server, http: httpx.AsyncClient, node_modules: None
) -> None:
    await post(http, "target", text_update("original"))
    async with NodePeer(server.ws_url, "v2-source") as peer:
        await peer.call("wait_synced", timeout=LONG)
        await peer.call("insert", index=0, text="written by Yjs")
        v2 = base64.b64decode((await peer.call("state_update_v2"))["update"])
        v1 = base64.b64decode((await peer.call("state_update"))["update"])
    valid = text_update("a valid update")
    bodies = {
        "empty": b"",
        "garbage": b"\xff\xfe\xfd\xfc" * 8,
        "truncated": valid[: len(valid) // 2],
        "yjs v2": v2,
        "framed as a sync message": protocol.encode(protocol.Update(valid)),
    }
    async with PyClient(server.ws_url, "target") as watcher:
        await watcher.barrier()
        before = db_dump(server.db_path)
        for label, body in bodies.items():
            for name in ("target", "brand-new"):
                response = await http.post(path(name, "update"), content=body, headers=OCTETS)
                assert response.status_code == 400, (label, name, response.text)
                assert_error(response, 400)
        assert db_dump(server.db_path) == before
        assert watcher.close_code is None
        assert str(watcher.text()) == "original"
        assert_error(await http.get(path("brand-new")), 404)
        # The v1 encoding of the same Yjs document is accepted and reaches the watcher.
        await post(http, "target", v1)
        await watcher.wait_for(lambda: "written by Yjs" in str(watcher.text()), LONG)


# -- description and health ----------------------------------------------------------------------


async def test_healthz(server: Server, http: httpx.AsyncClient) -> None:
    response = await http.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "open_rooms": 0}
    async with PyClient(server.ws_url, "h"):
        assert (await http.get("/healthz")).json()["open_rooms"] == 1
