"""The Hocuspocus session: ``/hocuspocus``, many documents on one socket (``@hocuspocus/provider``).

One socket carries frames about many documents, each addressed by name (see
:mod:`collab.hocuspocus`). Each document is authorised on its own by its Auth message, through
the same token check as ``/sync/{name}``: Authenticated with the scope, or PermissionDenied
with the reason (``@hocuspocus/server`` 4.x ``ClientConnection``). Its frames that arrive
before that are held (bounded), then handled in order. An authorised document is a
:class:`~collab.hocuspocus_channel.DocumentChannel` in its room.

Errors about one document (refused token, deleted, over a size limit, invalid update, token
expired, storage failure) end that document with PermissionDenied or Close and a reason; the
other documents on the socket go on. Errors about the socket (a malformed frame: 1002, a text
frame: 1003, too many documents: 1008, a slow reader: 1013, the server shutting down: 1001)
close it with that code and reason. Over the message rate, the socket is not read until its
bucket refills (flow control, as on ``/sync``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from collab import hocuspocus as hp
from collab import protocol
from collab.auth import Role
from collab.errors import AuthError, CloseCode
from collab.hub import Hub
from collab.limits import TokenBucket
from collab.names import InvalidName, validate_name
from collab.protocol import ProtocolError
from collab.sessions.access import Access
from collab.sessions.held_frames import HELD_BYTES, HELD_FRAMES, HeldFrames
from collab.sessions.hocuspocus_channel import DocumentChannel
from collab.sessions.transport import SENT, Transport
from collab.sessions.wrong_protocol import HOCUSPOCUS_WRONG_ENDPOINT as WRONG_ENDPOINT
from collab.sessions.wrong_protocol import is_y_websocket, log_wrong_protocol
from collab.settings import Settings

__all__ = [
    "HELD_BYTES",
    "HELD_FRAMES",
    "WRONG_ENDPOINT",
    "Authorize",
    "HocuspocusSession",
]

log = logging.getLogger("collab.hocuspocus")

Authorize = Callable[[str, str], Awaitable[tuple[Access, object]]]
"""``authorize(name, token)``: the access a document's Auth token gives on document
``name``, and what ``Collab.reauthorize`` may check again later (the socket with that token).
Raises :class:`~collab.errors.AuthError` to refuse."""

SOCKET_WIDE = frozenset(
    {
        CloseCode.GOING_AWAY,
        CloseCode.PROTOCOL_ERROR,
        CloseCode.UNSUPPORTED_DATA,
        CloseCode.TRY_AGAIN_LATER,
    }
)
"""Close codes of one document that end the whole socket: what they say is about the client
or the server, not the document."""

_Y_WEBSOCKET = frozenset(
    (hp.MessageType.SYNC, hp.MessageType.AWARENESS, hp.MessageType.QUERY_AWARENESS)
)
"""The message types that are y-websocket messages after the address."""

_SERVER_MESSAGES = (hp.Authenticated, hp.PermissionDenied, hp.SyncStatus, hp.BroadcastStateless)
"""Messages only a server sends (``@hocuspocus/server`` refuses BroadcastStateless from a
client); a client sending one is broken: 1002."""


class HocuspocusSession:
    """One ``/hocuspocus`` socket: its documents, their Auth, and its end.

    The socket's transport calls :meth:`received`, :meth:`end_of_read` and :meth:`ended`
    (see :class:`~collab.sessions.transport.Owner`).

    Args:
        transport: the socket (see :class:`~collab.sessions.transport.Transport`).
        hub: the hub owning the rooms (and the ``on_stateless`` hook).
        settings: limits.
        authorize: decides each document's Auth (see :data:`Authorize`).
        client: the client's address, for the logs and hooks.
    """

    def __init__(
        self,
        transport: Transport,
        hub: Hub,
        settings: Settings,
        authorize: Authorize,
        client: str | None = None,
    ) -> None:
        self.transport = transport
        self.hub = hub
        self.settings = settings
        self.authorize = authorize
        self.client = client
        self.authorising: set[str] = set()  # addresses whose Auth is being decided
        self.documents: dict[str, DocumentChannel] = {}  # joining or open, by address
        self.held = HeldFrames()  # frames waiting for a document's Auth or join
        self.bucket = TokenBucket(settings.max_messages_per_second, settings.message_burst)
        self.closed: tuple[int, str | None] | None = None
        self._touched: set[DocumentChannel] = set()  # documents given frames in this read
        self._open: dict[bytes, DocumentChannel] = {}  # open documents by their frames' head
        self._tasks: set[asyncio.Task[None]] = set()
        self._rate_timer: asyncio.TimerHandle | None = None  # reading paused for the rate
        self._holds = 0  # reasons reading is paused (see hold)

    # -- the socket's callbacks --------------------------------------------------------------

    def received(self, message: bytes | str) -> None:
        """One message from the client."""
        if self.closed is not None:
            return
        if isinstance(message, str):
            self.close(CloseCode.UNSUPPORTED_DATA, "text frames are not supported")
            return
        self.hub.metrics.received(message)
        self.bucket.spend()
        if self._rate_timer is None:
            wait = self.bucket.debt_seconds()
            if wait > 0:  # over the message rate: not read until the bucket refills
                self.hub.metrics.rate_pauses += 1
                self.hold()
                self._rate_timer = asyncio.get_running_loop().call_later(wait, self._refilled)
        size = message[0] if message else 0x80
        if size < 0x80 and len(message) > size + 1 and message[size + 1] in _Y_WEBSOCKET:
            # The common case, a sync or awareness message of an open document whose address
            # fits a one-byte length: the rest is the y-websocket frame its channel checks.
            channel = self._open.get(message[: size + 1])
            if channel is not None:
                self._touched.add(channel)
                channel.received(message[size + 1 :])
                return
        try:
            item = hp.decode(message)
        except ProtocolError as exc:
            self._malformed(message, exc)
            return
        if isinstance(item, hp.Ping):
            self.transport.write(hp.PONG, self.settings.send_queue_bytes)
        elif isinstance(item, hp.Frame):
            self._frame(item, message)
        # a Pong needs nothing

    def _refilled(self) -> None:
        """The socket's bucket is out of debt: one reason to pause is gone."""
        self._rate_timer = None
        self.release()

    def hold(self) -> None:
        """Pause reading the socket for one more reason (a document's congestion, the rate);
        every :meth:`hold` is matched by one :meth:`release`."""
        self._holds += 1
        if self._holds == 1:
            self.transport.pause_reading()

    def release(self) -> None:
        """One reason to pause is gone: read again once none is left."""
        self._holds -= 1
        if self._holds == 0 and self.closed is None:
            self.transport.resume_reading()

    def end_of_read(self) -> None:
        """The frames of one read were delivered: each document given some takes them."""
        touched, self._touched = self._touched, set()
        for channel in touched:
            channel.end_of_read()

    def ended(self, code: int, reason: str | None = None) -> None:
        """The socket ended: every open document leaves its room."""
        if self.closed is None:
            self.closed = (code, reason)
            if reason is not None:
                self.hub.metrics.closes[code] += 1
                log.warning("closing hocuspocus socket", extra=self._log(code, reason))
        self._end_documents(code)
        log.info("hocuspocus socket closed", extra=self._log(*self.closed))

    # -- frames ------------------------------------------------------------------------------

    def _frame(self, frame: hp.Frame, raw: bytes) -> None:
        address, message = frame.address, frame.message
        if not address and not self.documents and not self.held and is_y_websocket(raw):
            # a y-websocket sync step 1 reads as a frame about document "": 00 00 len ...
            self.close(CloseCode.PROTOCOL_ERROR, WRONG_ENDPOINT, quiet=True)
            return
        if isinstance(message, _SERVER_MESSAGES):
            name = type(message).__name__
            self.close(CloseCode.PROTOCOL_ERROR, f"malformed message: {name} is a server message")
            return
        channel = self.documents.get(address)
        if channel is not None and channel.room is not None:
            self._deliver(channel, message, raw)
            return
        if isinstance(message, hp.Token) and channel is not None:
            return  # Auth again on an authorised document still joining: as on an open one
        if isinstance(message, hp.Close) and channel is None and address not in self.authorising:
            self._forget(address)  # the provider gave the document up before its Auth
            return
        if channel is None and address not in self.held:
            if (
                len(self.documents.keys() | self.held.addresses())
                >= self.settings.max_documents_per_socket
            ):
                limit = self.settings.max_documents_per_socket
                self.close(
                    CloseCode.POLICY_VIOLATION,
                    f"too many documents on one socket (limit {limit})",
                )
                return
            self.held.expect(address)
        if isinstance(message, hp.Token) and channel is None and address not in self.authorising:
            self._authorise(address, message.token or "")
            return
        self._hold(address, raw)

    def _deliver(self, channel: DocumentChannel, message: hp.Message, raw: bytes) -> None:
        """Hand one frame to an open document."""
        if isinstance(message, hp.Stateless):
            self._stateless(channel, message.payload)
        elif isinstance(message, hp.Close):
            self._forget(channel.address)
            channel.ended(1000)
        elif isinstance(message, hp.Token):
            pass  # Auth again on an open document (a provider re-created fast): nothing to do
        else:
            body = raw[len(channel.head) :]
            if isinstance(message, hp.SyncReply):  # a sync message all the same
                body = bytes((protocol.MessageType.SYNC,)) + body[1:]
            self._touched.add(channel)
            channel.received(body)

    def _hold(self, address: str, raw: bytes) -> None:
        """Keep a frame of a document whose Auth or join is not done (bounded)."""
        if not self.held.add(address, raw):
            self.close(
                CloseCode.POLICY_VIOLATION,
                f"too many frames before Auth (limit {HELD_FRAMES} frames, {HELD_BYTES} bytes)",
            )

    def _forget(self, address: str) -> None:
        """Drop a document's held frames and address."""
        self.held.pop(address)
        channel = self.documents.pop(address, None)
        if channel is not None:
            self._open.pop(channel.head, None)

    def _malformed(self, frame: bytes, exc: ProtocolError) -> None:
        if not self.documents and not self.held and is_y_websocket(frame):
            self.close(CloseCode.PROTOCOL_ERROR, WRONG_ENDPOINT, quiet=True)
        else:
            self.close(CloseCode.PROTOCOL_ERROR, f"malformed message: {exc}")

    # -- documents ---------------------------------------------------------------------------

    def _authorise(self, address: str, token: str) -> None:
        """Decide a document's Auth (its frames are held meanwhile): Authenticated and join
        its room, or PermissionDenied with the reason."""
        self.authorising.add(address)
        task = asyncio.get_running_loop().create_task(self._decide(address, token))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _decide(self, address: str, token: str) -> None:
        name = hp.document_of(address)
        try:
            validate_name(name)
            access, source = await self.authorize(name, token)
        except (InvalidName, AuthError) as exc:
            self._refuse(address, str(exc))
            return
        except Exception:
            log.exception("cannot decide an Auth", extra={"room": name})
            self._refuse(address, "access check failed")
            return
        finally:
            self.authorising.discard(address)
        # Once the socket is closed, an authorised document still takes the frames it sent
        # before the close (as /sync takes the updates before a malformed frame), then ends.
        scope = hp.Scope.READ_WRITE if access.role >= Role.WRITE else hp.Scope.READ_ONLY
        self._send(hp.Frame(address, hp.Authenticated(scope)))
        channel = DocumentChannel(
            address, self, self.hub, name, access, self.settings, source, self.client
        )
        self.documents[address] = channel
        log.info("connection opened", extra={"room": name, "peer": channel.id})
        await channel.open()

    def _refuse(self, address: str, reason: str) -> None:
        """PermissionDenied for ``address``; its held frames are dropped (a retry starts
        afresh)."""
        self._forget(address)
        if self.closed is None:
            extra = {"room": hp.document_of(address), "reason": reason}
            log.info("hocuspocus document refused", extra=extra)
            self._send(hp.Frame(address, hp.PermissionDenied(reason)))

    def document_open(self, channel: DocumentChannel) -> None:
        """``channel`` joined its room: the frames held for it are handled now, in order
        (also when the socket ended meanwhile: they came before its end)."""
        frames = self.held.pop(channel.address)
        if self.documents.get(channel.address) is channel:
            self._open[channel.head] = channel
        for raw in frames:
            if channel.finished or channel._close is not None:
                break
            item = hp.decode(raw)  # decoded once already: cannot fail
            assert isinstance(item, hp.Frame)
            self._deliver(channel, item.message, raw)
        self.end_of_read()
        if self.closed is not None:
            channel.ended(self.closed[0])

    def document_closed(self, channel: DocumentChannel, code: int, reason: str) -> None:
        """The server ends one document (``code`` and ``reason`` as a y-websocket close):
        the socket too when the code is about the socket, else a Close message."""
        if self.documents.get(channel.address) is channel:
            self._forget(channel.address)
        if self.closed is not None:
            return
        if code in SOCKET_WIDE:
            self.close(code, reason)
        else:
            self._send(hp.Frame(channel.address, hp.Close(reason)))

    def _stateless(self, channel: DocumentChannel, payload: str) -> None:
        """A client's Stateless message: to the host's ``on_stateless`` hook, if any."""
        hook = self.hub.hooks.stateless
        if hook is not None:
            hook(channel.name, payload, channel)

    # -- sending and closing -----------------------------------------------------------------

    def _send(self, frame: hp.Frame) -> None:
        data = hp.encode(frame)
        if self.transport.write(data, self.settings.send_queue_bytes) == SENT:
            self.hub.metrics.sent(data)

    def close(self, code: int, reason: str, *, quiet: bool = False) -> None:
        """Close the socket with ``code`` and ``reason``; every document leaves its room.
        ``quiet`` logs at info (a client of the other protocol: it retries forever)."""
        if self.closed is not None:
            return
        self.closed = (code, reason)
        self.hub.metrics.closes[code] += 1
        if quiet:
            log_wrong_protocol(self.client, reason)
        else:
            log.warning("closing hocuspocus socket", extra=self._log(code, reason))
        self.transport.close(code, reason)
        self._end_documents(code)

    def _end_documents(self, code: int) -> None:
        """End every open document; those still joining or being authorised keep their held
        frames and end in :meth:`document_open`; frames held for an Auth not sent are dropped."""
        documents = [c for c in self.documents.values() if c.room is not None]
        joining = {c.address for c in self.documents.values() if c.room is None}
        joining |= self.authorising
        self.documents.clear()
        self._open.clear()
        for address in list(self.held.addresses()):
            if address not in joining:
                self._forget(address)
        for channel in documents:
            channel.ended(code)

    def _log(self, code: int, reason: str | None) -> dict[str, Any]:
        return {"client": self.client, "code": int(code), "reason": reason}
