"""The y-protocols codec: round trips and hostile bytes."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from collab import awareness_codec, protocol
from collab.awareness_codec import AwarenessEntry
from collab.protocol import ProtocolError

payloads = st.binary(max_size=300)
messages = st.one_of(
    st.builds(protocol.SyncStep1, payloads),
    st.builds(protocol.SyncStep2, payloads),
    st.builds(protocol.Update, payloads),
    st.builds(protocol.Awareness, payloads),
    st.just(protocol.QueryAwareness()),
    st.builds(protocol.Auth, st.text(max_size=50)),
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=10,
)


@given(messages)
def test_decode_inverts_encode(message: protocol.Message) -> None:
    assert protocol.decode(protocol.encode(message)) == message


@given(st.binary(max_size=200))
def test_arbitrary_bytes_raise_only_protocol_error(frame: bytes) -> None:
    with contextlib.suppress(ProtocolError):
        protocol.decode(frame)


@given(messages, st.data())
def test_truncated_frames_are_refused(message: protocol.Message, data: st.DataObject) -> None:
    frame = protocol.encode(message)
    cut = data.draw(st.integers(0, len(frame) - 1))
    with pytest.raises(ProtocolError):
        protocol.decode(frame[:cut])


def test_known_wire_bytes() -> None:
    # y-protocols: [messageSync=0, messageYjsSyncStep1=0, varUint8Array(state vector)]
    assert protocol.encode(protocol.SyncStep1(b"\x00")) == b"\x00\x00\x01\x00"
    assert protocol.encode(protocol.Update(b"\x00\x00")) == b"\x00\x02\x02\x00\x00"
    assert protocol.encode(protocol.QueryAwareness()) == b"\x03"
    assert protocol.encode(protocol.Auth("no")) == b"\x02\x00\x02no"


@pytest.mark.parametrize(
    ("frame", "why"),
    [
        (b"", "truncated varUint"),
        (b"\x09", "unknown message type 9"),
        (b"\x00\x07\x00", "unknown sync message type 7"),
        (b"\x00\x02\xff\xff\xff\xff\x0f", "exceeds"),
        (b"\x00\x02" + b"\xff" * 9, "longer than 8 bytes"),
        (b"\x03\x00", "trailing"),
        (b"\x00\x02\x02abc", "trailing"),
        (b"\x00\x02\x85" + b"x" * 133, "exceeds"),  # a two-byte length read as one
        (b"\x02\x01\x00", "unknown auth"),
    ],
)
def test_malformed_frames_say_why(frame: bytes, why: str) -> None:
    with pytest.raises(ProtocolError, match=why):
        protocol.decode(frame)


@given(
    st.lists(
        st.builds(AwarenessEntry, st.integers(0, 2**53), st.integers(0, 2**32), json_values),
        max_size=5,
    )
)
def test_awareness_round_trip(entries: list[AwarenessEntry]) -> None:
    assert awareness_codec.decode_awareness(awareness_codec.encode_awareness(entries)) == entries


@given(st.binary(max_size=200))
def test_awareness_garbage_raises_only_protocol_error(payload: bytes) -> None:
    with contextlib.suppress(ProtocolError):
        awareness_codec.decode_awareness(payload)


def test_awareness_state_must_be_json() -> None:
    with pytest.raises(ProtocolError, match="not JSON"):
        awareness_codec.decode_awareness(b"\x01\x01\x01\x03{x}")


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity", "1e400", "-1E999"])
def test_awareness_states_that_javascript_cannot_parse_are_refused(constant: str) -> None:
    """``{"a": NaN}`` parses in Python; relayed, it crashed every y-websocket client's
    ``JSON.parse`` (found by ``scripts/fuzz --editors``)."""
    text = f'{{"a": {constant}}}'.encode()
    payload = b"\x01\x05\x01" + bytes([len(text)]) + text
    with pytest.raises(ProtocolError, match="not JSON"):
        awareness_codec.decode_awareness(payload)
