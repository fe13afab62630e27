"""Per-connection limits that need a clock: the message-rate token bucket."""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["TokenBucket"]


class TokenBucket:
    """A token bucket: ``rate`` tokens per second, holding at most ``burst`` tokens.

    Args:
        rate: tokens added per second; ``0`` means unlimited.
        burst: the bucket's size (and its initial fill).
        clock: seconds, monotonic (injectable for tests).
    """

    __slots__ = ("_clock", "_last", "_tokens", "burst", "rate")

    def __init__(
        self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.burst = float(burst)
        self._clock = clock
        self._tokens = float(burst)
        self._last = self._clock()

    def take(self) -> bool:
        """Take one token; ``False`` when the bucket is empty (the caller is over the rate)."""
        if self.rate <= 0:
            return True
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
        self._last = now
        if self._tokens < 1.0:
            return False
        self._tokens -= 1.0
        return True
