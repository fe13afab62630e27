"""uvicorn's sans-I/O WebSocket protocol plus one ASGI extension: direct, detached connections.

ASGI's ``send`` and ``receive`` are coroutines, so an endpoint relaying one update to N peers
needs a writer task per peer and wakes N tasks per update, every received frame passes an
``asyncio.Queue`` and Starlette's wrappers, and every idle connection keeps a suspended ASGI
task with its middleware frames (about 10 KiB). The extension :data:`DIRECT` in the WebSocket
scope (ASGI lets servers add extensions there) is a :class:`Direct`:

* :meth:`Direct.write` sends a binary frame without awaiting (the frames after the first in one
  event-loop turn leave in one system call), unless the bytes waiting to be taken by the socket
  would pass the given limit (the peer's bounded send queue);
* :meth:`Direct.detach` hands the connection over to an :class:`Owner`, called for every
  message, at the end of every read (the messages of one read can be taken as a burst) and at
  the end of the connection, after which the endpoint returns: the connection lives on
  without an ASGI task, :meth:`Direct.close` closes it, and :meth:`Direct.pause_reading` and
  :meth:`Direct.resume_reading` give the owner flow control.

Once detached, a connection's masked binary frames (all a y-websocket client sends) are cut by
:meth:`DirectProtocol._read_frames`; websockets' parser takes the stream at any other frame and
hands it back when it is between frames. A connection that was just read in bulk
(:data:`_YIELD_BYTES`) reads no more in that event-loop turn (:meth:`Direct.yield_turn`), so that
a client sending as fast as it can does not starve the commits of what it sent. The handshake,
close handshake, keepalive pings and everything else are uvicorn's sans-I/O protocol.

Server frames are not masked (RFC 6455 section 5.1), so the bytes of a frame are the same for
every peer: the last frame's serialization is reused while the same payload is written to
several peers in a row (a broadcast), so a relayed update is framed once.

Run it with ``uvicorn.Config(ws=DirectProtocol)`` (``collab serve`` does).
"""

from __future__ import annotations

import time
from typing import Any

from uvicorn.protocols.utils import ClientDisconnected
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.frames import Frame
from websockets.http11 import Request
from websockets.protocol import State

from collab.sessions.transport import CLOSED, FULL, SENT, Owner

try:
    from websockets.speedups import apply_mask  # websockets' unmasking in C
except ImportError:  # a build without its C extension
    from websockets.utils import apply_mask

__all__ = [
    "CLOSED",
    "CLOSE_TIMEOUT",
    "DIRECT",
    "FULL",
    "SENT",
    "SHUTDOWN_TIMEOUT",
    "Direct",
    "DirectProtocol",
    "Owner",
]

DIRECT = "collab.direct"
"""The key of the extension in ``scope["extensions"]``; its value is a :class:`Direct`."""

_last_payload = b""
_last_wire = b"\x82\x00"

_touched: list[Direct] = []
"""Senders that wrote during this event-loop turn (uvicorn runs one loop per process)."""


_LARGE = 64 * 1024
"""Payloads at least this large are written as their header and themselves, never copied
into one buffer: a joiner's sync step 2 of a 20 MB document is the same bytes object for
every joiner (the room's cache), and the transports keep a reference, not a copy."""


def _header(size: int) -> bytes:
    """The header of an unmasked binary frame of ``size`` bytes.

    RFC 6455 section 5.2: FIN and opcode 2 (binary) in the first byte, then the length in 7
    bits, or 126 and 16 bits, or 127 and 64 bits (network byte order); no mask from a server.
    """
    if size < 126:
        return bytes((0x82, size))
    if size < 0x10000:
        return b"\x82\x7e" + size.to_bytes(2, "big")
    return b"\x82\x7f" + size.to_bytes(8, "big")


def _framed(payload: bytes) -> bytes:
    """``payload`` as an unmasked binary frame, reusing the last one's bytes (a broadcast)."""
    global _last_payload, _last_wire
    if payload is not _last_payload:
        _last_wire = _header(len(payload)) + payload
        _last_payload = payload
    return _last_wire


def _end_turn() -> None:
    senders = _touched[:]
    _touched.clear()
    for sender in senders:
        sender.flush()


TOO_LARGE = 4413
"""The close code of a message over the size limit (collab's own: not retried by clients)."""

TURN_BUDGET = 0.01
"""Seconds of frames one connection may handle in one event-loop turn; the frames it read
beyond that wait for the next turn, with its reading paused (one 256 KB read can hold
hundreds of updates, and an update into a large document can cost milliseconds)."""

_YIELD_BYTES = 64 * 1024
"""A read at least this large ends the connection's reading for the event-loop turn."""

CLOSE_TIMEOUT = 5.0
"""Seconds a closing peer gets to take what was sent and answer the close frame."""

SHUTDOWN_TIMEOUT = 1.0
"""Seconds a peer gets to take what was sent when the server shuts down."""


class Direct:
    """Synchronous sends and receives on one WebSocket connection (see the module docstring):
    the fast path's :class:`~collab.sessions.transport.Transport`.

    The first frame of an event-loop turn is handed to the transport at once; the frames
    that follow it in the same turn (a burst of relayed updates) leave together in one
    ``transport.write`` at the end of the turn. Their order, and their order with anything
    uvicorn sends later (a close frame), is kept.
    """

    __slots__ = ("_ended", "_held", "_later", "_later_bytes", "_owner", "_protocol")

    def __init__(self, protocol: DirectProtocol) -> None:
        self._protocol = protocol
        self._later: list[bytes] | None = None  # None: nothing written yet in this turn
        self._later_bytes = 0
        self._owner: Owner | None = None
        self._ended = False
        self._held = False  # the owner paused reading

    @property
    def detached(self) -> bool:
        """Whether :meth:`detach` handed the connection over."""
        return self._owner is not None

    def detach(self, owner: Owner) -> None:
        """Deliver every message to ``owner.received`` as it is parsed, and the end of the
        connection to ``owner.ended``; the endpoint may then return without ending the
        connection. Messages already queued for ``receive`` are delivered first, in order.
        """
        protocol = self._protocol
        queue = protocol.queue
        self._owner = owner
        protocol.queue = _Dispatch(self)  # type: ignore[assignment]
        protocol.response = None  # type: ignore[assignment]  # the accept was sent
        while not queue.empty():
            self.dispatch(queue.get_nowait())
        self.end_of_read()
        if protocol.read_paused:  # uvicorn pauses reading while its queue holds messages
            protocol.read_paused = False
            self.resume_reading()
        protocol._framing = _between_frames(protocol)

    def deliver(self, message: bytes | str) -> None:
        """Pass one message to the owner, unless the connection ended."""
        if not self._ended:
            self._owner.received(message)  # type: ignore[union-attr]

    def end_of_read(self) -> None:
        """Tell the owner that the messages of the data just read were all delivered."""
        if not self._ended and self._owner is not None:
            self._owner.end_of_read()

    def dispatch(self, event: Any) -> None:
        """Pass one ASGI receive event to the owner (see :meth:`detach`)."""
        kind = event["type"]
        if kind == "websocket.receive":
            message = event.get("bytes")
            self.deliver(message if message is not None else event["text"])
        elif kind == "websocket.disconnect" and not self._ended:
            self._ended = True
            owner: Any = self._owner
            sent, received = self._protocol.conn.close_sent, self._protocol.conn.close_rcvd
            if sent is not None and received is None:  # not the owner's close, not the client's
                owner.ended(int(sent.code), sent.reason)
            else:
                owner.ended(int(event.get("code", 1005)))

    def close(self, code: int, reason: str) -> None:
        """Send what is buffered, then a close frame with ``code`` and ``reason`` (at most
        123 bytes of UTF-8); the connection ends when the client answers, or after
        :data:`CLOSE_TIMEOUT` seconds (a client that stopped reading never gets the frame).
        Does nothing when the connection is already closing."""
        protocol = self._protocol
        transport = protocol.transport
        self._ended = True
        if protocol.close_sent or transport.is_closing() or protocol.conn.state is not State.OPEN:
            return
        self.flush()
        protocol.conn.send_close(code, reason.encode()[:123].decode(errors="ignore"))
        transport.write(b"".join(protocol.conn.data_to_send()))
        protocol.close_sent = True
        self.resume_reading()  # the client's close frame must still be read
        protocol.close_timer = protocol.loop.call_later(CLOSE_TIMEOUT, transport.abort)

    def pause_reading(self) -> None:
        """Stop reading from the socket (the peer's writes then back up into TCP)."""
        self._held = True
        self._protocol.transport.pause_reading()

    def resume_reading(self) -> None:
        """Read from the socket again: first the frames of the last read that were left when
        the owner paused (see :meth:`DirectProtocol._read_frames`), in the next turn."""
        self._held = False
        protocol = self._protocol
        if protocol._backlog:
            protocol.loop.call_soon(protocol._drain, self)
        elif not protocol.transport.is_closing():
            protocol.transport.resume_reading()

    def yield_turn(self) -> None:
        """Read no more in this event-loop turn: reading resumes in the next one, unless the
        owner paused it meanwhile."""
        transport = self._protocol.transport
        transport.pause_reading()
        self._protocol.loop.call_soon(self._next_turn)

    def _next_turn(self) -> None:
        if not self._protocol._backlog:  # else reading resumes once the backlog is done
            self.resume_if_free()

    def resume_if_free(self) -> None:
        """Read from the socket again, unless the owner paused reading or it is closing."""
        if not (self._held or self._protocol.transport.is_closing()):
            self._protocol.transport.resume_reading()

    def write(self, payload: bytes, limit: int) -> int:
        """Send ``payload`` as one binary frame, unless the bytes waiting for the socket (the
        transport's buffer: the peer's send queue) would pass ``limit`` with it; while nothing
        waits, any frame goes.

        Returns:
            :data:`SENT`, :data:`FULL` (nothing sent: the peer reads too slowly) or
            :data:`CLOSED` (the connection is closing or closed; nothing sent).
        """
        protocol = self._protocol
        transport = protocol.transport
        if self._ended or protocol.close_sent or transport.is_closing():
            return CLOSED
        size = len(payload)
        wire = _framed(payload) if size < _LARGE else None
        queued = transport.get_write_buffer_size() + self._later_bytes
        if queued and queued + size + 10 > limit:
            return FULL
        later = self._later
        if later is None:
            self._later = []
            if not _touched:
                protocol.loop.call_soon(_end_turn)
            _touched.append(self)
            if wire is None:
                transport.writelines((_header(size), payload))
            else:
                transport.write(wire)
        elif wire is None:
            later += (_header(size), payload)
            self._later_bytes += size + 10
        else:
            later.append(wire)
            self._later_bytes += len(wire)
        return SENT

    def flush(self) -> None:
        """Hand the frames held back in this turn to the transport now (joined into one
        buffer when small, else as they are: a large payload is never copied)."""
        later, self._later = self._later, None
        large, self._later_bytes = self._later_bytes >= _LARGE, 0
        transport = self._protocol.transport
        if later and not transport.is_closing():
            if len(later) == 1:
                transport.write(later[0])
            elif large:
                transport.writelines(later)
            else:
                transport.write(b"".join(later))


class _Dispatch:
    """Stands for uvicorn's receive queue once the connection is detached: every event
    uvicorn puts there goes straight to the owner's callbacks."""

    __slots__ = ("_direct",)

    def __init__(self, direct: Direct) -> None:
        self._direct = direct

    def put_nowait(self, event: Any) -> None:
        self._direct.dispatch(event)

    def empty(self) -> bool:
        return True


def _between_frames(protocol: DirectProtocol) -> bool:
    """Whether websockets' parser waits for the first byte of a frame: nothing buffered, and
    its generator suspended at the head of its loop (``StreamReader.at_eof`` in websockets'
    ``Protocol.parse``). Should websockets change that, this says ``False`` and every frame
    goes through websockets, as before :meth:`DirectProtocol._read_frames` existed."""
    conn = protocol.conn
    if conn.reader.buffer or conn.parser_exc is not None or conn.state is not State.OPEN:
        return False
    waiting: Any = conn.parser
    while getattr(waiting, "gi_yieldfrom", None) is not None:
        waiting = waiting.gi_yieldfrom
    return getattr(waiting, "__qualname__", "") == "StreamReader.at_eof"


class DirectProtocol(WebSocketsSansIOProtocol):
    """uvicorn's ``websockets-sansio`` protocol offering :data:`DIRECT` to the app.

    Args: those of uvicorn's protocol (uvicorn creates it per connection).
    """

    direct: Direct | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        fail = self.conn.fail

        def fail_too_big_as_4413(code: int, reason: str = "") -> None:
            # websockets' own parser (after a control frame, or a fragmented message) closes
            # a message over the limit with 1009, which clients retry forever: 4413 instead.
            fail(TOO_LARGE if code == 1009 else code, reason)

        self.conn.fail = fail_too_big_as_4413  # type: ignore[method-assign]

    _framing = False  # frames are cut by _read_frames; websockets' parser waits between frames
    _partial: bytearray | None = None  # the start of a frame not received whole yet
    _backlog = False  # frames received and left for the next turn (TURN_BUDGET)

    _last_read = 0.0  # loop time of the last read

    def keepalive_timeout(self) -> None:
        """No pong within ``ping_timeout``: uvicorn closes with 1011, unless the peer is alive
        and its pong merely unread: it sent data since the ping, or the owner holds reading
        (flow control) or frames wait in the backlog. Then the check waits another timeout."""
        direct = self.direct
        if (
            self._last_read > self.ping_sent_at
            or self._backlog
            or (direct is not None and direct._held)
        ) and self.ping_timeout is not None:
            self.pong_timer = self.loop.call_later(self.ping_timeout, self.keepalive_timeout)
            return
        super().keepalive_timeout()

    def data_received(self, data: bytes) -> None:
        """Once detached, binary frames are cut here (:meth:`_read_frames`), the rest is
        websockets'; after a large read, no more reading in this event-loop turn.

        libuv reads a socket again at once while its 256 KB buffer comes back full, up to
        32 times: a client sending as fast as it can would be read for seconds in one turn,
        with the commits of what it sent and every other connection waiting behind it.
        """
        direct = self.direct
        self._last_read = self.loop.time()
        if direct is None or self.conn.state is not State.OPEN:  # the handshake, or closing
            if self._partial is not None:  # the start of a frame the reader kept
                data, self._partial = bytes(self._partial) + data, None
            super().data_received(data)
            if direct is not None:
                direct.end_of_read()
            return
        if self._framing:
            self._read_frames(data, direct)
        else:
            self._parse(data)
            self._framing = direct.detached and _between_frames(self)
        direct.end_of_read()
        if len(data) >= _YIELD_BYTES and direct.detached:
            direct.yield_turn()

    def _parse(self, data: bytes) -> None:
        """uvicorn's ``data_received`` once the connection is open, except that the frames
        parsed before a malformed one are handled before it (uvicorn drops them)."""
        self.conn.receive_data(data)
        self.handle_events()
        if self.conn.parser_exc is not None:
            self.handle_parser_exception()

    def _read_frames(self, data: bytes | bytearray, direct: Direct) -> None:
        """Deliver the complete, unfragmented, masked binary frames at the head of ``data``
        (RFC 6455 section 5.2), the only frames a y-websocket client sends: websockets'
        generator-based parser costs about 3 us per frame, a fifth of the work per update.
        At the first frame of any other kind (ping, pong, close, text, fragment, one over
        the size limit, a malformed one) websockets takes the rest of the stream, and cuts
        frames as usual until its parser is between frames again; it never sees part of a
        frame delivered here, or delivers one itself.
        """
        partial = self._partial
        if partial is not None:
            partial += data
            data, self._partial = partial, None
        if self._backlog:  # the frames before these wait for the next turn (see _drain)
            self._keep(data, 0)
            self.transport.pause_reading()
            return
        deadline = time.perf_counter() + TURN_BUDGET
        conn = self.conn
        limit = conn.max_message_size
        pos, end = 0, len(data)
        while end - pos >= 2:
            head2 = data[pos + 1]
            if (
                data[pos] != 0x82  # FIN, no RSV bits, opcode 2 (binary)
                or not head2 & 0x80  # masked, as every client frame must be
                or conn.state is not State.OPEN
                or conn.current_size is not None  # inside a fragmented message
                or self.close_sent
            ):
                break
            length = head2 & 0x7F
            start = pos + 6  # after the mask
            if length == 126:
                if end - pos < 4:
                    self._keep(data, pos)
                    return
                length = (data[pos + 2] << 8) | data[pos + 3]
                start = pos + 8
            elif length == 127:
                if end - pos < 10:
                    self._keep(data, pos)
                    return
                length = int.from_bytes(data[pos + 2 : pos + 10], "big")
                start = pos + 14
            if limit is not None and length > limit:
                break  # websockets fails it: 4413 (see __init__)
            stop = start + length
            if stop > end:
                self._keep(data, pos)
                return
            direct.deliver(apply_mask(data[start:stop], data[start - 4 : start]))
            pos = stop
            if pos < end and (direct._held or time.perf_counter() > deadline):
                # The owner paused reading (flow control: the rest waits until it resumes),
                # or this connection had its share of the turn (the rest waits for the next).
                self._keep(data, pos)
                self._backlog = True
                self.transport.pause_reading()
                if not direct._held:
                    self.loop.call_soon(self._drain, direct)
                return
        else:
            self._keep(data, pos)
            return
        # Any other frame: websockets takes the stream from here, and hands it back once
        # its parser is between frames.
        self._framing = False
        self._parse(bytes(data[pos:]))
        self._framing = _between_frames(self)

    def _drain(self, direct: Direct) -> None:
        """Go on with the frames a turn's budget left (see :data:`TURN_BUDGET`), then read
        from the socket again, unless the owner paused reading meanwhile (then its
        :meth:`Direct.resume_reading` calls this again)."""
        if direct._held or not self._backlog:
            return
        self._backlog = False
        backlog, self._partial = self._partial, None
        if backlog is not None and not self.transport.is_closing():
            self._read_frames(backlog, direct)
            direct.end_of_read()
        if not self._backlog:
            direct.resume_if_free()

    def _keep(self, data: bytes | bytearray, pos: int) -> None:
        """Keep ``data`` from ``pos`` on: the start of a frame not received whole yet."""
        if pos == len(data):
            return
        if isinstance(data, bytearray):
            del data[:pos]
            self._partial = data
        else:
            self._partial = bytearray(data[pos:])

    def handle_connect(self, event: Request) -> None:
        super().handle_connect(event)
        scope: Any = getattr(self, "scope", None)
        if scope is not None:  # None: the handshake was refused before the app ran
            self.direct = scope["extensions"][DIRECT] = Direct(self)
        # The handshake's headers are in the scope now; websockets' parser keeps the request
        # for the connection's life, so empty it (1.5 KiB per connection).
        event.headers.clear()
        self.request = None  # type: ignore[assignment]

    def handle_bytes(self, event: Frame) -> None:
        direct = self.direct
        if direct is not None and direct.detached and event.fin and not self.close_sent:
            direct.deliver(bytes(event.data))
        else:
            super().handle_bytes(event)  # queued, or fragmented: uvicorn joins the parts

    def send_receive_event_to_app(self) -> None:
        direct = self.direct
        if direct is None or not direct.detached:
            super().send_receive_event_to_app()
            return
        data = self.frames[0] if len(self.frames) == 1 else b"".join(self.frames)
        self.frames = []
        if self.close_sent:
            return
        if self.curr_msg_data_type == "text":  # refused by the owner whatever it holds
            direct.deliver(data.decode(errors="replace"))
        else:
            direct.deliver(data)

    def connection_lost(self, exc: Exception | None) -> None:
        # uvicorn reports 1005 (no status) here; no close frame came: 1006 (RFC 6455 7.1.5).
        # The first disconnect counts: one the client's close frame queued before stays.
        if self.direct is not None:
            self.queue.put_nowait({"type": "websocket.disconnect", "code": 1006})
        super().connection_lost(exc)

    def shutdown(self) -> None:
        """uvicorn's, plus an abort after :data:`SHUTDOWN_TIMEOUT` seconds: closing waits for
        the write buffer to drain, which a client that stopped reading never lets happen."""
        super().shutdown()
        self.loop.call_later(SHUTDOWN_TIMEOUT, self.transport.abort)

    async def run_asgi(self) -> None:
        """uvicorn's, except that a detached connection outlives the app's return."""
        try:
            result = await self.app(self.scope, self.receive, self.send)
        except ClientDisconnected:
            pass
        except BaseException:
            self.logger.exception("Exception in ASGI application\n")
            self.send_500_response()
        else:
            if not self.handshake_complete:
                self.logger.error("ASGI callable returned without completing handshake.")
                self.send_500_response()
            elif result is not None:
                self.logger.error("ASGI callable should return None, but returned '%s'.", result)
        if self.direct is not None and self.direct.detached:
            self.scope = None  # type: ignore[assignment]  # not needed any more
            return
        if self.close_timer is None:
            self.transport.close()
