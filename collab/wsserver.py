"""uvicorn's sans-I/O WebSocket protocol plus one ASGI extension: direct, detached connections.

:class:`DirectProtocol` offers each WebSocket connection's app a
:class:`~collab.transports.direct.Direct` (the extension :data:`DIRECT` in the scope: see
:mod:`collab.transports.direct` for why and what it does).

Once detached, a connection's masked binary frames (all a y-websocket client sends) are cut by
:meth:`DirectProtocol._read_frames`; websockets' parser takes the stream at any other frame and
hands it back when it is between frames. A connection that was just read in bulk
(:data:`_YIELD_BYTES`) reads no more in that event-loop turn (:meth:`Direct.yield_turn`), so that
a client sending as fast as it can does not starve the commits of what it sent. The handshake,
close handshake, keepalive pings and everything else are uvicorn's sans-I/O protocol.

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
from collab.transports.direct import (
    CLOSE_TIMEOUT,
    DIRECT,
    Direct,
    between_frames,
)

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

TOO_LARGE = 4413
"""The close code of a message over the size limit (collab's own: not retried by clients)."""

TURN_BUDGET = 0.01
"""Seconds of frames one connection may handle in one event-loop turn; the frames it read
beyond that wait for the next turn, with its reading paused (one 256 KB read can hold
hundreds of updates, and an update into a large document can cost milliseconds)."""

_YIELD_BYTES = 64 * 1024
"""A read at least this large ends the connection's reading for the event-loop turn."""

SHUTDOWN_TIMEOUT = 1.0
"""Seconds a peer gets to take what was sent when the server shuts down."""


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
            self._framing = direct.detached and between_frames(self)
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
        self._framing = between_frames(self)

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
