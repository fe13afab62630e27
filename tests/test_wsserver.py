"""``Direct``'s read flow control, driven without sockets: a fake transport records pauses
(the e2e tests run the real uvicorn protocol)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any, cast

import pytest
from websockets.frames import Frame, Opcode
from websockets.server import ServerProtocol

from collab import wsserver
from collab.transports.direct import _framed, between_frames
from collab.wsserver import SENT, TURN_BUDGET, Direct, DirectProtocol


class FakeTransport:
    def __init__(self) -> None:
        self.reading = True
        self.closing = False

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True

    def is_closing(self) -> bool:
        return self.closing


class FakeProtocol:
    def __init__(self) -> None:
        self.transport = FakeTransport()
        self.loop = asyncio.get_running_loop()
        self._backlog = False


def direct_on_fake() -> tuple[Direct, FakeTransport]:
    protocol = FakeProtocol()
    return Direct(cast(DirectProtocol, cast(Any, protocol))), protocol.transport


async def next_turn() -> None:
    """Return once the callbacks scheduled so far ran: a marker scheduled after them (the
    event loop runs call_soon callbacks in order) resolves the wait."""
    marker = asyncio.get_running_loop().create_future()
    asyncio.get_running_loop().call_soon(marker.set_result, None)
    await marker


async def test_a_yielded_turn_reads_again_in_the_next_turn() -> None:
    direct, transport = direct_on_fake()
    direct.yield_turn()
    assert not transport.reading
    await next_turn()
    assert transport.reading


async def test_a_yielded_turn_keeps_the_owners_pause() -> None:
    direct, transport = direct_on_fake()
    direct.yield_turn()
    direct.pause_reading()  # e.g. the hub is congested
    await next_turn()
    assert not transport.reading
    direct.resume_reading()
    assert transport.reading


async def test_a_closing_connection_is_not_resumed() -> None:
    direct, transport = direct_on_fake()
    direct.yield_turn()
    transport.closing = True
    await next_turn()
    assert not transport.reading


@pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 0xFFFF, 0x10000, 0x10001])
def test_a_frame_is_what_websockets_would_send(size: int) -> None:
    payload = bytes(range(256)) * (size // 256) + bytes(size % 256)
    assert _framed(payload) == Frame(Opcode.BINARY, payload).serialize(mask=False)
    assert _framed(payload) is _framed(payload), "a broadcast frames its payload once"


def opened() -> ServerProtocol:
    """websockets' side of a connection whose handshake is done."""
    conn = ServerProtocol()
    conn.receive_data(
        b"GET /sync/r HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    (request,) = conn.events_received()
    conn.send_response(conn.accept(request))
    return conn


async def test_a_read_is_handled_a_turn_budget_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """Frames that cost more than the budget are handled over several event-loop turns,
    with reading paused meanwhile; each frame costs 40 % of the budget on a fake clock."""
    clock = [0.0]
    monkeypatch.setattr(wsserver, "time", SimpleNamespace(perf_counter=lambda: clock[0]))
    delivered: list[bytes] = []

    def deliver(message: bytes) -> None:
        delivered.append(message)
        clock[0] += 0.4 * TURN_BUDGET

    transport = FakeTransport()
    ends: list[int] = []  # frames delivered when the owner was told that a read ended
    direct = SimpleNamespace(
        deliver=deliver,
        end_of_read=lambda: ends.append(len(delivered)),
        resume_if_free=transport.resume_reading,
        _held=False,
    )
    protocol = object.__new__(DirectProtocol)
    protocol.conn, protocol.transport = opened(), cast(Any, transport)
    protocol.loop, protocol.close_sent = asyncio.get_running_loop(), False
    protocol._partial, protocol._backlog = None, False
    frames = [bytes([i]) * 3 for i in range(10)]
    data = b"".join(Frame(Opcode.BINARY, f).serialize(mask=True) for f in frames)
    turns: list[int] = []
    drain = protocol._drain

    def next_turn_s_share(direct: Direct) -> None:  # each one runs in a later turn
        before = len(delivered)
        drain(direct)
        turns.append(len(delivered) - before)

    protocol._drain = next_turn_s_share  # type: ignore[method-assign]
    protocol._read_frames(data, cast(Direct, direct))
    turns.append(len(delivered))
    assert not transport.reading
    while not transport.reading:
        await next_turn()
    assert turns == [3, 3, 3, 1], "3 frames a turn: the third one ends past the budget"
    assert delivered == frames
    assert ends == [6, 9, 10], "each later turn's share ends like a read"


async def test_an_owner_pausing_mid_read_gets_the_rest_once_it_resumes() -> None:
    """Flow control: when the owner pauses reading while a read is delivered (its message
    rate is spent), the frames after that one wait until it resumes, then come in order."""
    protocol = object.__new__(DirectProtocol)
    transport = FakeTransport()
    protocol.conn, protocol.transport = opened(), cast(Any, transport)
    protocol.loop, protocol.close_sent = asyncio.get_running_loop(), False
    protocol._partial, protocol._backlog = None, False
    direct = Direct(protocol)
    delivered: list[bytes] = []
    ends: list[int] = []

    class Owner:
        def received(self, message: bytes | str) -> None:
            delivered.append(cast(bytes, message))
            if len(delivered) == 4:
                direct.pause_reading()

        def end_of_read(self) -> None:
            ends.append(len(delivered))

        def ended(self, code: int, reason: str | None = None) -> None:
            pass

    direct._owner = Owner()
    frames = [bytes([i]) * 3 for i in range(10)]
    data = b"".join(Frame(Opcode.BINARY, f).serialize(mask=True) for f in frames)
    protocol._read_frames(data, direct)
    assert delivered == frames[:4] and not transport.reading
    for _ in range(3):
        await next_turn()
    assert delivered == frames[:4], "nothing more while the owner holds reading"
    direct.resume_reading()
    assert not transport.reading, "the frames left come before any new read"
    await next_turn()
    assert delivered == frames and transport.reading
    assert ends == [10]


async def test_a_peer_held_back_is_not_closed_for_an_unread_pong() -> None:
    """The keepalive's pong of a peer whose reading is paused (flow control), or that sent
    data since the ping, may wait unread in TCP: the check waits; a silent peer is closed."""
    protocol = object.__new__(DirectProtocol)
    transport = FakeTransport()
    protocol.conn, protocol.transport = opened(), cast(Any, transport)
    protocol.loop, protocol.close_sent = asyncio.get_running_loop(), False
    protocol._partial, protocol._backlog = None, False
    protocol.ping_timeout, protocol.ping_sent_at, protocol.pong_timer = 20.0, 100.0, None
    protocol.direct = direct = Direct(protocol)
    failed: list[bool] = []
    base = cast(Any, DirectProtocol.__mro__[1])
    original = base.keepalive_timeout
    base.keepalive_timeout = lambda self: failed.append(True)
    try:
        direct._held = True  # paused by the owner
        protocol.keepalive_timeout()
        assert not failed and protocol.pong_timer is not None
        protocol.pong_timer.cancel()
        direct._held, protocol._last_read = False, 105.0  # read from it after the ping
        protocol.keepalive_timeout()
        assert not failed
        protocol.pong_timer.cancel()
        protocol._last_read = 99.0  # silent since the ping, not held back
        protocol.keepalive_timeout()
        assert failed == [True]
    finally:
        base.keepalive_timeout = original


class WritingTransport(FakeTransport):
    """Records every buffer handed to it."""

    def __init__(self) -> None:
        super().__init__()
        self.buffers: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.buffers.append(data)

    def writelines(self, data: Any) -> None:
        self.buffers.extend(data)

    def get_write_buffer_size(self) -> int:
        return 0


async def test_a_large_payload_is_written_without_a_copy() -> None:
    """A 20 MB document's sync step 2 goes to many joiners: each transport gets the same bytes
    object (after its header), whether it is the turn's first frame or one held back."""
    protocol = FakeProtocol()
    transport = WritingTransport()
    protocol.transport = transport
    protocol.close_sent = False
    direct = Direct(cast(DirectProtocol, cast(Any, protocol)))
    big = bytes(200_000)
    for _ in range(2):  # first of the turn, then held back behind a small frame
        assert direct.write(big, 1 << 30) == SENT
        assert direct.write(b"small", 1 << 30) == SENT
        assert direct.write(big, 1 << 30) == SENT
        await next_turn()
    assert [b for b in transport.buffers if len(b) >= len(big)] == [big] * 4
    assert all(b is big for b in transport.buffers if len(b) >= len(big))
    wire = b"".join(transport.buffers)
    frame = Frame(Opcode.BINARY, big).serialize(mask=False)
    small = Frame(Opcode.BINARY, b"small").serialize(mask=False)
    assert wire == (frame + small + frame) * 2


def writing_direct() -> tuple[Direct, WritingTransport]:
    protocol = FakeProtocol()
    transport = WritingTransport()
    protocol.transport = transport
    protocol.close_sent = False
    return Direct(cast(DirectProtocol, cast(Any, protocol))), transport


async def test_each_peer_gets_its_first_frame_of_a_turn_at_once_and_the_rest_in_one_write() -> None:
    """A broadcast of two updates in one turn: every peer's first frame is written at once
    (the same bytes for all: framed once), the second waits for the end of the turn; the
    next turn starts over."""
    peers = [writing_direct() for _ in range(3)]
    for payload in (b"one", b"two"):
        for direct, _ in peers:
            assert direct.write(payload, 1 << 30) == SENT
    one = Frame(Opcode.BINARY, b"one").serialize(mask=False)
    two = Frame(Opcode.BINARY, b"two").serialize(mask=False)
    assert [t.buffers for _, t in peers] == [[one]] * 3
    assert peers[0][1].buffers[0] is peers[1][1].buffers[0]
    await next_turn()
    assert [t.buffers for _, t in peers] == [[one, two]] * 3
    for direct, _ in peers:
        assert direct.write(b"two", 1 << 30) == SENT
        assert direct.write(b"one", 1 << 30) == SENT
        assert direct.write(b"two", 1 << 30) == SENT
    assert [t.buffers for _, t in peers] == [[one, two, two]] * 3
    await next_turn()
    assert [t.buffers for _, t in peers] == [[one, two, two, one + two]] * 3


def test_between_frames_follows_websockets_parser() -> None:
    """The fast frame reader hands the stream back only where websockets' parser waits for
    a new frame; this checks that reading of websockets' state on the installed version."""
    conn = opened()
    protocol = cast(DirectProtocol, SimpleNamespace(conn=conn))
    assert between_frames(protocol)
    frame = Frame(Opcode.BINARY, b"abc").serialize(mask=True)
    for cut in range(1, len(frame)):  # every way to receive a frame in two parts
        conn.receive_data(frame[:cut])
        assert not between_frames(protocol), cut  # also with the header taken, nothing left
        conn.receive_data(frame[cut:])
        assert between_frames(protocol), cut
    assert [event.data for event in conn.events_received()] == [b"abc"] * (len(frame) - 1)
    conn.receive_data(Frame(Opcode.CLOSE, b"\x03\xe8").serialize(mask=True))
    assert not between_frames(protocol), "a closing connection stays with websockets"
