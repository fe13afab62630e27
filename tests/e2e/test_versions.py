"""Versions end to end (issue 23): a real ``collab serve``, httpx, pycrdt and Node Yjs peers.

Named and automatic versions, reading any version (record, state, exports, differences),
restoring while editors are connected, retention of the stored versions across compaction,
restart and ``kill -9``, roles, and deletion.
"""

from __future__ import annotations

import secrets
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from pycrdt import Doc, Text, XmlElement, XmlFragment, XmlText

from collab.auth import Role, mint_token
from collab.history.content import content
from tests.e2e.conftest import Server
from tests.e2e.nodepeer import NodePeer
from tests.e2e.pyclient import PyClient, TraceClient, eventually
from tests.e2e.test_sync import load_trace, patched, replay

pytestmark = pytest.mark.e2e

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
LONG = 60.0


def path(name: str, *rest: object) -> str:
    return "/api/documents/" + quote(name, safe="") + "".join(f"/{part}" for part in rest)


def text_update(text: str) -> bytes:
    doc: Doc[Any] = Doc()
    doc.get("text", type=Text).insert(0, text)
    return doc.get_update()


async def state_of(http: httpx.AsyncClient, name: str, *rest: object) -> bytes:
    response = await http.get(path(name, *rest, "update"))
    assert response.status_code == 200, response.text
    return response.content


async def text_of(http: httpx.AsyncClient, name: str, *rest: object) -> str:
    response = await http.get(path(name, *rest, "export"), params={"format": "text"})
    assert response.status_code == 200, response.text
    return response.text


async def save(http: httpx.AsyncClient, name: str, label: str | None = None) -> dict[str, Any]:
    response = await http.post(path(name, "versions"), json={"label": label} if label else None)
    assert response.status_code == 201, response.text
    version: dict[str, Any] = response.json()
    return version


async def restore(http: httpx.AsyncClient, name: str, version_id: int) -> dict[str, Any]:
    response = await http.post(path(name, "versions", version_id, "restore"))
    assert response.status_code == 200, response.text
    done: dict[str, Any] = response.json()
    return done


@pytest.fixture
async def http(server: Server) -> Any:
    async with httpx.AsyncClient(base_url=server.http_url, timeout=LONG) as client:
        yield client


def assert_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == code and body["detail"], body


# -- the automerge-paper trace: a version per slice, restores with two live editors -------------


async def test_trace_versions_and_restore_with_two_live_editors(
    server: Server, http: httpx.AsyncClient, node_modules: None
) -> None:
    room = "paper"
    txns = load_trace("automerge-paper")["txns"][:12_000]
    slices = [txns[i : i + 3_000] for i in range(0, len(txns), 3_000)]
    versions: list[tuple[dict[str, Any], str]] = []
    async with TraceClient(server.ws_url, room) as writer, PyClient(server.ws_url, room) as reader:
        done: list[Any] = []
        for part in slices:
            done += part
            await replay(writer, reader, part)
            expected = patched("", done)
            await reader.wait_for(lambda expected=expected: str(reader.text()) == expected)
            # the reader has it: the server committed it before relaying
            versions.append((await save(http, room, f"after {len(done)}"), expected))
    for i, (version, expected) in enumerate(versions, 1):
        assert await text_of(http, room, "versions", version["id"]) == expected
        assert version["label"] == f"after {i * 3000}"
    final = versions[-1][1]
    async with NodePeer(server.ws_url, room) as alice, NodePeer(server.ws_url, room) as bob:
        await alice.call("wait_synced")
        await bob.call("wait_synced")
        await alice.call("wait_text", equals=final, timeout=LONG)
        early, early_text = versions[0]
        done_restore = await restore(http, room, early["id"])
        assert done_restore["restored"]["id"] == early["id"]
        saved = done_restore["saved"]
        # the state before the restore was the newest version's: that one is the undo
        assert saved["id"] == versions[-1][0]["id"]
        assert await text_of(http, room, "versions", saved["id"]) == final
        for peer in (alice, bob):
            await peer.call("wait_text", equals=early_text, timeout=LONG)
        # the editors keep working on the restored document without a reload
        await alice.call("insert", index=0, text="% restored\n")
        await bob.call("wait_text", equals="% restored\n" + early_text, timeout=LONG)
        # a further restore of the pre-restore version brings everything back exactly
        await restore(http, room, saved["id"])
        for peer in (alice, bob):
            await peer.call("wait_text", equals=final, timeout=LONG)
    assert await text_of(http, room) == final


# -- a rich Tiptap document ---------------------------------------------------------------------


async def test_rich_document_restore_is_structurally_equal(http: httpx.AsyncClient) -> None:
    golden = (GOLDEN / "tiptap_doc.bin").read_bytes()
    response = await http.post(
        path("rich", "update"), content=golden, headers={"Content-Type": "application/octet-stream"}
    )
    assert response.status_code == 200, response.text
    version = await save(http, "rich", "golden")
    editor: Doc[Any] = Doc()
    editor.apply_update(await state_of(http, "rich"))
    fragment = editor.get("default", type=XmlFragment)
    heading = fragment.children[0]
    assert isinstance(heading, XmlElement)
    heading.attributes["level"] = 3
    paragraph = fragment.children[1]
    assert isinstance(paragraph, XmlElement)
    inline = paragraph.children[0]
    assert isinstance(inline, XmlText)
    inline.format(0, 5, {"italic": {}})
    del fragment.children[4]
    fragment.children.append(XmlElement("paragraph", contents=[XmlText("added later")]))
    before = await state_of(http, "rich")
    response = await http.post(
        path("rich", "update"),
        content=editor.get_update(before),
        headers={"Content-Type": "application/octet-stream"},
    )
    assert response.status_code == 200, response.text
    assert content(await state_of(http, "rich")) != content(golden)
    diff = (await http.get(path("rich", "versions", version["id"], "diff"))).json()
    assert {"op": "added", "text": "added later"} in diff["blocks"]
    assert diff["added"] >= 1 and diff["removed"] >= 1
    await restore(http, "rich", version["id"])
    assert content(await state_of(http, "rich")) == content(golden)
    markdown = await http.get(path("rich", "export"), params={"format": "markdown"})
    assert markdown.text == (GOLDEN / "tiptap_doc.md").read_text()
    diff = (await http.get(path("rich", "versions", version["id"], "diff"))).json()
    assert diff["added"] == diff["removed"] == 0


# -- the API's reads, pages and errors ----------------------------------------------------------


async def test_versions_are_listed_read_exported_and_compared(http: httpx.AsyncClient) -> None:
    name = "team/notes"
    assert (
        await http.post(
            path(name, "update"),
            content=text_update("one\n"),
            headers={"Content-Type": "application/octet-stream"},
        )
    ).status_code == 200
    first = await save(http, name, "first")
    assert first["label"] == "first" and not first["automatic"] and first["author"] is None
    assert first["document"] == name and first["created_at"].endswith("Z")
    ids = [first["id"]]
    for i in range(4):
        writer: Doc[Any] = Doc()
        writer.apply_update(await state_of(http, name))
        before = writer.get_state()
        text = writer.get("text", type=Text)
        text.insert(len(text), f"line {i}\n")
        await http.post(
            path(name, "update"),
            content=writer.get_update(before),
            headers={"Content-Type": "application/octet-stream"},
        )
        ids.append((await save(http, name))["id"])
    page = (await http.get(path(name, "versions"), params={"limit": 2})).json()
    assert [v["id"] for v in page["versions"]] == ids[::-1][:2]
    page = (
        await http.get(path(name, "versions"), params={"limit": 2, "cursor": page["next_cursor"]})
    ).json()
    assert [v["id"] for v in page["versions"]] == ids[::-1][2:4]
    last = (
        await http.get(path(name, "versions"), params={"limit": 2, "cursor": page["next_cursor"]})
    ).json()
    assert [v["id"] for v in last["versions"]] == ids[:1] and last["next_cursor"] is None
    assert (await http.get(path(name, "versions", ids[0]))).json() == first
    assert await text_of(http, name, "versions", ids[0]) == "one\n"
    markdown = await http.get(path(name, "versions", ids[0], "export"), params={"format": "json"})
    assert markdown.json() == {"text": "one\n"}
    assert "attachment" in markdown.headers["content-disposition"]
    diff = (await http.get(path(name, "versions", ids[1], "diff"), params={"to": ids[3]})).json()
    assert diff["from"] == ids[1] and diff["to"] == ids[3]
    assert [b for b in diff["blocks"] if b["op"] != "equal"] == [
        {"op": "added", "text": "line 1"},
        {"op": "added", "text": "line 2"},
    ]
    # errors
    assert_error(await http.get(path(name, "versions", 99999)), 404, "not_found")
    assert_error(await http.get(path(name, "versions", "x1")), 404, "not_found")
    assert_error(await http.get(path(name, "versions", ids[0], "nope")), 404, "not_found")
    assert_error(await http.get(path("missing", "versions")), 404, "not_found")
    assert_error(await http.post(path("missing", "versions")), 404, "not_found")
    assert_error(await http.delete(path(name, "versions", ids[0])), 405, "method_not_allowed")
    assert_error(
        await http.get(path(name, "versions", ids[0], "restore")), 405, "method_not_allowed"
    )
    bad = await http.post(
        path(name, "versions"),
        content=b"{not json",
        headers={"Content-Type": "application/json"},
    )
    assert_error(bad, 400, "bad_body")
    not_json = await http.post(
        path(name, "versions"),
        content=b'{"label": "x"}',
        headers={"Content-Type": "application/octet-stream"},
    )
    assert_error(not_json, 415, "unsupported_media_type")
    assert_error(await http.post(path(name, "versions"), json={"label": 5}), 400, "bad_label")
    assert_error(
        await http.get(path(name, "versions"), params={"cursor": "abc"}), 400, "bad_cursor"
    )
    assert_error(
        await http.get(path(name, "versions", ids[0], "diff"), params={"to": "x"}), 400, "bad_to"
    )
    assert_error(
        await http.get(path(name, "versions", ids[0], "export"), params={"format": "pdf"}),
        400,
        "bad_format",
    )
    # a document whose own name ends in /versions is addressed with its slash encoded
    other = await http.post(
        "/api/documents/a%2Fversions/update",
        content=text_update("x"),
        headers={"Content-Type": "application/octet-stream"},
    )
    assert other.status_code == 200 and other.json()["name"] == "a/versions"


# -- automatic versions -------------------------------------------------------------------------


async def test_an_automatic_version_follows_a_quiet_editing_session(server_factory: Any) -> None:
    server = server_factory(["--version-quiet-seconds", "0.3"])
    async with httpx.AsyncClient(base_url=server.http_url, timeout=LONG) as http:
        async with NodePeer(server.ws_url, "quiet") as peer:
            await peer.call("wait_synced")
            for i in range(5):
                await peer.call("insert", index=0, text=f"{i}")

            async def automatic() -> list[dict[str, Any]]:
                listing = (await http.get(path("quiet", "versions"))).json()
                return [v for v in listing.get("versions", []) if v["automatic"]]

            (version,) = await eventually(automatic, "an automatic version", LONG)
            assert await text_of(http, "quiet", "versions", version["id"]) == "43210"
        # nothing new: no second automatic version when the room is written again with nothing
        await save(http, "quiet", "named")
        listing = (await http.get(path("quiet", "versions"))).json()["versions"]
        assert [v["automatic"] for v in listing] == [False, True]


# -- durability ---------------------------------------------------------------------------------


async def test_versions_survive_compaction_restart_and_kill(server_factory: Any) -> None:
    server = server_factory(["--compact-updates", "5"])
    async with httpx.AsyncClient(base_url=server.http_url, timeout=LONG) as http:
        async with NodePeer(server.ws_url, "durable") as peer:
            await peer.call("wait_synced")
            await peer.call("insert", index=0, text="kept")
            await eventually(lambda: _text_is(http, "durable", "kept"), "the first text")
            version = await save(http, "durable", "kept")
            for i in range(20):  # several compactions
                await peer.call("insert", index=0, text=str(i % 10))
            await eventually(lambda: _text_is_long(http, "durable", 24), "the edits")
        assert "compacted document" in server.log()
    server.restart()  # a stop ends the editing session: its automatic version is saved
    async with httpx.AsyncClient(base_url=server.http_url, timeout=LONG) as http:
        assert await text_of(http, "durable", "versions", version["id"]) == "kept"
        (session,) = [v for v in (await listed(http, "durable")) if v["automatic"]]
        assert len(await text_of(http, "durable", "versions", session["id"])) == 24
    server.kill()
    server.start()
    async with httpx.AsyncClient(base_url=server.http_url, timeout=LONG) as http:
        assert await text_of(http, "durable", "versions", version["id"]) == "kept"
        second = await save(http, "durable", "after the crash")
    server.kill()
    server.start()
    async with httpx.AsyncClient(base_url=server.http_url, timeout=LONG) as http:
        listing = await listed(http, "durable")
        assert [v["id"] for v in listing] == [second["id"], session["id"], version["id"]]
        await restore(http, "durable", version["id"])
        assert await text_of(http, "durable") == "kept"


async def listed(http: httpx.AsyncClient, name: str) -> list[dict[str, Any]]:
    response = await http.get(path(name, "versions"))
    assert response.status_code == 200, response.text
    versions: list[dict[str, Any]] = response.json()["versions"]
    return versions


async def _text_is(http: httpx.AsyncClient, name: str, text: str) -> bool:
    response = await http.get(path(name, "export"), params={"format": "text"})
    return response.status_code == 200 and response.text == text


async def _text_is_long(http: httpx.AsyncClient, name: str, length: int) -> bool:
    response = await http.get(path(name, "export"), params={"format": "text"})
    return response.status_code == 200 and len(response.text) == length


# -- roles and deletion -------------------------------------------------------------------------


async def test_a_read_token_reads_versions_but_cannot_make_or_restore_them(
    server_factory: Any,
) -> None:
    secret = secrets.token_urlsafe(48)
    server = server_factory(env={"COLLAB_AUTH_SECRET": secret})

    def bearer(role: Role, subject: str | None = None) -> dict[str, str]:
        token = mint_token(secret, "team/*", role, 600, subject=subject)
        return {"Authorization": f"Bearer {token}"}

    writer = httpx.AsyncClient(
        base_url=server.http_url, timeout=LONG, headers=bearer(Role.WRITE, "ann")
    )
    reader = httpx.AsyncClient(base_url=server.http_url, timeout=LONG, headers=bearer(Role.READ))
    async with writer, reader:
        name = "team/plan"
        assert (
            await writer.post(
                path(name, "update"),
                content=text_update("v1"),
                headers={"Content-Type": "application/octet-stream"},
            )
        ).is_success
        version = await save(writer, name, "by ann")
        assert version["author"] == "ann"
        listing = (await reader.get(path(name, "versions"))).json()["versions"]
        assert [v["id"] for v in listing] == [version["id"]]
        assert await text_of(reader, name, "versions", version["id"]) == "v1"
        assert (await reader.get(path(name, "versions", version["id"], "diff"))).is_success
        assert_error(await reader.post(path(name, "versions")), 403, "forbidden")
        restore_response = await reader.post(path(name, "versions", version["id"], "restore"))
        assert_error(restore_response, 403, "forbidden")
        assert_error(await reader.get(path("other/doc", "versions")), 403, "forbidden")
        assert_error(
            await httpx.AsyncClient(base_url=server.http_url).get(path(name, "versions")),
            401,
            "unauthorized",
        )
        assert [v["id"] for v in (await reader.get(path(name, "versions"))).json()["versions"]] == [
            version["id"]
        ]


async def test_a_deleted_documents_versions_are_gone_and_its_tombstone_kept(
    server: Server, http: httpx.AsyncClient
) -> None:
    old = text_update("secret plan")
    assert (
        await http.post(
            path("gone", "update"),
            content=old,
            headers={"Content-Type": "application/octet-stream"},
        )
    ).is_success
    version = await save(http, "gone", "before deleting")
    assert (await http.delete(path("gone"))).is_success
    assert_error(await http.get(path("gone", "versions")), 404, "not_found")
    assert_error(await http.get(path("gone", "versions", version["id"])), 404, "not_found")
    assert_error(
        await http.post(
            path("gone", "update"),
            content=old,
            headers={"Content-Type": "application/octet-stream"},
        ),
        400,
        "invalid_update",
    )
    # a new document of that name starts with no versions
    assert (
        await http.post(
            path("gone", "update"),
            content=text_update("new"),
            headers={"Content-Type": "application/octet-stream"},
        )
    ).is_success
    assert (await http.get(path("gone", "versions"))).json()["versions"] == []
    assert_error(await http.get(path("gone", "versions", version["id"])), 404, "not_found")


# -- the state at a moment, and the CLI ---------------------------------------------------------


async def test_state_at_a_moment_comes_from_the_log_or_the_newest_version(
    server_factory: Any,
) -> None:
    server = server_factory(["--compact-updates", "3"])
    writer: Doc[Any] = Doc()
    text = writer.get("text", type=Text)

    async def write(http: httpx.AsyncClient, words: str) -> float:
        before = writer.get_state()
        text.insert(len(text), words)
        response = await http.post(
            path("story", "update"),
            content=writer.get_update(before),
            headers={"Content-Type": "application/octet-stream"},
        )
        assert response.status_code == 200, response.text
        return time.time()

    async with httpx.AsyncClient(base_url=server.http_url, timeout=LONG) as http:
        created = await write(http, "Once")
        version = await save(http, "story", "once")
        after_version = time.time()
        await write(http, " upon")
        await write(http, " a time")  # the third log row: compacted into a snapshot
        await eventually(lambda: "compacted document" in server.log(), "a compaction")

        async def at(moment: float, route: str = "update") -> httpx.Response:
            return await http.get(path("story", route), params={"at": repr(moment)})

        # the log no longer reaches back: the newest version made by then answers
        response = await at(after_version, "export")
        assert response.status_code == 200 and response.headers["x-collab-version"] == str(
            version["id"]
        )
        assert (await at(after_version, "content")).json() == {"text": "Once"}
        # before the oldest version and the snapshot: gone, naming the earliest moment
        gone = await at(created)
        assert_error(gone, 410, "history_gone")
        assert version["created_at"] in gone.json()["detail"]
        assert_error(await at(created - 3600), 404, "not_created_yet")
        assert_error(
            await http.get(path("story", "update"), params={"at": "soon"}), 400, "bad_time"
        )
        now = await at(time.time())
        assert now.status_code == 200 and "x-collab-version" not in now.headers
        check: Doc[Any] = Doc()
        check.apply_update(now.content)
        assert str(check.get("text", type=Text)) == "Once upon a time"
    # the CLI reads versions and moments over HTTP and from the file
    for source in (["--server", server.http_url], ["--db", str(server.db_path)]):
        exported = cli(
            "export", "story", "--version", str(version["id"]), "--format", "text", *source
        )
        assert exported.returncode == 0 and exported.stdout == b"Once", exported.stderr
        moment = cli("export", "story", "--at", repr(after_version), "--format", "text", *source)
        assert moment.returncode == 0 and moment.stdout == b"Once", moment.stderr
        missing = cli("export", "story", "--version", "99999", *source)
        assert missing.returncode == 1 and b"no version 99999" in missing.stderr
    usage = cli("export", "--all", "--out", "x", "--version", "1")
    assert usage.returncode == 2 and b"--version" in usage.stderr


def cli(*args: str) -> subprocess.CompletedProcess[bytes]:
    """Run ``collab ARGS`` as a process."""
    return subprocess.run(
        [sys.executable, "-m", "collab", *args], capture_output=True, timeout=300, check=False
    )
