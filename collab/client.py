"""A small y-websocket client on pycrdt, for scripts: connect, wait for sync, edit, close.

::

    import asyncio
    from pycrdt import Text
    from collab.client import Client

    async def main() -> None:
        async with Client("http://127.0.0.1:8000", "team/notes") as client:
            text = client.doc.get("text", type=Text)  # the document as the server has it
            text += "hello from Python"               # sent to the server at once
            await client.flush()                      # ... and now committed there

    asyncio.run(main())

The client speaks the y-websocket protocol (y-protocols sync step 1 and 2, update; README
"Connecting a client") over ``/sync/{name}``: on connecting it sends its sync step 1 and
answers the server's, and ``connect`` returns once the server's sync step 2 is applied. Every
local transaction on :attr:`Client.doc` is sent as one update message, in order; updates from
the server (other editors) are applied as they arrive. Awareness is not sent: a script is not
shown in the editors' lists of who is here.

:meth:`Client.flush` returns once the server has committed everything sent so far: it sends a
sync step 1, which the server answers only when nothing the connection sent waits for its
commit (collab commits before it relays or answers).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

import websockets
from pycrdt import Doc

from collab import protocol
from collab.errors import CollabError

__all__ = ["Client", "ClientClosed", "sync_url"]


class ClientClosed(CollabError):
    """The connection ended (or never opened) before the client got what it waited for.

    Attributes:
        close_code: the WebSocket close code the server sent (README "Close codes"); 1006
            (abnormal closure) when there was no close frame or no connection at all.
        reason: the server's close reason, or the permission-denied reason of a y-protocols
            auth message.
    """

    code = "client_closed"

    def __init__(self, message: str, close_code: int = 1006, reason: str = "") -> None:
        super().__init__(message)
        self.close_code = close_code  # type: ignore[misc]
        self.reason = reason


def sync_url(server: str, name: str, token: str | None = None) -> str:
    """The WebSocket URL of document ``name`` on ``server``.

    Args:
        server: the server's base URL, ``http(s)://`` or ``ws(s)://`` (``http://127.0.0.1:8000``).
        name: the document name; each ``/``-separated segment is percent-encoded on its own.
        token: an access token (sent as the ``token`` query parameter), when auth is on.

    Raises:
        ValueError: for a URL scheme other than http, https, ws or wss.
    """
    parts = urlsplit(server)
    schemes = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}
    if parts.scheme not in schemes:
        raise ValueError(f"server URL must start with http://, https://, ws:// or wss://: {server}")
    path = parts.path.rstrip("/")
    if not path.endswith("/sync"):
        path += "/sync"
    path += "/" + "/".join(quote(segment, safe="") for segment in name.split("/"))
    query = urlencode({"token": token}) if token else ""
    return urlunsplit((schemes[parts.scheme], parts.netloc, path, query, ""))


class Client:
    """One document of a collab server, as a pycrdt :class:`~pycrdt.Doc` kept in sync.

    Args:
        server: the server's base URL (see :func:`sync_url`).
        name: the document name.
        token: an access token when the server has auth on (``write`` to edit).
        doc: the document to sync (a new empty one by default); what it already holds is sent
            in the client's sync step 2.
        timeout: seconds to wait for the connection and sync in :meth:`connect`.
    """

    def __init__(
        self,
        server: str,
        name: str,
        *,
        token: str | None = None,
        doc: Doc[Any] | None = None,
        timeout: float = 20.0,
    ) -> None:
        self.url = sync_url(server, name, token)
        # what errors and logs show: the URL without the token (a credential)
        self.shown_url = self.url.split("?token=")[0]
        self.name = name
        self.doc: Doc[Any] = doc if doc is not None else Doc()
        self.timeout = timeout
        self._ws: Any = None
        self._outbox: asyncio.Queue[bytes] = asyncio.Queue()
        self._unsent = 0  # frames queued or being sent
        self._tasks: list[asyncio.Task[None]] = []
        self._changed = asyncio.Event()
        self._answers = 0  # sync step 2 messages received
        self._remote = False  # applying the server's update: not to be sent back
        self._denied = ""
        self._closed: ClientClosed | None = None
        self._subscription = self.doc.observe(self._on_transaction)

    @property
    def synced(self) -> bool:
        """Whether the server's sync step 2 has been applied."""
        return self._answers > 0

    async def connect(self) -> Client:
        """Open the connection and wait until the document is in sync with the server's.

        Raises:
            ClientClosed: the server refused or closed the connection (bad name, token,
                origin...), or it could not be reached.
            TimeoutError: no sync within ``timeout`` seconds.
        """
        try:
            self._ws = await asyncio.wait_for(
                websockets.connect(self.url, max_size=None), self.timeout
            )
        except (OSError, websockets.InvalidHandshake) as exc:
            raise ClientClosed(f"cannot connect to {self.shown_url}: {exc}") from exc
        self._tasks = [asyncio.create_task(self._read()), asyncio.create_task(self._write())]
        self._send(protocol.SyncStep1(self.doc.get_state()))
        await self.wait_until(lambda: self.synced, "the server's sync step 2")
        return self

    async def flush(self, timeout: float | None = None) -> None:
        """Wait until the server has committed every change made to :attr:`doc` so far.

        Raises:
            ClientClosed: the connection ended first (a refused write says why).
            TimeoutError: not within ``timeout`` seconds (default: the client's).
        """
        await self.wait_until(lambda: self._unsent == 0, "the local changes to be sent", timeout)
        before = self._answers
        self._send(protocol.SyncStep1(self.doc.get_state()))
        await self.wait_until(lambda: self._answers > before, "the server's answer", timeout)

    async def close(self) -> None:
        """Close the connection (sending what is queued first); the document stays usable."""
        with contextlib.suppress(ClientClosed, TimeoutError):
            if self._closed is None and self._ws is not None:
                await self.wait_until(lambda: self._unsent == 0, "the local changes to be sent")
        self.doc.unobserve(self._subscription)
        if self._ws is not None:
            await self._ws.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def __aenter__(self) -> Client:
        try:
            return await self.connect()
        except BaseException:
            await self.close()
            raise

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ---- internals ------------------------------------------------------------------------

    def _on_transaction(self, event: Any) -> None:
        if not self._remote and event.update != b"\x00\x00":
            self._send(protocol.Update(event.update))

    def _send(self, message: protocol.Message) -> None:
        self._unsent += 1
        self._outbox.put_nowait(protocol.encode(message))

    async def _write(self) -> None:
        while True:
            frame = await self._outbox.get()
            try:
                await self._ws.send(frame)
            except websockets.ConnectionClosed:
                return
            finally:
                self._unsent -= 1
                self._changed.set()

    async def _read(self) -> None:
        try:
            async for frame in self._ws:
                if isinstance(frame, bytes):
                    self._receive(protocol.decode(frame))
                self._changed.set()
        except websockets.ConnectionClosed:
            pass
        finally:
            code = self._ws.close_code if self._ws.close_code is not None else 1006
            reason = self._denied or self._ws.close_reason or ""
            said = f": {reason}" if reason else ""
            self._closed = ClientClosed(
                f"connection to {self.shown_url} closed with {code}{said}", code, reason
            )
            self._changed.set()

    def _receive(self, message: protocol.Message) -> None:
        if isinstance(message, protocol.SyncStep1):
            self._send(protocol.SyncStep2(self.doc.get_update(message.state_vector)))
        elif isinstance(message, protocol.SyncStep2 | protocol.Update):
            self._remote = True
            try:
                self.doc.apply_update(message.update)
            finally:
                self._remote = False
            if isinstance(message, protocol.SyncStep2):
                self._answers += 1
        elif isinstance(message, protocol.Auth):
            self._denied = message.reason

    async def wait_until(
        self, done: Callable[[], object], what: str = "a condition", timeout: float | None = None
    ) -> None:
        """Wait until ``done()`` is true, checked again after every frame sent or received
        (e.g. ``lambda: "ok" in str(text)`` to wait for another editor's change).

        Raises:
            ClientClosed: the connection ended first.
            TimeoutError: not within ``timeout`` seconds (default: the client's), naming ``what``.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (self.timeout if timeout is None else timeout)
        while not done():
            if self._closed is not None:
                raise self._closed
            left = deadline - loop.time()
            if left <= 0:
                raise TimeoutError(f"timed out waiting for {what} from {self.shown_url}")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), left)
