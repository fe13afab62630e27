"""collab embedded in host apps under plain uvicorn (not ``collab serve``): a FastAPI app and a
Starlette app mount it at ``/collab`` with their own ``authorize`` and ``on_change`` (see
``tests/e2e/embedded_apps.py``); real Node y-websocket peers and pycrdt clients edit through
the portable ASGI WebSocket path. Also: the README's embedding example, run as written."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from collab.stores import SQLiteStore
from tests.e2e.conftest import OCTETS, ROOT, free_port
from tests.e2e.nodepeer import NodePeer
from tests.e2e.pyclient import PyClient

pytestmark = pytest.mark.e2e


@dataclass
class Host:
    """A host app running under ``python -m uvicorn`` on a free loopback port."""

    proc: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/collab/sync"

    def stop(self) -> int:
        """SIGTERM, and the exit status (uvicorn dies of the signal after a graceful
        shutdown: -15)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


def start_uvicorn(target: list[str], cwd: Path, env: dict[str, str], log: Path) -> Host:
    """Run ``python -m uvicorn *target`` and wait until it answers HTTP."""
    port = free_port()
    args = [sys.executable, "-m", "uvicorn", *target, "--host", "127.0.0.1", "--port", str(port)]
    out = log.open("ab")
    proc = subprocess.Popen(
        args, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **env}
    )
    host = Host(proc, port, log)

    def answers() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"uvicorn exited with {proc.returncode}:\n{log.read_text()}")
        try:
            return httpx.get(host.http_url + "/collab/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    deadline = time.monotonic() + 30
    while not answers():
        if time.monotonic() > deadline:
            host.stop()
            raise RuntimeError(f"uvicorn did not start:\n{log.read_text()}")
        time.sleep(0.05)
    return host


@pytest.fixture(params=["fastapi", "starlette"])
def host(request: pytest.FixtureRequest, tmp_path: Path, node_modules: None) -> Iterator[Host]:
    env = {"EMBED_DB": str(tmp_path / "app.db"), "EMBED_EVENTS": str(tmp_path / "events.jsonl")}
    target = ["--factory", f"tests.e2e.embedded_apps:{request.param}_app"]
    started = start_uvicorn(target, ROOT, env, tmp_path / "uvicorn.log")
    yield started
    started.stop()


def events(tmp_path: Path) -> list[dict[str, object]]:
    path = tmp_path / "events.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


async def test_embedded_collab_syncs_authorizes_and_reports_changes(
    host: Host, tmp_path: Path
) -> None:
    http = httpx.AsyncClient(base_url=host.http_url, timeout=30)
    # The host's own route still answers beside the mount.
    assert (await http.get("/hello")).status_code == 200
    async with (
        NodePeer(host.ws_url, "team/plan", {"user": "writer"}) as node,
        NodePeer(host.ws_url, "team/plan", {"user": "reader"}) as watcher,
        PyClient(host.ws_url, "team/plan?user=writer") as py,
    ):
        await node.call("wait_synced")
        await node.call("insert", index=0, text="Yjs ")
        await py.wait_for(lambda: str(py.text()) == "Yjs ")
        py.text().insert(4, "and pycrdt")
        await node.call("wait_text", equals="Yjs and pycrdt")
        await watcher.call("wait_text", equals="Yjs and pycrdt")

        # The hook decides: a reader cannot write, strangers and private documents are refused.
        reader = await PyClient(host.ws_url, "team/plan?user=reader").connect()
        reader.text().insert(0, "vandal ")
        assert await reader.wait_closed() == 4403
        for room in ("team/plan?user=nobody", "private/x?user=writer"):
            refused = await PyClient(host.ws_url, room).connect(handshake=False)
            assert await refused.wait_closed() == 4403
            assert refused.close_reason == "access refused"
        boss = await PyClient(host.ws_url, "private/x?user=boss").connect()
        await boss.close()
        await node.call("wait_text", equals="Yjs and pycrdt")

        # A raising on_change leaves its room working.
        async with (
            PyClient(host.ws_url, "boom?user=writer") as a,
            PyClient(host.ws_url, "boom?user=writer") as b,
        ):
            a.text().insert(0, "still ")
            await b.wait_for(lambda: str(b.text()) == "still ")
            b.text().insert(6, "working")
            await a.wait_for(lambda: str(a.text()) == "still working")

    # HTTP under the mount: names exactly as asked (never cut by a fixed length).
    update = py.doc.get_update()
    posted = await http.post(
        "/collab/api/documents/notes/update",
        content=update,
        headers={"X-User": "writer", **OCTETS},
    )
    assert posted.status_code == 200 and posted.json()["name"] == "notes"
    denied = await http.post(
        "/collab/api/documents/notes/update",
        content=update,
        headers={"X-User": "reader", **OCTETS},
    )
    assert denied.status_code == 403 and denied.json()["error"] == "forbidden"
    listing = await http.get("/collab/api/documents", headers={"X-User": "reader"})
    assert [d["name"] for d in listing.json()["documents"]] == ["boom", "notes", "team/plan"]
    content = await http.get(
        "/collab/api/documents/team%2Fplan/content", headers={"X-User": "reader"}
    )
    assert content.json()["text"] == "Yjs and pycrdt"
    await http.aclose()

    assert host.stop() in (0, -signal.SIGTERM)
    assert "Application shutdown complete" in host.log.read_text()  # the hooks finished
    store = SQLiteStore.open_read_only(tmp_path / "app.db")
    try:
        seen = events(tmp_path)
        assert seen and all(event["stored"] for event in seen), seen  # after the commit
        for name in ("team/plan", "boom", "notes"):
            mine = sorted(str(e["update"]) for e in seen if e["name"] == name)
            rows = sorted(row.hex() for row in store.load(name).updates)
            assert mine == rows, name  # every committed update, once
        assert {e["origin"] for e in seen} == {"websocket", "http"}
        assert store.get("uments/notes") is None
    finally:
        store.close()


def readme_example() -> str:
    """The Python block of the README's "Embedding collab in your app" section."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Embedding collab in your app", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match is not None
    return match.group(1)


async def test_the_readme_embedding_example_runs_as_written(
    tmp_path: Path, node_modules: None
) -> None:
    (tmp_path / "app.py").write_text(readme_example())
    host = start_uvicorn(["app:app"], tmp_path, {}, tmp_path / "uvicorn.log")
    try:
        async with (
            PyClient(host.ws_url, "notes-1") as client,
            NodePeer(host.ws_url, "notes-1") as node,
        ):
            client.text().insert(0, "draft")
            await node.call("wait_text", equals="draft")
            async with httpx.AsyncClient(base_url=host.http_url) as http:
                stamped = await http.post("/notes/notes-1/stamp")
                assert stamped.status_code == 200, stamped.text
            await client.wait_for(lambda: str(client.text()) == "Approved. draft")
            await node.call("wait_text", equals="Approved. draft")
            refused = await PyClient(host.ws_url, "admin/keys").connect(handshake=False)
            assert await refused.wait_closed() == 4403
    finally:
        host.stop()
    assert "notes-1 changed" in host.log.read_text()  # on_change's print (flushed at exit)
    assert (tmp_path / "data" / "app.db").is_file()
