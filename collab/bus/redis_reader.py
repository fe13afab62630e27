"""The reading side of a node's Redis bus: one ``XREAD BLOCK`` over all its streams.

One reader per node (not one per room) reads, on its own connection, the control stream, the
node's wake stream and the streams of its open rooms, each from where it was last read (or,
for a newly opened room, from the position read before the room was loaded from the store).
Entries written by the node itself are skipped. Re-applying a Yjs update is a no-op, so an
entry read twice is harmless. The keys and entries are described in :mod:`collab.bus.entries`.
"""

from __future__ import annotations

import logging
from typing import Any

from redis.asyncio import Redis

from collab.bus.base import BusListener
from collab.bus.entries import CONTROL, deliver_control, deliver_entries, stream_key
from collab.metrics import Histogram

__all__ = ["BLOCK_MS", "COUNT", "StreamReader"]

log = logging.getLogger("collab.bus")

BLOCK_MS = 2000  # longest XREAD BLOCK; the reader also wakes on its wake stream
COUNT = 1000  # entries read per stream per XREAD

Reply = list[tuple[bytes, list[tuple[bytes, dict[bytes, bytes]]]]]
"""An XREAD reply as redis-py returns it: ``(stream key, entries)`` pairs."""


class StreamReader:
    """Where a node has read its streams up to, and the reads themselves.

    Args:
        url: the Redis URL (the reader opens its own connection: XREAD BLOCK holds it for up
            to ``BLOCK_MS``).
        node: this node's id (its own entries are skipped).
        wake: this node's wake stream (written to end a blocking read early).
        nodes: other node ids -> when last heard from (``time.monotonic()``), updated here.

    Attributes:
        read: entries of other nodes read (for ``/metrics``).
        lag: the age of those entries when read (``collab_bus_lag_seconds``).
    """

    def __init__(self, url: str, node: str, wake: bytes, nodes: dict[str, float]) -> None:
        self._own, self._node, self.nodes = node, node.encode(), nodes
        # Typed Any: redis-py's stubs type replies as unions of every RESP shape.
        self._redis: Any = Redis.from_url(
            url, socket_timeout=BLOCK_MS / 1000 + 5, socket_connect_timeout=2
        )
        self._watched: dict[bytes, str] = {}  # stream key -> position read up to
        self._names: dict[bytes, str] = {}  # stream key -> document name
        self._positions: dict[bytes, bytes | str] = {CONTROL: "$", wake: "$"}
        self._wake = wake
        self.read = 0
        self.lag = Histogram(
            "collab_bus_lag_seconds",
            "Age of other nodes' stream entries when this node read them (from the entry id).",
            buckets=(0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10, 60, 600),
        )

    @property
    def watched(self) -> int:
        """How many document streams are read now (the node's open rooms)."""
        return len(self._watched)

    def start_from(self, control: str, wake: str) -> None:
        """Read the control and wake streams after these ids (their newest at connection:
        not ``"$"``, or a wake written between two XREADs would be missed for BLOCK_MS)."""
        self._positions[CONTROL] = control
        self._positions[self._wake] = wake

    def watch(self, name: str, position: str) -> None:
        """Read document ``name``'s stream after ``position``."""
        key = stream_key(name)
        self._watched[key] = position
        self._names[key] = name

    def unwatch(self, name: str) -> None:
        """Stop reading document ``name``'s stream."""
        key = stream_key(name)
        self._watched.pop(key, None)
        self._names.pop(key, None)

    def forget(self) -> None:
        """Stop reading every document stream (Redis failed: the rooms are closed)."""
        self._watched.clear()
        self._names.clear()

    async def next(self) -> Reply:
        """One ``XREAD BLOCK``: the new entries of every stream, or ``[]`` after BLOCK_MS.

        Raises:
            RedisError, OSError, asyncio.TimeoutError: Redis failed (or the connection was
                closed by :meth:`close`).
        """
        streams: dict[bytes, bytes | str] = {**self._positions, **self._watched}
        return await self._redis.xread(streams, count=COUNT, block=BLOCK_MS) or []

    def deliver(self, listener: BusListener, reply: Reply) -> None:
        """Hand ``listener`` what :meth:`next` read, and move the positions past it. A bug in
        applying one stream's entries is logged; the other streams go on."""
        for key, entries in reply:
            try:
                if key in self._positions:
                    self._positions[key] = entries[-1][0]
                    if key == CONTROL:
                        deliver_control(listener, self._own, self.nodes, entries)
                elif key in self._watched:  # not unwatched while the read was under way
                    self._watched[key] = entries[-1][0].decode()
                    name = self._names[key]
                    self.read += deliver_entries(
                        listener, self._node, name, entries, self.nodes, self.lag
                    )
            except Exception:
                log.exception("cannot apply the entries of %r", key)

    async def close(self) -> None:
        """Disconnect. A blocking XREAD does not end on cancellation (redis-py finishes the
        read to keep the connection usable): closing its connection ends it."""
        await self._redis.connection_pool.disconnect()

    async def aclose(self) -> None:
        """Release the client once the read loop has ended."""
        await self._redis.aclose()
