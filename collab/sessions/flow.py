"""Flow control of a y-websocket session: reading paused while the hub's commit queue is
congested, or while the connection is over its message rate (``--max-messages-per-second``:
the client's writes wait in TCP, nothing is lost; one held back nearly all of
``--rate-limit-close-seconds`` is closed with 1013)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from collab.errors import CloseCode
from collab.limits import TokenBucket

if TYPE_CHECKING:
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
    it, through :class:`~collab.sessions.writes.Writes`)."""

    __slots__ = ("_holds", "_rate_timer", "_throttle_window", "bucket", "rate_close_seconds")

    bucket: TokenBucket
    rate_close_seconds: float
    _holds: int  # reasons reading is paused: hub congestion, the rate limit, a rebuild
    _rate_timer: asyncio.TimerHandle | None
    _throttle_window: tuple[float, float] | None  # (start, seconds held back)

    if TYPE_CHECKING:
        transport: Transport
        hub: Hub
        finished: bool
        _close: tuple[int, str] | None

        def _reject(self, code: int, reason: str) -> None: ...

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
