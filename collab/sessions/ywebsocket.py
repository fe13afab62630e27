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
import time
from collections.abc import Callable

from collab import hocuspocus, protocol
from collab.auth import Grant, Role
from collab.errors import CloseCode, CollabError, Refused, ShuttingDown
from collab.hub import Hub
from collab.limits import TokenBucket
from collab.protocol import ProtocolError
from collab.room import AwarenessTooLarge, Room
from collab.sessions.access import Access
from collab.sessions.transport import FULL, SENT, Transport
from collab.settings import Settings
from collab.stores import StoreError
from collab.updates import InvalidUpdate, carries_new_structs, merge_burst

__all__ = [
    "BURST_BYTES",
    "BURST_UPDATES",
    "WRONG_ENDPOINT",
    "CloseCode",
    "Connection",
    "log_wrong_protocol",
]

log = logging.getLogger("collab.websocket")


_peer_ids = itertools.count(1)

WRONG_ENDPOINT = "this is the y-websocket endpoint: Hocuspocus providers connect to /hocuspocus"
"""The close reason for a Hocuspocus provider on ``/sync/{name}``."""

_told: dict[tuple[str | None, str], None] = {}
"""Clients already told they use the wrong endpoint (bounded, oldest forgotten first)."""


def log_wrong_protocol(who: str | None, reason: str) -> None:
    """Log a client of the other protocol (``who``: its address) once at info, its retries
    at debug: a provider retries forever, and each retry is no news."""
    key = (who, reason)
    if key in _told:
        log.debug("client of the other protocol again", extra={"client": who, "reason": reason})
        return
    _told[key] = None
    if len(_told) > 1024:
        del _told[next(iter(_told))]
    log.info("client of the other protocol", extra={"client": who, "reason": reason})


BURST_UPDATES = 64
"""Update messages of one read that are applied, stored and relayed as one merged update, at
most (see :func:`collab.updates.merge_burst`: merging costs more per update past a hundred)."""

BURST_BYTES = 64 * 1024
"""Bytes of update messages merged into one update, at most."""


MIN_RATE_PAUSE = 0.02
"""Seconds a connection over ``--max-messages-per-second`` stops being read, at least: its
bucket refills meanwhile, so reading resumes with a few messages' worth of tokens instead of
pausing and resuming for every message."""

THROTTLED_SHARE = 0.9
"""Share of ``--rate-limit-close-seconds`` a connection must spend held back by the rate limit
to be closed: one that sends 10 times the rate or more, all that time."""

LARGE_SYNC_BYTES = 64 * 1024
"""Sync step 2 replies from this size on count against ``full_syncs_per_minute``: a client
asking again and again for a large document (a read token suffices) costs the server its
bandwidth and other rooms their latency; smaller replies cost less than the request. A reply
to a client that holds every struct of the document is not counted: it is the document's
delete set (every Yjs diff repeats it), which a writer pacing itself with sync step 1 asks for
after each update."""


class Connection:
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

    __slots__ = (
        "_burst",
        "_burst_bytes",
        "_close",
        "_expiry",
        "_holds",
        "_leave",
        "_rate_timer",
        "_throttle_window",
        "bucket",
        "client",
        "client_close",
        "finished",
        "grant",
        "hub",
        "id",
        "name",
        "queue_limit",
        "rate_close_seconds",
        "read_only",
        "room",
        "source",
        "syncs",
        "transport",
    )

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
        self._holds = 0  # reasons reading is paused: hub congestion, the rate limit
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

    # -- lifecycle ---------------------------------------------------------------------------

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

    def _hold(self) -> None:
        """Pause reading for one more reason."""
        self._holds += 1
        if self._holds == 1:
            self.transport.pause_reading()

    def _release(self) -> None:
        """One reason to pause reading is gone: read again once none is left."""
        self._holds -= 1
        if self._holds == 0 and self._close is None and not self.finished:
            self.transport.resume_reading()

    def _throttle(self, wait: float) -> None:
        """Stop reading for ``wait`` seconds: the connection sent more than its bucket held.
        One held back for :data:`THROTTLED_SHARE` of ``rate_close_seconds`` is closed with
        1013 (retryable: a y-websocket client reconnects and sends what it still holds)."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        start, held = self._throttle_window or (now, 0.0)
        if self.rate_close_seconds > 0 and now - start >= self.rate_close_seconds:
            if held >= THROTTLED_SHARE * (now - start):
                self._reject(CloseCode.TRY_AGAIN_LATER, "over the message rate for too long")
                return
            start, held = now, 0.0  # a new window
        self._throttle_window = (start, held + wait)
        self.hub.metrics.rate_pauses += 1
        self._hold()
        self._rate_timer = loop.call_later(wait, self._refilled)

    def _refilled(self) -> None:
        """The bucket refilled: read again, unless frames read meanwhile (a backlog the turn
        budget left) put it back in debt."""
        self._rate_timer = None
        wait = self.bucket.debt_seconds()
        if wait > 0 and self._close is None and not self.finished:
            start, held = self._throttle_window or (asyncio.get_running_loop().time(), 0.0)
            self._throttle_window = (start, held + wait)
            self._rate_timer = asyncio.get_running_loop().call_later(wait, self._refilled)
            return
        self._release()

    def _on_frame(self, room: Room, frame: bytes) -> None:
        """Take one binary frame as the socket delivers it. Its token is spent even when the
        bucket is empty; then reading stops (the rest of the read waits in the transport's
        backlog, what the client sends next in TCP) until the bucket is out of debt."""
        if self._close is not None:
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

    def _handle(self, room: Room, frame: bytes) -> None:
        """Handle one binary frame. Update messages are held back until the end of the read
        (or :data:`BURST_UPDATES`, :data:`BURST_BYTES`, or another message), then applied,
        committed and relayed as one merged update: a client sending fast writes many per
        read. Every other message is handled after the updates before it."""
        try:
            message = protocol.decode(frame)
        except ProtocolError:
            self._apply_burst(room)  # the updates before a malformed frame are taken
            raise
        if type(message) is protocol.Update and not self.read_only:
            self._burst.append(message.update)
            self._burst_bytes += len(message.update)
            if len(self._burst) >= BURST_UPDATES or self._burst_bytes >= BURST_BYTES:
                self._apply_burst(room)
            return
        self._apply_burst(room)
        if isinstance(message, protocol.SyncStep2 | protocol.Update):
            self._write(room, message.update)
        elif isinstance(message, protocol.SyncStep1):
            state_vector = message.state_vector
            # Computed now, it validates the state vector (the close must come from here); it
            # is sent as is unless the room holds uncommitted updates: then the reply is made
            # once they are committed, so that it never shows an uncommitted update.
            reply = room.sync_frames(state_vector)
            if (
                sum(map(len, reply)) >= LARGE_SYNC_BYTES
                and room.has_structs_beyond(state_vector)  # else the delete set only
                and not self.syncs.take()
            ):
                raise Refused(
                    CloseCode.RATE_LIMITED,
                    "too many large sync step 2 replies (see --full-syncs-per-minute)",
                )
            if self.hub.uncommitted(room):
                self.hub.when_committed(
                    room, lambda: self._send_all(room.sync_frames(state_vector))
                )
            else:
                self._send_all(reply)
        elif isinstance(message, protocol.Awareness):
            room.apply_awareness(self, message.payload)
        elif isinstance(message, protocol.QueryAwareness):
            frame = room.awareness_frame() or protocol.encode(protocol.Awareness(b"\x00"))
            self.send(frame)
        # Auth messages from a client carry nothing the server acts on (y-protocols auth.js).

    def _send_all(self, frames: list[bytes]) -> None:
        """Send ``frames`` in order (a sync reply in parts: see ``Room.sync_frames``)."""
        for frame in frames:
            self.send(frame)

    def _apply_burst(self, room: Room) -> None:
        """Apply the update messages held back: merged into one update when there are several,
        unless one of them fails a check made before applying (malformed, v2, over the size
        limit, a tombstone to check): then one by one, so that those before it are taken and
        the refusal names the right cause. pycrdt's integration is checked on the merge: when it
        fails half-way, the room is discarded and the hub stores the updates before the
        failing one (:meth:`Hub.salvage`)."""
        updates = self._burst
        if not updates:
            return
        self._burst, self._burst_bytes = [], 0
        if len(updates) > 1:
            try:
                merged = merge_burst(updates)
            except InvalidUpdate:
                pass  # one of them is malformed
            else:
                if room.tombstone is None and self.hub.fits(room, len(merged)):
                    self._write(room, merged, updates)  # salvaged one by one if it breaks
                    return
        for update in updates:
            self._write(room, update)
            if self._close is not None:
                return

    def _write(self, room: Room, update: bytes, parts: list[bytes] | None = None) -> None:
        """Write a sync step 2 or update payload (merging ``parts``, when several) through
        the hub's one write path (:meth:`Hub.write_now`).

        Raises:
            Refused: a read-only peer inserting content.
            CollabError: see :meth:`Hub.write_now` (too large, invalid, corrupted).
        """
        if self.read_only:
            if not room.closed:
                self._refuse_write(room, update)
            return
        self.hub.write_now(room, update, self, parts)

    def _refuse_write(self, room: Room, update: bytes) -> None:
        """A read-only peer's sync step 2 or update is never applied.

        Every Yjs client answers the server's sync step 1 with a sync step 2 that repeats
        its whole delete set, so a write without new structs is dropped silently; one that
        inserts content gets the y-protocols auth message "permission denied" and 4403.
        """
        if carries_new_structs(room.doc, update):
            self.send(protocol.encode(protocol.Auth("permission denied: read-only access")))
            raise Refused(CloseCode.FORBIDDEN, "read-only access: writes are refused")

    def _reject(self, code: int, reason: str) -> None:
        extra = {"room": self.name, "peer": self.id, "code": int(code), "reason": reason}
        log.warning("closing connection", extra=extra)
        self.close(code, reason)

    def closed_event(self) -> dict[str, object]:
        """Log fields of the end of this connection: who closed it, with which code."""
        if self._close is not None:
            code, reason = self._close
            return {"room": self.name, "peer": self.id, "code": int(code), "reason": reason}
        return {"room": self.name, "peer": self.id, "code": self.client_close, "reason": "client"}


def _reason(exc: CollabError) -> str:
    """The close reason of ``exc``: what kind of input was refused, then why."""
    if isinstance(exc, AwarenessTooLarge):
        return str(exc)
    if isinstance(exc, ProtocolError):
        return f"malformed message: {exc}"
    if isinstance(exc, InvalidUpdate):
        return f"invalid update: {exc}"
    return str(exc)
