"""End-to-end storage (issues 3 and 20): a real `collab serve` process on its database (an
SQLite file, or a real PostgreSQL server: the storage tests run against both), restarts,
crashes, a database that goes away and comes back.

Every test waits on conditions (a client's document, the server's ``/healthz``, an API record),
never on the clock; the timeouts are generous because the machine is shared.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import signal
import sqlite3
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import websockets
from pycrdt import Array, Doc, Map, Text
from sqlite_utils import Database

from collab import protocol
from collab.stores.sqlite import migrations
from tests.e2e.conftest import OCTETS, Server
from tests.e2e.nodepeer import NodePeer
from tests.e2e.pyclient import PyClient, eventually
from tests.helpers.postgres import PostgresServer
from tests.helpers.stores import STORES, database
from tests.helpers.traces import DATA

pytestmark = pytest.mark.e2e

TRACE = DATA / "friendsforever_flat.json.gz"
LONG = 60.0  # seconds: the bound for anything that involves many updates or a restart


# -- helpers -------------------------------------------------------------------------------------


@pytest.fixture(params=STORES)
def db(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The test's database: an SQLite file, then a new PostgreSQL database."""
    return database(request, request.param, tmp_path)


@pytest.fixture
def server_factory(server_factory: Any, db: str) -> Any:
    """The conftest's factory, serving the test's database unless told otherwise."""

    def make(**kwargs: Any) -> Server:
        if "db_path" not in kwargs and "db" not in kwargs:
            if db.startswith("postgresql://"):
                kwargs["db"] = db
            else:
                kwargs["db_path"] = Path(db)
        return server_factory(**kwargs)  # type: ignore[no-any-return]

    return make


sqlite_only = pytest.mark.parametrize("db", ["sqlite"], indirect=True)
"""For tests of SQLite's own matters (its file, its locks, its migrations)."""


def recorder(doc: Doc[Any]) -> list[bytes]:
    """Collect every update ``doc`` emits, one per transaction."""
    updates: list[bytes] = []
    doc.observe(lambda event: updates.append(event.update))
    return updates


def update_frame(update: bytes) -> bytes:
    return protocol.encode(protocol.Update(update))


async def fresh_text(server: Server, room: str, field: str = "text") -> str:
    """The text a brand-new client sees right after its handshake (no waiting for more)."""
    async with PyClient(server.ws_url, room) as client:
        return str(client.doc.get(field, type=Text))


def doc_content(doc: Doc[Any]) -> dict[str, Any]:
    """The text, map and array of the compaction test as plain Python values."""
    return {
        "text": str(doc.get("text", type=Text)),
        "m": dict(doc.get("m", type=Map).to_py() or {}),
        "arr": list(doc.get("arr", type=Array).to_py() or []),
    }


async def record(server: Server, name: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=server.http_url, timeout=30) as http:
        response = await http.get("/api/documents/" + quote(name, safe=""))
    assert response.status_code == 200, response.text
    return response.json()


def db_rows(server: Server, sql: str) -> list[tuple[Any, ...]]:
    """Rows of ``sql`` (no parameters), read from the server's database, either kind."""
    if server.db.startswith("postgresql://"):
        import psycopg

        with psycopg.connect(server.db) as pg:
            return [tuple(row) for row in pg.execute(sql.encode()).fetchall()]
    conn = sqlite3.connect(server.db, timeout=30)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


async def open_rooms(server: Server) -> int:
    async with httpx.AsyncClient(timeout=10) as http:
        return int((await http.get(server.http_url + "/healthz")).json()["open_rooms"])


def rooms_equal(server: Server, n: int) -> Callable[[], Awaitable[bool]]:
    """A check that the server has exactly ``n`` rooms loaded."""

    async def check() -> bool:
        return await open_rooms(server) == n

    return check


# -- late joiners, restarts, crashes -------------------------------------------------------------


async def test_late_joiner_after_all_editors_left_gets_the_full_document(server: Server) -> None:
    async with PyClient(server.ws_url, "late") as a, PyClient(server.ws_url, "late") as b:
        a.text().insert(0, "hello")
        await b.wait_for(lambda: str(b.text()) == "hello")
        b.text().insert(5, " world")
        b.doc.get("m", type=Map)["k"] = "v"
        await a.wait_for(lambda: str(a.text()) == "hello world")
        await b.barrier()
    # Both editors left; wait until the room is really unloaded so the joiner reads storage.
    await eventually(rooms_equal(server, 0), "the room to unload")
    async with PyClient(server.ws_url, "late") as c:
        assert str(c.text()) == "hello world"
        assert c.doc.get("m", type=Map).to_py() == {"k": "v"}


async def test_late_joiner_after_a_restart_gets_the_full_document(
    server: Server, node_modules: None
) -> None:
    async with PyClient(server.ws_url, "restart") as a:
        for word in ["one ", "two ", "three"]:
            a.text().insert(len(a.text()), word)
        await a.barrier()
    await asyncio.to_thread(server.restart)
    assert await fresh_text(server, "restart") == "one two three"
    # A real Yjs client (y-websocket provider) as the late joiner, too.
    async with NodePeer(server.ws_url, "restart") as peer:
        await peer.call("wait_synced", timeout=LONG)
        assert (await peer.call("get_text"))["text"] == "one two three"


async def test_kill_9_during_a_burst_loses_nothing_any_peer_received(server: Server) -> None:
    n, window, width = 4000, 200, 6
    src = Doc()
    src_text = src.get("text", type=Text)
    updates = recorder(src)
    for i in range(n):
        src_text.insert(len(src_text), f"{i:05d};")
    expected = str(src_text)
    assert len(updates) == n

    a = await PyClient(server.ws_url, "burst").connect()
    b = await PyClient(server.ws_url, "burst").connect()

    def seen() -> int:
        return len(b.text()) // width

    async def write() -> int:
        """Send the updates, never more than ``window`` ahead of what B has received."""
        for i, update in enumerate(updates):
            try:
                await a.raw(update_frame(update))
            except websockets.ConnectionClosed:
                return i
            if i - seen() > window:
                await b.wait_for(lambda i=i: i - seen() <= window // 2 or b.close_code is not None)
                if b.close_code is not None:
                    return i
        return n

    writer = asyncio.create_task(write())
    await b.wait_for(lambda: seen() >= n // 2, LONG)
    await asyncio.to_thread(server.kill)  # SIGKILL while A is still sending
    await b.wait_closed(LONG)
    sent = await asyncio.wait_for(writer, LONG)
    received = str(b.text())
    await a.close()
    await b.close()

    assert sent < n, "the burst ended before the kill: make it longer"
    assert len(received) >= n // 2 * width
    await asyncio.to_thread(server.start)
    after = await fresh_text(server, "burst")
    assert after.startswith(received), (
        f"B received {len(received) // width} updates before the kill, "
        f"but only {len(after) // width} survived the restart"
    )
    assert expected.startswith(after)


# -- compaction ----------------------------------------------------------------------------------


async def test_compaction_keeps_text_map_and_array_equal(server_factory: Any) -> None:
    server = server_factory(extra=["--compact-updates", "3"])
    async with PyClient(server.ws_url, "compact") as a:
        text = a.doc.get("text", type=Text)
        m = a.doc.get("m", type=Map)
        arr = a.doc.get("arr", type=Array)
        written = 0
        # five phases, each read by the server apart (it merges the updates of one read):
        # at least five log rows, so at least one compaction
        for i in range(60):
            text.insert(len(text), f"line {i}\n")
            written += 1
        await a.barrier()
        for i in range(0, 60, 7):
            del text[i : i + 3]
            written += 1
        await a.barrier()
        for i in range(40):
            m[f"key{i % 15}"] = f"value {i}"
            written += 1
        await a.barrier()
        for i in range(30):
            arr.append(f"item {i}")
            written += 1
        await a.barrier()
        del arr[3:6]
        written += 1
        await a.barrier()
        before = doc_content(a.doc)
        state_before = a.doc.get_state()

    async def compacted() -> bool:
        rec = await record(server, "compact")
        snapshots = db_rows(server, "SELECT count(*) FROM snapshots")
        return bool(rec["updates"] < 3 and snapshots == [(1,)])

    await eventually(compacted, "the API record to show a compacted log")
    snapshots = db_rows(server, "SELECT count(*) FROM snapshots WHERE name = 'compact'")
    assert snapshots == [(1,)]
    rows = db_rows(server, "SELECT count(*) FROM updates WHERE name = 'compact'")[0][0]
    assert rows < written

    await asyncio.to_thread(server.restart)
    async with PyClient(server.ws_url, "compact") as c:
        assert doc_content(c.doc) == before
        assert c.doc.get_state() == state_before
    async with httpx.AsyncClient(base_url=server.http_url, timeout=30) as http:
        content = (await http.get("/api/documents/compact/content")).json()
    assert content == before


async def test_pending_update_survives_compaction_and_restart(server_factory: Any) -> None:
    server = server_factory(extra=["--compact-updates", "2"])
    src = Doc()
    src_text = src.get("text", type=Text)
    updates = recorder(src)
    for letter in "abc":
        src_text.insert(len(src_text), letter)
    u1, u2, u3 = updates

    async with PyClient(server.ws_url, "pending") as p:
        await p.raw(update_frame(u1))
        await p.barrier()  # a read of its own: not merged with u3
        await p.raw(update_frame(u3))  # waits for u2, which has not been sent
        await p.barrier()
        assert str(p.text()) == "a"

    async def compacted() -> bool:
        # u1 folds into the snapshot; u3 waits for u2, so its raw row is kept.
        return (await record(server, "pending"))["updates"] == 1

    await eventually(compacted, "the log (with a pending update) to be compacted")
    assert db_rows(server, "SELECT count(*) FROM snapshots WHERE name = 'pending'") == [(1,)]
    await asyncio.to_thread(server.restart)
    async with PyClient(server.ws_url, "pending") as p:
        assert str(p.text()) == "a"
        await p.raw(update_frame(u2))  # the missing predecessor: u3 can integrate now
        await p.barrier()
    assert await fresh_text(server, "pending") == "abc"
    await asyncio.to_thread(server.restart)
    assert await fresh_text(server, "pending") == "abc"


# -- concurrency -----------------------------------------------------------------------------


async def test_clients_connecting_to_a_new_room_at_once_share_one_document(
    server: Server,
) -> None:
    clients = [PyClient(server.ws_url, "brand-new") for _ in range(6)]
    await asyncio.gather(*(c.connect() for c in clients))
    try:
        for i, c in enumerate(clients):
            c.text().insert(0, chr(ord("A") + i))
        for c in clients:
            await c.wait_for(lambda c=c: len(c.text()) == len(clients))
        texts = {str(c.text()) for c in clients}
        assert len(texts) == 1
        assert sorted(texts.pop()) == [chr(ord("A") + i) for i in range(len(clients))]
        for c in clients:
            await c.barrier()
        final = str(clients[0].text())
    finally:
        await asyncio.gather(*(c.close() for c in clients))
    await asyncio.to_thread(server.restart)
    assert await fresh_text(server, "brand-new") == final


async def test_joiners_arriving_while_the_room_loads_never_see_an_empty_document(
    server: Server,
) -> None:
    src = Doc()
    src_text = src.get("text", type=Text)
    updates = recorder(src)
    for i in range(3000):
        src_text.insert(len(src_text), f"{i};")
    expected = str(src_text)
    async with PyClient(server.ws_url, "big") as a:
        for update in updates:
            await a.raw(update_frame(update))
        await a.barrier()
    await asyncio.to_thread(server.restart)
    clients = [PyClient(server.ws_url, "big") for _ in range(8)]
    try:
        await asyncio.gather(*(c.connect() for c in clients))
        # connect() returns at the first sync step 2: it alone must hold the whole document.
        assert [len(c.text()) for c in clients] == [len(expected)] * len(clients)
        assert all(str(c.text()) == expected for c in clients)
    finally:
        await asyncio.gather(*(c.close() for c in clients))


# -- offline edits -------------------------------------------------------------------------------


@sqlite_only
async def test_offline_edits_converge(server: Server, node_modules: None) -> None:
    async with NodePeer(server.ws_url, "offline") as a, NodePeer(server.ws_url, "offline") as b:
        await a.call("wait_synced", timeout=LONG)
        await b.call("wait_synced", timeout=LONG)
        await a.call("insert", index=0, text="base.")
        await b.call("wait_text", equals="base.", timeout=LONG)
        await a.call("disconnect")
        await a.call("insert", index=5, text=" offline-A")
        await b.call("insert", index=0, text="online-B ")
        await a.call("connect")
        await a.call("wait_text", contains="online-B", timeout=LONG)
        await b.call("wait_text", contains="offline-A", timeout=LONG)
        text_a = (await a.call("get_text"))["text"]
        text_b = (await b.call("get_text"))["text"]
        assert text_a == text_b == "online-B base. offline-A"
    assert await fresh_text(server, "offline") == "online-B base. offline-A"


async def test_offline_edits_converge_across_a_server_restart(
    server: Server, node_modules: None
) -> None:
    async with (
        NodePeer(server.ws_url, "offline-restart") as a,
        NodePeer(server.ws_url, "offline-restart") as b,
    ):
        await a.call("wait_synced", timeout=LONG)
        await b.call("wait_synced", timeout=LONG)
        await a.call("insert", index=0, text="base.")
        await b.call("wait_text", equals="base.", timeout=LONG)
        await a.call("disconnect")
        await a.call("insert", index=5, text=" A-offline")
        await asyncio.to_thread(server.stop)
        await b.call("wait_close", timeout=LONG)
        await b.call("insert", index=0, text="B-while-down ")  # B is offline too now
        await asyncio.to_thread(server.start)
        await b.call("wait_synced", timeout=LONG)  # y-websocket reconnects by itself
        await b.call("insert", index=0, text="B-after ")
        await a.call("connect")
        await a.call("wait_text", contains="B-after B-while-down", timeout=LONG)
        await b.call("wait_text", contains="A-offline", timeout=LONG)
        text_a = (await a.call("get_text"))["text"]
        text_b = (await b.call("get_text"))["text"]
        assert text_a == text_b == "B-after B-while-down base. A-offline"
    await asyncio.to_thread(server.restart)
    assert await fresh_text(server, "offline-restart") == "B-after B-while-down base. A-offline"


# -- a real editing trace ------------------------------------------------------------------------


async def test_real_editing_trace_survives_restart_and_stays_compact(server: Server) -> None:
    trace = json.loads(gzip.decompress(TRACE.read_bytes()))
    src = Doc()
    src_text = src.get("text", type=Text)
    if trace["startContent"]:
        src_text.insert(0, trace["startContent"])
    updates = recorder(src)
    for txn in trace["txns"]:
        with src.transaction():
            for position, deleted, inserted in txn["patches"]:
                if deleted:
                    del src_text[position : position + deleted]
                if inserted:
                    src_text.insert(position, inserted)
    assert str(src_text) == trace["endContent"]

    async with PyClient(server.ws_url, "trace") as writer:
        if trace["startContent"]:
            await writer.raw(update_frame(src.get_update()))
        for update in updates:
            await writer.raw(update_frame(update))
        await writer.barrier(timeout=300)  # 26,000 updates: slow on a busy machine
        assert str(writer.text()) == trace["endContent"]
    await asyncio.to_thread(server.restart)
    assert await fresh_text(server, "trace") == trace["endContent"]

    rec = await record(server, "trace")
    assert rec["updates"] < len(updates), "the log was never compacted"
    async with httpx.AsyncClient(base_url=server.http_url, timeout=30) as http:
        state = (await http.get("/api/documents/trace/update")).content
    # The document's own encoding: what a Yjs document holding this state encodes to (the
    # bytes the API returns depend on whether the room is open, so re-encode them).
    canonical = Doc()
    canonical.apply_update(state)
    assert str(canonical.get("text", type=Text)) == trace["endContent"]
    encoded = len(canonical.get_update())
    await eventually(rooms_equal(server, 0), "the room to unload")
    snapshot = db_rows(server, "SELECT length(data) FROM snapshots WHERE name = 'trace'")
    ((stored,),) = db_rows(
        server,
        "SELECT coalesce(sum(length(data)), 0) + coalesce((SELECT sum(length(data))"
        " FROM updates WHERE name = 'trace'), 0) FROM snapshots WHERE name = 'trace'",
    )
    assert stored <= 10 * encoded, f"{stored} bytes stored for a {encoded}-byte document"
    if server.db.startswith("postgresql://"):
        return
    wal = server.db_path.with_name(server.db_path.name + "-wal")
    on_disk = server.db_path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)
    free_pages = db_rows(server, "PRAGMA freelist_count")
    assert on_disk <= 10 * encoded, (
        f"database {on_disk} bytes for a {encoded}-byte document "
        f"(snapshot {snapshot} bytes, {free_pages} free pages)"
    )


# -- room lifecycle ------------------------------------------------------------------------------


@sqlite_only
async def test_rooms_leave_memory_when_their_peers_leave(
    server: Server, node_modules: None
) -> None:
    rooms = ["r1", "r2", "r3"]
    clients = [await PyClient(server.ws_url, room).connect() for room in rooms]
    for i, c in enumerate(clients):
        c.text().insert(0, f"content {i}")
        await c.barrier()
    async with NodePeer(server.ws_url, "r4") as peer:
        await peer.call("wait_synced", timeout=LONG)
        assert await open_rooms(server) == 4
    for c in clients:
        await c.close()
    await eventually(rooms_equal(server, 0), "every room to unload")

    # Join and leave over and over: some joins land in the grace period, some after the unload,
    # some while it happens; every one must get the whole document.
    for _ in range(25):
        async with PyClient(server.ws_url, "r1") as c:
            assert str(c.text()) == "content 0"
    await eventually(rooms_equal(server, 0), "the room to unload again")

    # An HTTP write opens the room only for its own duration.
    src = Doc()
    updates = recorder(src)
    src.get("text", type=Text).insert(0, "via http")
    async with httpx.AsyncClient(base_url=server.http_url, timeout=30) as http:
        response = await http.post("/api/documents/r5/update", content=updates[0], headers=OCTETS)
        assert response.status_code == 200, response.text
    await eventually(rooms_equal(server, 0), "the HTTP-opened room to unload")


# -- storage errors ------------------------------------------------------------------------------


@sqlite_only
async def test_locked_database_closes_writers_with_1011_and_loses_nothing(
    server_factory: Any,
) -> None:
    # Once a commit's retries are over (none here: --commit-retry-seconds 0; see the
    # connection tests for the retries themselves).
    server: Server = server_factory(extra=["--commit-retry-seconds", "0"])
    a = await PyClient(server.ws_url, "locked").connect()
    idle1 = await PyClient(server.ws_url, "idle").connect()
    idle2 = await PyClient(server.ws_url, "idle").connect()
    a.text().insert(0, "saved")
    await a.barrier()

    lock = sqlite3.connect(server.db_path, timeout=30, isolation_level=None)
    try:
        lock.execute("BEGIN EXCLUSIVE")
        a.text().insert(5, " lost")
        async with httpx.AsyncClient(base_url=server.http_url, timeout=LONG) as http:
            src = Doc()
            updates = recorder(src)
            src.get("text", type=Text).insert(0, "posted")
            post = asyncio.create_task(
                http.post("/api/documents/http-doc/update", content=updates[0], headers=OCTETS)
            )
            code = await a.wait_closed(LONG)
            response = await post
        assert code == 1011
        assert a.close_reason
        assert response.status_code == 503, response.text
        assert set(response.json()) == {"error", "detail"}
        # Peers of another document that wrote nothing stay connected.
        assert idle1.close_code is None and idle2.close_code is None
    finally:
        lock.execute("ROLLBACK")
        lock.close()

    idle1.text().insert(0, "still here")
    await idle2.wait_for(lambda: str(idle2.text()) == "still here")
    assert idle1.close_code is None and idle2.close_code is None
    # The refused write was never acknowledged: the document holds what was committed.
    assert await fresh_text(server, "locked") == "saved"
    # The editor still has its edit and sends it on reconnect (sync step 2): nothing is lost.
    async with PyClient(server.ws_url, "locked", doc=a.doc) as again:
        await again.barrier()
    assert await fresh_text(server, "locked") == "saved lost"
    async with httpx.AsyncClient(base_url=server.http_url, timeout=30) as http:
        response = await http.post(
            "/api/documents/http-doc/update", content=updates[0], headers=OCTETS
        )
    assert response.status_code == 200, response.text
    assert "commit failed" in server.log()
    await idle1.close()
    await idle2.close()
    await a.close()


@sqlite_only  # the server's PostgreSQL database is the test's own (it stops it)
async def test_postgres_stopped_while_clients_write_closes_them_with_1011_and_loses_nothing(
    server_factory: Any, own_postgres: PostgresServer
) -> None:
    """The database goes away: writers get 1011 (their update was not acknowledged, they keep
    it), /healthz says so, the password shows nowhere; it comes back: collab reconnects, the
    editors' updates are stored when they reconnect, new writes succeed."""
    secret = own_postgres.password
    server = server_factory(db=own_postgres.create_database())
    a = await PyClient(server.ws_url, "down").connect()
    b = await PyClient(server.ws_url, "down").connect()
    a.text().insert(0, "saved")
    await a.barrier()
    await b.wait_for(lambda: str(b.text()) == "saved")

    await asyncio.to_thread(own_postgres.stop)
    a.text().insert(5, " kept by the editor")
    assert await a.wait_closed(LONG) == 1011
    assert "storage error" in a.close_reason
    assert await b.wait_closed(LONG) == 1011  # the room is dropped: it holds an unsaved update
    async with httpx.AsyncClient(base_url=server.http_url, timeout=LONG) as http:
        health = await http.get("/healthz")
        assert health.status_code == 503 and health.json()["status"] == "unavailable"
        src = Doc()
        posted = recorder(src)
        src.get("text", type=Text).insert(0, "posted")
        refused = await http.post(
            "/api/documents/other/update",
            content=posted[0],
            headers={"Content-Type": "application/octet-stream"},
        )
        assert refused.status_code == 503 and set(refused.json()) == {"error", "detail"}
        shown = [health.text, refused.text, (await http.get("/metrics")).text, server.log()]
    assert not any(secret in text for text in shown)
    assert "****" in health.text

    await asyncio.to_thread(own_postgres.start)

    async def healthy() -> bool:
        async with httpx.AsyncClient(timeout=LONG) as http:
            return (await http.get(server.http_url + "/healthz")).status_code == 200

    await eventually(healthy, "/healthz to see the database again")
    async with PyClient(server.ws_url, "down", doc=a.doc) as again:  # sync step 2 resends it
        await again.barrier()
    assert await fresh_text(server, "down") == "saved kept by the editor"
    async with httpx.AsyncClient(base_url=server.http_url, timeout=LONG) as http:
        assert (
            await http.post(
                "/api/documents/other/update",
                content=posted[0],
                headers={"Content-Type": "application/octet-stream"},
            )
        ).is_success
    await asyncio.to_thread(server.restart)
    assert await fresh_text(server, "down") == "saved kept by the editor"
    assert await fresh_text(server, "other") == "posted"
    assert secret not in server.log()
    await a.close()
    await b.close()


@pytest.mark.parametrize("db", ["postgres"], indirect=True)
async def test_a_second_server_on_the_same_postgres_database_is_refused(
    server: Server, server_factory: Any, postgres_server: PostgresServer
) -> None:
    """Two servers on one database would each keep their own rooms (clients diverge)."""
    with pytest.raises(RuntimeError, match="exited with 1") as refused:
        server_factory(db=server.db)
    assert "is in use by another collab process (collab pid" in str(refused.value)
    assert postgres_server.password not in str(refused.value)
    assert await fresh_text(server, "still-serving") == ""


# -- schema upgrades -----------------------------------------------------------------------------


@sqlite_only
async def test_database_of_an_older_schema_opens_and_is_upgraded(
    server_factory: Any, tmp_path: Path
) -> None:
    db_path = tmp_path / "old.db"
    src = Doc()
    updates = recorder(src)
    src.get("text", type=Text).insert(0, "written by version 1")
    old = Database(db_path)
    migrations.apply(old, stop_before="m002_tombstones")
    assert "tombstones" not in old.table_names()
    now = time.time()
    old["documents"].insert(
        {
            "name": "legacy",
            "created_at": now,
            "updated_at": now,
            "size_bytes": len(updates[0]),
            "updates": 1,
        }
    )
    old["updates"].insert({"name": "legacy", "data": updates[0], "created_at": now})
    old.close()

    server = server_factory(db_path=db_path)
    assert await fresh_text(server, "legacy") == "written by version 1"
    applied = [row[0] for row in db_rows(server, "SELECT name FROM _sqlite_migrations")]
    assert applied[:2] == ["m001_initial", "m002_tombstones"]
    upgraded = Database(db_path)
    try:
        assert migrations.pending(upgraded) == []
        assert "tombstones" in upgraded.table_names()
    finally:
        upgraded.close()
    async with httpx.AsyncClient(base_url=server.http_url, timeout=30) as http:
        listing = (await http.get("/api/documents")).json()
        assert [d["name"] for d in listing["documents"]] == ["legacy"]
        assert (await http.delete("/api/documents/legacy")).status_code == 200
        assert (await http.get("/api/documents/legacy")).status_code == 404


# -- shutdown ------------------------------------------------------------------------------------


@sqlite_only
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_shutdown_closes_peers_with_1001_and_exits_0(
    server: Server, node_modules: None, sig: signal.Signals
) -> None:
    async with NodePeer(server.ws_url, "bye") as peer:
        a = await PyClient(server.ws_url, "bye").connect()
        await peer.call("wait_synced", timeout=LONG)
        a.text().insert(0, "kept")
        await peer.call("wait_text", equals="kept", timeout=LONG)
        # Ask for the first close event now: y-websocket reconnects at once, and a refused
        # reconnect (1006) would replace it as the peer's last close.
        first_close = asyncio.create_task(peer.call("wait_close", timeout=LONG))
        status = await asyncio.to_thread(server.stop, sig)
        assert await a.wait_closed(LONG) == 1001
        closed = await first_close
        assert closed["last_close"]["code"] == 1001
        await a.close()
        assert status == 0, f"exit status {status}; log tail:\n{server.log()[-1500:]}"
    await asyncio.to_thread(server.start)
    assert await fresh_text(server, "bye") == "kept"
