"""A WebSocket to a path collab has no endpoint for is answered as the path deserves: HTTP 404
with a JSON error naming the endpoints (not 403, which reads as "access refused"), under
``collab serve``; a server without the ASGI denial-response extension accepts and closes
with 4404 and the same words instead."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import websockets

from collab import Collab, Settings
from collab.errors import CloseCode
from tests.e2e.conftest import Server

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("path", ["/nope", "/api/documents/x", "/d/notes", "/sync2/x"])
async def test_an_unknown_websocket_path_is_http_404_with_a_json_error(
    server: Server, path: str
) -> None:
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with websockets.connect(server.ws_url.removesuffix("/sync") + path):
            pass
    response = refused.value.response
    assert response.status_code == 404
    body = json.loads(response.body or b"{}")
    assert body["error"] == "not_found"
    assert path in body["detail"] and "/sync/{name}" in body["detail"]


async def test_without_the_denial_extension_it_is_closed_with_4404(tmp_path: Any) -> None:
    app = Collab(Settings(db=str(tmp_path / "c.db"))).app
    sent: list[dict[str, Any]] = []
    incoming = [{"type": "websocket.connect"}]

    async def receive() -> dict[str, Any]:
        return incoming.pop(0) if incoming else {"type": "websocket.disconnect", "code": 1000}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "websocket",
        "asgi": {"version": "3.0"},
        "scheme": "ws",
        "path": "/nope",
        "raw_path": b"/nope",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"127.0.0.1")],
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 8000),
        "subprotocols": [],
        "extensions": {},
    }
    await app(scope, receive, send)
    assert [m["type"] for m in sent] == ["websocket.accept", "websocket.close"]
    assert sent[1]["code"] == CloseCode.NOT_FOUND == 4404
    assert "/nope" in sent[1]["reason"] and "/sync/{name}" in sent[1]["reason"]


@pytest.mark.parametrize(
    ("path", "endpoint"),
    [
        ("/sync/team/notes", "/sync/{name}"),
        ("/sync", "/sync/{name}"),
        ("/hocuspocus", "/hocuspocus"),
    ],
)
async def test_a_plain_http_get_on_a_websocket_path_is_a_json_426(
    server: Server, path: str, endpoint: str
) -> None:
    async with httpx.AsyncClient(base_url=server.http_url) as http:
        response = await http.get(path)
    assert response.status_code == 426, response.text
    assert response.headers["upgrade"] == "websocket"
    body = response.json()
    assert body["error"] == "websocket_required"
    assert body["detail"].startswith(f"{endpoint} is a WebSocket endpoint"), body


async def test_any_other_unknown_path_is_a_json_404(server: Server) -> None:
    async with httpx.AsyncClient(base_url=server.http_url) as http:
        response = await http.get("/nope/x")
        page = await http.get("/nope/x", headers={"Accept": "text/html"})
    assert response.status_code == 404
    assert response.json() == {"error": "not_found", "detail": "GET /nope/x: no such page"}
    assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")
