"""End-to-end sync: real server process, pycrdt and Node Yjs peers.

Covers the server's part of the y-protocols handshake, relaying and awareness (README
"Connecting a client") with real clients: pycrdt ``PyClient`` and Node peers on the unmodified
y-websocket provider.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import gzip
import json
import os
import signal
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from pycrdt import Doc, Text

from collab import awareness_codec, protocol
from collab.sessions.ywebsocket import BURST_UPDATES
from collab.updates import state_vector
from tests.e2e.conftest import Server
from tests.e2e.nodepeer import NodePeer
from tests.e2e.pyclient import (
    PyClient,
    TraceClient,
    awareness_frame,
    awareness_view,
    removed_clients,
)
from tests.helpers.traces import DATA

pytestmark = pytest.mark.e2e

EMPTY_UPDATE = b"\x00\x00"  # no structs, no deletions (e.g. the sync step 2 of an empty doc)


# -- helpers ---------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def node_peers(server: Server, room: str, count: int) -> AsyncIterator[list[NodePeer]]:
    """Start ``count`` Node peers on ``room`` (concurrently) and stop them at the end."""
    peers = [NodePeer(server.ws_url, room) for _ in range(count)]
    try:
        await asyncio.gather(*(peer.launch() for peer in peers))
        yield peers
    finally:
        await asyncio.gather(*(peer.close() for peer in peers), return_exceptions=True)


async def kill_node_peer(peer: NodePeer) -> None:
    """``kill -9`` the peer's process: its socket ends without any goodbye message."""
    proc = peer._proc
    assert proc is not None
    proc.send_signal(signal.SIGKILL)
    await proc.wait()


def decode_state_vector(state_vector: bytes) -> dict[int, int]:
    """A Yjs state vector as ``{client id: clock}`` (independent of the encoder's order)."""
    reader = protocol.ByteReader(state_vector)
    result = {}
    for _ in range(reader.var_uint()):
        client = reader.var_uint()
        result[client] = reader.var_uint()
    reader.end()
    return result


def text_of_update(update: bytes, name: str = "text") -> str:
    """The text ``name`` of a fresh document after applying ``update``."""
    doc: Doc[Any] = Doc()
    text = doc.get(name, type=Text)
    doc.apply_update(update)
    return str(text)


def of_type(client: PyClient, kind: type) -> list[Any]:
    return [m for m in client.received if isinstance(m, kind)]


async def fresh_text(server: Server, room: str, name: str = "text") -> str:
    """The text a newly connected client gets from the server's sync step 2."""
    async with PyClient(server.ws_url, room) as client:
        return str(client.text(name))


# -- convergence -----------------------------------------------------------------------------


async def test_two_pycrdt_clients_converge(server: Server) -> None:
    async with PyClient(server.ws_url, "notes") as a, PyClient(server.ws_url, "notes") as b:
        a.text().insert(0, "hello")
        await b.wait_for(lambda: str(b.text()) == "hello")
        b.text().insert(5, " world")
        await a.wait_for(lambda: str(a.text()) == "hello world")


async def test_node_peers_converge_with_a_pycrdt_client(server: Server, node_modules: None) -> None:
    async with (
        node_peers(server, "mixed", 2) as (alice, bob),
        PyClient(server.ws_url, "mixed") as py,
    ):
        await asyncio.gather(alice.call("wait_synced"), bob.call("wait_synced"))
        await alice.call("insert", index=0, text="Yjs ")
        await py.wait_for(lambda: str(py.text()) == "Yjs ")
        await bob.call("wait_text", equals="Yjs ")
        py.text().insert(4, "and pycrdt")
        for peer in (alice, bob):
            await peer.call("wait_text", equals="Yjs and pycrdt")
        # concurrent edits from all three at once
        await asyncio.gather(
            alice.call("insert", index=0, text="[a]"), bob.call("insert", index=0, text="[b]")
        )
        py.text().insert(0, "[p]")
        texts = await asyncio.gather(
            *(peer.call("wait_text", length=len("Yjs and pycrdt") + 9) for peer in (alice, bob))
        )
        final = texts[0]["text"]
        assert texts[1]["text"] == final
        await py.wait_for(lambda: str(py.text()) == final)
        assert sorted(final[:9][i : i + 3] for i in (0, 3, 6)) == ["[a]", "[b]", "[p]"]
        assert final.endswith("Yjs and pycrdt")


async def test_ten_node_peers_typing_concurrently_converge(
    server: Server, node_modules: None
) -> None:
    count, per_peer = 10, 60
    async with node_peers(server, "ten", count) as peers, PyClient(server.ws_url, "ten") as py:
        await asyncio.gather(*(peer.call("wait_synced") for peer in peers))
        letters = "abcdefghij"
        await asyncio.gather(
            *(
                peer.call(
                    "type", text=letter * per_peer, at="random", seed=i, delay_ms=3, timeout=60
                )
                for i, (peer, letter) in enumerate(zip(peers, letters, strict=True))
            )
        )
        total = count * per_peer
        replies = await asyncio.gather(
            *(peer.call("wait_text", length=total, timeout=60) for peer in peers)
        )
        texts = {reply["text"] for reply in replies}
        assert len(texts) == 1, "Node peers diverged"
        (final,) = texts
        assert len(final) == total
        assert {letter: final.count(letter) for letter in letters} == dict.fromkeys(
            letters, per_peer
        )
        await py.wait_for(lambda: str(py.text()) == final, timeout=60)
    assert await fresh_text(server, "ten") == final


# -- a real editing trace --------------------------------------------------------------------


def relayed(client: PyClient) -> list[bytes]:
    """The non-empty updates ``client`` received."""
    return [m.update for m in of_type(client, protocol.Update) if m.update != EMPTY_UPDATE]


def load_trace(name: str) -> dict[str, Any]:
    with gzip.open(DATA / f"{name}.json.gz", "rt", encoding="utf-8") as f:
        trace: dict[str, Any] = json.load(f)
    return trace


def clock(client: PyClient, writer: PyClient) -> int:
    """``writer``'s clock in ``client``'s state vector (it moves on inserts only)."""
    return state_vector(client.doc.get_state()).get(writer.doc.client_id, 0)


async def replay(
    writer: TraceClient, reader: PyClient, txns: list[dict[str, Any]], window: int = 5000
) -> None:
    """Apply each transaction's patches as one pycrdt transaction (one update each).

    The writer stays at most ``window`` updates ahead of the reader (by the clock the writer
    had then: the server merges the updates of one read), so the server never sits on a huge
    backlog (a keepalive ping queued behind it would time out on a busy machine).
    """
    clocks: list[int] = []
    for i, txn in enumerate(txns, 1):
        writer.apply_trace_transaction(txn["patches"])
        if i % 500 == 0:
            clocks.append(clock(writer, writer))
            await writer.flush()
            if i > window:
                behind = clocks[(i - window) // 500 - 1]
                await reader.wait_for(lambda behind=behind: clock(reader, writer) >= behind, 60)
    await writer.flush()


def patched(start: str, txns: list[dict[str, Any]]) -> str:
    """The trace's text after ``txns``, computed with plain string slicing (no CRDT)."""
    parts = start
    for txn in txns:
        for position, deleted, inserted in txn["patches"]:
            parts = parts[:position] + inserted + parts[position + deleted :]
    return parts


# The whole automerge-paper trace (260k transactions, 105k characters) takes over a minute on two
# cores, so by default it is replayed up to this prefix (23%: 36,706 characters of LaTeX);
# friendsforever_flat (26k transactions) is replayed whole.
# COLLAB_E2E_FULL_TRACES=1 replays every trace whole.
TRACES = {"friendsforever_flat": None, "automerge-paper": 60_000}
if os.environ.get("COLLAB_E2E_FULL_TRACES") == "1":
    TRACES = dict.fromkeys(TRACES)


@pytest.mark.parametrize("trace_name", list(TRACES))
async def test_editing_trace_arrives_intact(server_factory: Any, trace_name: str) -> None:
    # one writer sends tens of thousands of messages as fast as it can: lift the rate limit
    server = server_factory(env={"COLLAB_MAX_MESSAGES_PER_SECOND": "0"})
    trace = load_trace(trace_name)
    assert trace["startContent"] == "", "these traces start from an empty document"
    prefix = TRACES[trace_name]
    txns = trace["txns"][:prefix]
    if prefix is None:
        expected = trace["endContent"]
        assert patched("", txns) == expected
    else:
        expected = patched("", txns)
    room = f"trace/{trace_name}"
    async with TraceClient(server.ws_url, room) as writer, PyClient(server.ws_url, room) as reader:
        await replay(writer, reader, txns)
        assert str(writer.text()) == expected
        # (not the state vector alone: it does not move on deletions, and traces end with some)
        await reader.wait_for(lambda: str(reader.text()) == expected, timeout=180)
        # each relayed update holds the updates of one read of the server, merged
        assert len(txns) / BURST_UPDATES <= len(relayed(reader)) <= len(txns)
        assert reader.doc.get_state() == writer.doc.get_state()
    # committed by the server: a fresh client, then a fresh server process, get the whole text
    assert await fresh_text(server, room) == expected
    server.restart()
    assert await fresh_text(server, room) == expected


# -- the server's part of the protocol ----------------------------------------------------------


async def test_server_sends_its_sync_step1_and_awareness_on_join(
    server: Server, node_modules: None
) -> None:
    async with NodePeer(server.ws_url, "join") as alice:
        await alice.call("wait_synced")
        await alice.call("insert", index=0, text="already here")
        await alice.call("awareness_set", state={"user": {"name": "alice"}})
        async with PyClient(server.ws_url, "join") as probe:
            await probe.wait_for(lambda: str(probe.text()) == "already here")
        alice_sv = base64.b64decode((await alice.call("state_vector"))["state_vector"])
        # a client that sends nothing at all still gets the server's step 1 and the awareness
        newcomer = await PyClient(server.ws_url, "join").connect(handshake=False)
        try:
            await newcomer.wait_for(
                lambda: (
                    bool(of_type(newcomer, protocol.SyncStep1))
                    and alice.client_id in awareness_view(newcomer.received)
                )
            )
            (step1,) = of_type(newcomer, protocol.SyncStep1)
            assert decode_state_vector(step1.state_vector) == decode_state_vector(alice_sv)
            assert awareness_view(newcomer.received)[alice.client_id] == {"user": {"name": "alice"}}
            assert not of_type(newcomer, protocol.SyncStep2), "no step 2 without a step 1"
        finally:
            await newcomer.close()


async def test_server_step1_pulls_a_reconnecting_clients_offline_edits(
    server: Server, node_modules: None
) -> None:
    async with NodePeer(server.ws_url, "offline") as alice:
        await alice.call("wait_synced")
        await alice.call("insert", index=0, text="online.")
        offline: Doc[Any] = Doc()
        offline.get("text", type=Text).insert(0, "typed offline.")
        # This client never sends its step 1 nor an update: its edits can reach the server only
        # as its step 2 answering the server's own step 1.
        returning = await PyClient(server.ws_url, "offline", doc=offline).connect(handshake=False)
        try:
            reply = await alice.call("wait_text", contains="typed offline.")
            assert sorted([reply["text"][:7], reply["text"][7:]]) in (
                ["online.", "typed offline."],
                ["typed o", "ffline.online."],
            )
            assert len(reply["text"]) == len("online.typed offline.")
        finally:
            await returning.close()
    assert await fresh_text(server, "offline") == reply["text"]


async def wait_room_unloaded(server: Server, timeout: float = 20.0) -> None:
    """Wait until the server has no room loaded (all peers gone, grace period over)."""
    deadline = asyncio.get_running_loop().time() + timeout
    async with httpx.AsyncClient(base_url=server.http_url) as http:
        while (await http.get("/healthz")).json().get("open_rooms") != 0:
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError("the room stayed loaded")
            await asyncio.sleep(0.05)


async def first_step2(server: Server, room: str) -> protocol.SyncStep2:
    """Connect, send sync step 1 (empty state vector) at once, return the step 2 reply."""
    client = await PyClient(server.ws_url, room).connect(handshake=False)
    try:
        await client.raw(protocol.encode(protocol.SyncStep1(b"\x00")))
        await client.wait_for(lambda: bool(of_type(client, protocol.SyncStep2)))
        step2: protocol.SyncStep2 = of_type(client, protocol.SyncStep2)[0]
        return step2
    finally:
        await client.close()


async def test_sync_step2_comes_from_the_loaded_document(
    server: Server, node_modules: None
) -> None:
    async with NodePeer(server.ws_url, "stored") as alice:
        await alice.call("wait_synced")
        content = (await alice.call("type", text="stored text. " * 200, chunk=13))["text"]
        async with PyClient(server.ws_url, "stored") as probe:
            await probe.wait_for(lambda: str(probe.text()) == content)
    # the room is unloaded, so the next join loads it from the database: its step 2 is full
    await wait_room_unloaded(server)
    assert text_of_update((await first_step2(server, "stored")).update) == content
    # same after a restart of the server process
    server.restart()
    assert text_of_update((await first_step2(server, "stored")).update) == content


async def test_handshake_messages_are_not_relayed(server: Server, node_modules: None) -> None:
    async with PyClient(server.ws_url, "relay") as watcher:
        joined = len(watcher.received)  # the server's step 1 and step 2 for the watcher itself
        offline: Doc[Any] = Doc()
        offline.get("text", type=Text).insert(0, "from step 2")
        # bob's content reaches the server only in his sync step 2 (answering the server)
        async with PyClient(server.ws_url, "relay", doc=offline) as bob:
            await watcher.wait_for(lambda: str(watcher.text()) == "from step 2")
            await bob.raw(protocol.encode(protocol.SyncStep1(b"\x00")))  # a second step 1
            await bob.wait_for(lambda: len(of_type(bob, protocol.SyncStep2)) == 2)
        async with NodePeer(server.ws_url, "relay") as carol:  # a real y-websocket handshake
            await carol.call("wait_synced")
            await carol.call("insert", index=0, text="carol: ")
            await watcher.wait_for(lambda: str(watcher.text()) == "carol: from step 2")
        later = watcher.received[joined:]
        assert {type(m) for m in later} <= {protocol.Update, protocol.Awareness}, later
        assert len(of_type(watcher, protocol.SyncStep1)) == 1
        assert len(of_type(watcher, protocol.SyncStep2)) == 1
        relayed = [m.update for m in later if isinstance(m, protocol.Update)]
        assert "from step 2" in [text_of_update(u) for u in relayed], "step 2 relayed as update"


async def test_awareness_removed_at_once_when_a_connection_ends(
    server: Server, node_modules: None
) -> None:
    async with (
        node_peers(server, "presence", 2) as (alice, bob),
        PyClient(server.ws_url, "presence") as watcher,
    ):
        await alice.call("awareness_set", state={"user": "alice"})
        await bob.call("awareness_set", state={"user": "bob"})
        ghost = await PyClient(server.ws_url, "presence").connect()
        await ghost.raw(awareness_frame(4242, 1, {"user": "ghost"}))
        for peer in (alice, bob):
            await peer.call("wait_awareness", count=3)
        await watcher.wait_for(
            lambda: {alice.client_id, bob.client_id, 4242} <= set(awareness_view(watcher.received))
        )
        # Timeouts below stay far under y-protocols' 30 s outdated timeout (and its 15 s
        # renewal), so only the server's removal broadcast can make these waits succeed.
        # 1. a client that closes its socket without announcing a null state
        await ghost.close()
        await alice.call("wait_awareness", count=2, timeout=8)
        await watcher.wait_for(lambda: 4242 in removed_clients(watcher.received), timeout=8)
        # 2. a Node peer whose process dies (no goodbye of any kind)
        await kill_node_peer(bob)
        await watcher.wait_for(lambda: bob.client_id in removed_clients(watcher.received), 8)
        states = (await alice.call("wait_awareness", count=1, timeout=8))["states"]
        assert list(states) == [str(alice.client_id)]
        # y-websocket echoes every awareness change it receives, so bob had sent alice's state
        # too: the server must still remove only the clients bob's connection announced
        assert alice.client_id not in removed_clients(watcher.received), (
            "the server broadcast the removal of alice, who is still connected"
        )


async def test_only_the_clients_a_connection_announced_are_removed_with_it(
    server: Server, node_modules: None
) -> None:
    """A peer that repeats someone else's awareness state does not take it over.

    y-websocket clients re-broadcast every awareness change they receive (the provider's
    awareness ``update`` handler ignores the origin), so the server sees alice's state arrive
    from every peer; when one of those peers leaves, alice must stay.
    """
    async with (
        NodePeer(server.ws_url, "echo") as alice,
        PyClient(server.ws_url, "echo") as watcher,
    ):
        await alice.call("awareness_set", state={"user": "alice"})
        await watcher.wait_for(lambda: alice.client_id in awareness_view(watcher.received))
        (entry,) = [
            e
            for m in of_type(watcher, protocol.Awareness)
            for e in awareness_codec.decode_awareness(m.payload)
            if e.client_id == alice.client_id and e.state is not None
        ][-1:]
        echoer = await PyClient(server.ws_url, "echo").connect()
        await echoer.raw(awareness_frame(5555, 1, {"user": "echoer"}))
        await echoer.raw(awareness_frame(entry.client_id, entry.clock, entry.state))  # the echo
        await echoer.barrier()
        await echoer.close()
        await watcher.wait_for(lambda: 5555 in removed_clients(watcher.received))
        assert alice.client_id not in removed_clients(watcher.received), (
            "the server removed alice's awareness when another connection that had repeated "
            "her state closed"
        )
        late = await PyClient(server.ws_url, "echo").connect()
        try:
            await late.wait_for(lambda: bool(of_type(late, protocol.Awareness)))
            assert set(awareness_view(late.received)) == {alice.client_id}
        finally:
            await late.close()


async def test_query_awareness_is_answered(server: Server, node_modules: None) -> None:
    query = protocol.encode(protocol.QueryAwareness())
    async with PyClient(server.ws_url, "query") as probe:
        # a room without any awareness state: the answer is an empty awareness update
        before = len(of_type(probe, protocol.Awareness))
        await probe.raw(query)
        await probe.wait_for(lambda: len(of_type(probe, protocol.Awareness)) > before)
        assert awareness_view(probe.received) == {}
        async with (
            NodePeer(server.ws_url, "query") as alice,
            PyClient(server.ws_url, "query") as py,
        ):
            await alice.call("awareness_set", state={"user": "alice"})
            await py.raw(awareness_frame(4242, 3, {"user": "py"}))
            await probe.wait_for(
                lambda: {alice.client_id, 4242} <= set(awareness_view(probe.received))
            )
            # The answer carries every known state in one message; relayed changes (and the
            # echoes y-websocket peers send of them) carry only the changed clients.
            probe.received.clear()
            await probe.raw(query)

            def answers() -> list[dict[int, Any]]:
                views = [awareness_view([m]) for m in of_type(probe, protocol.Awareness)]
                return [v for v in views if {alice.client_id, 4242} <= set(v)]

            await probe.wait_for(lambda: bool(answers()))
            answer = answers()[0]
            assert answer[4242] == {"user": "py"}
            assert answer[alice.client_id] == {"user": "alice"}


async def test_messages_sent_before_the_room_loaded_are_processed(
    server: Server, node_modules: None
) -> None:
    async with PyClient(server.ws_url, "early") as writer:
        writer.text().insert(0, "stored. " * 500)
        await writer.barrier()
    assert await fresh_text(server, "early") == "stored. " * 500
    server.restart()  # the room is not loaded now: the next connection triggers the load
    early: Doc[Any] = Doc()
    early.get("notes", type=Text).insert(0, "early bird")
    frames = [
        awareness_frame(999, 1, {"user": "early"}),
        protocol.encode(protocol.Update(early.get_update())),
        protocol.encode(protocol.SyncStep1(b"\x00")),
    ]
    client = await PyClient(server.ws_url, "early").connect(handshake=False)
    try:
        for frame in frames:  # all at once, without waiting for anything from the server
            await client.raw(frame)
        await client.wait_for(lambda: bool(of_type(client, protocol.SyncStep2)))
        assert str(client.text()) == "stored. " * 500
        assert str(client.text("notes")) == "early bird"
        async with NodePeer(server.ws_url, "early") as late:
            states = (await late.call("wait_awareness", count=2))["states"]
            assert states["999"] == {"user": "early"}
            await late.call("wait_synced")  # awareness comes first, at join
            doc = (await late.call("get_json", types={"text": "text", "notes": "text"}))["json"]
            assert doc == {"text": "stored. " * 500, "notes": "early bird"}
    finally:
        await client.close()


async def test_awareness_states_appear_at_late_joiners(server: Server, node_modules: None) -> None:
    async with NodePeer(server.ws_url, "late") as alice, PyClient(server.ws_url, "late") as py:
        await alice.call("awareness_set", state={"user": {"name": "alice", "color": "#d33"}})
        await py.raw(awareness_frame(4242, 1, {"user": {"name": "py", "color": "#33d"}}))
        await alice.call("wait_awareness", count=2)
        async with NodePeer(server.ws_url, "late") as carol:
            states = (await carol.call("wait_awareness", count=3))["states"]
            assert states[str(alice.client_id)] == {"user": {"name": "alice", "color": "#d33"}}
            assert states["4242"] == {"user": {"name": "py", "color": "#33d"}}
        late_py = await PyClient(server.ws_url, "late").connect(handshake=False)
        try:
            # carol (y-websocket) echoed alice's and py's states while she was here; her
            # leaving must not have removed them
            with contextlib.suppress(TimeoutError):
                await late_py.wait_for(
                    lambda: {alice.client_id, 4242} <= set(awareness_view(late_py.received)),
                    timeout=10,
                )
            assert set(awareness_view(late_py.received)) == {alice.client_id, 4242}
        finally:
            await late_py.close()


# -- document names --------------------------------------------------------------------------


async def document_names(server: Server) -> set[str]:
    async with httpx.AsyncClient(base_url=server.http_url) as http:
        body = (await http.get("/api/documents", params={"limit": 100})).json()
    return {doc["name"] for doc in body["documents"]}


async def test_document_names_may_contain_slashes(server: Server, node_modules: None) -> None:
    async with (
        NodePeer(server.ws_url, "team/notes") as alice,
        PyClient(server.ws_url, "team/notes") as py,
    ):
        await alice.call("wait_synced")
        await alice.call("insert", index=0, text="team notes")
        await py.wait_for(lambda: str(py.text()) == "team notes")
    assert await fresh_text(server, "team") == ""
    assert await fresh_text(server, "team/notes") == "team notes"
    assert "team/notes" in await document_names(server)


async def test_percent_encoded_names_are_decoded_exactly_once(server: Server) -> None:
    async with PyClient(server.ws_url, "a%2520b") as a:
        a.text().insert(0, "percent")
        await a.barrier()
    assert await fresh_text(server, "a%2520b") == "percent"
    assert await fresh_text(server, "a%20b") == ""  # that is the document "a b"
    assert await fresh_text(server, "a%2520b") == "percent"
    assert "a%20b" in await document_names(server)


async def test_a_name_of_255_bytes_is_accepted(server: Server) -> None:
    name = "é" * 127 + "x"  # 255 bytes in UTF-8
    raw = "%C3%A9" * 127 + "x"
    async with PyClient(server.ws_url, raw) as a:
        a.text().insert(0, "long name")
        await a.barrier()
    assert await fresh_text(server, raw) == "long name"
    assert name in await document_names(server)
