"""The Hocuspocus codec: round trips, the bytes the provider sends, hostile bytes."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from collab import hocuspocus as hp
from collab import protocol
from collab.protocol import ProtocolError

payloads = st.binary(max_size=200)
texts = st.text(max_size=40)
syncs = st.one_of(
    st.builds(hp.SyncStep1, payloads),
    st.builds(hp.SyncStep2, payloads),
    st.builds(hp.Update, payloads),
)
messages: st.SearchStrategy[hp.Message] = st.one_of(
    syncs,
    st.builds(hp.SyncReply, syncs),
    st.builds(hp.Awareness, payloads),
    st.just(hp.QueryAwareness()),
    st.builds(hp.Token, st.none() | texts, st.none() | texts).filter(
        lambda t: t.token is not None or t.version is None
    ),
    st.builds(hp.PermissionDenied, texts),
    st.builds(hp.Authenticated, st.sampled_from([hp.Scope.READ_ONLY, hp.Scope.READ_WRITE])),
    st.builds(hp.Stateless, texts),
    st.builds(hp.BroadcastStateless, texts),
    st.builds(hp.Close, st.none() | texts),
    st.builds(hp.SyncStatus, st.booleans()),
)
frames = st.builds(hp.Frame, texts, messages)


@given(frames)
def test_decode_inverts_encode(frame: hp.Frame) -> None:
    assert hp.decode(hp.encode(frame)) == frame


@given(st.binary(max_size=200))
def test_arbitrary_bytes_raise_only_protocol_error(data: bytes) -> None:
    with contextlib.suppress(ProtocolError):
        hp.decode(data)


@given(frames, st.data())
def test_truncated_frames_are_refused_or_read_as_shorter_message(
    frame: hp.Frame, data: st.DataObject
) -> None:
    encoded = hp.encode(frame)
    cut = data.draw(st.integers(0, len(encoded) - 1))
    # Three messages have optional tails (Token's version, the server's Close reason, the
    # token itself in the server's token request): a cut exactly before one decodes as the
    # shorter message; any other cut is refused.
    try:
        shorter = hp.decode(encoded[:cut])
    except ProtocolError:
        return
    assert isinstance(shorter, hp.Frame | hp.Ping | hp.Pong)
    if isinstance(shorter, hp.Frame):
        assert isinstance(shorter.message, hp.Token | hp.Close)
        assert shorter.address == frame.address


def test_ping_and_pong_are_one_byte_without_address() -> None:
    assert hp.encode(hp.Ping()) == b"\x09"
    assert hp.encode(hp.Pong()) == b"\x0a"
    assert hp.decode(b"\x09") == hp.Ping()
    assert hp.decode(b"\x0a") == hp.Pong()


def test_bytes_as_the_provider_writes_them() -> None:
    # AuthenticationMessage (provider 4.8): varString name, Auth, Token, token, version
    assert hp.decode(b"\x03doc\x02\x00\x03abc\x054.8.0") == hp.Frame(
        "doc", hp.Token("abc", "4.8.0")
    )
    # provider 3.x: no version
    assert hp.decode(b"\x03doc\x02\x00\x00") == hp.Frame("doc", hp.Token("", None))
    # SyncStepOneMessage: name, Sync, writeSyncStep1 (step 1, varUint8Array state vector)
    assert hp.decode(b"\x01a\x00\x00\x01\x00") == hp.Frame("a", hp.SyncStep1(b"\x00"))
    # CloseMessage from the provider: name and type only
    assert hp.decode(b"\x01a\x07") == hp.Frame("a", hp.Close(None))
    # StatelessMessage
    assert hp.decode(b"\x01a\x05\x02hi") == hp.Frame("a", hp.Stateless("hi"))
    # sessionAwareness address: name, NUL, session id
    frame = hp.decode(b"\x05a\x00xyz\x03")
    assert isinstance(frame, hp.Frame)
    assert frame.address == "a\0xyz"
    assert hp.document_of(frame.address) == "a"


def test_bytes_as_the_server_writes_them() -> None:
    # @hocuspocus/server OutgoingMessage: writeAuthenticated, writePermissionDenied,
    # writeSyncStatus, writeCloseMessage, writeStateless
    authenticated = hp.encode(hp.Frame("a", hp.Authenticated("read-write")))
    assert authenticated == b"\x01a\x02\x02\x0aread-write"
    assert hp.encode(hp.Frame("a", hp.PermissionDenied("no"))) == b"\x01a\x02\x01\x02no"
    assert hp.encode(hp.Frame("a", hp.SyncStatus(True))) == b"\x01a\x08\x01"
    assert hp.encode(hp.Frame("a", hp.SyncStatus(False))) == b"\x01a\x08\x00"
    assert hp.encode(hp.Frame("a", hp.Close("bye"))) == b"\x01a\x07\x03bye"
    assert hp.encode(hp.Frame("a", hp.Stateless("x"))) == b"\x01a\x05\x01x"
    assert hp.encode(hp.Frame("a", hp.Token(None))) == b"\x01a\x02\x00"


@given(texts, st.one_of(syncs, st.builds(hp.Awareness, payloads), st.just(hp.QueryAwareness())))
def test_a_y_websocket_frame_after_the_prefix_is_the_hocuspocus_frame(
    address: str, message: hp.SyncStep1 | hp.SyncStep2 | hp.Update | hp.Awareness
) -> None:
    assert hp.prefix(address) + protocol.encode(message) == hp.encode(hp.Frame(address, message))


def test_sync_reply_carries_a_sync_message() -> None:
    frame = hp.Frame("a", hp.SyncReply(hp.SyncStep2(b"\x00\x00")))
    assert hp.encode(frame) == b"\x01a\x04\x01\x02\x00\x00"


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"", "truncated varUint"),
        (b"\x24", "length 36 exceeds the 0 bytes left"),  # a y-websocket client's frame
        (b"\x01a", "truncated varUint"),
        (b"\x01a\x0b", "unknown message type 11"),
        (b"\x01a\x09", "unknown message type 9"),  # Ping has no address
        (b"\x01a\x00\x03\x00", "unknown sync message type 3"),
        (b"\x01a\x02\x03", "unknown auth message type 3"),
        (b"\x01a\x08\x02", "sync status 2 is neither 0 nor 1"),
        (b"\x01a\x03\x00", "1 unexpected trailing bytes"),
        (b"\x02\xff\xfe\x03", "string is not valid UTF-8"),
        (b"\x01a\x05\x05ab", "length 5 exceeds the 2 bytes left"),
        (b"\x01a" + b"\xff" * 9, "varUint longer than 8 bytes"),
    ],
)
def test_malformed_frames_say_why(data: bytes, why: str) -> None:
    with pytest.raises(ProtocolError, match=why):
        hp.decode(data)
