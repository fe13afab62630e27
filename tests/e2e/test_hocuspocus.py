"""End-to-end Hocuspocus: unmodified @hocuspocus/provider peers (4.x and 3.x) against collab.

Each :class:`HocusPeer` is one Node process: HocuspocusProviders sharing one
HocuspocusProviderWebsocket to ``/hocuspocus``. y-websocket peers (:class:`NodePeer`) join the
same rooms through ``/sync/{name}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from asyncio.subprocess import PIPE
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from collab import Collab
from collab.auth import Role, mint_token
from collab.settings import Settings
from collab.wsserver import DirectProtocol
from tests.e2e.conftest import ROOT, Server, free_port
from tests.e2e.nodepeer import NODE_DIR, HocusPeer, NodePeer
from tests.e2e.pyclient import PyClient, eventually
from tests.e2e.test_sync import DATA, TRACES, load_trace, patched

pytestmark = pytest.mark.e2e

SECRET = "hocuspocus-test-secret-of-32-bytes-at-least"
PROVIDERS = ["4", "3"]


def hocus_url(server: Server) -> str:
    return f"ws://127.0.0.1:{server.port}/hocuspocus"


def token(doc: str, role: Role = Role.WRITE) -> str:
    return mint_token(SECRET, doc, role, 3600)


@contextlib.asynccontextmanager
async def hocus(server: Server, *docs: str | dict[str, Any], **kw: Any) -> AsyncIterator[HocusPeer]:
    """A HocusPeer on ``server`` with ``docs`` (names, or ``{"name", "token"}``) open."""
    specs = [{"name": d} if isinstance(d, str) else d for d in docs]
    async with HocusPeer(hocus_url(server), specs, **kw) as peer:
        yield peer


async def fresh_text(server: Server, room: str) -> str:
    """The text a newly connected y-websocket client gets from the server's sync step 2."""
    async with PyClient(server.ws_url, room) as client:
        return str(client.text())


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_two_providers_converge(server: Server, node_modules: None, provider: str) -> None:
    async with (
        hocus(server, "pair", provider=provider) as alice,
        hocus(server, "pair", provider=provider) as bob,
    ):
        assert (await alice.call("wait_authenticated"))["scope"] == "read-write"
        await alice.call("wait_synced")
        await bob.call("wait_synced")
        await alice.call("insert", index=0, text="hello ")
        await bob.call("wait_text", equals="hello ")
        await bob.call("insert", index=6, text="world")
        await alice.call("wait_text", equals="hello world")
        # every update was acknowledged by a SyncStatus, after its commit
        await alice.call("wait_saved")
        await bob.call("wait_saved")
    assert await fresh_text(server, "pair") == "hello world"


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_provider_and_a_y_websocket_client_converge(
    server: Server, node_modules: None, provider: str
) -> None:
    async with (
        hocus(server, "mixed", provider=provider) as tiptap,
        NodePeer(server.ws_url, "mixed") as yws,
    ):
        await tiptap.call("wait_synced")
        await yws.call("wait_synced")
        await tiptap.call("insert", index=0, text="from hocuspocus. ")
        await yws.call("wait_text", equals="from hocuspocus. ")
        await yws.call("insert", index=17, text="from y-websocket.")
        await tiptap.call("wait_text", equals="from hocuspocus. from y-websocket.")


async def test_one_socket_three_documents_tokens_for_two(
    server_factory: Any, node_modules: None
) -> None:
    server = server_factory(extra=["--auth-secret", SECRET])
    docs = [
        {"name": "team/a", "token": token("team/a")},
        {"name": "team/b", "token": token("team/b")},
        {"name": "team/c", "token": token("team/a")},  # a token for another document
    ]
    async with HocusPeer(hocus_url(server), docs) as peer:
        reason = (await peer.call("wait_denied", doc="team/c"))["reason"]
        assert reason == "token does not grant this document"
        for name in ("team/a", "team/b"):
            assert (await peer.call("wait_authenticated", doc=name))["scope"] == "read-write"
            await peer.call("wait_synced", doc=name)
            await peer.call("insert", doc=name, index=0, text=f"in {name}")
            await peer.call("wait_saved", doc=name)
        status = await peer.call("status")
        assert status["opens"] == 1 and status["closes"] == [], "one socket, never closed"
        assert status["documents"]["team/c"]["authenticated"] is None
        # a y-websocket client sees each document's own text, nothing of the refused one
        for name in ("team/a", "team/b"):
            async with PyClient(f"{server.ws_url}", f"{name}?token={token(name)}") as reader:
                assert str(reader.text()) == f"in {name}"
        # closing one document leaves the others open
        await peer.call("close_doc", doc="team/a")
        await peer.call("insert", doc="team/b", index=0, text="still ")
        await peer.call("wait_saved", doc="team/b")
        assert (await peer.call("status"))["closes"] == []
    log = server.log()
    assert "hocuspocus document refused room='team/c'" in log
    assert "WARNING" not in log


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_read_only_scope_is_enforced(
    server_factory: Any, node_modules: None, provider: str
) -> None:
    server = server_factory(extra=["--auth-secret", SECRET])
    write = [{"name": "ro", "token": token("ro")}]
    read = [{"name": "ro", "token": token("ro", Role.READ)}]
    async with (
        HocusPeer(hocus_url(server), write, provider=provider) as writer,
        HocusPeer(hocus_url(server), read, provider=provider) as reader,
    ):
        assert (await reader.call("wait_authenticated"))["scope"] == "readonly"
        await writer.call("wait_synced")
        await reader.call("wait_synced")
        await writer.call("insert", index=0, text="written")
        await reader.call("wait_text", equals="written")
        # the reader's edit is refused (SyncStatus false): applied nowhere, stored nowhere
        await reader.call("insert", index=0, text="FORGED ")
        await writer.call("insert", index=7, text=" twice")
        await reader.call("wait_text", contains=" twice")
        await writer.call("wait_saved")
        status = (await reader.call("status"))["documents"]["ro"]
        assert status["unsynced"] >= 1, "the refused update was never acknowledged"
        assert (await writer.call("get_text"))["text"] == "written twice"
    assert await fresh_text(server, f"ro?token={token('ro')}") == "written twice"


async def test_awareness_across_both_protocols(server: Server, node_modules: None) -> None:
    async with hocus(server, "presence") as tiptap, NodePeer(server.ws_url, "presence") as yws:
        await tiptap.call("wait_synced")
        await yws.call("wait_synced")
        await tiptap.call("awareness_set", state={"user": {"name": "tiptap"}})
        await yws.call("awareness_set", state={"user": {"name": "yws"}})
        states = (await yws.call("wait_awareness", count=2))["states"]
        assert states[str(tiptap.client_id)] == {"user": {"name": "tiptap"}}
        states = (await tiptap.call("wait_awareness", count=2))["states"]
        assert states[str(yws.client_id)] == {"user": {"name": "yws"}}
        # the provider's own state comes back to it: what keeps a lone provider connected
    # a provider that leaves is removed from the others' awareness at once
    async with NodePeer(server.ws_url, "presence") as yws:
        async with hocus(server, "presence") as tiptap:
            await tiptap.call("awareness_set", state={"user": {"name": "tiptap"}})
            await yws.call("wait_awareness", count=2)
        await yws.call("wait_awareness", count=1)


async def test_editing_trace_through_a_provider_arrives_intact(
    server: Server, node_modules: None
) -> None:
    trace = load_trace("automerge-paper")
    limit = TRACES["automerge-paper"]
    expected = patched("", trace["txns"][:limit])
    async with (
        hocus(server, "trace/hocus") as writer,
        NodePeer(server.ws_url, "trace/hocus") as reader,
    ):
        await writer.call("wait_synced")
        await reader.call("wait_synced")
        path = str(DATA / "automerge-paper.json.gz")
        reply = await writer.call("replay_trace", path=path, limit=limit, timeout=300)
        assert reply["length"] == len(expected)
        assert (await writer.call("get_text"))["text"] == expected
        await reader.call("wait_text", equals=expected, timeout=180)
        await writer.call("wait_saved", timeout=180)
    assert await fresh_text(server, "trace/hocus") == expected
    server.restart()
    assert await fresh_text(server, "trace/hocus") == expected


RECONNECT_FAST = {"delay": 50, "minDelay": 50, "maxDelay": 300, "factor": 1.5}


@pytest.mark.parametrize("stop", ["restart", "kill -9"])
async def test_provider_reconnects_and_nothing_acknowledged_is_lost(
    server: Server, node_modules: None, stop: str
) -> None:
    async with hocus(server, "durable", socket=RECONNECT_FAST) as peer:
        await peer.call("wait_synced")
        for i in range(20):
            await peer.call("insert", index=0, text=f"{i};")
        await peer.call("wait_saved")  # every update acknowledged: committed
        seen = (await peer.call("get_text"))["text"]
        if stop == "restart":
            server.restart()
        else:
            server.kill()
            server.start()
        await peer.call("wait_opens", count=2, timeout=30)
        await peer.call("wait_synced")
        await peer.call("insert", index=0, text="after;")
        await peer.call("wait_saved")
        assert await fresh_text(server, "durable") == "after;" + seen


# -- an app embedding collab: its authorize hook, on_stateless, broadcast_stateless -----------


@contextlib.asynccontextmanager
async def embedded(collab: Collab, transport: str) -> AsyncIterator[str]:
    """``collab.app`` under uvicorn in this process on a free port; ``transport``: "direct"
    (collab's fast path) or "asgi" (uvicorn's own WebSocket: the portable path)."""
    port = free_port()
    ws: Any = DirectProtocol if transport == "direct" else "websockets-sansio"
    config = uvicorn.Config(
        collab.app, host="127.0.0.1", port=port, ws=ws, lifespan="on", log_level="warning"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        await eventually(lambda: server.started, "the embedded server to start", 20)
        yield f"ws://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@pytest.mark.parametrize("transport", ["direct", "asgi"])
async def test_an_embedding_app_authorizes_and_exchanges_stateless_messages(
    tmp_path: Path, node_modules: None, transport: str
) -> None:
    roles: dict[str, str | None] = {"writer": "write", "reader": "read"}
    seen: list[tuple[str, str]] = []

    def authorize(conn: Any, name: str) -> str | None:
        # the Auth message's token, as the socket's ?token= (what a y-websocket client sends)
        return roles.get(conn.query_params.get("token") or "")

    async def on_stateless(name: str, payload: str, origin: object) -> None:
        seen.append((name, payload))
        if payload == "boom":
            raise RuntimeError("a failing hook")
        assert collab.broadcast_stateless(name, f"echo {payload}") == 2

    settings = Settings(db=str(tmp_path / "embedded.db"), room_grace_seconds=0.2)
    collab = Collab(settings, authorize=authorize, on_stateless=on_stateless)
    async with embedded(collab, transport) as base:
        url = f"{base}/hocuspocus"
        alice_docs = [{"name": "chat", "token": "writer"}, {"name": "other", "token": "nobody"}]
        async with (
            HocusPeer(url, alice_docs) as alice,
            HocusPeer(url, [{"name": "chat", "token": "reader"}], provider="3") as bob,
            NodePeer(f"{base}/sync", "chat", {"token": "writer"}) as yws,
        ):
            assert (await alice.call("wait_denied", doc="other"))["reason"] == "access refused"
            assert (await bob.call("wait_authenticated"))["scope"] == "readonly"
            for peer in (alice, bob, yws):
                await peer.call("wait_synced")
            await alice.call("send_stateless", payload="boom")  # logged, isolated
            await alice.call("send_stateless", payload="hi")
            assert (await bob.call("wait_stateless"))["stateless"] == ["echo hi"]
            assert (await alice.call("wait_stateless"))["stateless"] == ["echo hi"]
            assert seen == [("chat", "boom"), ("chat", "hi")]
            assert collab.broadcast_stateless("nobody-here", "x") == 0
            await yws.call("insert", index=0, text="still syncing")
            await alice.call("wait_text", doc="chat", equals="still syncing")
            await bob.call("wait_text", equals="still syncing")
            # the host withdraws the reader's access: its document is closed with the reason
            roles["reader"] = None
            assert await collab.reauthorize("chat") == 1
            closes = (await bob.call("wait_doc_close"))["closes"]
            assert closes[-1]["reason"] == "access refused"
            await alice.call("insert", doc="chat", index=0, text="alice ")
            await yws.call("wait_text", equals="alice still syncing")


def readme_example() -> str:
    """The README's runnable Hocuspocus example (the js block after its marker)."""
    readme = (ROOT / "README.md").read_text()
    after = readme.split("<!-- example: hocuspocus-node -->", 1)[1]
    return after.split("```js\n", 1)[1].split("```", 1)[0]


async def test_the_readme_example_runs(server_factory: Any, node_modules: None) -> None:
    server = server_factory(extra=["--auth-secret", SECRET])
    script = NODE_DIR / f"readme-example-{server.port}.mjs"  # beside the installed packages
    script.write_text(readme_example())
    env = {**os.environ, "COLLAB_URL": hocus_url(server), "COLLAB_TOKEN": token("team/notes")}
    try:
        proc = await asyncio.create_subprocess_exec(
            "node", str(script), env=env, stdout=PIPE, stderr=PIPE
        )
        out, err = await asyncio.wait_for(proc.communicate(), 60)
    finally:
        script.unlink()
    assert proc.returncode == 0, err.decode()
    # the paragraph is in the editor's fragment, which the web editor and the exports show
    assert out.decode() == "<paragraph>hello from Hocuspocus</paragraph>\n"
    export = f"{server.http_url}/api/documents/team/notes/export?format=text"
    headers = {"Authorization": f"Bearer {token('team/notes')}"}
    async with httpx.AsyncClient() as http:
        response = await http.get(export, headers=headers, timeout=30)
    assert (response.text, response.headers["x-collab-root"]) == (
        "hello from Hocuspocus\n",
        "default",
    )


async def run_readme_example(env: dict[str, str]) -> tuple[int | None, str, str]:
    """Run the README's example with ``env`` added: (exit status, stdout, stderr)."""
    script = NODE_DIR / f"readme-example-{uuid.uuid4().hex}.mjs"
    script.write_text(readme_example())
    proc = await asyncio.create_subprocess_exec(
        "node", str(script), env={**os.environ, **env}, stdout=PIPE, stderr=PIPE
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), 60)
    finally:
        script.unlink()
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    return proc.returncode, out.decode(), err.decode()


async def test_the_readme_example_says_a_read_token_cannot_write(
    server_factory: Any, node_modules: None
) -> None:
    """The server answers (authenticated, read-only): not "no answer" after 10 s, but at
    once that the token is read-only (a newcomer's trial)."""
    server = server_factory(extra=["--auth-secret", SECRET])
    env = {"COLLAB_URL": hocus_url(server), "COLLAB_TOKEN": token("team/notes", Role.READ)}
    status, out, err = await run_readme_example(env)
    assert status == 1 and out == "", err
    assert err.strip() == (
        "refused: read-only access to team/notes (a read token): give a token with --role write"
    )
    headers = {"Authorization": f"Bearer {token('team/notes')}"}
    async with httpx.AsyncClient() as http:
        record = await http.get(f"{server.http_url}/api/documents/team/notes", headers=headers)
    assert record.status_code == 404  # nothing was written


async def test_the_readme_example_gives_up_when_nothing_answers(node_modules: None) -> None:
    """Nothing listens at the URL: the provider would reconnect for ever; the example stops
    after its own 10 s with a message naming the URL (a newcomer's trial)."""
    script = NODE_DIR / f"readme-example-{uuid.uuid4().hex}.mjs"
    script.write_text(readme_example())
    url = f"ws://127.0.0.1:{free_port()}/hocuspocus"
    proc = await asyncio.create_subprocess_exec(
        "node", str(script), env={**os.environ, "COLLAB_URL": url}, stdout=PIPE, stderr=PIPE
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), 60)
    finally:
        script.unlink()
        if proc.returncode is None:  # it did not give up: no process left behind
            proc.kill()
            await proc.wait()
    assert proc.returncode == 1 and out == b""
    assert err.decode().strip() == f"no answer from {url} within 10 s: is collab serving there?"


async def test_session_aware_providers_share_one_socket_for_one_document(
    server: Server, node_modules: None
) -> None:
    """4.x's ``sessionAwareness``: two providers of one document on one socket, each with its
    own address (name, NUL, session id), each answered at its own address."""
    docs = [
        {"name": "shared", "key": "left", "session": True},
        {"name": "shared", "key": "right", "session": True},
    ]
    async with HocusPeer(hocus_url(server), docs) as peer, hocus(server, "shared") as other:
        for key in ("left", "right"):
            await peer.call("wait_synced", doc=key)
        await peer.call("insert", doc="left", index=0, text="L")
        await peer.call("wait_text", doc="right", equals="L")
        await other.call("wait_text", equals="L")
        await other.call("insert", index=1, text="R")
        await peer.call("wait_text", doc="left", equals="LR")
        await peer.call("wait_saved", doc="left")
