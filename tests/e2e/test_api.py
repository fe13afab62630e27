"""End-to-end HTTP API (issue 4): httpx against a real `collab serve` process.

Documents are made with pycrdt (and a real Yjs peer in Node where a browser's bytes matter);
every error is checked for its status, its JSON ``{"error", "detail"}`` body, and for leaving
the database exactly as it was.
"""

from __future__ import annotations

import asyncio
import base64
import re
import sqlite3
import time
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import websockets
from pycrdt import Array, Doc, Map, Text, XmlElement, XmlFragment, XmlText

from collab import protocol
from tests.e2e.conftest import OCTETS, Server
from tests.e2e.nodepeer import NodePeer
from tests.e2e.pyclient import PyClient, eventually

pytestmark = pytest.mark.e2e

LONG = 60.0
ISO_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z")


# -- helpers -------------------------------------------------------------------------------------


@pytest.fixture
async def http(server: Server) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.http_url, timeout=LONG) as client:
        yield client


def path(name: str, action: str = "") -> str:
    """The API path of document ``name`` (fully percent-encoded) and an optional action."""
    return "/api/documents/" + quote(name, safe="") + (f"/{action}" if action else "")


def text_update(text: str, field: str = "text") -> bytes:
    """A Yjs v1 update (from a fresh pycrdt document) inserting ``text``."""
    doc: Doc[Any] = Doc()
    doc.get(field, type=Text).insert(0, text)
    return doc.get_update()


async def post(http: httpx.AsyncClient, name: str, update: bytes) -> dict[str, Any]:
    response = await http.post(path(name, "update"), content=update, headers=OCTETS)
    assert response.status_code == 200, response.text
    return response.json()


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def db_dump(db_path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, to check that a refused request changed nothing."""
    conn = sqlite3.connect(db_path, timeout=30)
    try:
        tables = [
            row[0]
            for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            if not row[0].startswith("sqlite_")
        ]
        return {t: sorted(conn.execute(f'SELECT * FROM "{t}"').fetchall()) for t in tables}
    finally:
        conn.close()


def assert_error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, (response.request.url, response.text)
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error", "detail"}, body
    assert isinstance(body["error"], str) and body["error"]
    assert isinstance(body["detail"], str) and body["detail"]
    return body


async def listing(http: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    """Every page of the listing, followed through its cursors."""
    records: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        response = await http.get("/api/documents", params=query)
        assert response.status_code == 200, response.text
        page = response.json()
        records += page["documents"]
        cursor = page["next_cursor"]
        if cursor is None:
            return records


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


async def test_pagination_covers_every_document_once_in_both_orders(
    http: httpx.AsyncClient,
) -> None:
    names = [f"doc-{i:02d}" for i in range(12)]
    names += ["Zeta", "alpha/β", "ünï", "文档", "a", "a/b", "a b", "a%b", "~tilde", "🎉", "Ω"]
    for name in names:
        await post(http, name, text_update(name))
    # Touch an early document: it must now come first by updated_at.
    await post(http, "doc-03", text_update("again"))

    for limit in (1, 4, 7, 1000):
        by_name = await listing(http, limit=limit)
        assert [r["name"] for r in by_name] == sorted(names)  # code point order, once each
        by_time = await listing(http, limit=limit, sort="updated_at")
        assert sorted(r["name"] for r in by_time) == sorted(names)
        stamps = [r["updated_at"] for r in by_time]
        assert stamps == sorted(stamps, reverse=True)
        assert by_time[0]["name"] == "doc-03"
        assert by_time[-1]["name"] == names[0]

    first = (await http.get("/api/documents", params={"limit": 5})).json()
    assert len(first["documents"]) == 5 and first["next_cursor"]
    whole = (await http.get("/api/documents", params={"limit": 1000})).json()
    assert whole["next_cursor"] is None and len(whole["documents"]) == len(names)

    for params in (
        {"limit": 0},
        {"limit": 1001},
        {"limit": "ten"},
        {"sort": "size"},
        {"cursor": "not-a-cursor"},
        {"cursor": first["next_cursor"], "sort": "updated_at"},
    ):
        assert_error(await http.get("/api/documents", params=params), 400)


async def test_prefix_filter(http: httpx.AsyncClient) -> None:
    names = ["team/a", "team/b", "team2/c", "teal", "tea%m", "tea_m", "Team/x", "ünï/1", "ünï/2"]
    names += ["ü", "other"]
    for name in names:
        await post(http, name, text_update(name))

    async def prefixed(prefix: str, **params: Any) -> list[str]:
        return [r["name"] for r in await listing(http, prefix=prefix, **params)]

    assert await prefixed("team/") == ["team/a", "team/b"]
    assert await prefixed("team") == ["team/a", "team/b", "team2/c"]
    assert await prefixed("team", limit=1) == ["team/a", "team/b", "team2/c"]
    assert sorted(await prefixed("team", sort="updated_at", limit=2)) == [
        "team/a",
        "team/b",
        "team2/c",
    ]
    assert await prefixed("tea%") == ["tea%m"]  # no LIKE wildcards
    assert await prefixed("tea_") == ["tea_m"]
    assert await prefixed("ünï/") == ["ünï/1", "ünï/2"]
    assert await prefixed("ü") == ["ü", "ünï/1", "ünï/2"]
    assert await prefixed("nothing") == []
    assert await prefixed("") == sorted(names)


async def test_prefix_filter_includes_names_with_the_highest_code_point(
    http: httpx.AsyncClient,
) -> None:
    # U+10FFFF is a valid name character (the naming rules forbid only control characters).
    names = ["edge", "edge\U0010ffff", "edge\U0010ffff\U0010ffff/x"]
    for name in names:
        await post(http, name, text_update("x"))
    assert [r["name"] for r in await listing(http)] == names
    assert [r["name"] for r in await listing(http, prefix="edge")] == names
    assert [r["name"] for r in await listing(http, prefix="edge\U0010ffff")] == names[1:]


async def test_unknown_documents_are_404(server: Server, http: httpx.AsyncClient) -> None:
    await post(http, "known", text_update("here"))
    before = db_dump(server.db_path)
    for name in ["unknown", "known/child", "knownx", "Known"]:
        assert_error(await http.get(path(name)), 404)
        assert_error(await http.get(path(name, "update")), 404)
        assert_error(await http.get(path(name, "content")), 404)
        assert_error(await http.get(path(name, "export"), params={"format": "text"}), 404)
        assert_error(await http.delete(path(name)), 404)
    assert db_dump(server.db_path) == before
    assert [r["name"] for r in await listing(http)] == ["known"]


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


async def test_posting_an_update_the_document_holds_stores_nothing(
    server: Server, http: httpx.AsyncClient
) -> None:
    update = text_update("once")
    first = await post(http, "again", update)
    before = db_dump(server.db_path)
    second = await post(http, "again", update)
    assert first["updates"] == second["updates"] == 1
    assert db_dump(server.db_path)["updates"] == before["updates"]
    assert (await http.get(path("again", "content"))).json() == {"text": "once"}
    empty = b"\x00\x00"  # creates a document once
    assert (await post(http, "empty", empty))["updates"] == 1
    assert (await post(http, "empty", empty))["updates"] == 1


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


def rich_update() -> bytes:
    """A document with a text, a map, an array and a Tiptap-like XML fragment ``default``."""
    doc: Doc[Any] = Doc()
    frag = doc.get("default", type=XmlFragment)
    heading = frag.children.append(XmlElement("heading", {"level": 1}))
    heading.children.append(XmlText("Title"))
    paragraph = frag.children.append(XmlElement("paragraph"))
    runs = paragraph.children.append(XmlText())
    runs.insert(0, "Hello ")
    runs.insert(6, "world", {"bold": {}})
    doc.get("text", type=Text).insert(0, "plain text")
    m = doc.get("m", type=Map)
    m["a"] = "x"
    m["nested"] = {"deep": ["list", 1]}
    doc.get("arr", type=Array).extend(["one", 2.5, True])
    return doc.get_update()


RICH_JSON = {
    "text": "plain text",
    "m": {"a": "x", "nested": {"deep": ["list", 1]}},
    "arr": ["one", 2.5, True],
    "default": {
        "type": "doc",
        "content": [
            {
                "type": "heading",
                "attrs": {"level": 1},
                "content": [{"type": "text", "text": "Title"}],
            },
            {
                "type": "paragraph",
                "content": [
                    {"type": "text", "text": "Hello "},
                    {"type": "text", "text": "world", "marks": [{"type": "bold"}]},
                ],
            },
        ],
    },
}


async def test_content_is_every_shared_type_as_json(http: httpx.AsyncClient) -> None:
    await post(http, "rich", rich_update())
    response = await http.get(path("rich", "content"))
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == RICH_JSON


async def test_export_formats(http: httpx.AsyncClient) -> None:
    name = "notes/ünï"
    await post(http, name, rich_update())

    async def export(fmt: str) -> httpx.Response:
        response = await http.get(path(name, "export"), params={"format": fmt})
        assert response.status_code == 200, (fmt, response.text)
        return response

    markdown = await export("markdown")
    assert markdown.headers["content-type"].startswith("text/markdown")
    assert markdown.text == "# Title\n\nHello **world**\n"
    assert markdown.headers["content-disposition"].endswith(quote("notes_ünï.md", safe=""))

    page = await export("html")
    assert page.headers["content-type"].startswith("text/html")
    assert "<h1>Title</h1>" in page.text
    assert "<p>Hello <strong>world</strong></p>" in page.text
    assert "<title>notes/ünï</title>" in page.text

    plain = await export("text")
    assert plain.headers["content-type"].startswith("text/plain")
    assert plain.text == "Title\n\nHello world\n"

    as_json = await export("json")
    assert as_json.headers["content-type"].startswith("application/json")
    assert as_json.json() == RICH_JSON

    as_yjs = await export("yjs")
    assert as_yjs.headers["content-type"] == "application/octet-stream"
    doc: Doc[Any] = Doc()
    doc.apply_update(as_yjs.content)
    assert str(doc.get("text", type=Text)) == "plain text"
    assert doc.get("arr", type=Array).to_py() == ["one", 2.5, True]

    # The default format is markdown; an unknown one is refused.
    default = await http.get(path(name, "export"))
    assert default.status_code == 200 and default.text == markdown.text
    assert_error(await http.get(path(name, "export"), params={"format": "pdf"}), 400)


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


async def test_oversized_bodies_are_413_and_change_nothing(server_factory: Any) -> None:
    server = server_factory(extra=["--max-message-bytes", "1000"])
    async with httpx.AsyncClient(base_url=server.http_url, timeout=LONG) as http:
        await post(http, "small", text_update("fits"))
        before = db_dump(server.db_path)
        big = text_update("x" * 2000)
        assert len(big) > 1000
        assert_error(await http.post(path("small", "update"), content=big, headers=OCTETS), 413)
        assert_error(await http.post(path("big", "update"), content=big, headers=OCTETS), 413)

        async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: chunked encoding
            for i in range(0, len(big), 300):
                yield big[i : i + 300]

        assert_error(await http.post(path("big", "update"), content=chunks(), headers=OCTETS), 413)
        assert db_dump(server.db_path) == before
        assert_error(await http.get(path("big")), 404)
        assert (await http.get(path("small", "content"))).json() == {"text": "fits"}


# -- description and health ----------------------------------------------------------------------


async def test_openapi_describes_the_routes(http: httpx.AsyncClient) -> None:
    response = await http.get("/api/openapi.json")
    assert response.status_code == 200
    spec = response.json()
    assert re.fullmatch(r"3\.1\.\d+", spec["openapi"])
    assert isinstance(spec["info"]["title"], str) and isinstance(spec["info"]["version"], str)
    expected = {
        "/healthz": {"get"},
        "/api/documents": {"get"},
        "/api/documents/{name}": {"get", "delete"},
        "/api/documents/{name}/update": {"get", "post"},
        "/api/documents/{name}/content": {"get"},
        "/api/documents/{name}/export": {"get"},
    }
    methods = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
    for route, wanted in expected.items():
        assert route in spec["paths"], route
        item = spec["paths"][route]
        assert wanted <= set(item) & methods, (route, set(item))
        templated = set(re.findall(r"{(\w+)}", route))
        for method in set(item) & methods:
            operation = item[method]
            params = item.get("parameters", []) + operation.get("parameters", [])
            for param in params:
                assert {"name", "in"} <= set(param), param
                assert param["in"] in {"path", "query", "header", "cookie"}
                if param["in"] == "path":
                    assert param["required"] is True
            declared = {p["name"] for p in params if p["in"] == "path"}
            assert declared == templated, (route, method)
            assert operation["responses"], (route, method)
            for status, answer in operation["responses"].items():
                assert re.fullmatch(r"[1-5]\d\d|[1-5]XX|default", status)
                assert isinstance(answer["description"], str)
                if status.startswith(("4", "5")):
                    schema = answer["content"]["application/json"]["schema"]
                    assert {"error", "detail"} <= set(schema["required"])
    # Every documented operation exists on the server (a 404 here must be a JSON "not found").
    await post(http, "probe", text_update("probe"))
    operations = [(route, m) for route, item in spec["paths"].items() for m in set(item) & methods]
    for route, method in sorted(operations, key=lambda op: op[1] == "delete"):  # delete last
        url = route.replace("{name}", "probe")
        response = await http.request(method.upper(), url, content=text_update("p"))
        assert response.status_code not in (404, 405), (method, route, response.text)


async def test_healthz(server: Server, http: httpx.AsyncClient) -> None:
    response = await http.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "open_rooms": 0}
    async with PyClient(server.ws_url, "h"):
        assert (await http.get("/healthz")).json()["open_rooms"] == 1
