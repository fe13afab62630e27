"""The Starlette WebSocket endpoint ``/sync/{name}`` and every close code collab uses.

One connection is one :class:`Connection`: it takes each binary frame as the socket delivers
it and drives the room through the hub (the update messages of one read applied, stored and
relayed as one merged update), and sends synchronously into a bounded send queue, so a
slow peer never stalls the room; when its queue passes ``send_queue_bytes`` it is closed with
1013. Both directions go through the :mod:`collab.wsserver` extension of uvicorn's protocol:
once the connection joined its room, the endpoint returns and the socket calls the
connection directly (no task per connection).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Callable
from enum import IntEnum

from starlette.websockets import WebSocket

from collab import protocol
from collab.auth import (
    ALL_DOCUMENTS,
    AuthError,
    Forbidden,
    Grant,
    Role,
    bearer_token,
    host_allowed,
    origin_allowed,
    verify_token,
)
from collab.hub import Hub, ShuttingDown, TooManyConnections
from collab.integrator import PendingTooLarge
from collab.limits import TokenBucket
from collab.names import InvalidName, parse_name
from collab.protocol import ProtocolError
from collab.room import AwarenessTooLarge, RevivesDeleted, Room
from collab.settings import Settings
from collab.store import StoreError
from collab.updates import DocumentCorrupted, InvalidUpdate, carries_new_structs, merge_burst
from collab.wsserver import DIRECT, FULL, SENT, Direct

__all__ = ["CloseCode", "sync_endpoint"]

log = logging.getLogger("collab.websocket")


class CloseCode(IntEnum):
    """Every WebSocket close code collab sends (RFC 6455 section 7.4, 4xxx are collab's own)."""

    GOING_AWAY = 1001  # server shutting down or restarting: reconnect later
    PROTOCOL_ERROR = 1002  # malformed y-protocols frame
    UNSUPPORTED_DATA = 1003  # a text frame
    INVALID_UPDATE = 1007  # an update pycrdt rejects, or v2-encoded
    MESSAGE_TOO_BIG = 1009  # over max_message_bytes (sent by the WebSocket library)
    INTERNAL_ERROR = 1011  # storage failed; the update was not saved
    TRY_AGAIN_LATER = 1013  # the peer read too slowly; its send queue overflowed
    BAD_DOCUMENT_NAME = 4400
    UNAUTHORIZED = 4401
    FORBIDDEN = 4403
    DOCUMENT_DELETED = 4410
    TOO_LARGE = 4413  # document, awareness state or waiting structs over its limit
    RATE_LIMITED = 4429  # over max_messages_per_second
    SERVER_FULL = 4503


_peer_ids = itertools.count(1)

BURST_UPDATES = 64
"""Update messages of one read that are applied, stored and relayed as one merged update, at
most (see :func:`collab.updates.merge_burst`: merging costs more per update past a hundred)."""

BURST_BYTES = 64 * 1024
"""Bytes of update messages merged into one update, at most."""


class _Refused(Exception):
    """Close the connection with ``code`` and the message as reason."""

    def __init__(self, code: CloseCode, reason: str) -> None:
        super().__init__(reason)
        self.code = code


class Connection:
    """One WebSocket peer: what it sends, what it receives, and how it ends.

    Frames are written at once through the server's :data:`~collab.wsserver.DIRECT`
    extension; the bytes the socket has not taken yet wait in the transport's write buffer,
    which is the peer's send queue: when it passes ``send_queue_bytes`` the peer is dropped
    (1013), so a slow peer never stalls the room. Once :meth:`open` joined the room, the
    socket calls the connection for every message and at its end.

    Args:
        direct: the connection's direct sends and receives.
        hub: the hub owning the rooms.
        name: the validated document name.
        grant: what the peer's token allows (``ALL_DOCUMENTS`` when auth is off).
        settings: limits (send queue, rate, document size).
    """

    __slots__ = (
        "_burst",
        "_burst_bytes",
        "_close",
        "_expiry",
        "_leave",
        "bucket",
        "client_close",
        "direct",
        "finished",
        "grant",
        "hub",
        "id",
        "max_document_bytes",
        "name",
        "queue_limit",
        "read_only",
        "room",
    )

    def __init__(
        self,
        direct: Direct,
        hub: Hub,
        name: str,
        grant: Grant,
        settings: Settings,
    ) -> None:
        self.direct = direct
        self.hub = hub
        self.name = name
        self.grant = grant
        self.read_only = grant.role < Role.WRITE
        self.id = next(_peer_ids)
        self.queue_limit = settings.send_queue_bytes
        self.max_document_bytes = settings.max_document_bytes
        self.bucket = TokenBucket(settings.max_messages_per_second, settings.message_burst)
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
        outcome = self.direct.write(frame, self.queue_limit)
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
            self.direct.close(code, reason)
            asyncio.get_running_loop().call_soon(self._finish)

    # -- lifecycle ---------------------------------------------------------------------------

    async def open(self) -> None:
        """Join the room, then hand the connection over to its socket (see
        :meth:`~collab.wsserver.Direct.detach`); a refusal closes it with the reason."""
        try:
            room, self._leave = await self.hub.join(self.name, self)
        except ShuttingDown:
            self.close(CloseCode.GOING_AWAY, "server shutting down")
        except TooManyConnections as exc:
            self._reject(CloseCode.SERVER_FULL, str(exc))
        except StoreError:
            self.close(CloseCode.INTERNAL_ERROR, "storage error: document unavailable")
        else:
            self.room = room
            if self.grant.expires_at != float("inf"):
                delay = max(0.0, self.grant.expires_at - time.time())
                self._expiry = asyncio.get_running_loop().call_later(
                    delay, self.close, CloseCode.UNAUTHORIZED, "access token expired"
                )
            self.direct.detach(self)
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
        if self._leave is not None:
            self._leave()
        log.info("connection closed", extra=self.closed_event())

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
        then pause reading while the hub has more queued for commit than it wants
        (backpressure)."""
        if self._close is not None or self.room is None:
            return
        if self._burst:
            self._guarded(self._apply_burst, self.room)
        if self._close is None and self.hub.congested:
            self.direct.pause_reading()
            self.hub.after_commit(self.direct.resume_reading)

    def _on_frame(self, room: Room, frame: bytes) -> None:
        """Take one binary frame as the socket delivers it."""
        if self._close is not None:
            return
        self.hub.metrics.received(frame)
        if not self.bucket.take():
            self.end_of_read()  # the updates before it are taken
            if self._close is None:
                self._reject(CloseCode.RATE_LIMITED, "too many messages per second")
            return
        self._guarded(self._handle, room, frame)

    def _guarded(self, step: Callable[..., None], room: Room, *frame: bytes) -> None:
        """Run ``step(room, *frame)``; a refusal closes the connection with its code and
        reason, and so does a bug (1011), which must not reach uvicorn's data_received."""
        try:
            step(room, *frame)
        except _Refused as exc:
            self._reject(exc.code, str(exc))
        except DocumentCorrupted as exc:
            self._reject(CloseCode.INVALID_UPDATE, f"invalid update: {exc}")
            self.hub.discard(room)
        except (AwarenessTooLarge, PendingTooLarge) as exc:
            self._reject(CloseCode.TOO_LARGE, str(exc))
        except RevivesDeleted as exc:
            # 4410, not 1007: the y-websocket client retries every code outside 4400-4499,
            # and a stale editor re-sent the deleted content five times a second.
            self._reject(CloseCode.DOCUMENT_DELETED, str(exc))
        except ProtocolError as exc:
            self._reject(CloseCode.PROTOCOL_ERROR, f"malformed message: {exc}")
        except InvalidUpdate as exc:
            self._reject(CloseCode.INVALID_UPDATE, f"invalid update: {exc}")
        except ShuttingDown:
            pass  # the hub already asked this peer to close
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
            reply = room.sync_step2(state_vector)
            if self.hub.uncommitted(room):
                self.hub.when_committed(room, lambda: self.send(room.sync_step2(state_vector)))
            else:
                self.send(reply)
        elif isinstance(message, protocol.Awareness):
            room.apply_awareness(self, message.payload)
        elif isinstance(message, protocol.QueryAwareness):
            frame = room.awareness_frame() or protocol.encode(protocol.Awareness(b"\x00"))
            self.send(frame)
        # Auth messages from a client carry nothing the server acts on (y-protocols auth.js).

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
                if room.tombstone is None and self._fits(room, merged):
                    try:
                        self._write(room, merged, len(updates))
                    except DocumentCorrupted:  # the room is discarded (see _guarded)
                        self.hub.salvage(room, updates)
                        raise
                    return
        for update in updates:
            self._write(room, update)
            if self._close is not None:
                return

    def _write(self, room: Room, update: bytes, messages: int = 1) -> None:
        """Apply a sync step 2 or update payload (``messages`` update messages merged) to the
        room and queue it for commit and relay.

        Raises:
            _Refused: over the document size limit, or a read-only peer inserting content.
            InvalidUpdate: see :meth:`Room.apply`.
        """
        if room.closed:
            return
        if self.read_only:
            self._refuse_write(room, update)
            return
        if not self._fits(room, update):
            raise _Refused(
                CloseCode.TOO_LARGE, f"document over the {self.max_document_bytes}-byte limit"
            )
        if room.apply(update):
            self.hub.submit(room, update, self, messages)

    def _fits(self, room: Room, update: bytes) -> bool:
        return room.size_bytes + len(update) <= self.max_document_bytes

    def _refuse_write(self, room: Room, update: bytes) -> None:
        """A read-only peer's sync step 2 or update is never applied.

        Every Yjs client answers the server's sync step 1 with a sync step 2 that repeats
        its whole delete set, so a write without new structs is dropped silently; one that
        inserts content gets the y-protocols auth message "permission denied" and 4403.
        """
        if carries_new_structs(room.doc, update):
            self.send(protocol.encode(protocol.Auth("permission denied: read-only access")))
            raise _Refused(CloseCode.FORBIDDEN, "read-only access: writes are refused")

    def _reject(self, code: CloseCode, reason: str) -> None:
        extra = {"room": self.name, "peer": self.id, "code": int(code), "reason": reason}
        log.warning("closing connection", extra=extra)
        self.close(code, reason)

    def closed_event(self) -> dict[str, object]:
        """Log fields of the end of this connection: who closed it, with which code."""
        if self._close is not None:
            code, reason = self._close
            return {"room": self.name, "peer": self.id, "code": int(code), "reason": reason}
        return {"room": self.name, "peer": self.id, "code": self.client_close, "reason": "client"}


async def sync_endpoint(websocket: WebSocket) -> None:
    """Serve ``/sync/{name}``: a y-websocket room per document name.

    The name is taken from the raw path and decoded once by :func:`collab.names.parse_name`.
    The Origin, the name and the token are checked before any document data is sent; a
    refusal closes the connection after the handshake, so the client sees the reason.
    """
    hub: Hub = websocket.app.state.hub
    settings: Settings = websocket.app.state.settings
    await websocket.accept()
    direct = websocket.scope.get("extensions", {}).get(DIRECT)
    if direct is None:
        log.error("the server does not offer %s: run collab with `collab serve`", DIRECT)
        await websocket.close(CloseCode.INTERNAL_ERROR, "server misconfigured")
        return
    try:
        name, grant = _admit(websocket, settings, websocket.app.state.token_secret)
    except _Refused as exc:
        hub.metrics.closes[exc.code] += 1
        client = websocket.client.host if websocket.client else None
        extra = {"code": int(exc.code), "reason": str(exc), "client": client}
        log.warning("refusing connection", extra=extra)
        await websocket.close(exc.code, str(exc)[:123])
        return
    connection = Connection(direct, hub, name, grant, settings)
    log.info("connection opened", extra={"room": name, "peer": connection.id})
    await connection.open()


def _admit(websocket: WebSocket, settings: Settings, secret: str) -> tuple[str, Grant]:
    """Check Origin, document name and token.

    Raises:
        _Refused: with the close code and reason.
    """
    headers = websocket.headers
    if not host_allowed(headers.get("host"), settings.allowed_hosts, settings.host):
        raise _Refused(CloseCode.FORBIDDEN, "host not allowed (DNS rebinding?): see --allowed-host")
    if not origin_allowed(headers.get("origin"), headers.get("host"), settings.allowed_origins):
        raise _Refused(CloseCode.FORBIDDEN, "origin not allowed")
    try:
        raw = websocket.scope.get("raw_path") or websocket.scope["path"].encode()
        name = parse_name(raw.decode("utf-8").removeprefix("/sync").removeprefix("/"))
    except (InvalidName, UnicodeDecodeError) as exc:
        raise _Refused(CloseCode.BAD_DOCUMENT_NAME, str(exc)) from exc
    if not secret:
        return name, ALL_DOCUMENTS
    token = websocket.query_params.get("token") or bearer_token(headers.get("authorization"))
    try:
        grant = verify_token(token, secret, algorithm=settings.auth_algorithm)
        grant.require(name, Role.READ)
    except Forbidden as exc:
        raise _Refused(CloseCode.FORBIDDEN, str(exc)) from exc
    except AuthError as exc:
        raise _Refused(CloseCode.UNAUTHORIZED, str(exc)) from exc
    return name, grant
