"""The portable transport: a plain ASGI WebSocket (any ASGI server, Starlette's TestClient).

ASGI's ``send`` and ``receive`` are coroutines, so this path costs what the fast path
(:mod:`collab.wsserver`, ``collab serve``) avoids: one task reading, one writer task, and an
await per frame. Sessions see the same :class:`~collab.sessions.transport.Transport`:
:meth:`AsgiTransport.write` never awaits; it appends to a bounded send queue that the writer
task empties in order, and refuses a frame that would take the queue past its limit (the
session then closes the slow peer with 1013). Reading is one ``receive()`` at a time, each
message delivered and followed by the end of its read; pausing holds the next ``receive()``
back (the server's own buffers, then TCP, push back on the client). A message over
``max_bytes`` (``max_message_bytes``) closes the connection with 4413, as under
``collab serve``; one over the server's own limit (uvicorn: ``--ws-max-size``, 16 MiB by
default) never reaches collab: that server closes it (uvicorn: 1009).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import Any

from collab.errors import CloseCode
from collab.sessions.transport import CLOSED, FULL, SENT, Owner

__all__ = ["AsgiTransport"]

log = logging.getLogger("collab.websocket")


class AsgiTransport:
    """One accepted Starlette ``WebSocket``, driven by :meth:`run` (the endpoint's task).

    Args:
        websocket: the accepted ``starlette.websockets.WebSocket``.
        max_bytes: the largest message delivered; a larger one closes with 4413.
    """

    def __init__(self, websocket: Any, max_bytes: int) -> None:
        self.websocket = websocket
        self.max_bytes = max_bytes
        self._owner: Owner | None = None
        self._queue: deque[bytes] = deque()
        self._queued = 0  # bytes in the queue
        self._wake = asyncio.Event()
        self._reading = asyncio.Event()
        self._reading.set()
        self._close: tuple[int, str] | None = None
        self._ended = False

    # -- Transport ---------------------------------------------------------------------------

    def write(self, payload: bytes, limit: int) -> int:
        """Queue ``payload`` for the writer task (see the module docstring)."""
        if self._close is not None or self._ended:
            return CLOSED
        queued = self._queued
        if queued and queued + len(payload) > limit:
            return FULL
        self._queue.append(payload)
        self._queued = queued + len(payload)
        self._wake.set()
        return SENT

    def close(self, code: int, reason: str) -> None:
        """Send what is queued, then the close frame (the first request wins)."""
        if self._close is None and not self._ended:
            self._close = (code, reason.encode()[:123].decode(errors="ignore"))
            self._wake.set()

    def pause_reading(self) -> None:
        self._reading.clear()

    def resume_reading(self) -> None:
        self._reading.set()

    def detach(self, owner: Owner) -> None:
        self._owner = owner

    # -- the tasks ---------------------------------------------------------------------------

    async def run(self) -> None:
        """Read until the client's disconnect (also after our close frame: the server ends
        the close handshake), while a writer task sends; returns when the connection is over
        (the endpoint's task lives as long as the connection)."""
        writer = asyncio.create_task(self._write_loop())
        try:
            await self._read_loop()
        finally:
            writer.cancel()  # not awaited: this task may be cancelled itself
            self._gone(1006)  # cancelled (the server is going): the session must still end

    async def _read_loop(self) -> None:
        receive = self.websocket.receive
        while True:
            if not self._reading.is_set():
                await self._reading.wait()
            try:
                message = await receive()
            except Exception:  # the server failed the connection
                message = {"type": "websocket.disconnect", "code": 1006}
            if message["type"] == "websocket.disconnect":
                self._gone(int(message.get("code") or 1005))
                return
            if message["type"] != "websocket.receive":
                continue
            owner = self._owner
            if owner is None:  # not detached: the session refused it and is closing
                continue
            data = message.get("bytes")
            if data is not None and len(data) > self.max_bytes:
                reason = f"message of {len(data)} bytes over the limit of {self.max_bytes}"
                self.close(CloseCode.TOO_LARGE, reason)
                owner.ended(CloseCode.TOO_LARGE, reason)
                continue
            owner.received(data if data is not None else message.get("text") or "")
            owner.end_of_read()

    async def _write_loop(self) -> None:
        send = self.websocket.send
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                while self._queue:
                    frame = self._queue.popleft()
                    self._queued -= len(frame)
                    await send({"type": "websocket.send", "bytes": frame})
                if self._close is not None:
                    code, reason = self._close
                    await send({"type": "websocket.close", "code": code, "reason": reason})
                    return
            except Exception:  # the peer is gone (the reader reports it)
                self._gone(1006)
                return

    def _gone(self, code: int) -> None:
        """The connection ended without our close frame: tell the owner once."""
        if self._ended:
            return
        self._ended = True
        self._queue.clear()
        if self._owner is not None and self._close is None:
            self._owner.ended(code)
