"""The Hocuspocus session: ``/hocuspocus``, many documents on one socket (``@hocuspocus/provider``).

One socket carries frames about many documents, each addressed by name (see
:mod:`collab.hocuspocus`). Each document is authorised on its own by its Auth message
(:mod:`collab.sessions.hocuspocus_documents`). Its frames that arrive before that are held
(bounded), then handled in order. An authorised document is a
:class:`~collab.sessions.hocuspocus_channel.DocumentChannel` in its room.

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
from typing import Any

from collab import hocuspocus as hp
from collab import protocol
from collab.errors import CloseCode
from collab.hub import Hub
from collab.limits import TokenBucket
from collab.protocol import ProtocolError
from collab.sessions.held_frames import HELD_BYTES, HELD_FRAMES, HeldFrames
from collab.sessions.hocuspocus_channel import DocumentChannel
from collab.sessions.hocuspocus_documents import Authorize, HocuspocusDocuments
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

_Y_WEBSOCKET = frozenset(
    (hp.MessageType.SYNC, hp.MessageType.AWARENESS, hp.MessageType.QUERY_AWARENESS)
)
"""The message types that are y-websocket messages after the address."""

_SERVER_MESSAGES = (hp.Authenticated, hp.PermissionDenied, hp.SyncStatus, hp.BroadcastStateless)
"""Messages only a server sends (``@hocuspocus/server`` refuses BroadcastStateless from a
client); a client sending one is broken: 1002."""


class HocuspocusSession(HocuspocusDocuments):
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
