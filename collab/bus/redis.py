"""The cluster bus on Redis Streams (README "Running several processes or machines"): one
node's connection, health, claims and heartbeats.

The keys and entries are described in :mod:`collab.bus.entries`; the XADDs are
:mod:`collab.bus.redis_writer`'s, the one ``XREAD BLOCK`` loop's reads
:mod:`collab.bus.redis_reader`'s.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Coroutine, Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from redis.asyncio import Redis
from redis.exceptions import AuthenticationError

from collab.bus.base import BusListener, BusUnavailable
from collab.bus.entries import CONTROL, stream_key
from collab.bus.redis_reader import BLOCK_MS, StreamReader
from collab.bus.redis_writer import REDIS_ERRORS, RETENTION_MS, StreamWriter
from collab.errors import clip_reason
from collab.metrics import Histogram

__all__ = ["HEARTBEAT_SECONDS", "NODE_TIMEOUT_SECONDS", "RETENTION_MS", "RedisBus", "stream_key"]

log = logging.getLogger("collab.bus")

HEARTBEAT_SECONDS = 1.0  # each node's heartbeat period on the control stream
NODE_TIMEOUT_SECONDS = 5.0  # a node silent this long is gone: its clients' states are removed
RETRY_SECONDS = 0.5  # between two reconnection attempts


class RedisBus:
    """The bus of one node of a cluster, on the Redis server at ``url``.

    Args:
        url: ``redis://host:port/db`` (``rediss://`` for TLS, ``unix://`` for a socket), as
            redis-py's ``Redis.from_url`` reads it.

    Attributes:
        errors: failed Redis calls (for ``/metrics``, with :attr:`appended`, :attr:`read`,
            :attr:`lag` and :attr:`watched`).
        nodes: other node ids -> when last heard from (``time.monotonic()``).
    """

    remote = True

    def __init__(self, url: str) -> None:
        self.url = url
        self.where = _without_password(url)
        self.node = uuid.uuid4().hex[:12]
        self.healthy = False
        self.reason = "not connected yet"
        self.errors = 0
        self.nodes: dict[str, float] = {}
        self._wake = f"collab:node:{self.node}:wake".encode()
        self._listener: BusListener | None = None
        # Typed Any: redis-py's stubs type replies as unions of every RESP shape.
        self._client: Any = Redis.from_url(url, socket_timeout=5, socket_connect_timeout=2)
        self._writer = StreamWriter(self._client, self.node.encode(), self._failed, self._spawn)
        self._reader = StreamReader(url, self.node, self._wake, self.nodes)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closing = False

    @property
    def appended(self) -> int:
        """Updates appended by this node."""
        return self._writer.appended

    @property
    def read(self) -> int:
        """Entries of other nodes read by this node."""
        return self._reader.read

    @property
    def lag(self) -> Histogram:
        """The age of other nodes' entries when this node read them."""
        return self._reader.lag

    @property
    def watched(self) -> int:
        """How many document streams this node reads now (its open rooms)."""
        return self._reader.watched

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self, listener: BusListener) -> None:
        """Connect (or keep trying in the background) and start reading and heartbeats."""
        self._listener = listener
        if not await self._connect():
            log.warning(
                "%s (redis at %s): writes and joins are refused until it answers; retrying",
                self.reason,
                self.where,
            )
        self._spawn(self._read_loop())
        self._spawn(self._heartbeat_loop())

    async def close(self) -> None:
        """Announce ``bye`` (so other nodes drop this node's awareness states at once), stop
        the tasks and disconnect."""
        self._closing = True
        if self.healthy:
            with contextlib.suppress(*REDIS_ERRORS):
                await asyncio.wait_for(self._writer.control(b"bye", b""), 2)
        # Ends a blocking XREAD (cancelling does not); the loop then sees _closing.
        with contextlib.suppress(*REDIS_ERRORS):
            await self._reader.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.wait(self._tasks, timeout=BLOCK_MS / 1000 + 1) if self._tasks else None
        await self._client.aclose()
        await self._reader.aclose()

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _connect(self) -> bool:
        try:
            await self._client.ping()
            control = await self._last_id(CONTROL)
            wake = await self._last_id(self._wake)
        except REDIS_ERRORS as exc:
            self.reason = _why(exc)
            return False
        self._reader.start_from(control, wake)
        self.healthy, self.reason = True, ""
        log.info("connected to redis", extra={"node": self.node})
        return True

    def _failed(self, exc: BaseException) -> None:
        """Redis failed: stop reading every document and tell the hub (it closes the rooms,
        which may now miss other nodes' updates)."""
        self.errors += 1
        if not self.healthy or self._closing:
            return
        self.healthy = False
        # Short: it is also the close reason of the rooms' peers (123 bytes at most).
        self.reason = _why(exc)
        log.error("cluster bus down (%s): %s", self.where, exc)
        self._reader.forget()
        if self._listener is not None:
            self._listener.bus_down(self.reason)

    async def _last_id(self, key: bytes) -> str:
        entries = await self._client.xrevrange(key, count=1)
        return entries[0][0].decode() if entries else "0-0"

    # -- writing -----------------------------------------------------------------------------

    async def append(self, updates: Sequence[tuple[str, bytes]]) -> None:
        """XADD each update to its document's stream, pipelined in one round trip.

        Raises:
            BusUnavailable: Redis is down or failed; nothing may be taken as appended.
        """
        if not self.healthy:
            raise BusUnavailable(self.reason)
        try:
            await self._writer.append(updates)
        except REDIS_ERRORS as exc:
            self._failed(exc)
            raise BusUnavailable(f"update not appended: {self.reason}") from exc

    def publish_awareness(self, name: str, payload: bytes) -> None:
        """Queue an awareness update; those of one event-loop turn go in one pipeline."""
        if self.healthy:
            self._writer.queue(name, b"a", payload)

    def publish_stateless(self, name: str, payload: str) -> None:
        """Queue a Stateless message for the other nodes (pipelined as awareness is)."""
        if self.healthy:
            self._writer.queue(name, b"s", payload.encode())

    def publish_compacted(self, name: str, removed: int) -> None:
        """Queue the news of a compaction (the bytes it removed) for the other nodes."""
        if self.healthy:
            self._writer.queue(name, b"z", str(removed).encode())

    async def claim(self, name: str, what: str, seconds: float) -> bool:
        """``SET collab:{<name>}:<what> <node> NX PX``: the first node gets it.

        Raises:
            BusUnavailable: when Redis cannot be reached.
        """
        if not self.healthy:
            raise BusUnavailable(self.reason)
        key = f"collab:{{{name}}}:{what}".encode()
        try:
            got = await self._client.set(
                key, self.node.encode(), nx=True, px=max(1, int(seconds * 1000))
            )
        except REDIS_ERRORS as exc:
            self._failed(exc)
            raise BusUnavailable(self.reason) from exc
        return bool(got)

    async def announce(self, kind: str, name: str, to: str = "") -> None:
        """Tell the other nodes of a ``"delete"``, ``"rename"`` (to ``to``) or
        ``"reauthorize"`` of ``name``.

        Raises:
            BusUnavailable: when Redis cannot be reached.
        """
        try:
            await self._writer.control(kind.encode(), name.encode(), to.encode())
        except REDIS_ERRORS as exc:
            self._failed(exc)
            raise BusUnavailable(f"{kind} not announced to the other nodes: {self.reason}") from exc

    # -- reading -----------------------------------------------------------------------------

    async def position(self, name: str) -> str:
        """The id of the newest entry of ``name``'s stream (``"0-0"`` when it has none).

        Raises:
            BusUnavailable: when Redis cannot be reached.
        """
        if not self.healthy:
            raise BusUnavailable(self.reason)
        try:
            return await self._last_id(stream_key(name))
        except REDIS_ERRORS as exc:
            self._failed(exc)
            raise BusUnavailable(self.reason) from exc

    def watch(self, name: str, position: str) -> None:
        """Read ``name``'s stream after ``position``, and ask the other nodes for their
        clients' awareness states there."""
        self._reader.watch(name, position)
        if self.healthy:
            self._writer.queue(name, b"q", b"")
            self._spawn(self._poke())

    def unwatch(self, name: str) -> None:
        """Stop reading ``name``'s stream."""
        self._reader.unwatch(name)

    async def _poke(self) -> None:
        """Wake the reader's blocking XREAD, so that it reads the newly watched stream."""
        try:
            await self._client.xadd(self._wake, {b"w": b""}, maxlen=10)
        except REDIS_ERRORS as exc:
            self._failed(exc)

    async def _read_loop(self) -> None:
        listener = self._listener
        assert listener is not None
        while not self._closing:
            if not self.healthy and not await self._connect():
                await asyncio.sleep(RETRY_SECONDS)
                continue
            try:
                reply = await self._reader.next()
            except REDIS_ERRORS as exc:
                self._failed(exc)
                continue
            if self._closing:
                return
            self._reader.deliver(listener, reply)

    async def _heartbeat_loop(self) -> None:
        """Beat on the control stream, and declare gone the nodes that stopped beating."""
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            if self.healthy:
                try:
                    await self._writer.control(b"hb", b"")
                except REDIS_ERRORS as exc:
                    self._failed(exc)
            deadline = time.monotonic() - NODE_TIMEOUT_SECONDS
            for node, seen in list(self.nodes.items()):
                if seen < deadline:
                    del self.nodes[node]
                    log.warning("node %s stopped answering", node)
                    if self._listener is not None:
                        try:
                            self._listener.node_gone(node)
                        except Exception:
                            log.exception("cannot remove the states of node %s", node)


def _without_password(url: str) -> str:
    """``url`` for logs: its password (``redis://:secret@host``) left out."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = f"{parts.username}:***@" if parts.username else ":***@"
    return urlunsplit(parts._replace(netloc=user + parts.netloc.rpartition("@")[2]))


def _why(exc: BaseException) -> str:
    """Why Redis failed, in at most 100 bytes cut at a word (it is also the close reason of
    the rooms' peers, 123 bytes at most): a refused password as such (retrying cannot help
    until the ``--redis`` URL is fixed), anything else as "redis unreachable: ..."."""
    text = str(exc) or type(exc).__name__
    if isinstance(exc, AuthenticationError):
        return clip_reason(f"redis refused the credentials (fix the --redis URL): {text}", 100)
    return clip_reason(f"redis unreachable: {text}", 100)
