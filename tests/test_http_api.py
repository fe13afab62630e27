"""The HTTP API in-process: httpx through ``httpx.ASGITransport`` into ``Collab(...).app``, with
``collab.lifespan()`` running (a real SQLite file, the real hub, no socket). The tests that
need a socket (WebSocket peers, a restart) stay in ``tests/e2e/test_api.py``, which shares
the helpers here.

Every error is checked for its status, its JSON ``{"error", "detail"}`` body, and for leaving
the database exactly as it was.
"""

from __future__ import annotations

import base64
import contextlib
import re
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from pycrdt import Array, Doc, Map, Text, XmlElement, XmlFragment, XmlText

from collab import Collab, Settings
from collab.api import ACTIONS

OCTETS = {"Content-Type": "application/octet-stream"}
"""The Content-Type an update body must carry."""

LONG = 60.0
ISO_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z")


@dataclass
class InProcess:
    """A started ``Collab`` on ``db_path`` and an httpx client calling its app directly."""

    db_path: Path
    http: httpx.AsyncClient


@contextlib.asynccontextmanager
async def in_process(tmp_path: Path, **settings: Any) -> AsyncIterator[InProcess]:
    """Collab on a fresh database with ``settings`` changed from the defaults."""
    db_path = tmp_path / "collab.db"
    service = Collab(Settings(db=str(db_path), room_grace_seconds=0.2, **settings))
    transport = httpx.ASGITransport(app=service.app)
    async with (
        service.lifespan(),
        httpx.AsyncClient(transport=transport, base_url="http://collab.test", timeout=LONG) as http,
    ):
        yield InProcess(db_path, http)


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[InProcess]:
    async with in_process(tmp_path) as started:
        yield started


@pytest.fixture
def http(server: InProcess) -> httpx.AsyncClient:
    return server.http


# -- helpers -------------------------------------------------------------------------------------


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


async def test_unknown_documents_are_404(server: InProcess, http: httpx.AsyncClient) -> None:
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


async def test_posting_an_update_the_document_holds_stores_nothing(
    server: InProcess, http: httpx.AsyncClient
) -> None:
    update = text_update("once")
    first = await post(http, "again", update)
    before = db_dump(server.db_path)
    second = await post(http, "again", update)
    assert first["updates"] == second["updates"] == 1
    assert db_dump(server.db_path)["updates"] == before["updates"]
    assert (await http.get(path("again", "content"))).json() == {"text": "once"}


async def test_a_state_vector_must_be_base64url(http: httpx.AsyncClient) -> None:
    """The update a client lacks, given its state vector: one that is not base64url is named
    so ("!!!" was read as nothing and refused as "truncated varUint")."""
    await post(http, "sv", text_update("abc"))
    whole = (await http.get(path("sv", "update"))).content
    empty_sv = base64.urlsafe_b64encode(b"\x00").decode().rstrip("=")
    assert (
        await http.get(path("sv", "update"), params={"state_vector": empty_sv})
    ).content == whole
    for bad in ("!!!", "AA!A", "A A"):
        response = await http.get(path("sv", "update"), params={"state_vector": bad})
        assert response.status_code == 400, bad
        body = response.json()
        assert body["error"] == "bad_state_vector" and "not base64url" in body["detail"], body


async def test_an_empty_update_creates_a_document_only_when_asked_to_create(
    server: InProcess, http: httpx.AsyncClient
) -> None:
    """No structs, no deletions (what Yjs sends as the sync step 2 of an empty document):
    posted to a name that does not exist it changes nothing, so nothing is stored and the
    answer is 204 (found by a newcomer's trial: it created an empty document); with
    ``If-None-Match: *`` (``collab import`` of an exported empty document) it creates one."""
    empty = b"\x00\x00"
    before = db_dump(server.db_path)
    for params in ({}, {"replace": "true"}):
        response = await http.post(
            path("nothing", "update"), params=params, content=empty, headers=OCTETS
        )
        assert response.status_code == 204 and response.content == b"", response.text
    assert db_dump(server.db_path) == before
    assert_error(await http.get(path("nothing")), 404)
    assert await listing(http) == []
    create = {**OCTETS, "If-None-Match": "*"}
    response = await http.post(path("empty", "update"), content=empty, headers=create)
    assert response.status_code == 200 and response.json()["updates"] == 1
    assert (await post(http, "empty", empty))["updates"] == 1  # a no-op: the record, as it was
    assert [r["name"] for r in await listing(http)] == ["empty"]


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


async def test_oversized_bodies_are_413_and_change_nothing(tmp_path: Path) -> None:
    async with in_process(tmp_path, max_message_bytes=1000) as server:
        http = server.http
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
        "/api/documents/{name}/rename": {"post"},
        "/api/documents/{name}/quarantine": {"get", "post"},  # README Operations
        "/metrics": {"get"},  # README Operations
    }
    # every action segment the API routes on has its path (README, HTTP API)
    for action in ACTIONS:
        assert f"/api/documents/{{name}}/{action}" in spec["paths"], action
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
    version = (await http.post("/api/documents/probe/versions", json={"label": "probe"})).json()
    operations = [(route, m) for route, item in spec["paths"].items() for m in set(item) & methods]
    for route, method in sorted(operations, key=lambda op: op[1] == "delete"):  # delete last
        url = route.replace("{name}", "probe").replace("{id}", str(version["id"]))
        response = await http.request(method.upper(), url, content=text_update("p"), headers=OCTETS)
        assert response.status_code not in (404, 405), (method, route, response.text)
