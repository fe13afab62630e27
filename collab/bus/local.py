"""The single-process bus: there is no other node, so it carries nothing."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from collab.bus.base import BusListener

__all__ = ["LocalBus"]


class LocalBus:
    """A bus for one process: ``remote`` is false and every method does nothing (the hub
    does not even call them)."""

    remote = False
    healthy = True
    reason = ""

    def __init__(self) -> None:
        self.node = uuid.uuid4().hex[:12]

    async def start(self, listener: BusListener) -> None:
        """Nothing to connect to."""

    async def close(self) -> None:
        """Nothing to disconnect."""

    async def append(self, updates: Sequence[tuple[str, bytes]]) -> None:
        """No other node to tell."""

    async def position(self, name: str) -> str:
        """Always the start: there is no stream."""
        return "0-0"

    def watch(self, name: str, position: str) -> None:
        """No stream to read."""

    def unwatch(self, name: str) -> None:
        """No stream to read."""

    def publish_awareness(self, name: str, payload: bytes) -> None:
        """No other node to tell."""

    def publish_stateless(self, name: str, payload: str) -> None:
        """No other node to tell."""

    def publish_compacted(self, name: str, removed: int) -> None:
        """No other node to tell."""

    async def claim(self, name: str, what: str, seconds: float) -> bool:
        """No other node to compete with."""
        return True

    async def announce(self, kind: str, name: str, to: str = "") -> None:
        """No other node to tell."""
