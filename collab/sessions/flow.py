"""Flow control of a y-websocket session: reading paused while the hub's commit queue is
congested, while the connection is over its message rate (``--max-messages-per-second``:
the client's writes wait in TCP, nothing is lost; one held back nearly all of
``--rate-limit-close-seconds`` is closed with 1013), and while the document of its
hibernating room is rebuilt for a message that needs it (:mod:`collab.hub.hibernation`)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from collab import protocol
from collab.errors import CloseCode
from collab.limits import TokenBucket
from collab.protocol import ProtocolError
from collab.room import Room
from collab.updates import InvalidUpdate

if TYPE_CHECKING:
    from collections.abc import Callable

    from collab.hub import Hub
    from collab.sessions.transport import Transport

__all__ = ["MIN_RATE_PAUSE", "THROTTLED_SHARE", "FlowControl"]

MIN_RATE_PAUSE = 0.02
"""Seconds a connection over ``--max-messages-per-second`` stops being read, at least: its
bucket refills meanwhile, so reading resumes with a few messages' worth of tokens instead of
pausing and resuming for every message."""

THROTTLED_SHARE = 0.9
"""Share of ``--rate-limit-close-seconds`` a connection must spend held back by the rate limit
to be closed: one that sends 10 times the rate or more, all that time."""


class FlowControl:
    """The reading holds of :class:`~collab.sessions.ywebsocket.Connection` (a base class of
    it, through :class:`~collab.sessions.messages.Messages`)."""

    __slots__ = (
        "_holds",
        "_parked",
        "_rate_timer",
        "_throttle_window",
        "bucket",
        "rate_close_seconds",
    )

    bucket: TokenBucket
    rate_close_seconds: float
    _holds: int  # reasons reading is paused: hub congestion, the rate limit, a rebuild
    _rate_timer: asyncio.TimerHandle | None
    _throttle_window: tuple[float, float] | None  # (start, seconds held back)
    _parked: list[bytes] | None  # frames held while the room's document is rebuilt

    if TYPE_CHECKING:
        transport: Transport
        hub: Hub
        finished: bool
        _close: tuple[int, str] | None

        read_only: bool

        def _reject(self, code: int, reason: str) -> None: ...

        def _on_frame(self, room: Room, frame: bytes) -> None: ...

        def end_of_read(self) -> None: ...

        def _guarded(self, step: Callable[..., None], room: Room, *frame: bytes) -> None: ...

    def _hold(self) -> None:
        """Pause reading for one more reason."""
        self._holds += 1
        if self._holds == 1:
            self.transport.pause_reading()

    def _release(self) -> None:
        """One reason to pause reading is gone: read again once none is left."""
        self._holds -= 1
        if self._holds == 0 and self._close is None and not self.finished:
            self.transport.resume_reading()

    def _throttle(self, wait: float) -> None:
        """Stop reading for ``wait`` seconds: the connection sent more than its bucket held.
        One held back for :data:`THROTTLED_SHARE` of ``rate_close_seconds`` is closed with
        1013 (retryable: a y-websocket client reconnects and sends what it still holds)."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        start, held = self._throttle_window or (now, 0.0)
        if self.rate_close_seconds > 0 and now - start >= self.rate_close_seconds:
            if held >= THROTTLED_SHARE * (now - start):
                self._reject(CloseCode.TRY_AGAIN_LATER, "over the message rate for too long")
                return
            start, held = now, 0.0  # a new window
        self._throttle_window = (start, held + wait)
        self.hub.metrics.rate_pauses += 1
        self._hold()
        self._rate_timer = loop.call_later(wait, self._refilled)

    def _refilled(self) -> None:
        """The bucket refilled: read again, unless frames read meanwhile (a backlog the turn
        budget left) put it back in debt."""
        self._rate_timer = None
        wait = self.bucket.debt_seconds()
        if wait > 0 and self._close is None and not self.finished:
            start, held = self._throttle_window or (asyncio.get_running_loop().time(), 0.0)
            self._throttle_window = (start, held + wait)
            self._rate_timer = asyncio.get_running_loop().call_later(wait, self._refilled)
            return
        self._release()

    # -- a hibernating room --------------------------------------------------------------------

    def _needs_rebuild(self, room: Room, frame: bytes) -> bool:
        """Whether ``frame`` needs the document of ``room``, which hibernates: an update or
        sync step 2 of a writer bringing something, or a sync step 1 whose answer is not the
        whole document. Malformed frames: no (their handling refuses them)."""
        if len(frame) < 2 or frame[0] != 0:
            return False
        try:
            message = protocol.decode(frame)
            if isinstance(message, protocol.SyncStep1):
                return not room.full_sync(message.state_vector)
        except (ProtocolError, InvalidUpdate):
            return False
        if isinstance(message, protocol.SyncStep2 | protocol.Update):
            return not self.read_only and not room.brings_nothing(message.update)
        return False

    def _park(self, room: Room, frame: bytes) -> None:
        """Hold ``frame`` (and the frames after it) until the room's document is rebuilt on
        the database thread, reading paused; then handle them in order."""
        if self._parked is not None:
            self._parked.append(frame)
            return
        self._parked = [frame]
        self._hold()
        self.hub.wake(room).add_done_callback(lambda _: self._unpark(room))

    def _unpark(self, room: Room) -> None:
        """Handle the frames held by :meth:`_park`, then read again. Should the room still
        hibernate (its rebuild failed, or it slept again), the document is rebuilt here."""
        parked, self._parked = self._parked, None
        if parked is None or self.finished or self._close is not None:
            return
        if room.asleep:
            self._guarded(_rebuild_here, room)
        for frame in parked:
            self._on_frame(room, frame)
        self.end_of_read()
        self._release()


def _rebuild_here(room: Room) -> None:
    room.doc  # noqa: B018  # the property rebuilds it
