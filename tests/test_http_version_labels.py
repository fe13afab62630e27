"""Version labels in-process: any printable text is kept as given, control characters (line
breaks, tabs, NUL, escape sequences: they corrupt the listing, logs and exports) are refused
with 400 ``bad_label`` and nothing is saved."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.test_http_api import assert_error, db_dump, in_process, path, post, text_update


@pytest.mark.parametrize(
    "label", ["two\nlines", "tab\there", "nul\x00", "bell\x07", "\x1b[31mred", "del\x7f", "c1\x85"]
)
async def test_a_label_with_control_characters_is_refused(tmp_path: Path, label: str) -> None:
    async with in_process(tmp_path) as server:
        await post(server.http, "doc", text_update("x"))
        before = db_dump(server.db_path)
        response = await server.http.post(path("doc", "versions"), json={"label": label})
        body = assert_error(response, 400)
        assert body["error"] == "bad_label" and "control characters" in body["detail"]
        assert db_dump(server.db_path) == before


async def test_printable_labels_are_kept_as_given(tmp_path: Path) -> None:
    async with in_process(tmp_path) as server:
        await post(server.http, "doc", text_update("x"))
        for label in ("Draft 2 — sent to “legal” ✅", "名前 / 版"):
            saved = await server.http.post(path("doc", "versions"), json={"label": label})
            assert saved.status_code == 201, saved.text
            assert saved.json()["label"] == label


@pytest.mark.parametrize(
    ("action", "body", "headers", "status", "code"),
    [
        ("versions", '{"label": "x"}', {"Origin": "http://evil.example"}, 403,
         "origin_not_allowed"),
        ("versions", "", {"Origin": "http://evil.example"}, 403, "origin_not_allowed"),
        ("versions", '{"label": "x"}', {"Content-Type": "text/plain"}, 415,
         "unsupported_media_type"),
        ("versions/1/restore", "", {"Origin": "http://evil.example"}, 403,
         "origin_not_allowed"),
    ],
)  # fmt: skip
async def test_cross_site_version_writes_are_refused_and_change_nothing(
    tmp_path: Path, action: str, body: str, headers: dict[str, str], status: int, code: str
) -> None:
    """A page of another site can POST a form or text/plain without a CORS preflight: saving
    or restoring a version from it is refused as every other write is."""
    async with in_process(tmp_path) as server:
        await post(server.http, "doc", text_update("first"))
        saved = await server.http.post(path("doc", "versions"), json={"label": "one"})
        assert saved.status_code == 201 and saved.json()["id"] == 1
        await post(server.http, "doc", text_update(" second"))
        before = db_dump(server.db_path)
        response = await server.http.post(path("doc", action), content=body, headers=headers)
        assert assert_error(response, status)["error"] == code
        assert db_dump(server.db_path) == before


@pytest.mark.parametrize("rest", ["versions/abc", "versions/1x/export", "versions/-1"])
async def test_a_version_id_that_is_not_a_number_says_so(tmp_path: Path, rest: str) -> None:
    """``.../versions/abc`` reads as a document named ``team/notes/versions/abc``: the 404
    says that version ids are numbers, and how to name such a document."""
    async with in_process(tmp_path) as server:
        await post(server.http, "team/notes", text_update("x"))
        response = await server.http.get(path("team/notes", rest))
        body = assert_error(response, 404)
        assert body["error"] == "not_found"
        assert "version ids are numbers" in body["detail"], body
        assert "%2F" in body["detail"], body
