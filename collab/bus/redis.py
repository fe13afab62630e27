"""The cluster bus on Redis Streams (DESIGN.md section 6).

The keys and entries are described in :mod:`collab.bus.entries`.

One reader task per node reads, with ``XREAD BLOCK``, the control stream, its wake stream
and the streams of its open rooms, from where each was last read (or, for a newly opened
room, from the position read before the room was loaded from the store). Entries written by
the node itself are skipped. Re-applying a Yjs update is a no-op, so an entry read twice is
harmless.
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
from redis.exceptions import RedisError

from collab.bus.base import BusListener, BusUnavailable
from collab.bus.entries import CONTROL, deliver_control, deliver_entries, stream_key

__all__ = ["HEARTBEAT_SECONDS", "NODE_TIMEOUT_SECONDS", "RETENTION_MS", "RedisBus", "stream_key"]

log = logging.getLogger("collab.bus")

RETENTION_MS = 10 * 60 * 1000  # how long a document stream keeps its entries (XADD MINID ~)
HEARTBEAT_SECONDS = 1.0  # each node's heartbeat period on the control stream
NODE_TIMEOUT_SECONDS = 5.0  # a node silent this long is gone: its clients' states are removed
BLOCK_MS = 2000  # longest XREAD BLOCK; the reader also wakes on its wake stream
RETRY_SECONDS = 0.5  # between two reconnection attempts
COUNT = 1000  # entries read per stream per XREAD
_ERRORS = (RedisError, OSError, asyncio.TimeoutError)


class RedisBus:
    """The bus of one node of a cluster, on the Redis server at ``url``.

    Args:
        url: ``redis://host:port/db`` (``rediss://`` for TLS, ``unix://`` for a socket), as
            redis-py's ``Redis.from_url`` reads it.

    Attributes:
        appended, read, errors: entries appended, entries of other nodes read, failures
            (for ``/metrics``).
    """

    remote = True

    def __init__(self, url: str) -> None:
        self.url = url
        self.where = _without_password(url)
        self.node = uuid.uuid4().hex[:12]
        self._node = self.node.encode()
        self.healthy = False
        self.reason = "not connected yet"
        self.appended = 0
        self.read = 0
        self.errors = 0
        self._wake = f"collab:node:{self.node}:wake".encode()
        self._listener: BusListener | None = None
        # Typed Any: redis-py's stubs type replies as unions of every RESP shape.
        self._client: Any = Redis.from_url(url, socket_timeout=5, socket_connect_timeout=2)
        # Its own connection: XREAD BLOCK holds it for up to BLOCK_MS.
        self._reader: Any = Redis.from_url(
            url, socket_timeout=BLOCK_MS / 1000 + 5, socket_connect_timeout=2
        )
        self._watched: dict[bytes, str] = {}  # stream key -> position read up to
        self._names: dict[bytes, str] = {}  # stream key -> document name
        self._positions: dict[bytes, bytes | str] = {CONTROL: "$", self._wake: "$"}
        self.nodes: dict[str, float] = {}  # other nodes -> when last heard (monotonic)
        self._awareness: list[tuple[bytes, dict[bytes, bytes]]] = []
        self._flush: asyncio.Handle | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closing = False

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self, listener: BusListener) -> None:
        """Connect (or keep trying in the background) and start reading and heartbeats."""
        self._listener = listener
        if not await self._connect():
            log.warning(
                "redis at %s unreachable (%s): writes and joins are refused until it answers;"
                " retrying",
                self.where,
                self.reason.removeprefix("redis unreachable: "),
            )
        self._spawn(self._read_loop())
        self._spawn(self._heartbeat_loop())

    async def close(self) -> None:
        """Announce ``bye`` (so other nodes drop this node's awareness states at once), stop
        the tasks and disconnect."""
        self._closing = True
        if self.healthy:
            with contextlib.suppress(*_ERRORS):
                await asyncio.wait_for(self._control(b"bye", b""), 2)
        # A blocking XREAD does not end on cancellation (redis-py finishes the read to keep
        # the connection usable): closing its connection ends it, and the loop sees _closing.
        with contextlib.suppress(*_ERRORS):
            await self._reader.connection_pool.disconnect()
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
        except _ERRORS as exc:
            self.reason = f"redis unreachable: {exc}"[:100]
            return False
        self._positions[CONTROL] = control
        # Not "$": a wake written between two XREADs would be missed for BLOCK_MS.
        self._positions[self._wake] = wake
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
        self.reason = f"redis unreachable: {exc or type(exc).__name__}"[:100]
        log.error("cluster bus down (%s): %s", self.where, exc)
        self._watched.clear()
        self._names.clear()
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
        minid = f"{int(time.time() * 1000) - RETENTION_MS}-0"
        pipe = self._client.pipeline(transaction=False)
        for name, update in updates:
            pipe.xadd(stream_key(name), {b"n": self._node, b"u": update}, minid=minid)
        try:
            await pipe.execute()
        except _ERRORS as exc:
            self._failed(exc)
            raise BusUnavailable(f"update not appended: {self.reason}") from exc
        self.appended += len(updates)

    def publish_awareness(self, name: str, payload: bytes) -> None:
        """Queue an awareness update; those of one event-loop turn go in one pipeline."""
        self._queue_entry(name, {b"n": self._node, b"a": payload})

    def publish_stateless(self, name: str, payload: str) -> None:
        """Queue a Stateless message for the other nodes (pipelined as awareness is)."""
        self._queue_entry(name, {b"n": self._node, b"s": payload.encode()})

    def publish_compacted(self, name: str, removed: int) -> None:
        """Queue the news of a compaction (the bytes it removed) for the other nodes."""
        self._queue_entry(name, {b"n": self._node, b"z": str(removed).encode()})

    async def claim(self, name: str, what: str, seconds: float) -> bool:
        """``SET collab:{<name>}:<what> <node> NX PX``: the first node gets it.

        Raises:
            BusUnavailable: when Redis cannot be reached.
        """
        if not self.healthy:
            raise BusUnavailable(self.reason)
        key = f"collab:{{{name}}}:{what}".encode()
        try:
            got = await self._client.set(key, self._node, nx=True, px=max(1, int(seconds * 1000)))
        except _ERRORS as exc:
            self._failed(exc)
            raise BusUnavailable(self.reason) from exc
        return bool(got)

    def _queue_entry(self, name: str, fields: dict[bytes, bytes]) -> None:
        if not self.healthy:
            return
        self._awareness.append((stream_key(name), fields))
        if self._flush is None:
            self._flush = asyncio.get_running_loop().call_soon(self._send_awareness)

    def _send_awareness(self) -> None:
        self._flush = None
        entries, self._awareness = self._awareness, []
        self._spawn(self._send_entries(entries))

    async def _send_entries(self, entries: list[tuple[bytes, dict[bytes, bytes]]]) -> None:
        minid = f"{int(time.time() * 1000) - RETENTION_MS}-0"
        pipe = self._client.pipeline(transaction=False)
        for key, fields in entries:
            pipe.xadd(key, fields, minid=minid)
        try:
            await pipe.execute()
        except _ERRORS as exc:
            self._failed(exc)

    async def announce(self, kind: str, name: str, to: str = "") -> None:
        """Tell the other nodes of a ``"delete"``, ``"rename"`` (to ``to``) or
        ``"reauthorize"`` of ``name``.

        Raises:
            BusUnavailable: when Redis cannot be reached.
        """
        try:
            await self._control(kind.encode(), name.encode(), to.encode())
        except _ERRORS as exc:
            self._failed(exc)
            raise BusUnavailable(f"{kind} not announced to the other nodes: {self.reason}") from exc

    async def _control(self, kind: bytes, name: bytes, to: bytes = b"") -> None:
        fields = {b"n": self._node, b"k": kind, b"d": name}
        if to:
            fields[b"t"] = to
        await self._client.xadd(CONTROL, fields, maxlen=10000)

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
        except _ERRORS as exc:
            self._failed(exc)
            raise BusUnavailable(self.reason) from exc

    def watch(self, name: str, position: str) -> None:
        """Read ``name``'s stream after ``position``, and ask the other nodes for their
        clients' awareness states there."""
        key = stream_key(name)
        self._watched[key] = position
        self._names[key] = name
        if self.healthy:
            self._queue_entry(name, {b"n": self._node, b"q": b""})
            self._spawn(self._poke())

    def unwatch(self, name: str) -> None:
        """Stop reading ``name``'s stream."""
        key = stream_key(name)
        self._watched.pop(key, None)
        self._names.pop(key, None)

    async def _poke(self) -> None:
        try:
            await self._client.xadd(self._wake, {b"w": b""}, maxlen=10)
        except _ERRORS as exc:
            self._failed(exc)

    async def _read_loop(self) -> None:
        listener = self._listener
        assert listener is not None
        while not self._closing:
            if not self.healthy and not await self._connect():
                await asyncio.sleep(RETRY_SECONDS)
                continue
            streams: dict[bytes, bytes | str] = {**self._positions, **self._watched}
            try:
                reply = await self._reader.xread(streams, count=COUNT, block=BLOCK_MS)
            except _ERRORS as exc:
                self._failed(exc)
                continue
            if self._closing:
                return
            for key, entries in reply or ():
                try:
                    if key in self._positions:
                        self._positions[key] = entries[-1][0]
                        if key == CONTROL:
                            deliver_control(listener, self.node, self.nodes, entries)
                    elif key in self._watched:
                        self._watched[key] = entries[-1][0].decode()
                        name = self._names[key]
                        self.read += deliver_entries(
                            listener, self._node, name, entries, self.nodes
                        )
                except Exception:  # a bug in applying one stream's entries: the rest goes on
                    log.exception("cannot apply the entries of %r", key)

    async def _heartbeat_loop(self) -> None:
        """Beat on the control stream, and declare gone the nodes that stopped beating."""
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            if self.healthy:
                try:
                    await self._control(b"hb", b"")
                except _ERRORS as exc:
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
