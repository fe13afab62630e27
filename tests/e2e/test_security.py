"""End-to-end security: tokens and roles, Origins, limits and TLS against a real server.

README "Security" is the specification: every refusal is checked for its exact close code and
reason (WebSocket) or status and JSON error (HTTP), and every time that the document and the
other peers are untouched.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import ssl
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from pycrdt import Doc, Text

from collab import awareness_codec, protocol
from collab.auth import Role, mint_token
from tests.e2e.conftest import OCTETS, Server
from tests.e2e.nodepeer import NodePeer
from tests.e2e.pyclient import PyClient, awareness_frame

pytestmark = pytest.mark.e2e

SECRET = "e2e-security-secret-" + "k" * 44
OTHER_SECRET = "not-the-servers-secret-" + "z" * 41
SEED = "seed"


# -- clients and helpers ---------------------------------------------------------------------


class Client(PyClient):
    """A PyClient with a token (query parameter), extra headers, an Origin or TLS."""

    def __init__(
        self,
        ws_url: str,
        room: str,
        *,
        token: str | None = None,
        headers: dict[str, str] | None = None,
        origin: str | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        super().__init__(ws_url, room if token is None else f"{room}?token={token}")
        self.options: dict[str, Any] = {}
        if headers:
            self.options["additional_headers"] = headers
        if origin is not None:
            self.options["origin"] = origin
        if ssl_context is not None:
            self.options["ssl"] = ssl_context

    async def connect(self, handshake: bool = True) -> Client:
        self.ws = await websockets.connect(self.url, max_size=None, **self.options)
        self._task = asyncio.create_task(self._read())
        if handshake:
            await self.raw(protocol.encode(protocol.SyncStep1(self.doc.get_state())))
            await asyncio.wait_for(self.synced.wait(), 20)
        return self

    async def send(self, frame: bytes) -> None:
        """Send ``frame``, ignoring a connection the server already closed."""
        with contextlib.suppress(websockets.ConnectionClosed):
            await self.ws.send(frame)

    def of_type(self, kind: type) -> list[Any]:
        return [m for m in self.received if isinstance(m, kind)]

    def awareness(self) -> dict[int, Any]:
        """The awareness states this client learnt, removals applied."""
        states: dict[int, Any] = {}
        for message in self.of_type(protocol.Awareness):
            for entry in awareness_codec.decode_awareness(message.payload):
                if entry.state is None:
                    states.pop(entry.client_id, None)
                else:
                    states[entry.client_id] = entry.state
        return states

    async def still_open(self) -> None:
        """Prove the connection is served: a query awareness gets its answer."""
        before = len(self.of_type(protocol.Awareness))
        await self.ws.send(protocol.encode(protocol.QueryAwareness()))
        await self.wait_for(lambda: len(self.of_type(protocol.Awareness)) > before)
        assert self.close_code is None


@contextlib.asynccontextmanager
async def connected(client: Client, handshake: bool = True) -> AsyncIterator[Client]:
    await client.connect(handshake)
    try:
        yield client
    finally:
        await client.close()


def token(doc: str, role: Role = Role.ADMIN, ttl: float = 3600, **kw: Any) -> str:
    return mint_token(SECRET, doc, role, ttl, **kw)


def bearer(tok: str | None) -> dict[str, str]:
    return {} if tok is None else {"Authorization": f"Bearer {tok}"}


ADMIN_ALL = bearer(token("*"))


def insert_update(text: str, base: bytes | None = None) -> bytes:
    """A v1 update appending ``text`` to the Y.Text "text" of ``base`` (from a new client)."""
    doc: Doc[Any] = Doc()
    ytext = doc.get("text", type=Text)
    if base is not None:
        doc.apply_update(base)
    before = doc.get_state()
    ytext.insert(len(ytext), text)
    return doc.get_update(before)


def doc_url(server: Server, name: str, action: str = "") -> str:
    return f"{server.http_url}/api/documents/{name}" + (f"/{action}" if action else "")


def write(server: Server, name: str, text: str, headers: dict[str, str] = ADMIN_ALL) -> None:
    response = httpx.post(
        doc_url(server, name, "update"), content=insert_update(text), headers={**headers, **OCTETS}
    )
    assert response.status_code == 200, response.text


def text_of(server: Server, name: str) -> str | None:
    """The document's text as the server has it (None: no such document)."""
    response = httpx.get(doc_url(server, name, "content"), headers=ADMIN_ALL)
    if response.status_code == 404:
        return None
    assert response.status_code == 200, response.text
    return str(response.json().get("text"))


_markers = itertools.count()


async def barrier(server: Server, name: str, observer: Client) -> None:
    """Write a marker over HTTP and wait until ``observer`` has it: whatever the server relayed
    before (a refused write, had it been relayed) has reached the observer by then."""
    marker = f"<{next(_markers)}>"
    write(server, name, marker)
    await observer.wait_for(lambda: marker in str(observer.text()))


def json_error(response: httpx.Response, status: int, code: str, detail: str) -> None:
    assert (response.status_code, response.json()) == (
        status,
        {"error": code, "detail": detail},
    ), response.text
    if status == 401:
        assert response.headers["www-authenticate"] == "Bearer"


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server with auth on for the whole matrix (every case uses its own documents)."""
    server = Server(tmp_path_factory.mktemp("auth") / "collab.db", ["--auth-secret", SECRET])
    server.start()
    yield server
    server.stop()


# -- the matrix ------------------------------------------------------------------------------

KINDS = ["none", "bad_signature", "expired", "other_document", "prefix", "read", "write", "admin"]
OPS = ["ws_connect", "ws_update", "ws_sync_step2", "ws_awareness"]
OPS += ["http_list", "http_read", "http_write", "http_delete"]

# token kind -> (close code, reason, HTTP status, error code) for tokens refused at the door
REFUSED = {
    "none": (4401, "access token required", 401, "unauthorized"),
    "bad_signature": (
        4401,
        "invalid access token: not signed with this server's secret",
        401,
        "unauthorized",
    ),
    "expired": (4401, "access token expired", 401, "unauthorized"),
    "other_document": (4403, "token does not grant this document", 403, "forbidden"),
}
ROLES = {"prefix": Role.WRITE, "read": Role.READ, "write": Role.WRITE, "admin": Role.ADMIN}


def other(name: str) -> str:
    return "other/" + name.split("/", 1)[1]


def token_of(kind: str, name: str) -> str | None:
    if kind == "none":
        return None
    if kind == "bad_signature":
        return mint_token(OTHER_SECRET, name, Role.ADMIN, 3600)
    if kind == "expired":
        return token(name, now=time.time() - 3600, ttl=60)
    if kind == "other_document":
        return token(other(name))
    if kind == "prefix":
        return token("team/*", Role.WRITE)
    return token(name, ROLES[kind])


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("kind", KINDS)
async def test_access_matrix(auth_server: Server, kind: str, op: str) -> None:
    name = f"team/{kind}-{op}"
    write(auth_server, name, SEED)
    write(auth_server, other(name), "other")
    tok = token_of(kind, name)
    if op.startswith("ws_"):
        await ws_case(auth_server, name, kind, op, tok)
    else:
        http_case(auth_server, name, kind, op, tok)


async def ws_case(server: Server, name: str, kind: str, op: str, tok: str | None) -> None:
    observer = Client(server.ws_url, name, token=token(name))
    async with connected(observer):
        await observer.send(awareness_frame(4242, 1, {"user": "observer"}))
        frames = {
            "ws_connect": [],
            "ws_update": [protocol.encode(protocol.Update(insert_update("+update")))],
            "ws_sync_step2": [protocol.encode(protocol.SyncStep2(insert_update("+step2")))],
            "ws_awareness": [awareness_frame(777, 1, {"user": kind})],
        }[op]
        client = Client(server.ws_url, name, token=tok)
        if kind in REFUSED:
            code, reason, _, _ = REFUSED[kind]
            async with connected(client, handshake=False):
                for frame in frames:
                    await client.send(frame)
                assert await client.wait_closed() == code
                assert client.close_reason == reason
                assert client.received == [], "document data sent before the refusal"
        else:
            async with connected(client):
                assert str(client.text()) == SEED, "the document arrives"
                await client.wait_for(lambda: 4242 in client.awareness())
                assert client.awareness()[4242] == {"user": "observer"}, "awareness arrives"
                for frame in frames:
                    await client.send(frame)
                if kind == "read" and op in ("ws_update", "ws_sync_step2"):
                    assert await client.wait_closed() == 4403
                    assert client.close_reason == "read-only access: writes are refused"
                    auth = client.of_type(protocol.Auth)
                    assert auth == [protocol.Auth("permission denied: read-only access")]
                else:
                    if op == "ws_awareness":
                        await observer.wait_for(lambda: 777 in observer.awareness())
                        assert observer.awareness()[777] == {"user": kind}
                    await client.still_open()
                    assert client.of_type(protocol.Auth) == []
        await barrier(server, name, observer)
        applied = {"ws_update": "+update", "ws_sync_step2": "+step2"}.get(op)
        stored = text_of(server, name)
        assert stored is not None and SEED in stored
        seen = str(observer.text())
        if applied is not None and kind in ("prefix", "write", "admin"):
            assert applied in stored
            assert applied in seen
        for refused in ("+update", "+step2"):
            if refused != applied or kind in REFUSED or kind == "read":
                assert refused not in stored, f"{kind} token's write was applied"
                assert refused not in seen, f"{kind} token's write was relayed"
        if op == "ws_awareness" and kind in REFUSED:
            assert 777 not in observer.awareness()


def http_case(server: Server, name: str, kind: str, op: str, tok: str | None) -> None:
    headers = bearer(tok)
    refused = REFUSED.get(kind)
    if op == "http_list":
        response = httpx.get(f"{server.http_url}/api/documents?limit=1000", headers=headers)
        if kind in ("none", "bad_signature", "expired"):
            _, reason, status, code = REFUSED[kind]
            json_error(response, status, code, reason)
            return
        assert response.status_code == 200, response.text
        names = [d["name"] for d in response.json()["documents"]]
        if kind == "other_document":
            assert names == [other(name)]
        elif kind == "prefix":
            assert name in names
            assert all(n.startswith("team/") for n in names), names
        else:
            assert names == [name]
        return
    if op == "http_read":
        urls = [doc_url(server, name), doc_url(server, name, "content")]
        urls += [doc_url(server, name, "update"), doc_url(server, name, "export") + "?format=text"]
        for url in urls:
            response = httpx.get(url, headers=headers)
            if refused is not None:
                json_error(response, refused[2], refused[3], refused[1])
            else:
                assert response.status_code == 200, (url, response.text)
        if refused is None:
            assert httpx.get(urls[1], headers=headers).json() == {"text": SEED}
            assert httpx.get(urls[0], headers=headers).json()["name"] == name
        return
    if op == "http_write":
        base = httpx.get(doc_url(server, name, "update"), headers=ADMIN_ALL).content
        response = httpx.post(
            doc_url(server, name, "update"),
            content=insert_update("+http", base),
            headers={**headers, **OCTETS},
        )
        if refused is not None:
            json_error(response, refused[2], refused[3], refused[1])
        elif kind == "read":
            json_error(response, 403, "forbidden", "token role read cannot write")
        else:
            assert response.status_code == 200, response.text
            assert response.json()["name"] == name
            assert text_of(server, name) == SEED + "+http"
            return
        assert text_of(server, name) == SEED
        return
    assert op == "http_delete"
    response = httpx.delete(doc_url(server, name), headers=headers)
    if refused is not None:
        json_error(response, refused[2], refused[3], refused[1])
    elif kind == "admin":
        assert (response.status_code, response.json()) == (200, {"deleted": name})
        assert text_of(server, name) is None
        return
    else:
        role = ROLES[kind].name.lower()
        json_error(response, 403, "forbidden", f"token role {role} cannot delete documents")
    assert text_of(server, name) == SEED


# -- more on tokens --------------------------------------------------------------------------


async def test_read_token_delete_only_writes_are_dropped_silently(auth_server: Server) -> None:
    name = "team/read-deletes"
    write(auth_server, name, "hello world")
    async with (
        connected(Client(auth_server.ws_url, name, token=token(name))) as observer,
        connected(Client(auth_server.ws_url, name, token=token(name, Role.READ))) as reader,
    ):
        assert str(reader.text()) == "hello world"
        del reader.text()[0:6]  # PyClient sends the deletion as an update: no new structs
        assert str(reader.text()) == "world"
        # and a sync step 2 repeating known structs plus the delete set
        await reader.send(protocol.encode(protocol.SyncStep2(reader.doc.get_update())))
        await reader.still_open()
        assert reader.of_type(protocol.Auth) == []
        await barrier(auth_server, name, observer)
        assert "hello world" in str(observer.text())
        stored = text_of(auth_server, name)
        assert stored is not None and "hello world" in stored
        await reader.still_open()


async def test_read_token_insert_after_deleting_is_refused(auth_server: Server) -> None:
    name = "team/read-mixed"
    write(auth_server, name, "hello")
    async with connected(Client(auth_server.ws_url, name, token=token(name, Role.READ))) as reader:
        with reader.doc.transaction():
            del reader.text()[0:5]
            reader.text().insert(0, "mine")
        assert await reader.wait_closed() == 4403
        assert reader.close_reason == "read-only access: writes are refused"
    assert text_of(auth_server, name) == "hello"


async def test_websocket_token_in_authorization_header(auth_server: Server) -> None:
    name = "team/header"
    write(auth_server, name, SEED)
    headers = bearer(token(name, Role.WRITE))
    async with connected(Client(auth_server.ws_url, name, headers=headers)) as client:
        assert str(client.text()) == SEED
        client.text().insert(len(SEED), "+header")
        await client.still_open()
    assert text_of(auth_server, name) == SEED + "+header"
    for tok, code, reason in [
        ("not-a-token", 4401, "invalid access token: not a JWT (make one with collab token)"),
        (mint_token(OTHER_SECRET, name, Role.ADMIN, 60), 4401, REFUSED["bad_signature"][1]),
        (token(other(name)), 4403, "token does not grant this document"),
    ]:
        async with connected(Client(auth_server.ws_url, name, headers=bearer(tok)), False) as bad:
            assert await bad.wait_closed() == code
            assert (bad.close_reason, bad.received) == (reason, [])
    read_only = Client(auth_server.ws_url, name, headers=bearer(token(name, Role.READ)))
    async with connected(read_only):
        read_only.text().insert(0, "x")
        assert await read_only.wait_closed() == 4403
    assert text_of(auth_server, name) == SEED + "+header"


async def test_http_api_ignores_a_token_in_the_query(auth_server: Server) -> None:
    name = "team/query-token"
    write(auth_server, name, SEED)
    response = httpx.get(doc_url(auth_server, name, "content") + f"?token={token(name)}")
    json_error(response, 401, "unauthorized", "access token required")


async def test_public_endpoints_need_no_token(auth_server: Server) -> None:
    assert httpx.get(f"{auth_server.http_url}/healthz").status_code == 200
    assert httpx.get(f"{auth_server.http_url}/api/openapi.json").status_code == 200


async def test_token_expiring_while_connected_closes_at_expiry(auth_server: Server) -> None:
    name = "team/expiring"
    write(auth_server, name, SEED)
    tok = token(name, Role.WRITE, ttl=3)
    expires = mint_expiry(tok)
    async with connected(Client(auth_server.ws_url, name, token=tok)) as client:
        assert str(client.text()) == SEED
        assert await client.wait_closed(timeout=30) == 4401
        closed_at = time.time()
        assert client.close_reason == "access token expired"
    assert closed_at >= expires - 0.25, "closed before the token expired"
    response = httpx.get(doc_url(auth_server, name, "content"), headers=bearer(tok))
    json_error(response, 401, "unauthorized", "access token expired")


def mint_expiry(tok: str) -> float:
    import jwt

    return float(jwt.decode(tok, SECRET, algorithms=["HS256"])["exp"])


async def test_listing_shows_only_what_the_token_may_read(server_factory: Any) -> None:
    server = server_factory(["--auth-secret", SECRET])
    names = ["other/c", "team/a", "team/b", "team/sub/d", "teammate/x"]
    for name in names:
        write(server, name, name)

    def listed(tok: str, query: str = "") -> list[str]:
        response = httpx.get(f"{server.http_url}/api/documents?{query}", headers=bearer(tok))
        assert response.status_code == 200, response.text
        return [d["name"] for d in response.json()["documents"]]

    team = token("team/*", Role.READ)
    assert listed(team) == ["team/a", "team/b", "team/sub/d"]
    assert listed(team, "prefix=team/s") == ["team/sub/d"]
    assert listed(team, "prefix=te") == ["team/a", "team/b", "team/sub/d"]
    assert listed(team, "prefix=other/") == []
    assert listed(team, "sort=updated_at") == ["team/sub/d", "team/b", "team/a"]
    # paging through a prefix grant
    cursor, seen = "", []
    while True:
        response = httpx.get(
            f"{server.http_url}/api/documents?limit=1{cursor}", headers=bearer(team)
        ).json()
        seen += [d["name"] for d in response["documents"]]
        if response["next_cursor"] is None:
            break
        cursor = f"&cursor={response['next_cursor']}"
    assert seen == ["team/a", "team/b", "team/sub/d"]
    assert listed(token("team/a", Role.READ)) == ["team/a"]
    assert listed(token("team/a", Role.ADMIN), "prefix=team/b") == []
    assert listed(token("team/missing", Role.READ)) == []
    assert listed(token("*", Role.READ)) == names
    assert listed(token("team*", Role.READ)) == ["team/a", "team/b", "team/sub/d", "teammate/x"]


async def test_node_peers_with_tokens(auth_server: Server, node_modules: None) -> None:
    name = "team/node"
    write(auth_server, name, SEED)
    url = auth_server.ws_url
    writer = await NodePeer.start(url, name, {"token": token(name, Role.WRITE)})
    reader = await NodePeer.start(url, name, {"token": token("team/*", Role.READ)})
    stranger = await NodePeer.start(url, name)
    try:
        await asyncio.gather(writer.call("wait_synced"), reader.call("wait_synced"))
        await writer.call("insert", index=len(SEED), text="+node")
        await reader.call("wait_text", equals=SEED + "+node")
        # the read-only peer edits: refused, and y-websocket does not reconnect after 44xx
        await reader.call("insert", index=0, text="forbidden")
        status = await reader.call("wait_close")
        assert status["last_close"]["code"] == 4403
        assert status["last_close"]["reason"] == "read-only access: writes are refused"
        status = await stranger.call("wait_close")
        assert status["last_close"] == {
            "code": 4401,
            "reason": "access token required",
            "wasClean": True,
        }
        for peer, code in ((reader, 4403), (stranger, 4401)):
            await wait_until(lambda p=peer: p.call("status"), lambda s: s["terminal_close"])
            assert (await peer.call("status"))["terminal_close"]["code"] == code
        await writer.call("insert", index=0, text="!")
        assert (await writer.call("wait_text", equals="!" + SEED + "+node"))["text"]
    finally:
        await asyncio.gather(writer.close(), reader.close(), stranger.close())
    assert text_of(auth_server, name) == "!" + SEED + "+node"


async def wait_until(fetch: Any, ok: Any, timeout: float = 20) -> Any:
    """Poll ``await fetch()`` until ``ok(result)`` (for state only a poll can read)."""
    deadline = time.monotonic() + timeout
    while True:
        result = await fetch()
        if ok(result):
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"condition not met: {result}")
        await asyncio.sleep(0.05)


# -- origins ---------------------------------------------------------------------------------

EVIL = "http://evil.example"
APP = "https://app.example"


@pytest.mark.parametrize(
    ("extra", "env", "allowed", "refused"),
    [
        ([], {}, ["same", None], [EVIL, APP, "http://localhost:{port}", "null"]),
        (["--allowed-origin", APP], {}, [APP, None], [EVIL, "same", "http://app.example"]),
        (
            ["--allowed-origin", APP, "--allowed-origin", "https://b.example"],
            {},
            [APP, "https://b.example", None],
            [EVIL, "same"],
        ),
        ([], {"COLLAB_ALLOWED_ORIGINS": f"{APP}, https://b.example"}, [APP, None], [EVIL, "same"]),
        (["--allowed-origin", "*"], {}, [EVIL, APP, "same", "null", None], []),
    ],
    ids=["default-same-origin", "listed", "listed-twice", "environment", "star"],
)
async def test_origin_check(
    server_factory: Any,
    extra: list[str],
    env: dict[str, str],
    allowed: list[str | None],
    refused: list[str],
) -> None:
    server = server_factory(extra, env)
    name = "origins"
    write(server, name, SEED)

    def origin_of(value: str | None) -> str | None:
        if value == "same":
            return f"http://127.0.0.1:{server.port}"  # websockets sends Host: 127.0.0.1:PORT
        return None if value is None else value.format(port=server.port)

    async with connected(Client(server.ws_url, name)) as observer:
        for value in allowed:
            async with connected(Client(server.ws_url, name, origin=origin_of(value))) as client:
                assert str(client.text()) == SEED, value
                await client.still_open()
        for value in refused:
            client = Client(server.ws_url, name, origin=origin_of(value))
            async with connected(client, handshake=False):
                await client.send(protocol.encode(protocol.Update(insert_update("+evil"))))
                assert await client.wait_closed() == 4403, value
                assert (client.close_reason, client.received) == ("origin not allowed", [])
        await barrier(server, name, observer)
        assert "+evil" not in str(observer.text())
    assert "+evil" not in (text_of(server, name) or "")


# -- limits ----------------------------------------------------------------------------------


async def assert_untouched(server: Server, name: str, expected: str) -> None:
    """The document holds ``expected``; two fresh clients sync it and edit it together."""
    assert text_of(server, name) == expected
    async with (
        connected(Client(server.ws_url, name)) as a,
        connected(Client(server.ws_url, name)) as b,
    ):
        assert str(a.text()) == str(b.text()) == expected
        a.text().insert(len(expected), "+after")
        await b.wait_for(lambda: str(b.text()) == expected + "+after")
    assert text_of(server, name) == expected + "+after"


async def test_message_size_limit(server_factory: Any) -> None:
    server = server_factory(["--max-message-bytes", "4096"])
    name = "limits/message"
    async with connected(Client(server.ws_url, name)) as peer:
        peer.text().insert(0, SEED)
        await peer.wait_for(lambda: text_of(server, name) == SEED)
        big = Client(server.ws_url, name)
        async with connected(big):
            await big.send(protocol.encode(protocol.Update(insert_update("x" * 5000))))
            assert await big.wait_closed() == 4413
        # a message just under the limit is fine
        fits = insert_update("y" * 3000, peer.doc.get_update())
        assert 3000 < len(protocol.encode(protocol.Update(fits))) < 4096
        await peer.send(protocol.encode(protocol.Update(fits)))
        await peer.wait_for(lambda: text_of(server, name) == SEED + "y" * 3000)
        await peer.still_open()
    await assert_untouched(server, name, SEED + "y" * 3000)


async def test_document_size_limit(server_factory: Any) -> None:
    server = server_factory(["--max-document-bytes", "3000"])
    name = "limits/document"
    write(server, name, SEED)
    async with (
        connected(Client(server.ws_url, name)) as peer,
        connected(Client(server.ws_url, name)) as hog,
    ):
        await hog.send(protocol.encode(protocol.Update(insert_update("x" * 4000))))
        assert await hog.wait_closed() == 4413
        assert hog.close_reason == "document over the 3000-byte limit"
        await barrier(server, name, peer)
        assert "x" not in str(peer.text())
        hog2 = Client(server.ws_url, name)
        async with connected(hog2):  # sync step 2 too
            await hog2.send(protocol.encode(protocol.SyncStep2(insert_update("x" * 4000))))
            assert await hog2.wait_closed() == 4413
    stored = text_of(server, name)
    assert stored is not None and "x" not in stored
    await assert_untouched(server, name, stored)


async def test_document_size_limit_applies_to_http_writes(server_factory: Any) -> None:
    server = server_factory(["--max-document-bytes", "3000"])
    name = "limits/http"
    write(server, name, SEED)
    response = httpx.post(
        doc_url(server, name, "update"),
        content=insert_update("x" * 4000),
        headers={**ADMIN_ALL, **OCTETS},
    )
    assert response.status_code == 413, response.text
    assert response.json()["error"] == "too_large"
    assert text_of(server, name) == SEED
    await assert_untouched(server, name, SEED)


async def test_awareness_size_limit(server_factory: Any) -> None:
    server = server_factory(["--max-awareness-bytes", "500"])
    name = "limits/awareness"
    write(server, name, SEED)
    async with (
        connected(Client(server.ws_url, name)) as a,
        connected(Client(server.ws_url, name)) as b,
    ):
        await a.send(awareness_frame(1, 1, {"user": "a", "note": "fine" * 50}))
        await b.wait_for(lambda: 1 in b.awareness())
        hog = Client(server.ws_url, name)
        async with connected(hog):
            frame = awareness_frame(666, 1, {"user": "hog", "note": "x" * 1000})
            await hog.send(frame)
            assert await hog.wait_closed() == 4413
            size = len(frame) - 3  # the entry: the frame less its type and length prefix
            assert hog.close_reason == f"awareness state of {size} bytes exceeds 500"
        await b.send(awareness_frame(2, 1, {"user": "b"}))
        await a.wait_for(lambda: 2 in a.awareness())
        await barrier(server, name, a)
        assert 666 not in a.awareness() and 666 not in b.awareness()
        async with connected(Client(server.ws_url, name)) as c:
            await c.wait_for(lambda: {1, 2} <= set(c.awareness()))
            assert 666 not in c.awareness()
    stored = text_of(server, name)
    assert stored is not None and SEED in stored
    await assert_untouched(server, name, stored)


def rate_pauses(server: Server) -> float:
    """The server's count of connections held back by the message rate (Prometheus)."""
    text = httpx.get(f"{server.http_url}/metrics").text
    for line in text.splitlines():
        if line.startswith("collab_rate_limit_pauses_total "):
            return float(line.split()[1])
    raise AssertionError("no collab_rate_limit_pauses_total in /metrics")


async def test_message_rate_limit_slows_a_fast_writer_down(server_factory: Any) -> None:
    """Over the rate, the server stops reading the writer (TCP backpressure) until its bucket
    refills: the writer slows down, everything it sent is taken, and it is never closed."""
    server = server_factory(["--max-messages-per-second", "100", "--message-burst", "10"])
    name = "limits/rate"
    write(server, name, SEED)
    async with connected(Client(server.ws_url, name)) as peer:
        writer = Client(server.ws_url, name)
        async with connected(writer):
            doc: Doc[Any] = Doc()
            doc.apply_update(writer.doc.get_update())
            text = doc.get("text", type=Text)
            frames = []
            for i in range(300):  # 30 times the burst, written at once
                before = doc.get_state()
                text.insert(len(text), f"<{i}>")
                frames.append(protocol.encode(protocol.Update(doc.get_update(before))))
            for frame in frames:
                await writer.send(frame)
            for i in range(20):  # and awareness and queries among them
                await writer.send(awareness_frame(4242, i + 1, {"cursor": i}))
                await writer.send(protocol.encode(protocol.QueryAwareness()))
            expected = str(text)
            await peer.wait_for(lambda: str(peer.text()) == expected, timeout=60)
            await peer.wait_for(lambda: peer.awareness().get(4242) == {"cursor": 19})
            await writer.wait_for(lambda: len(writer.of_type(protocol.Awareness)) >= 20, 60)
            await writer.still_open()
        await peer.still_open()
    assert rate_pauses(server) > 0  # the limit did hold the writer back
    assert text_of(server, name) == expected
    await assert_untouched(server, name, expected)


async def test_message_rate_limit_closes_a_client_far_over_it_for_long(
    server_factory: Any,
) -> None:
    """A connection held back by the rate limit 90% of --rate-limit-close-seconds is closed
    with 1013 (the client retries); what it sent before was taken; the peers are untouched."""
    server = server_factory(
        [
            "--max-messages-per-second",
            "50",
            "--message-burst",
            "5",
            "--rate-limit-close-seconds",
            "0.5",
        ]
    )
    name = "limits/rate-close"
    write(server, name, SEED)
    async with connected(Client(server.ws_url, name)) as peer:
        flood = Client(server.ws_url, name)
        async with connected(flood):
            query = protocol.encode(protocol.QueryAwareness())
            sent = 0
            while flood.close_code is None and sent < 100_000:
                await flood.send(query)
                sent += 1
                if sent % 100 == 0:
                    await asyncio.sleep(0)  # let the close frame in
            assert await flood.wait_closed() == 1013
            assert flood.close_reason == "over the message rate for too long"
            answered = len(flood.of_type(protocol.Awareness))
            assert 1 <= answered < sent
        peer.text().insert(len(SEED), "+peer")
        await peer.still_open()
    assert text_of(server, name) == SEED + "+peer"
    await assert_untouched(server, name, SEED + "+peer")


async def test_total_connection_limit(server_factory: Any) -> None:
    server = server_factory(["--max-connections", "3"])
    write(server, "x", SEED)
    async with (
        connected(Client(server.ws_url, "x")) as a,
        connected(Client(server.ws_url, "x")) as b,
        connected(Client(server.ws_url, "y")) as c,
    ):
        for room in ("x", "z"):
            extra = Client(server.ws_url, room)
            async with connected(extra, handshake=False):
                assert await extra.wait_closed() == 4503
                assert extra.close_reason == "server has too many connections"
                assert extra.received == []
        a.text().insert(len(SEED), "+a")
        await b.wait_for(lambda: str(b.text()) == SEED + "+a")
        await c.still_open()
        await c.close()
        # the freed slot is usable again (the server notices the close a moment later)
        await connect_eventually(server.ws_url, "z")
    await assert_untouched(server, "x", SEED + "+a")


@pytest.mark.parametrize("rooms", ["one-room", "many-rooms"])
async def test_total_connection_limit_holds_for_simultaneous_joins(
    server_factory: Any, rooms: str
) -> None:
    server = server_factory(["--max-connections", "3"])
    names = [f"burst/{i}" if rooms == "many-rooms" else "burst" for i in range(20)]
    clients = [Client(server.ws_url, name) for name in names]
    try:
        await asyncio.gather(*(client.connect(handshake=False) for client in clients))
        for client in clients:
            await client.send(protocol.encode(protocol.SyncStep1(b"\x00")))
        await asyncio.gather(
            *(
                c.wait_for(lambda c=c: c.synced.is_set() or c.close_code is not None)
                for c in clients
            )
        )
        admitted = [c for c in clients if c.close_code is None]
        refused = [c.close_code for c in clients if c.close_code is not None]
        assert (len(admitted), refused) == (3, [4503] * 17), "over --max-connections 3"
    finally:
        await asyncio.gather(*(client.close() for client in clients))


async def connect_eventually(ws_url: str, room: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while True:
        client = Client(ws_url, room)
        await client.connect(handshake=False)
        await client.send(protocol.encode(protocol.SyncStep1(b"\x00")))
        await client.wait_for(lambda c=client: c.synced.is_set() or c.close_code is not None)
        await client.close()
        if client.synced.is_set():
            return
        assert client.close_code == 4503
        if time.monotonic() > deadline:
            raise TimeoutError("the connection slot was never freed")
        await asyncio.sleep(0.05)


async def test_per_document_connection_limit(server_factory: Any) -> None:
    server = server_factory(["--max-connections-per-document", "2"])
    write(server, "x", SEED)
    async with (
        connected(Client(server.ws_url, "x")) as a,
        connected(Client(server.ws_url, "x")) as b,
    ):
        extra = Client(server.ws_url, "x")
        async with connected(extra, handshake=False):
            assert await extra.wait_closed() == 4503
            assert (extra.close_reason, extra.received) == ("document has too many connections", [])
        async with connected(Client(server.ws_url, "y")) as elsewhere:
            elsewhere.text().insert(0, "y")
            await elsewhere.still_open()
        a.text().insert(len(SEED), "+a")
        await b.wait_for(lambda: str(b.text()) == SEED + "+a")
    assert text_of(server, "y") == "y"
    await assert_untouched(server, "x", SEED + "+a")


# -- TLS -------------------------------------------------------------------------------------


class TlsServer(Server):
    """A server started with --ssl-certfile/--ssl-keyfile, reached over https:// and wss://."""

    @property
    def http_url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"wss://127.0.0.1:{self.port}/sync"


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    cert, key = folder / "cert.pem", folder / "key.pem"
    subject = ["-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"]
    files = ["-keyout", str(key), "-out", str(cert)]
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            *subject,
            *files,
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


async def test_tls_round_trip_with_a_node_peer(
    tmp_path: Path, node_modules: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    cert, key = self_signed_certificate(tmp_path)
    server = TlsServer(
        tmp_path / "collab.db", ["--ssl-certfile", str(cert), "--ssl-keyfile", str(key)]
    )
    # the fixture's readiness probe uses httpx.get(http_url): make it trust our certificate
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    try:
        server.start()
        monkeypatch.delenv("SSL_CERT_FILE")
        context = ssl.create_default_context(cafile=str(cert))
        response = httpx.get(f"{server.http_url}/healthz", verify=context)
        assert response.status_code == 200 and response.json()["status"] == "ok"
        with pytest.raises(httpx.ConnectError):  # not trusted without the certificate
            httpx.get(f"{server.http_url}/healthz")
        with pytest.raises(httpx.RemoteProtocolError):  # no plain HTTP on the TLS port
            httpx.get(f"http://127.0.0.1:{server.port}/healthz")
        name = "tls/doc"
        node = await NodePeer.start(server.ws_url, name, env={"NODE_EXTRA_CA_CERTS": str(cert)})
        try:
            async with connected(Client(server.ws_url, name, ssl_context=context)) as py:
                await node.call("wait_synced")
                await node.call("insert", index=0, text="over TLS")
                await py.wait_for(lambda: str(py.text()) == "over TLS")
                py.text().insert(8, ", both ways")
                await node.call("wait_text", equals="over TLS, both ways")
        finally:
            await node.close()
        stored = httpx.get(f"{server.http_url}/api/documents/{name}/content", verify=context).json()
        assert stored == {"text": "over TLS, both ways"}
    finally:
        if server.proc is not None:
            server.stop()
