"""The writing side of a node's Redis bus: pipelined XADDs to the document streams.

Committed updates are appended by the caller, which waits for Redis's acknowledgement (the
updates of one burst in one round trip). Awareness, Stateless, compaction and awareness-query
entries are queued instead: those of one event-loop turn go in one background pipeline, and
nothing waits for them. The keys and entries are described in :mod:`collab.bus.entries`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from redis.exceptions import RedisError

from collab.bus.entries import CONTROL, stream_key

__all__ = ["REDIS_ERRORS", "RETENTION_MS", "StreamWriter"]

RETENTION_MS = 10 * 60 * 1000  # how long a document stream keeps its entries (XADD MINID ~)
CONTROL_MAXLEN = 10000  # entries kept on the control stream (XADD MAXLEN ~)
REDIS_ERRORS = (RedisError, OSError, asyncio.TimeoutError)
"""What a Redis call raises when Redis cannot be reached or refuses it."""

Spawn = Callable[[Coroutine[Any, Any, Any]], None]


def _minid() -> str:
    """The oldest entry id a document stream keeps: ``RETENTION_MS`` ago."""
    return f"{int(time.time() * 1000) - RETENTION_MS}-0"


class StreamWriter:
    """The XADDs of one node.

    Args:
        client: the node's redis-py asyncio client (not the reader's blocking connection).
        node: the node id, written in every entry's ``n`` field.
        failed: called with the exception when a background append fails (the bus goes down).
        spawn: runs a coroutine as one of the bus's tasks (cancelled when it closes).

    Attributes:
        appended: updates appended (for ``/metrics``).
    """

    def __init__(
        self, client: Any, node: bytes, failed: Callable[[BaseException], None], spawn: Spawn
    ) -> None:
        self._client, self._node, self._failed, self._spawn = client, node, failed, spawn
        self.appended = 0
        self._queued: list[tuple[bytes, dict[bytes, bytes]]] = []
        self._flush: asyncio.Handle | None = None

    async def append(self, updates: Sequence[tuple[str, bytes]]) -> None:
        """XADD each ``(document name, update)`` to its document's stream, in order, in one
        pipelined round trip; returns once Redis acknowledged them all.

        Raises:
            RedisError, OSError, asyncio.TimeoutError (:data:`REDIS_ERRORS`): nothing may be
                taken as appended.
        """
        minid = _minid()
        pipe = self._client.pipeline(transaction=False)
        for name, update in updates:
            pipe.xadd(stream_key(name), {b"n": self._node, b"u": update}, minid=minid)
        await pipe.execute()
        self.appended += len(updates)

    def queue(self, name: str, field: bytes, value: bytes) -> None:
        """Append the entry ``{n: node, <field>: value}`` to ``name``'s stream in the
        background, in one pipeline with the others queued in this event-loop turn."""
        self._queued.append((stream_key(name), {b"n": self._node, field: value}))
        if self._flush is None:
            self._flush = asyncio.get_running_loop().call_soon(self._send_queued)

    def _send_queued(self) -> None:
        self._flush = None
        entries, self._queued = self._queued, []
        self._spawn(self._send(entries))

    async def _send(self, entries: list[tuple[bytes, dict[bytes, bytes]]]) -> None:
        minid = _minid()
        pipe = self._client.pipeline(transaction=False)
        for key, fields in entries:
            pipe.xadd(key, fields, minid=minid)
        try:
            await pipe.execute()
        except REDIS_ERRORS as exc:
            self._failed(exc)

    async def control(self, kind: bytes, name: bytes, to: bytes = b"") -> None:
        """XADD a control event (``k`` kind, ``d`` document, ``t`` a rename's new name) to
        ``collab:control``.

        Raises:
            RedisError, OSError, asyncio.TimeoutError (:data:`REDIS_ERRORS`).
        """
        fields = {b"n": self._node, b"k": kind, b"d": name}
        if to:
            fields[b"t"] = to
        await self._client.xadd(CONTROL, fields, maxlen=CONTROL_MAXLEN)
