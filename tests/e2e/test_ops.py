"""Operations: metrics, structured logs, graceful shutdown of a real server process."""

from __future__ import annotations

import asyncio
import json
import re
import signal
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Server
from tests.e2e.pyclient import PyClient

pytestmark = pytest.mark.e2e


def metric(text: str, name: str, **labels: str) -> float:
    """The value of one sample in Prometheus text (0 when absent)."""
    wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
    pattern = rf"^{re.escape(name)}{re.escape('{' + wanted + '}') if wanted else ''} (\S+)$"
    match = re.search(pattern, text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


async def scrape(server: Server) -> str:
    async with httpx.AsyncClient(base_url=server.http_url) as http:
        response = await http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return response.text


async def test_metrics_follow_a_real_session(server_factory: Any) -> None:
    server: Server = server_factory(["--room-grace-seconds", "0"])
    before = await scrape(server)
    assert metric(before, "collab_peers") == 0
    async with PyClient(server.ws_url, "m") as a, PyClient(server.ws_url, "m") as b:
        for i in range(5):  # one read of the server each (one read's updates are merged)
            a.text().insert(0, f"{i}")
            await a.barrier()
        await b.wait_for(lambda: len(str(b.text())) == 5)
        during = await scrape(server)
        assert metric(during, "collab_peers") == 2
        assert metric(during, "collab_open_rooms") == 1
    after = await scrape(server)
    assert metric(after, "collab_messages_received_total", type="update") >= 5
    assert metric(after, "collab_messages_received_total", type="sync_step1") >= 2
    assert metric(after, "collab_messages_sent_total", type="update") >= 5
    assert metric(after, "collab_bytes_received_total", type="update") > 0
    assert metric(after, "collab_updates_committed_total") >= 5
    assert metric(after, "collab_commit_seconds_count") >= 1
    assert metric(after, "collab_fanout_seconds_count") >= 1
    assert metric(after, "collab_commit_batch_updates_sum") >= 5
    for _ in range(100):
        text = await scrape(server)
        if metric(text, "collab_peers") == 0 and metric(text, "collab_open_rooms") == 0:
            break
        await asyncio.sleep(0.05)
    assert metric(text, "collab_peers") == 0 and metric(text, "collab_open_rooms") == 0


async def test_close_codes_are_counted(server: Server) -> None:
    client = await PyClient(server.ws_url, "bad").connect(handshake=False)
    await client.raw("text frame")
    assert await client.wait_closed() == 1003
    assert metric(await scrape(server), "collab_closes_total", code="1003") == 1


async def test_json_logs_have_events_and_no_content_or_tokens(server_factory: Any) -> None:
    secret = "a-test-secret-that-is-long-enough-for-hs256!"
    server: Server = server_factory(
        ["--log-format", "json", "--compact-updates", "3"], env={"COLLAB_AUTH_SECRET": secret}
    )
    from collab.auth import Role, mint_token

    token = mint_token(secret, "logged", Role.WRITE, 600)
    async with PyClient(server.ws_url, f"logged?token={token}") as client:
        for word in ("confidential", "manuscript", "words"):  # 3 log rows: a compaction
            client.text().insert(len(client.text()), word + " ")
            await client.barrier()
        await client.wait_for(lambda: "words" in str(client.text()))
        async with PyClient(server.ws_url, f"logged?token={token}") as other:
            await other.wait_for(lambda: "words" in str(other.text()))
    bad = await PyClient(server.ws_url, "logged").connect(handshake=False)
    assert await bad.wait_closed() == 4401
    server.stop()
    events = [json.loads(line) for line in server.log().splitlines() if line.startswith("{")]
    messages = [e["message"] for e in events]
    assert "connection opened" in messages
    closed = [e for e in events if e["message"] == "connection closed"]
    assert closed and all(e["room"] == "logged" and "code" in e for e in closed)
    refused = [e for e in events if e["message"] == "refusing connection"]
    assert refused and refused[0]["code"] == 4401
    assert "compacted document" in messages
    log = server.log()
    assert "confidential" not in log and "manuscript" not in log
    assert token not in log and secret not in log


async def test_sigterm_during_a_burst_loses_nothing_and_exits_zero(server: Server) -> None:
    writer = await PyClient(server.ws_url, "burst").connect()
    reader = await PyClient(server.ws_url, "burst").connect()
    text = writer.text()

    async def burst() -> None:
        for i in range(2000):
            text.insert(len(text), f"{i},")
            if i % 50 == 0:
                await asyncio.sleep(0)

    await burst()
    await reader.wait_for(lambda: len(str(reader.text())) > 100)
    status = await asyncio.to_thread(server.stop, signal.SIGTERM)
    assert status == 0
    assert await reader.wait_closed() == 1001
    seen = str(reader.text())
    server.start()
    async with PyClient(server.ws_url, "burst") as fresh:
        stored = str(fresh.text())
    assert stored.startswith(seen) or seen in stored
    assert "server shutting down" in reader.close_reason


async def test_a_second_server_on_the_same_database_is_refused(server: Server) -> None:
    """A second ``collab serve`` on the first one's database file exits non-zero at once with
    one line naming the first process; the first keeps serving (and its edits stay its own)."""
    import subprocess
    import sys

    from tests.e2e.conftest import ROOT, free_port

    assert server.proc is not None
    second = subprocess.run(
        [
            sys.executable,
            "-m",
            "collab",
            "serve",
            "--no-web",
            "--port",
            str(free_port()),
            "--db",
            str(server.db_path),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert second.returncode == 1
    lines = second.stderr.strip().splitlines()
    assert len(lines) == 1, second.stderr
    assert "in use by another collab process" in lines[0]
    assert f"(pid {server.proc.pid})" in lines[0]
    async with PyClient(server.ws_url, "still-served") as client:
        client.text().insert(0, "first server")
        async with httpx.AsyncClient(base_url=server.http_url) as http:

            async def stored() -> bool:
                response = await http.get("/api/documents/still-served/content")
                return response.status_code == 200 and "first server" in response.text

            deadline = asyncio.get_running_loop().time() + 30
            while not await stored():
                assert asyncio.get_running_loop().time() < deadline
                await asyncio.sleep(0.05)
