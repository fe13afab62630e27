"""A minimal pycrdt y-websocket client for tests: speaks sync step 1/2, update and awareness."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import websockets
from pycrdt import Doc, Text

from collab import awareness_codec, protocol


async def eventually(
    check: Callable[[], Any] | Callable[[], Awaitable[Any]],
    what: str,
    timeout: float = 60.0,
) -> Any:
    """Poll ``check`` (sync or async) until it returns something truthy; return that.

    For state only a poll can read (the HTTP API, a log); a client's own frames are waited
    for with :meth:`PyClient.wait_for`.
    """
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)  # polling interval of a condition, not a wait for sync


class PyClient:
    """A pycrdt ``Doc`` synced through one WebSocket to ``{ws_url}/{room}``.

    Local changes are sent as ``update`` messages; received sync step 2 and updates are
    applied. ``raw`` lets tests send arbitrary frames.
    """

    def __init__(self, ws_url: str, room: str, doc: Doc[Any] | None = None) -> None:
        self.url = f"{ws_url}/{room}"
        self.doc: Doc[Any] = doc or Doc()
        self.ws: Any = None
        self.received: list[protocol.Message] = []
        self.synced = asyncio.Event()
        self.changed = asyncio.Event()
        self.close_code: int | None = None
        self.close_reason = ""
        self._task: asyncio.Task[None] | None = None
        self._sending: set[asyncio.Task[None]] = set()  # sends of local changes, in order
        self._remote = False
        self.doc.observe(self._on_change)

    def _on_change(self, event: Any) -> None:
        if not self._remote and self.ws is not None:
            frame = protocol.encode(protocol.Update(event.update))
            task = asyncio.get_running_loop().create_task(self._send(frame))
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)

    async def _send(self, frame: bytes) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            await self.ws.send(frame)

    async def connect(self, handshake: bool = True) -> PyClient:
        """Open the WebSocket; with ``handshake``, send sync step 1 and wait for step 2."""
        self.ws = await websockets.connect(self.url, max_size=None)
        self._task = asyncio.create_task(self._read())
        if handshake:
            await self.raw(protocol.encode(protocol.SyncStep1(self.doc.get_state())))
            await asyncio.wait_for(self.synced.wait(), 20)
        return self

    async def raw(self, frame: bytes | str) -> None:
        """Send one frame as is."""
        await self.ws.send(frame)

    async def _read(self) -> None:
        try:
            async for frame in self.ws:
                if isinstance(frame, str):
                    continue
                message = protocol.decode(frame)
                self.received.append(message)
                if isinstance(message, protocol.SyncStep1):
                    update = self.doc.get_update(message.state_vector)
                    await self._send(protocol.encode(protocol.SyncStep2(update)))
                elif isinstance(message, protocol.SyncStep2 | protocol.Update):
                    self._remote = True
                    try:
                        self.doc.apply_update(message.update)
                    finally:
                        self._remote = False
                    if isinstance(message, protocol.SyncStep2):
                        self.synced.set()
                self.changed.set()
        except websockets.ConnectionClosed:
            pass
        finally:
            if self.ws.close_code is not None:
                self.close_code = self.ws.close_code
                self.close_reason = self.ws.close_reason or ""
            self.changed.set()

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 20.0) -> None:
        """Wait until ``predicate()`` holds, re-checking on every received frame."""
        deadline = time.monotonic() + timeout
        while not predicate():
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("condition not met in time")
            self.changed.clear()
            if predicate():
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), min(left, 0.5))

    async def barrier(self, timeout: float = 60.0) -> None:
        """Return once the server has applied and committed everything this client sent.

        The server handles one connection's frames in order and answers a sync step 1 only
        when nothing of the room waits for a commit, so the extra sync step 2 marks the point.
        """
        while self._sending:  # the local changes' frames go out before the sync step 1
            await asyncio.gather(*self._sending)
        before = sum(isinstance(m, protocol.SyncStep2) for m in self.received)
        await self.raw(protocol.encode(protocol.SyncStep1(self.doc.get_state())))
        await self.wait_for(
            lambda: sum(isinstance(m, protocol.SyncStep2) for m in self.received) > before,
            timeout,
        )

    async def wait_closed(self, timeout: float = 20.0) -> int:
        """Wait until the server closes the connection; returns the close code."""
        assert self._task is not None
        await asyncio.wait_for(asyncio.shield(self._task), timeout)
        assert self.close_code is not None
        return self.close_code

    def text(self, name: str = "text") -> Text:
        return self.doc.get(name, type=Text)

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)

    async def __aenter__(self) -> PyClient:
        return await self.connect()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


class TraceClient(PyClient):
    """A PyClient that queues its local updates so the replay can send them with flow control."""

    def __init__(self, ws_url: str, room: str) -> None:
        self.outbox: list[bytes] = []
        super().__init__(ws_url, room)

    def _on_change(self, event: Any) -> None:
        if not self._remote and self.ws is not None:
            self.outbox.append(protocol.encode(protocol.Update(event.update)))

    def apply_trace_transaction(self, patches: list[list[Any]]) -> None:
        """Apply one editing-trace transaction (``[position, deleted, inserted]`` patches, in
        code points; shared/data/README.md) to the Y.Text ``text`` as one transaction."""
        text = self.text()
        with self.doc.transaction():
            for position, deleted, inserted in patches:
                if deleted:
                    del text[position : position + deleted]
                if inserted:
                    text.insert(position, inserted)

    async def flush(self) -> None:
        frames, self.outbox = self.outbox, []
        for frame in frames:
            await self.ws.send(frame)
        await asyncio.sleep(0)  # let the receiving client read


def awareness_frame(client_id: int, clock: int, state: Any) -> bytes:
    """An awareness message announcing one client's ``state`` (``None`` removes it)."""
    payload = awareness_codec.encode_awareness(
        [awareness_codec.AwarenessEntry(client_id, clock, state)]
    )
    return protocol.encode(protocol.Awareness(payload))


def awareness_view(messages: Iterable[protocol.Message]) -> dict[int, Any]:
    """The awareness states known after receiving ``messages`` in order (removals applied)."""
    states: dict[int, Any] = {}
    for message in messages:
        if isinstance(message, protocol.Awareness):
            for entry in awareness_codec.decode_awareness(message.payload):
                if entry.state is None:
                    states.pop(entry.client_id, None)
                else:
                    states[entry.client_id] = entry.state
    return states


def removed_clients(messages: Iterable[protocol.Message]) -> set[int]:
    """Client ids whose removal (a ``null`` state) arrived in ``messages``."""
    return {
        entry.client_id
        for message in messages
        if isinstance(message, protocol.Awareness)
        for entry in awareness_codec.decode_awareness(message.payload)
        if entry.state is None
    }
