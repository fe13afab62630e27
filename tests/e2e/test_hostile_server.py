"""Issue 19 against a real server: hostile updates close their sender alone, with a reason."""

from __future__ import annotations

import asyncio
import base64
import os
import struct
import subprocess
import sys
from typing import Any

import httpx
import pytest
from pycrdt import Doc, Text
from sqlite_utils import Database

from collab import protocol
from collab.stores import Store
from collab.websocket import CloseCode
from tests.e2e.conftest import OCTETS, Server
from tests.e2e.nodepeer import NodePeer
from tests.e2e.pyclient import PyClient
from tests.e2e.test_hostile import GAP, item_parented_by
from tests.e2e.yjsref import yjs_apply

pytestmark = pytest.mark.e2e


async def test_http_update_with_a_clock_gap_is_kept_waiting_not_applied(server: Server) -> None:
    """Item 1 over HTTP: accepted (it waits, as in Yjs), the text stays empty, and a fresh
    Yjs client given the server's state keeps it waiting too."""
    async with httpx.AsyncClient(base_url=server.http_url) as http:
        response = await http.post("/api/documents/d/update", content=GAP, headers=OCTETS)
        assert response.status_code == 200, response.text
        content = (await http.get("/api/documents/d/content")).json()
        assert content.get("text", "") == ""
        state = (await http.get("/api/documents/d/update")).content
    (fresh,) = yjs_apply([state])
    assert fresh["pending"] and fresh["texts"]["text"] == ""
    server.restart()
    async with httpx.AsyncClient(base_url=server.http_url) as http:
        content = (await http.get("/api/documents/d/content")).json()
        assert content.get("text", "") == ""


async def test_an_item_parented_by_a_string_closes_its_sender_alone(server: Server) -> None:
    """Item 4: the sender gets 1007; the honest peers are not closed (they were, 1011
    "document reloaded after a failed update") and keep editing together."""
    author: Doc[Any] = Doc(client_id=3_000_000_001)
    async with PyClient(server.ws_url, "d", author) as alice, PyClient(server.ws_url, "d") as bob:
        alice.text().insert(0, "hi")
        await bob.wait_for(lambda: str(bob.text()) == "hi")
        attacker = await PyClient(server.ws_url, "d").connect()
        await attacker.raw(protocol.encode(protocol.Update(item_parented_by(3_000_000_001))))
        assert await attacker.wait_closed() == CloseCode.INVALID_UPDATE
        assert "not a shared type" in attacker.close_reason
        bob.text().insert(2, " there")
        await alice.wait_for(lambda: str(alice.text()) == "hi there")
        assert alice.close_code is None and bob.close_code is None


async def test_waiting_structs_past_the_bound_close_the_sender_with_4413(
    server_factory: Any,
) -> None:
    """Item 2: updates of 500 items whose left origin (client 999999) never exists; past
    --max-pending-structs the sender is closed 4413 and nothing of that update is kept, and
    another document keeps relaying."""
    server: Server = server_factory(["--max-pending-structs", "2000"])
    writer: Doc[Any] = Doc(client_id=31337)
    never: Doc[Any] = Doc(client_id=999999)
    never.get("text", type=Text).insert(0, "z")
    writer.apply_update(never.get_update())
    updates: list[bytes] = []
    writer.observe(lambda event: updates.append(event.update))
    for _ in range(64):
        with writer.transaction():
            for _ in range(500):
                writer.get("text", type=Text).insert(1, "y")
    async with PyClient(server.ws_url, "other") as a, PyClient(server.ws_url, "other") as b:
        attacker = await PyClient(server.ws_url, "d").connect()
        for update in updates:
            await attacker.raw(protocol.encode(protocol.Update(update)))
            if attacker.close_code is not None:
                break
        assert await attacker.wait_closed() == CloseCode.TOO_LARGE
        assert "waits for missing updates" in attacker.close_reason
        a.text().insert(0, "still relaying")
        await b.wait_for(lambda: str(b.text()) == "still relaying")
    async with httpx.AsyncClient(base_url=server.http_url) as http:
        response = await http.get("/api/documents/d")
    # the updates of one read are taken merged: up to the bound, or none of that read
    assert response.status_code == 404 or response.json()["updates"] <= 4, response.text


def test_serve_refuses_a_database_of_a_newer_version_in_one_line(tmp_path: Any) -> None:
    """Issue 19 item 7 from the command line: exit status 1 and one line on stderr."""
    path = tmp_path / "future.db"
    Store(path).close()
    db = Database(path)
    db.execute(
        "INSERT INTO _sqlite_migrations (migration_set, name, applied_at)"
        " VALUES ('collab', 'm099_future_format', '2027-01-01 00:00:00')"
    )
    db.conn.commit()
    db.close()
    proc = subprocess.run(
        [sys.executable, "-m", "collab", "serve", "--no-web", "--db", str(path), "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "m099_future_format" in lines[0], proc.stderr


async def close_of_upgrade(server: Server, host: str, origin: str) -> tuple[int, str]:
    """Open ``/sync/d`` with raw ``Host`` and ``Origin`` headers; the close code and reason."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        (
            f"GET /sync/d HTTP/1.1\r\nHost: {host}\r\nOrigin: {origin}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 20)
    assert head.startswith(b"HTTP/1.1 101"), head
    while True:
        first, second = await asyncio.wait_for(reader.readexactly(2), 20)
        payload = await reader.readexactly(second & 0x7F)
        if first & 0x0F == 0x8:
            writer.close()
            return struct.unpack("!H", payload[:2])[0], payload[2:].decode()


async def test_dns_rebinding_is_refused_by_the_host_check(
    server_factory: Any, tmp_path: Any
) -> None:
    """Item 13: ``Host: evil.example:P`` with ``Origin: http://evil.example:P`` passed the
    WebSocket Origin check (it compared Origin with Host); loopback names still work, and
    --allowed-host adds a name."""
    server: Server = server_factory()
    evil = f"evil.example:{server.port}"
    code, reason = await close_of_upgrade(server, evil, f"http://{evil}")
    assert code == CloseCode.FORBIDDEN and "host not allowed" in reason
    async with httpx.AsyncClient(base_url=server.http_url) as http:
        refused = await http.get("/api/documents", headers={"Host": evil})
        assert refused.status_code == 421 and refused.json()["error"] == "misdirected"
        for name in ("localhost", "127.0.0.1", "[::1]", "app.localhost"):
            ok = await http.get("/api/documents", headers={"Host": f"{name}:{server.port}"})
            assert ok.status_code == 200, name
    allowed: Server = server_factory(
        ["--allowed-host", "evil.example"], db_path=tmp_path / "allowed.db"
    )
    async with httpx.AsyncClient(base_url=allowed.http_url) as http:
        host = f"evil.example:{allowed.port}"
        assert (await http.get("/api/documents", headers={"Host": host})).status_code == 200


async def test_cross_site_http_writes_are_refused_when_auth_is_off(server: Server) -> None:
    """Item 13: a page on any site could POST an update as text/plain (no CORS preflight)
    and it was applied; now an update needs application/octet-stream (415), and POST and
    DELETE follow the WebSocket's Origin policy (403)."""
    update = Doc()
    update.get("text", type=Text).insert(0, "pwned")
    body = update.get_update()
    async with httpx.AsyncClient(base_url=server.http_url) as http:
        url = "/api/documents/victim/update"
        plain = {"Content-Type": "text/plain", "Origin": "http://evil.example"}
        response = await http.post(url, content=body, headers=plain)
        assert response.status_code == 403, response.text
        plain = {"Content-Type": "text/plain", "Origin": server.http_url}
        response = await http.post(url, content=body, headers=plain)
        assert response.status_code == 415, response.text
        assert response.json()["error"] == "unsupported_media_type"
        assert (await http.post(url, content=body)).status_code == 415  # no Content-Type
        foreign = {**OCTETS, "Origin": "http://evil.example"}
        response = await http.post(url, content=body, headers=foreign)
        assert response.status_code == 403 and response.json()["error"] == "origin_not_allowed"
        assert (await http.get("/api/documents/victim")).status_code == 404, "nothing applied"
        same = {**OCTETS, "Origin": server.http_url}
        assert (await http.post(url, content=body, headers=same)).status_code == 200
        delete = await http.delete("/api/documents/victim", headers={"Origin": "http://x.example"})
        assert delete.status_code == 403
        assert (await http.get("/api/documents/victim")).status_code == 200


def title_update() -> bytes:
    """A seed document by a new Yjs client: the text ``Title\\n``."""
    doc: Doc[Any] = Doc()
    doc.get("text", type=Text).insert(0, "Title\n")
    return doc.get_update()


async def test_create_only_writes_racing_for_a_new_document_write_once(server: Server) -> None:
    """Item 6: two writers creating one document at once both succeeded and the text was
    ``Title\\nTitle\\n``; with ``If-None-Match: *`` exactly one writes, the other gets 412."""
    create_only = {**OCTETS, "If-None-Match": "*"}
    async with httpx.AsyncClient(base_url=server.http_url) as http:
        for trial in range(10):
            url = f"/api/documents/new{trial}/update"
            responses = await asyncio.gather(
                *(http.post(url, content=title_update(), headers=create_only) for _ in range(2))
            )
            assert sorted(r.status_code for r in responses) == [200, 412], [
                r.text for r in responses
            ]
            (refused,) = [r for r in responses if r.status_code == 412]
            assert refused.json()["error"] == "exists"
            content = (await http.get(f"/api/documents/new{trial}/content")).json()
            assert content["text"] == "Title\n"


def test_two_imports_started_at_once_import_once(server: Server, tmp_path: Any) -> None:
    """Item 6 with ``collab import``: both exit 0, the text is there once."""
    seed = tmp_path / "seed.yjs"
    seed.write_bytes(title_update())
    command = [sys.executable, "-m", "collab", "import", "fresh", str(seed)]
    procs = [
        subprocess.Popen(
            [*command, "--server", server.http_url],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for _ in range(2)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    response = httpx.get(f"{server.http_url}/api/documents/fresh/content")
    assert response.json()["text"] == "Title\n"


async def test_a_stale_editor_of_a_deleted_document_is_told_so_with_4410(server: Server) -> None:
    """Item 12: its old content got 1007, which the y-websocket client retries (five times
    a second, forever); 4400-4499 it does not retry, and the reason says why."""
    async with PyClient(server.ws_url, "gone") as editor:
        editor.text().insert(0, "old content")
        await editor.barrier()
        stale_state = editor.doc.get_update()
    async with httpx.AsyncClient(base_url=server.http_url) as http:
        assert (await http.delete("/api/documents/gone")).status_code == 200
    stale: Doc[Any] = Doc()
    stale.apply_update(stale_state)
    again = await PyClient(server.ws_url, "gone", doc=stale).connect(handshake=False)
    await again.raw(protocol.encode(protocol.SyncStep2(stale_state)))
    assert await again.wait_closed() == CloseCode.DOCUMENT_DELETED
    assert "document was deleted" in again.close_reason


def big_document(chars: int) -> bytes:
    """A document of two clients' interleaved edits, ``chars`` characters long."""
    a: Doc[Any] = Doc(client_id=1)
    b: Doc[Any] = Doc(client_id=2)
    text_a, text_b = a.get("text", type=Text), b.get("text", type=Text)
    piece = "lorem ipsum dolor sit amet " * 40
    while len(str(text_a)) < chars:
        text_a.insert(len(str(text_a)) // 2, piece)
        b.apply_update(a.get_update(b.get_state()))
        text_b.insert(0, "b" * 100)
        a.apply_update(b.get_update(a.get_state()))
    return a.get_update()


async def test_a_large_document_syncs_in_parts_to_a_real_yjs_client(
    server: Server, node_modules: None
) -> None:
    """Item 10: a 20 MB document never reached a client on a 500 kB/s link (the y-websocket
    client's 30 s watchdog fired during the one sync step 2). A reply over 1 MiB now goes as
    update messages of about 1 MiB, the last one the sync step 2, and a real y-websocket
    client ends with the whole document."""
    state = big_document(3_000_000)
    async with httpx.AsyncClient(base_url=server.http_url, timeout=120) as http:
        response = await http.post("/api/documents/big/update", content=state, headers=OCTETS)
        assert response.status_code == 200, response.text
        expected = (await http.get("/api/documents/big/content")).json()["text"]
    watcher = await PyClient(server.ws_url, "big").connect(handshake=False)
    await watcher.raw(protocol.encode(protocol.SyncStep1(b"\x00")))
    await watcher.wait_for(lambda: any(isinstance(m, protocol.SyncStep2) for m in watcher.received))
    replies = [m for m in watcher.received if isinstance(m, protocol.Update | protocol.SyncStep2)]
    assert len(replies) >= 3 and isinstance(replies[-1], protocol.SyncStep2)
    assert all(len(m.update) < 1_100_000 for m in replies)
    assert str(watcher.text()) == expected
    await watcher.close()
    (fresh,) = yjs_apply([m.update for m in replies])
    assert fresh["texts"]["text"] == expected and not fresh["pending"]
    async with NodePeer(server.ws_url, "big") as peer:
        await peer.call("wait_synced", timeout=120)
        await peer.call("wait_text", equals=expected, timeout=120)
