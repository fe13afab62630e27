"""The life of a y-websocket session's connection: joining its room, a fresh access decision,
and its end (by either side), with what the hooks and the logs are told.

:class:`ConnectionLife` is a base class of :class:`~collab.sessions.ywebsocket.Connection`,
over :class:`~collab.sessions.messages.Messages`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from collab.auth import Grant, Role
from collab.errors import CloseCode, CollabError, ShuttingDown
from collab.room import Room
from collab.sessions.access import Access
from collab.sessions.messages import Messages
from collab.stores import StoreError

if TYPE_CHECKING:
    from collab.sessions.transport import Transport

__all__ = ["ConnectionLife"]

log = logging.getLogger("collab.websocket")


class ConnectionLife(Messages):
    """The join, access rechecks and end of :class:`~collab.sessions.ywebsocket.Connection`
    (its base class)."""

    __slots__ = (
        "_close",
        "_expiry",
        "_leave",
        "client_close",
        "finished",
        "grant",
        "read_only",
        "room",
    )

    grant: Access | Grant
    room: Room | None
    client_close: int | None  # the code of a close the client started
    finished: bool  # left the room: closed by either side
    _leave: Callable[[], None] | None
    _expiry: asyncio.TimerHandle | None
    _close: tuple[int, str] | None

    if TYPE_CHECKING:
        transport: Transport
        client: str | None
        name: str
        id: int

        def close(self, code: int, reason: str) -> None: ...

        def received(self, message: bytes | str) -> None: ...

    async def open(self) -> None:
        """Join the room, then hand the connection over to its transport (see
        :meth:`~collab.sessions.transport.Transport.detach`) and run ``on_connect``; a
        refusal closes it with the reason."""
        try:
            room, self._leave = await self.hub.join(self.name, self)
        except ShuttingDown as exc:
            self.close(exc.close_code, str(exc))
        except StoreError as exc:
            self.close(exc.close_code, "storage error: document unavailable")
        except CollabError as exc:
            self._reject(exc.close_code, str(exc))
        else:
            self.room = room
            if self.grant.expires_at != float("inf"):
                delay = max(0.0, self.grant.expires_at - time.time())
                self._expiry = asyncio.get_running_loop().call_later(
                    delay, self.close, CloseCode.UNAUTHORIZED, "access token expired"
                )
            self.transport.detach(self)
            if self.hub.hooks.connect is not None:
                self.hub.hooks.connect(self.name, self.info())
            return
        self._finish()

    def ended(self, code: int, reason: str | None = None) -> None:
        """The client closed the connection with ``code``, or it was lost (1006); with a
        ``reason``, the WebSocket layer closed it (a malformed frame, a message over
        --max-message-bytes, no answer to the keepalive ping): logged and counted as ours."""
        if self._close is None and self._parked and self.room is not None:
            self._unpark(self.room)  # sent before the client closed: rebuilt here if need be
        if self._close is None and self._burst and self.room is not None:
            self._guarded(self._apply_burst, self.room)  # sent before the client closed
        if self._close is None:
            if reason is None:
                self.client_close = code
            else:
                self.hub.metrics.closes[code] += 1
                self._close = (code, reason)
                extra = {"room": self.name, "peer": self.id, "code": code, "reason": reason}
                log.warning("closing connection", extra=extra)
        self._finish()

    def _finish(self) -> None:
        """Leave the room (once) and log the end of the connection."""
        if self.finished:
            return
        self.finished = True
        if self._expiry is not None:
            self._expiry.cancel()
        if self._rate_timer is not None:
            self._rate_timer.cancel()
        if self._leave is not None:
            self._leave()
            if self.room is not None and self.hub.hooks.disconnect is not None:
                self.hub.hooks.disconnect(self.name, self.info())
        # A closed connection may outlive its end (its transport): it must not keep its
        # room's document alive after the room unloads.
        self._leave = None
        self.room = None
        self._burst = []
        log.info("connection closed", extra=self.closed_event())

    def info(self) -> dict[str, object]:
        """What the ``on_connect`` / ``on_disconnect`` hooks are told of this peer."""
        return {"peer": self.id, "role": self.grant.role.name.lower(), "client": self.client}

    def recheck(self, access: Access | None, refusal: CollabError | None = None) -> bool:
        """Apply a fresh access decision (``Collab.reauthorize``): none closes the
        connection with the refusal's code (4403 when access was withdrawn), a read role
        makes it read-only, a write role lets it write again.

        Returns:
            Whether the connection was closed.
        """
        if self._close is not None:
            return False
        if access is None:
            code = refusal.close_code if refusal is not None else CloseCode.FORBIDDEN
            self._reject(code, str(refusal) if refusal is not None else "access withdrawn")
            return True
        self.grant = access
        self.read_only = access.role < Role.WRITE
        return False

    def closed_event(self) -> dict[str, object]:
        """Log fields of the end of this connection: who closed it, with which code."""
        if self._close is not None:
            code, reason = self._close
            return {"room": self.name, "peer": self.id, "code": int(code), "reason": reason}
        return {"room": self.name, "peer": self.id, "code": self.client_close, "reason": "client"}
