"""``collab export`` / ``collab import`` (and ``scripts/export``) as processes, against real
``collab serve`` processes and their database files, with documents written by real clients
(pycrdt over y-websocket, a Node Yjs peer) and a real editing trace."""

from __future__ import annotations

import asyncio
import base64
import gzip
import json
import os
import pty
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from pycrdt import Array, Doc, Map, Text

from collab import export
from collab.auth import Role, mint_token
from collab.backup.states import same_document
from collab.updates import EMPTY_UPDATE
from tests.e2e.conftest import OCTETS, Server, free_port
from tests.e2e.nodepeer import NodePeer
from tests.e2e.pyclient import PyClient, TraceClient
from tests.helpers.traces import DATA

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "golden"
TIPTAP = (GOLDEN / "tiptap_doc.bin").read_bytes()
TRACE = DATA / "friendsforever_flat.json.gz"


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    """Run ``collab ARGS`` as a process."""
    return subprocess.run(
        [sys.executable, "-m", "collab", *args],
        cwd=ROOT,
        capture_output=True,
        env={**os.environ, **(env or {})},
        timeout=300,
        check=False,
    )


def ok(proc: subprocess.CompletedProcess[bytes]) -> subprocess.CompletedProcess[bytes]:
    assert proc.returncode == 0, proc.stderr.decode()
    return proc


def fails(proc: subprocess.CompletedProcess[bytes], status: int, message: str) -> None:
    """The process exited with ``status`` and said so in exactly one stderr line."""
    err = proc.stderr.decode()
    assert proc.returncode == status, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("collab: ") and message in lines[0], err


def doc_url(server: Server, name: str) -> str:
    return f"{server.http_url}/api/documents/{quote(name, safe='')}"


def url_of(server: Server, name: str, action: str = "update") -> str:
    return f"{doc_url(server, name)}/{action}"


def state(server: Server, name: str) -> bytes:
    response = httpx.get(url_of(server, name), timeout=30)
    assert response.status_code == 200, response.text
    return response.content


def names(server: Server) -> list[str]:
    body = httpx.get(f"{server.http_url}/api/documents?limit=1000", timeout=30).json()
    return [doc["name"] for doc in body["documents"]]


def wait_until(predicate: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        time.sleep(0.02)


async def wait_stored(server: Server, name: str, expected: bytes, timeout: float = 120.0) -> None:
    """Until the server's committed state of ``name`` holds exactly ``expected``'s content
    (checked between polls that let the event loop send the clients' updates)."""
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(timeout=30) as http:
        while True:
            response = await http.get(url_of(server, name))
            if response.status_code == 200 and same_document(response.content, expected):
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"{name!r} was not stored in time")
            await asyncio.sleep(0.02)


# -- documents written by real clients ------------------------------------------------------------

ODD_NAMES = ["team/notes v2", "100% done", "Grüße/日本語", "Case", "case", "a/update", ".dot"]


async def write_documents(server: Server) -> dict[str, bytes]:
    """Documents of every kind, by pycrdt clients over y-websocket and one over HTTP."""
    written: dict[str, bytes] = {}
    for i, name in enumerate(ODD_NAMES):
        async with PyClient(server.ws_url, quote(name, safe="/")) as client:
            text = client.text()
            # ASCII: pycrdt 0.14 counts Text positions in UTF-8 bytes where Yjs counts UTF-16
            # units, and a formatted insert past the end then writes an update Yjs throws on
            # (which the server refuses since issue 19).
            text.insert(0, f"doc {i}: hello world")
            del text[0:3]
            text.insert(len(text), " bold", {"bold": True})
            meta = client.doc.get("meta", type=Map)
            meta["title"] = name
            meta["tags"] = Array(["a", "b"])
            meta["nested"] = Map({"n": i})
            written[name] = client.doc.get_update()
            await wait_stored(server, name, written[name])
    # an update that changes nothing creates a document only when asked to (If-None-Match: *)
    create = {**OCTETS, "If-None-Match": "*"}
    response = httpx.post(url_of(server, "empty"), content=EMPTY_UPDATE, headers=create, timeout=30)
    assert response.status_code == 200
    written["empty"] = EMPTY_UPDATE
    return written


async def write_tiptap(server: Server, name: str) -> None:
    """The golden rich-text document, sent by a real Node Yjs peer through y-websocket."""
    async with NodePeer(server.ws_url, quote(name, safe="/")) as peer:
        await peer.call("wait_synced", timeout=20)
        await peer.call("apply_update", update=base64.b64encode(TIPTAP).decode())
        await wait_stored(server, name, TIPTAP)


async def test_export_all_then_import_into_fresh_servers_reproduces_every_document(
    server_factory: Any, tmp_path: Path, node_modules: None
) -> None:
    source = server_factory(db_path=tmp_path / "a.db")
    written = await write_documents(source)
    await write_tiptap(source, "team/tiptap")
    listed = names(source)
    assert sorted(listed) == sorted([*written, "team/tiptap"])

    backup = tmp_path / "backup"
    ok(cli("export", "--all", "--out", str(backup), "--server", source.http_url))
    manifest = json.loads((backup / "manifest.json").read_text(encoding="utf-8"))
    assert {doc["name"] for doc in manifest["documents"]} == set(listed)
    assert len({doc["file"].casefold() for doc in manifest["documents"]}) == len(listed)

    # into a fresh server, over HTTP
    target = server_factory(db_path=tmp_path / "b.db")
    proc = ok(cli("import", "--all", str(backup), "--server", target.http_url))
    assert f"imported {len(listed)} documents" in proc.stderr.decode()
    assert sorted(names(target)) == sorted(listed)
    for name in listed:
        before, after = state(source, name), state(target, name)
        assert same_document(before, after), name
        assert export.to_json(before) == export.to_json(after)
    async with PyClient(target.ws_url, quote("team/tiptap", safe="/")) as client:
        restored = client.doc.get_update()
    assert export.export(restored, "markdown") == (GOLDEN / "tiptap_doc.md").read_bytes()

    # into a fresh database file (no server), then out again: the very same bytes
    ok(cli("import", "--all", str(backup), "--db", str(tmp_path / "c.db")))
    again = tmp_path / "again"
    ok(cli("export", "--all", "--out", str(again), "--db", str(tmp_path / "c.db")))
    for doc in manifest["documents"]:
        assert (again / doc["file"]).read_bytes() == (backup / doc["file"]).read_bytes()
    third = server_factory(db_path=tmp_path / "c.db")
    for name in listed:
        assert same_document(state(source, name), state(third, name)), name

    # importing the backup again changes nothing
    proc = ok(cli("import", "--all", str(backup), "--server", target.http_url))
    assert f"({len(listed)} unchanged, 0 replaced)" in proc.stderr.decode()


async def test_markdown_html_and_text_of_a_node_peers_document_match_the_golden_files(
    server: Server, tmp_path: Path, node_modules: None
) -> None:
    await write_tiptap(server, "golden/tiptap doc")
    script = [str(ROOT / "scripts" / "export"), "golden/tiptap doc", "--server", server.http_url]
    for fmt, suffix in (("markdown", "md"), ("text", "txt")):
        proc = subprocess.run([*script, "--format", fmt], capture_output=True, check=False)
        assert proc.returncode == 0, proc.stderr.decode()
        assert proc.stdout == (GOLDEN / f"tiptap_doc.{suffix}").read_bytes()
    page = tmp_path / "page.html"
    proc = subprocess.run([*script, "--out", str(page)], capture_output=True, check=False)
    assert proc.returncode == 0, proc.stderr.decode()
    html = page.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and "<title>golden/tiptap doc</title>" in html
    assert (GOLDEN / "tiptap_doc.html").read_text(encoding="utf-8").strip() in html
    # the same from the database file, while the server runs
    proc = cli("export", "golden/tiptap doc", "--db", str(server.db_path), "--format", "markdown")
    assert ok(proc).stdout == (GOLDEN / "tiptap_doc.md").read_bytes()


# -- a real editing trace -----------------------------------------------------------------------


async def test_a_real_editing_trace_exports_as_its_final_text(server: Server) -> None:
    """friendsforever_flat typed through the server (26,078 updates, compacted every 1,000)."""
    with gzip.open(TRACE, "rt", encoding="utf-8") as f:
        trace = json.load(f)
    async with TraceClient(server.ws_url, "trace/story") as writer:
        for i, txn in enumerate(trace["txns"], 1):
            writer.apply_trace_transaction(txn["patches"])
            if i % 500 == 0:
                await writer.flush()
        await writer.flush()
        assert str(writer.text()) == trace["endContent"]
        await wait_stored(server, "trace/story", writer.doc.get_update())
    expected = trace["endContent"].encode()
    assert (
        ok(cli("export", "trace/story", "--format", "text", "--server", server.http_url)).stdout
        == expected
    )
    from_db = cli("export", "trace/story", "--format", "text", "--db", str(server.db_path))
    assert ok(from_db).stdout == expected


# -- --at ---------------------------------------------------------------------------------------


def test_at_returns_an_earlier_state_until_compaction_merged_it(
    server_factory: Any, tmp_path: Path
) -> None:
    server = server_factory(extra=["--compact-updates", "4"])
    doc: Doc[Any] = Doc()
    text = doc.get("text", type=Text)

    def write(words: str) -> float:
        """Append ``words`` over HTTP (answered once committed); returns a moment after it."""
        before = doc.get_state()
        text.insert(len(text), words)
        response = httpx.post(
            url_of(server, "story"), content=doc.get_update(before), headers=OCTETS, timeout=30
        )
        assert response.status_code == 200
        return time.time()

    first = write("Once")
    second = write(" upon")
    write(" a time")
    db = str(server.db_path)

    def at(moment: float) -> subprocess.CompletedProcess[bytes]:
        return cli("export", "story", "--db", db, "--format", "text", "--at", repr(moment))

    assert ok(at(first)).stdout == b"Once"
    assert ok(at(second)).stdout == b"Once upon"
    assert ok(cli("export", "story", "--db", db, "--format", "text")).stdout == b"Once upon a time"
    fails(at(first - 3600), 3, "did not exist yet")

    write(" there")  # the fourth log row: the server compacts the log into a snapshot

    def compacted() -> bool:
        with sqlite3.connect(f"file:{server.db_path}?mode=ro", uri=True) as conn:
            return bool(conn.execute("SELECT count(*) FROM snapshots").fetchone()[0])

    wait_until(compacted)
    gone = "was compacted into a snapshot and no version is that old; the earliest moment"
    fails(at(second), 3, gone)
    last = write(" was")
    assert ok(at(last)).stdout == b"Once upon a time there was"

    def over_http(moment: float) -> subprocess.CompletedProcess[bytes]:
        args = ["--server", server.http_url, "--format", "text", "--at", repr(moment)]
        return cli("export", "story", *args)

    fails(over_http(second), 3, gone)
    fails(over_http(first - 3600), 3, "did not exist yet")
    assert ok(over_http(last)).stdout == b"Once upon a time there was"


# -- errors, tombstones, auth, progress ---------------------------------------------------------


def test_each_error_is_one_line_and_a_non_zero_status(server: Server, tmp_path: Path) -> None:
    work = tmp_path / "work"  # beside the server's files
    work.mkdir()
    httpx.post(url_of(server, "doc"), content=text_update("content"), headers=OCTETS, timeout=30)
    url = server.http_url
    fails(cli("export", "missing", "--server", url), 1, "no document named 'missing'")
    nobody = f"http://127.0.0.1:{free_port()}"
    fails(cli("export", "doc", "--server", nobody), 1, "cannot reach the server")
    fails(cli("export", "--all", "--out", str(work / "x"), "--server", nobody), 1, "cannot reach")
    garbage = work / "garbage.db"
    garbage.write_bytes(os.urandom(8192))
    fails(cli("export", "doc", "--db", str(garbage)), 1, f"{garbage}: file is not a database")
    fails(cli("export", "doc", "--db", str(work / "none.db")), 1, "no database at")
    blocker = work / "a-file"
    blocker.write_text("")
    fails(
        cli("export", "doc", "--server", url, "--out", str(blocker / "doc.md")), 1, "cannot write"
    )
    fails(
        cli("export", "--all", "--server", url, "--out", str(blocker / "dir")), 1, "cannot create"
    )
    assert sorted(p.name for p in work.iterdir()) == ["a-file", "garbage.db"]
    fails(cli("export", "doc", "--server", "ftp://x"), 2, "bad server URL")
    fails(cli("export", "doc", "--db", str(server.db_path), "--at", "soon"), 2, "bad time")
    update_file = work / "other.yjs"
    update_file.write_bytes(text_update("other content"))
    fails(cli("import", "doc", str(update_file), "--server", url), 1, "already exists")
    fails(cli("import", "doc", str(update_file), "--db", str(server.db_path)), 1, "in use")
    fails(cli("import", "doc", str(garbage), "--server", url), 1, "is not a Yjs v1 update")
    assert export.export(state(server, "doc"), "text") == b"content"


def text_update(content: str) -> bytes:
    doc: Doc[Any] = Doc()
    doc.get("text", type=Text).insert(0, content)
    return doc.get_update()


async def test_replace_over_http_restores_a_backup_despite_the_tombstone(
    server: Server, tmp_path: Path
) -> None:
    async with PyClient(server.ws_url, "notes") as client:
        client.text().insert(0, "the original")
        await wait_stored(server, "notes", client.doc.get_update())
        backup = tmp_path / "notes.yjs"
        ok(cli("export", "notes", "--server", server.http_url, "--out", str(backup)))
        client.text().insert(len(client.text()), ", then edited")
        await wait_stored(server, "notes", client.doc.get_update())
    # the document holds everything in the backup, and more: nothing to import without --replace
    proc = ok(cli("import", "notes", str(backup), "--server", server.http_url))
    assert "and more edits since" in proc.stderr.decode() and "--replace" in proc.stderr.decode()
    async with PyClient(server.ws_url, "notes") as editor:
        proc = ok(cli("import", "notes", str(backup), "--server", server.http_url, "--replace"))
        assert "keeps the content before as a version" in proc.stderr.decode()
        # a connected editor receives the replaced content like an edit, and stays connected
        await editor.wait_for(lambda: str(editor.text()) == "the original")
    async with PyClient(server.ws_url, "notes") as reader:
        assert str(reader.text()) == "the original"
    (before, *_) = httpx.get(doc_url(server, "notes") + "/versions", timeout=30).json()["versions"]
    assert before["automatic"] and before["label"] == "before import --replace"
    url = doc_url(server, "notes") + f"/versions/{before['id']}/export?format=text"
    assert httpx.get(url, timeout=30).text == "the original, then edited"
    # a deleted document: its old content is refused unless --replace
    assert httpx.delete(doc_url(server, "notes"), timeout=30).status_code == 200
    fails(cli("import", "notes", str(backup), "--server", server.http_url), 1, "was deleted")
    ok(cli("import", "notes", str(backup), "--server", server.http_url, "--replace"))
    assert export.export(state(server, "notes"), "text") == b"the original"


def test_a_server_with_auth_needs_a_token(server_factory: Any, tmp_path: Path) -> None:
    secret = "s" * 40
    server = server_factory(extra=["--auth-secret", secret])
    admin = mint_token(secret, "*", Role.ADMIN, 600)
    created = httpx.post(
        url_of(server, "private"),
        content=text_update("secret text"),
        headers={"Authorization": f"Bearer {admin}", **OCTETS},
        timeout=30,
    )
    assert created.status_code == 200
    fails(cli("export", "private", "--server", server.http_url), 1, "--token or COLLAB_TOKEN")
    proc = cli(
        "export",
        "private",
        "--server",
        server.http_url,
        "--format",
        "text",
        env={"COLLAB_TOKEN": admin},
    )
    assert ok(proc).stdout == b"secret text"
    reader = mint_token(secret, "private", Role.READ, 600)
    out = tmp_path / "out"
    ok(cli("export", "--all", "--out", str(out), "--server", server.http_url, "--token", reader))
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert [doc["name"] for doc in manifest["documents"]] == ["private"]
    fails(
        cli(
            "import",
            "copy",
            str(out / "private.yjs"),
            "--server",
            server.http_url,
            "--token",
            reader,
        ),
        1,
        "does not allow",
    )


def test_progress_bar_only_on_a_terminal(server: Server, tmp_path: Path) -> None:
    for i in range(5):
        httpx.post(
            url_of(server, f"doc{i}"), content=text_update(f"text {i}"), headers=OCTETS, timeout=30
        )
    plain = ok(cli("export", "--all", "--out", str(tmp_path / "a"), "--server", server.http_url))
    assert plain.stderr.decode() == (
        f"exported 5 documents from {server.http_url} to {tmp_path / 'a'}\n"
    )
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "collab",
            "export",
            "--all",
            "--out",
            str(tmp_path / "b"),
            "--server",
            server.http_url,
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=follower,
    )
    os.close(follower)
    seen = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        seen += chunk
    os.close(leader)
    assert proc.wait(60) == 0
    text = seen.decode()
    assert "\r[" in text and "5/5 doc4" in text and "#" * 24 in text
    assert text.rstrip().endswith(f"to {tmp_path / 'b'}")
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text(encoding="utf-8"))
    assert sorted(doc["name"] for doc in manifest["documents"]) == [f"doc{i}" for i in range(5)]
