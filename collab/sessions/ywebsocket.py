"""The y-websocket session: one WebSocket peer of one room (y-protocols over ``/sync/{name}``).

One connection is one :class:`Connection`: it takes each binary frame as its transport
delivers it and drives the room through the hub (the update messages of one read applied,
stored and relayed as one merged update, through :meth:`Hub.write_now`), and sends
synchronously into the transport's bounded send queue, so a slow peer never stalls the room;
when its queue passes ``send_queue_bytes`` it is closed with 1013. The transport is either
of :mod:`collab.sessions.transport`'s implementations; the session never knows which.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Callable

from collab import hocuspocus
from collab.auth import Grant, Role
from collab.errors import CloseCode, CollabError, ShuttingDown
from collab.hub import Hub
from collab.limits import TokenBucket
from collab.protocol import ProtocolError
from collab.room import AwarenessTooLarge, Room
from collab.sessions.access import Access
from collab.sessions.flow import MIN_RATE_PAUSE
from collab.sessions.lifecycle import ConnectionLife
from collab.sessions.messages import BURST_BYTES, BURST_UPDATES, LARGE_SYNC_BYTES
from collab.sessions.transport import FULL, SENT, Transport
from collab.sessions.wrong_protocol import SYNC_WRONG_ENDPOINT as WRONG_ENDPOINT
from collab.sessions.wrong_protocol import log_wrong_protocol
from collab.settings import Settings
from collab.updates import InvalidUpdate

__all__ = [
    "BURST_BYTES",
    "BURST_UPDATES",
    "LARGE_SYNC_BYTES",
    "WRONG_ENDPOINT",
    "CloseCode",
    "Connection",
    "log_wrong_protocol",
]

log = logging.getLogger("collab.websocket")


_peer_ids = itertools.count(1)


class Connection(ConnectionLife):
    """One WebSocket peer: what it sends, what it receives, and how it ends.

    Frames are written at once through the transport; the bytes the socket has not taken
    yet wait in its send queue: when it passes ``send_queue_bytes`` the peer is dropped
    (1013), so a slow peer never stalls the room. Once :meth:`open` joined the room, the
    transport calls the connection for every message and at its end.

    Args:
        transport: the connection's socket (see :class:`~collab.sessions.transport.Transport`).
        hub: the hub owning the rooms.
        name: the validated document name.
        grant: what the peer may do (an ``Access``, or a token's ``Grant``): its role and
            when that ends.
        settings: limits (send queue, rate).
        source: the Starlette ``WebSocket`` it came from, kept to check its access again
            (``Collab.reauthorize``); ``client``: its address, for the hooks.
    """

    __slots__ = ("client", "hub", "id", "name", "queue_limit", "source", "syncs", "transport")

    def __init__(
        self,
        transport: Transport,
        hub: Hub,
        name: str,
        grant: Access | Grant,
        settings: Settings,
        source: object = None,
        client: str | None = None,
    ) -> None:
        self.transport = transport
        self.source = source
        self.client = client
        self.hub = hub
        self.name = name
        self.grant = grant
        self.read_only = grant.role < Role.WRITE
        self.id = next(_peer_ids)
        self.queue_limit = settings.send_queue_bytes
        self.bucket = TokenBucket(settings.max_messages_per_second, settings.message_burst)
        self.rate_close_seconds = settings.rate_limit_close_seconds
        self._holds = 0  # reasons reading is paused: hub congestion, the rate limit, a rebuild
        self._parked = None
        self._rate_timer: asyncio.TimerHandle | None = None
        self._throttle_window: tuple[float, float] | None = None  # (start, seconds held back)
        per_minute = settings.full_syncs_per_minute
        self.syncs = TokenBucket(per_minute / 60, max(1, per_minute // 6))
        self.room: Room | None = None
        self._leave: Callable[[], None] | None = None
        self._expiry: asyncio.TimerHandle | None = None
        self._close: tuple[int, str] | None = None
        self.client_close: int | None = None  # the code of a close the client started
        self.finished = False  # left the room: closed by either side
        self._burst: list[bytes] = []  # update messages of the current read, not applied yet
        self._burst_bytes = 0

    # -- Peer --------------------------------------------------------------------------------

    def send(self, frame: bytes) -> None:
        """Send ``frame`` now; a send queue over its limit closes the peer with 1013."""
        if self._close is not None:
            return
        outcome = self.transport.write(frame, self.queue_limit)
        if outcome == SENT:
            self.hub.metrics.sent(frame)
        elif outcome == FULL:
            self._reject(CloseCode.TRY_AGAIN_LATER, "peer too slow: send queue full")

    def close(self, code: int, reason: str) -> None:
        """Send the close frame after the frames already sent (the first request wins), and
        leave the room (at the end of the current callback: a broadcast may be running).

        The client gets :data:`~collab.wsserver.CLOSE_TIMEOUT` seconds to take what was sent
        and answer; one that stopped reading never sees the close frame.
        """
        if self._close is None:
            self.hub.metrics.closes[code] += 1
            self._close = (code, reason)
            self.transport.close(code, reason)
            asyncio.get_running_loop().call_soon(self._finish)

    def received(self, message: bytes | str) -> None:
        """One message from the client: binary frames are taken, text frames refused (1003)."""
        if self._close is not None or self.room is None:
            return
        if isinstance(message, str):
            self.end_of_read()  # the updates before it are taken
            if self._close is None:
                self._reject(CloseCode.UNSUPPORTED_DATA, "text frames are not supported")
            return
        self._on_frame(self.room, message)

    def end_of_read(self) -> None:
        """The frames of one read were all delivered: apply the update messages held back,
        then pause reading while the hub has more queued for commit than it wants, or while
        the connection is over its message rate (backpressure: the client's writes wait in
        TCP, nothing is lost)."""
        if self._close is not None or self.room is None:
            return
        if self._burst:
            self._guarded(self._apply_burst, self.room)
        if self._close is None and self.hub.congested:
            self._hold()
            self.hub.after_commit(self._release)
        if self._close is None and self._rate_timer is None:
            wait = self.bucket.debt_seconds()
            if wait > 0:
                self._throttle(max(wait, MIN_RATE_PAUSE))

    def _on_frame(self, room: Room, frame: bytes) -> None:
        """Take one binary frame as the socket delivers it. Its token is spent even when the
        bucket is empty; then reading stops (the rest of the read waits in the transport's
        backlog, what the client sends next in TCP) until the bucket is out of debt."""
        if self._close is not None:
            return
        if self._parked is not None or (room.asleep and self._needs_rebuild(room, frame)):
            self._park(room, frame)  # handled once the room's document is rebuilt
            return
        self.hub.metrics.received(frame)
        self.bucket.spend()
        self._guarded(self._handle, room, frame)
        if self._rate_timer is None and self._close is None:
            wait = self.bucket.debt_seconds()
            if wait > 0:  # the transport delivers no more frames of this read until resumed
                self._throttle(max(wait, MIN_RATE_PAUSE))

    def _guarded(self, step: Callable[..., None], room: Room, *frame: bytes) -> None:
        """Run ``step(room, *frame)``; a refusal closes the connection with its code and
        reason, and so does a bug (1011), which must not reach uvicorn's data_received."""
        try:
            step(room, *frame)
        except ShuttingDown:
            pass  # the hub already asked this peer to close
        except ProtocolError as exc:
            if frame and hocuspocus.is_auth(frame[0]):  # a provider given a /sync URL
                log_wrong_protocol(self.client, WRONG_ENDPOINT)
                self.close(CloseCode.PROTOCOL_ERROR, WRONG_ENDPOINT)
            else:
                self._reject(exc.close_code, _reason(exc))
        except CollabError as exc:  # DocumentCorrupted: the hub closed the others with 1011
            self._reject(exc.close_code, _reason(exc))
        except Exception:  # a bug
            log.exception("cannot handle a frame", extra={"room": self.name, "peer": self.id})
            self.close(CloseCode.INTERNAL_ERROR, "internal error")

    def _reject(self, code: int, reason: str) -> None:
        extra = {"room": self.name, "peer": self.id, "code": int(code), "reason": reason}
        log.warning("closing connection", extra=extra)
        self.close(code, reason)


def _reason(exc: CollabError) -> str:
    """The close reason of ``exc``: what kind of input was refused, then why."""
    if isinstance(exc, AwarenessTooLarge):
        return str(exc)
    if isinstance(exc, ProtocolError):
        return f"malformed message: {exc}"
    if isinstance(exc, InvalidUpdate):
        return f"invalid update: {exc}"
    return str(exc)
