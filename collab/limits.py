"""Per-connection limits that need a clock: the message-rate token bucket."""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["TokenBucket"]


class TokenBucket:
    """A token bucket: ``rate`` tokens per second, holding at most ``burst`` tokens.

    Used two ways: :meth:`take` refuses a token the bucket does not hold; :meth:`spend` takes
    it anyway and leaves the bucket in debt, and :meth:`debt_seconds` says how long the
    bucket needs to refill to zero (flow control: the caller stops reading meanwhile).

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

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
        self._last = now

    def take(self) -> bool:
        """Take one token; ``False`` when the bucket is empty (the caller is over the rate)."""
        if self.rate <= 0:
            return True
        self._refill()
        if self._tokens < 1.0:
            return False
        self._tokens -= 1.0
        return True

    def spend(self, count: int = 1) -> None:
        """Take ``count`` tokens, going into debt when the bucket holds fewer."""
        if self.rate > 0:
            self._refill()
            self._tokens -= count

    def debt_seconds(self) -> float:
        """Seconds until the bucket is out of debt at its rate; ``0.0`` when it is not in
        debt (or unlimited)."""
        if self.rate <= 0:
            return 0.0
        self._refill()
        return -self._tokens / self.rate if self._tokens < 0 else 0.0
