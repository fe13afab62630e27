"""The fast path's sends and receives on one WebSocket connection: :class:`Direct`.

ASGI's ``send`` and ``receive`` are coroutines, so an endpoint relaying one update to N peers
needs a writer task per peer and wakes N tasks per update, every received frame passes an
``asyncio.Queue`` and Starlette's wrappers, and every idle connection keeps a suspended ASGI
task with its middleware frames (about 10 KiB). :class:`collab.wsserver.DirectProtocol` puts
a :class:`Direct` in the WebSocket scope's extensions under :data:`DIRECT` (ASGI lets servers
add extensions there):

* :meth:`Direct.write` sends a binary frame without awaiting (the frames after the first in one
  event-loop turn leave in one system call), unless the bytes waiting to be taken by the socket
  would pass the given limit (the peer's bounded send queue);
* :meth:`Direct.detach` hands the connection over to an :class:`Owner`, called for every
  message, at the end of every read (the messages of one read can be taken as a burst) and at
  the end of the connection, after which the endpoint returns: the connection lives on
  without an ASGI task, :meth:`Direct.close` closes it, and :meth:`Direct.pause_reading` and
  :meth:`Direct.resume_reading` give the owner flow control.

Server frames are not masked (RFC 6455 section 5.1), so the bytes of a frame are the same for
every peer: the last frame's serialization is reused while the same payload is written to
several peers in a row (a broadcast), so a relayed update is framed once.
"""

from __future__ import annotations

from typing import Any

from websockets.protocol import State

from collab.sessions.transport import CLOSED, FULL, SENT, Owner

__all__ = ["CLOSE_TIMEOUT", "DIRECT", "Direct", "between_frames"]

DIRECT = "collab.direct"
"""The key of the extension in ``scope["extensions"]``; its value is a :class:`Direct`."""

_last_payload = b""
_last_wire = b"\x82\x00"

_turn = 0
"""The current send turn: from a first frame written to the end of the event-loop turn that
follows (:func:`_end_turn`); uvicorn runs one loop per process."""

_turn_ends = False
"""Whether :func:`_end_turn` is scheduled."""

_touched: list[Direct] = []
"""Senders holding frames back in this turn."""


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
    """Start a new send turn, and hand the frames held back in this one to the transports."""
    global _turn, _turn_ends
    _turn += 1
    _turn_ends = False
    senders = _touched[:]
    _touched.clear()
    for sender in senders:
        sender.flush()


CLOSE_TIMEOUT = 5.0
"""Seconds a closing peer gets to take what was sent and answer the close frame."""


class Direct:
    """Synchronous sends and receives on one WebSocket connection (see the module docstring):
    the fast path's :class:`~collab.sessions.transport.Transport`.

    The first frame of an event-loop turn is handed to the transport at once; the frames
    that follow it in the same turn (a burst of relayed updates) leave together in one
    ``transport.write`` at the end of the turn. Their order, and their order with anything
    uvicorn sends later (a close frame), is kept.
    """

    __slots__ = ("_ended", "_held", "_later", "_later_bytes", "_owner", "_protocol", "_turn")

    def __init__(self, protocol: Any) -> None:  # a collab.wsserver.DirectProtocol
        self._protocol = protocol
        self._turn = -1  # the send turn of the last frame written at once
        self._later: list[bytes] | None = None  # frames held back in this turn
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
        protocol.queue = _Dispatch(self)
        protocol.response = None  # the accept was sent
        while not queue.empty():
            self.dispatch(queue.get_nowait())
        self.end_of_read()
        if protocol.read_paused:  # uvicorn pauses reading while its queue holds messages
            protocol.read_paused = False
            self.resume_reading()
        protocol._framing = between_frames(protocol)

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
        the owner paused (see :meth:`collab.wsserver.DirectProtocol._read_frames`), in the
        next turn."""
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
        global _last_payload, _last_wire, _turn_ends
        protocol = self._protocol
        transport = protocol.transport
        if self._ended or protocol.close_sent or transport.is_closing():
            return CLOSED
        size = len(payload)
        queued = transport.get_write_buffer_size() + self._later_bytes
        if queued and queued + size + 10 > limit:
            return FULL
        # Called for every peer of every relayed update: _framed and the turn's bookkeeping
        # are inlined, and a peer's first frame of a turn costs no allocation.
        if size < _LARGE:
            if payload is not _last_payload:
                _last_wire = _header(size) + payload
                _last_payload = payload
            wire = _last_wire
        else:
            wire = None
        if self._turn != _turn:  # the first frame of this turn goes at once
            self._turn = _turn
            if not _turn_ends:
                _turn_ends = True
                protocol.loop.call_soon(_end_turn)
            if wire is None:
                transport.writelines((_header(size), payload))
            else:
                transport.write(wire)
            return SENT
        later = self._later
        if later is None:
            later = self._later = []
            _touched.append(self)
        if wire is None:
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


def between_frames(protocol: Any) -> bool:
    """Whether websockets' parser waits for the first byte of a frame: nothing buffered, and
    its generator suspended at the head of its loop (``StreamReader.at_eof`` in websockets'
    ``Protocol.parse``). Should websockets change that, this says ``False`` and every frame
    goes through websockets, as before :meth:`collab.wsserver.DirectProtocol._read_frames`
    existed."""
    conn = protocol.conn
    if conn.reader.buffer or conn.parser_exc is not None or conn.state is not State.OPEN:
        return False
    waiting: Any = conn.parser
    while getattr(waiting, "gi_yieldfrom", None) is not None:
        waiting = waiting.gi_yieldfrom
    return getattr(waiting, "__qualname__", "") == "StreamReader.at_eof"
