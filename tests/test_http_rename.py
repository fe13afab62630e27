"""``POST /api/documents/{name}/rename`` in-process (a real SQLite file and hub, httpx through
ASGI): the document moves with its history and versions, the change feed says so, and every
refusal is a JSON error that changes nothing. The editor closed by a rename, and the browser's
Rename action, are tested in ``tests/e2e/web/test_newcomer.py``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from collab.auth import Role, mint_token
from tests.test_http_api import assert_error, db_dump, in_process, path, post, text_update

SECRET = "rename-test-secret-0123456789-abcdefghijklmn"


async def rename(http: httpx.AsyncClient, name: str, to: Any, **headers: str) -> httpx.Response:
    return await http.post(path(name, "rename"), json={"to": to}, headers=headers)


async def test_a_rename_moves_the_document_with_its_versions(tmp_path: Path) -> None:
    async with in_process(tmp_path) as server:
        http = server.http
        await post(http, "team/a", text_update("hello"))
        saved = await http.post(path("team/a", "versions"), json={"label": "first"})
        assert saved.status_code == 201, saved.text
        response = await rename(http, "team/a", "team/b é")
        assert response.status_code == 200, response.text
        assert response.json()["name"] == "team/b é"
        assert_error(await http.get(path("team/a")), 404)
        assert (await http.get(path("team/b é", "content"))).json() == {"text": "hello"}
        versions = (await http.get(path("team/b é", "versions"))).json()["versions"]
        assert [v["label"] for v in versions] == ["first"]
        names = [d["name"] for d in (await http.get("/api/documents")).json()["documents"]]
        assert names == ["team/b é"]
        events = (await http.get("/api/changes")).json()["events"]
        renamed = [e for e in events if e["type"] == "document.renamed"]
        assert [(e["document"], e["data"]) for e in renamed] == [
            ("team/a", {"from": "team/a", "to": "team/b é"})
        ]
        # The old name is free for a new document (whose content is not the old one).
        await post(http, "team/a", text_update("new life"))
        assert (await http.get(path("team/a", "content"))).json() == {"text": "new life"}


@pytest.mark.parametrize(
    ("name", "body", "headers", "status", "code"),
    [
        ("missing", {"to": "c"}, {}, 404, "not_found"),
        ("a", {"to": "b"}, {}, 409, "exists"),
        ("a", {"to": "a"}, {}, 409, "exists"),
        ("a", {"to": "x//y"}, {}, 400, "bad_name"),
        ("a", {"to": "../etc"}, {}, 400, "bad_name"),
        ("a", {"to": "line\nbreak"}, {}, 400, "bad_name"),
        ("a", {"to": 7}, {}, 400, "bad_body"),
        ("a", {"name": "c"}, {}, 400, "bad_body"),
        ("a", "not json", {"Content-Type": "application/json"}, 400, "bad_body"),
        ("a", '{"to": "c"}', {"Content-Type": "text/plain"}, 415, "unsupported_media_type"),
        ("a", {"to": "c"}, {"Origin": "http://evil.example"}, 403, "origin_not_allowed"),
    ],
)
async def test_refusals_are_json_errors_and_change_nothing(
    tmp_path: Path, name: str, body: Any, headers: dict[str, str], status: int, code: str
) -> None:
    async with in_process(tmp_path) as server:
        http = server.http
        await post(http, "a", text_update("A"))
        await post(http, "b", text_update("B"))
        before = db_dump(server.db_path)
        if isinstance(body, str):
            response = await http.post(path(name, "rename"), content=body, headers=headers)
        else:
            response = await http.post(path(name, "rename"), json=body, headers=headers)
        assert assert_error(response, status)["error"] == code
        assert db_dump(server.db_path) == before


async def test_a_rename_needs_the_admin_role_on_both_names(tmp_path: Path) -> None:
    def bearer(doc: str, role: Role) -> str:
        return f"Bearer {mint_token(SECRET, doc, role, 600)}"

    async with in_process(tmp_path, auth_secret=SECRET) as server:
        http = server.http
        admin = {"Authorization": bearer("*", Role.ADMIN)}
        created = await http.post(
            path("team/a", "update"),
            content=text_update("A"),
            headers={**admin, "Content-Type": "application/octet-stream"},
        )
        assert created.status_code == 200, created.text
        before = db_dump(server.db_path)
        refused = [
            ({}, 401, "access token required"),
            ({"Authorization": bearer("team/*", Role.WRITE)}, 403, "cannot rename documents"),
            ({"Authorization": bearer("team/a", Role.ADMIN)}, 403, "does not grant"),  # new name
        ]
        for auth, status, reason in refused:
            body = assert_error(await rename(http, "team/a", "team/b", **auth), status)
            assert reason in body["detail"]
        assert db_dump(server.db_path) == before
        allowed = await rename(http, "team/a", "team/b", Authorization=bearer("team/*", Role.ADMIN))
        assert allowed.status_code == 200, allowed.text
