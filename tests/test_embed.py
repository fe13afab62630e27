"""The public ``Collab`` API in-process, through Starlette's TestClient (the portable ASGI
WebSocket path): the exported names, mounting under a prefix, ``collab.edit()`` on an open and
a closed room, ``reauthorize``, and a lifespan that was never entered."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from pycrdt import Doc, Text
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

import collab
from collab import Collab, Settings, protocol
from collab.integrator import apply_all
from collab.stores.postgres import PostgresStore
from tests.helpers.stores import STORES

OCTETS = {"Content-Type": "application/octet-stream"}


def test_the_public_api_is_what_all_lists_and_documented() -> None:
    assert sorted(collab.__all__) == [
        "AuthError",
        "CloseCode",
        "Collab",
        "CollabError",
        "DocumentStore",
        "Forbidden",
        "NotStarted",
        "SQLiteStore",
        "Settings",
        "SettingsError",
        "StoreError",
        "Unauthorized",
        "WriteResult",
    ]
    for name in collab.__all__:
        assert inspect.getdoc(getattr(collab, name)), name
    parameters = inspect.signature(Collab).parameters
    assert list(parameters)[:7] == [
        "settings",
        "store",
        "authorize",
        "on_change",
        "on_connect",
        "on_disconnect",
        "on_delete",
    ]
    assert all(p.kind is p.KEYWORD_ONLY for p in list(parameters.values())[1:])


def text_update(content: str, doc: Doc[Any] | None = None) -> bytes:
    doc = doc or Doc()
    before = doc.get_state()
    doc.get("text", type=Text).insert(0, content)
    return doc.get_update(before)


def text_of(updates: list[bytes]) -> str:
    return str(apply_all(Doc(), updates).get("text", type=Text))


class Peer:
    """A y-websocket peer over TestClient's WebSocket session: it keeps a pycrdt Doc."""

    def __init__(self, session: Any) -> None:
        self.session = session
        self.doc: Doc[Any] = Doc()
        first = protocol.decode(session.receive_bytes())
        assert isinstance(first, protocol.SyncStep1)
        session.send_bytes(protocol.encode(protocol.SyncStep1(self.doc.get_state())))
        self.until(lambda m: isinstance(m, protocol.SyncStep2))

    def until(self, done: Any) -> None:
        """Apply what arrives until a message satisfies ``done``."""
        while True:
            message = protocol.decode(self.session.receive_bytes())
            if isinstance(message, protocol.SyncStep2 | protocol.Update):
                self.doc.apply_update(message.update)
            if done(message):
                return

    def text(self) -> str:
        return str(self.doc.get("text", type=Text))


@pytest.fixture(params=STORES)
def mounted(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[Collab, TestClient, dict[str, str | None]]]:
    """Collab mounted at /collab in a host app whose authorize reads a table of roles: on the
    SQLite file of its settings, then on ``Collab(store=PostgresStore(dsn))``."""
    roles: dict[str, str | None] = {}

    def authorize(conn: Any, name: str) -> str | None:
        return roles.get(conn.query_params.get("user") or conn.headers.get("x-user") or "")

    store = None
    if request.param == "postgres":
        store = PostgresStore(request.getfixturevalue("postgres_dsn"))
    service = Collab(
        Settings(db=str(tmp_path / "app.db"), room_grace_seconds=0.0),
        store=store,
        authorize=authorize,
    )

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with service.lifespan():
            yield

    host = Starlette(routes=[Mount("/collab", service.app)], lifespan=lifespan)
    with TestClient(host) as client:
        yield service, client, roles


def test_names_are_taken_below_the_mount_point(mounted: Any) -> None:
    _, client, roles = mounted
    roles["w"] = "write"
    update = text_update("hello")
    for path, name in [
        ("/collab/api/documents/notes/update", "notes"),
        ("/collab/api/documents/a%2Fupdate/update", "a/update"),
        ("/collab/api/documents/team/plan/update", "team/plan"),
    ]:
        response = client.post(path, content=update, headers={"X-User": "w", **OCTETS})
        assert response.status_code == 200 and response.json()["name"] == name
    with client.websocket_connect("/collab/sync/collab/sync?user=w") as ws:
        peer = Peer(ws)
        assert peer.text() == ""
    listing = client.get("/collab/api/documents", headers={"X-User": "w"}).json()
    assert [d["name"] for d in listing["documents"]] == ["a/update", "notes", "team/plan"]
    missing = client.get("/collab/api/nothing", headers={"X-User": "w"})
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"


def test_edit_reaches_the_peers_of_an_open_room_and_later_joiners(mounted: Any) -> None:
    service, client, roles = mounted
    roles["w"] = "write"
    with client.websocket_connect("/collab/sync/doc?user=w") as ws:
        peer = Peer(ws)

        async def edit_open() -> None:
            async with service.edit("doc") as doc:
                doc.get("text", type=Text).insert(0, "from the server")

        client.portal.call(edit_open)
        peer.until(lambda m: isinstance(m, protocol.Update))
        assert peer.text() == "from the server"

    async def edit_closed() -> None:
        assert service.running().room("closed") is None
        async with service.edit("closed") as doc:
            doc.get("text", type=Text).insert(0, "nobody was here")

    client.portal.call(edit_closed)
    with client.websocket_connect("/collab/sync/closed?user=w") as ws:
        assert Peer(ws).text() == "nobody was here"
    stored = service.running().store.load("closed")
    assert text_of(stored.updates_in_order()) == "nobody was here"


def test_reauthorize_closes_who_lost_access_and_demotes_to_read(mounted: Any) -> None:
    service, client, roles = mounted
    roles.update(alice="write", bob="write")
    with (
        client.websocket_connect("/collab/sync/doc?user=alice") as alice_ws,
        client.websocket_connect("/collab/sync/doc?user=bob") as bob_ws,
    ):
        alice, bob = Peer(alice_ws), Peer(bob_ws)
        roles["alice"] = None  # access withdrawn
        roles["bob"] = "read"
        assert client.portal.call(service.reauthorize, "doc") == 1
        with pytest.raises(WebSocketDisconnect) as closed:
            alice.until(lambda m: False)
        assert closed.value.code == 4403
        before = bob.doc.get_state()
        bob.doc.get("text", type=Text).insert(0, "now read-only")
        bob_ws.send_bytes(protocol.encode(protocol.Update(bob.doc.get_update(before))))
        with pytest.raises(WebSocketDisconnect) as refused:
            bob.until(lambda m: False)
        assert refused.value.code == 4403
    assert service.running().store.get("doc") is None


def test_a_lifespan_never_entered_answers_503(tmp_path: Path) -> None:
    service = Collab(Settings(db=str(tmp_path / "app.db")))
    host = Starlette(routes=[Mount("/collab", service.app)])  # no lifespan of its own
    with TestClient(host) as client:
        response = client.get("/collab/api/documents")
        assert response.status_code == 503 and response.json()["error"] == "not_started"
        with (
            client.websocket_connect("/collab/sync/doc") as ws,
            pytest.raises(WebSocketDisconnect) as closed,
        ):
            ws.receive_bytes()
        assert closed.value.code == 1011
    assert not (tmp_path / "app.db").exists()


def test_the_standalone_app_runs_its_own_lifespan_and_the_connect_hooks(tmp_path: Path) -> None:
    """``Collab(...).app`` served as is (``uvicorn module:collab.app``) starts itself; a peer's
    join and leave reach ``on_connect`` / ``on_disconnect`` with its id and role, once each."""
    events: list[tuple[str, str, dict[str, Any]]] = []

    async def on_connect(name: str, info: dict[str, Any]) -> None:
        events.append(("connect", name, info))

    def on_disconnect(name: str, info: dict[str, Any]) -> None:
        events.append(("disconnect", name, info))

    service = Collab(
        Settings(db=str(tmp_path / "app.db"), room_grace_seconds=0.0),
        on_connect=on_connect,
        on_disconnect=on_disconnect,
    )
    with TestClient(service.app) as client:
        assert client.get("/healthz").json()["status"] == "ok"
        with client.websocket_connect("/sync/team%2Fnotes") as ws:
            Peer(ws)
            assert service.running().peer_count("team/notes") == 1
        client.portal.call(service.running().hooks.drain)
    assert service.hub is None  # the lifespan ended with the client
    assert [(kind, name) for kind, name, _ in events] == [
        ("connect", "team/notes"),
        ("disconnect", "team/notes"),
    ]
    assert events[0][2] == events[1][2] and events[0][2]["role"] == "admin"
    assert isinstance(events[0][2]["peer"], int)


async def until(check: Any, what: str, timeout: float = 30.0) -> None:
    """Poll ``check`` every event-loop turn (and a millisecond) until it holds, at most
    ``timeout`` seconds: a wait on a condition, not on time."""
    async with asyncio.timeout(timeout):
        while not check():
            await asyncio.sleep(0.001)


async def test_a_cancelled_asgi_connection_leaves_its_room(tmp_path: Path) -> None:
    """The server cancels a connection's ASGI task (its shutdown, a client gone without a
    disconnect event): the session still ends and leaves the room."""
    service = Collab(Settings(db=str(tmp_path / "app.db"), room_grace_seconds=0.0))
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    sent: list[dict[str, Any]] = []
    await inbox.put({"type": "websocket.connect"})

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "websocket",
        "path": "/sync/doc",
        "raw_path": b"/sync/doc",
        "root_path": "",
        "query_string": b"",
        "headers": [],
        "scheme": "ws",
        "server": ("test", 80),
        "client": ("test", 1),
        "subprotocols": [],
        "state": {},
    }
    async with service.lifespan():
        hub = service.running()
        task = asyncio.create_task(service.app(scope, inbox.get, send))
        await until(
            lambda: hub.peer_count("doc") == 1, "the peer joined (the room loads on the db thread)"
        )
        assert hub.connections == 1
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await until(lambda: hub.peer_count("doc") == 0, "the cancelled peer left")
        assert hub.connections == 0
    assert sent[0]["type"] == "websocket.accept"


def test_a_message_over_max_message_bytes_closes_with_4413_on_the_portable_path(
    tmp_path: Path,
) -> None:
    """Under a plain ASGI server (the portable transport), ``max_message_bytes`` holds as
    under ``collab serve``: a larger message closes its connection with 4413 and nothing of
    it is applied; another connection of the room goes on."""
    service = Collab(Settings(db=str(tmp_path / "app.db"), max_message_bytes=1000))
    with TestClient(service.app) as client:
        with client.websocket_connect("/sync/doc") as other:
            other_peer = Peer(other)
            with client.websocket_connect("/sync/doc") as ws:
                Peer(ws)
                ws.send_bytes(protocol.encode(protocol.Update(text_update("x" * 2000))))
                client.portal.call(
                    until, lambda: service.running().peer_count("doc") == 1, "the close"
                )
                with pytest.raises(WebSocketDisconnect) as closed:
                    while True:
                        ws.receive_bytes()
                assert closed.value.code == 4413
                assert "1000" in closed.value.reason
            other.send_bytes(protocol.encode(protocol.Update(text_update("small"))))
            client.portal.call(service.running().flush)
            assert other_peer.text() == ""  # its own edit is not echoed back
        assert text_of(service.running().store.load("doc").updates_in_order()) == "small"
