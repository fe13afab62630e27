"""The Hocuspocus session in-process, through Starlette's TestClient (the portable ASGI path):
the order of a document's first frames, Auth refusals, SyncStatus, Ping, a malformed frame."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pycrdt import Doc, Text
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from collab import Collab, Settings, awareness_codec
from collab import hocuspocus as hp
from collab.auth import Role, mint_token

SECRET = "hocuspocus-session-secret-of-32-bytes-or-more"


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(db=str(tmp_path / "c.db"), auth_secret=SECRET, room_grace_seconds=0)
    with TestClient(Collab(settings).app) as test_client:
        yield test_client


def send(session: Any, address: str, message: hp.Message) -> None:
    session.send_bytes(hp.encode(hp.Frame(address, message)))


def receive(session: Any) -> hp.Frame:
    item = hp.decode(session.receive_bytes())
    assert isinstance(item, hp.Frame)
    return item


def until(session: Any, kind: type) -> list[hp.Frame]:
    """Frames received up to and with the first whose message is a ``kind``."""
    frames = [receive(session)]
    while not isinstance(frames[-1].message, kind):
        frames.append(receive(session))
    return frames


def update_of(text: str) -> bytes:
    doc: Doc[Any] = Doc()
    doc.get("text", type=Text).insert(0, text)
    return doc.get_update()


def test_frames_before_the_auth_are_handled_after_it_in_order(client: TestClient) -> None:
    token = mint_token(SECRET, "notes", Role.WRITE, 60)
    with client.websocket_connect("/hocuspocus") as ws:
        send(ws, "notes", hp.Update(update_of("early")))  # held until the Auth is decided
        send(ws, "notes", hp.SyncStep1(b"\x00"))
        send(ws, "notes", hp.Token(token, "4.8.0"))
        frames = until(ws, hp.SyncStep2)
        assert frames[0] == hp.Frame("notes", hp.Authenticated(hp.Scope.READ_WRITE))
        assert isinstance(frames[1].message, hp.SyncStep1)  # the room's, on joining
        step2 = frames[-1].message
        assert isinstance(step2, hp.SyncStep2)
        doc: Doc[Any] = Doc()
        doc.apply_update(step2.update)
        assert str(doc.get("text", type=Text)) == "early"  # the held update came first
        assert until(ws, hp.SyncStatus)[-1].message == hp.SyncStatus(True)


def test_each_document_is_authorised_on_its_own(client: TestClient) -> None:
    read = mint_token(SECRET, "a", Role.READ, 60)
    with client.websocket_connect("/hocuspocus") as ws:
        send(ws, "a", hp.Token(read))
        assert receive(ws) == hp.Frame("a", hp.Authenticated(hp.Scope.READ_ONLY))
        send(ws, "b", hp.Token(read))  # a token for another document
        denied = until(ws, hp.PermissionDenied)[-1]
        assert denied == hp.Frame("b", hp.PermissionDenied("token does not grant this document"))
        send(ws, "c", hp.Token(""))
        assert until(ws, hp.PermissionDenied)[-1].message == hp.PermissionDenied(
            "access token required"
        )
        # a read-only write with content: SyncStatus(false), and the document stays open
        send(ws, "a", hp.Update(update_of("forged")))
        assert until(ws, hp.SyncStatus)[-1] == hp.Frame("a", hp.SyncStatus(False))
        send(ws, "a", hp.SyncStep1(b"\x00"))
        step2 = until(ws, hp.SyncStep2)[-1].message
        assert isinstance(step2, hp.SyncStep2)
        assert step2.update == b"\x00\x00"  # nothing was applied


def test_ping_is_answered_and_a_malformed_frame_closes_with_1002(client: TestClient) -> None:
    with client.websocket_connect("/hocuspocus") as ws:
        ws.send_bytes(hp.PING)
        assert ws.receive_bytes() == hp.PONG
        ws.send_bytes(b"\x05ab")  # a name of 5 bytes in 2
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_bytes()
    assert closed.value.code == 1002
    assert closed.value.reason == "malformed message: length 5 exceeds the 2 bytes left"


def test_the_senders_awareness_comes_back_to_it(client: TestClient) -> None:
    """A lone provider hears its own awareness renewals (every 15 s): without them it would
    reconnect after 30 s of silence (``messageReconnectTimeout``)."""
    token = mint_token(SECRET, "presence", Role.READ, 60)
    entry = awareness_codec.AwarenessEntry(42, 1, {"user": "alone"})
    payload = awareness_codec.encode_awareness([entry])
    with client.websocket_connect("/hocuspocus") as ws:
        send(ws, "presence", hp.Token(token))
        send(ws, "presence", hp.Awareness(payload))
        echoed = until(ws, hp.Awareness)[-1]
        assert echoed == hp.Frame("presence", hp.Awareness(payload))
