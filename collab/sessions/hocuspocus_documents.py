"""The documents of one ``/hocuspocus`` socket: each one's Auth, its join and its end.

Each document is authorised on its own by its Auth message, through the same token check as
``/sync/{name}``: Authenticated with the scope, then a
:class:`~collab.sessions.hocuspocus_channel.DocumentChannel` joins its room, or
PermissionDenied with the reason (``@hocuspocus/server`` 4.x ``ClientConnection``).
:class:`HocuspocusDocuments` is a base class of
:class:`~collab.sessions.hocuspocus.HocuspocusSession`, which reads the socket's frames.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from collab import hocuspocus as hp
from collab.auth import Role
from collab.errors import AuthError, CloseCode
from collab.names import InvalidName, validate_name
from collab.sessions.access import Access
from collab.sessions.hocuspocus_channel import DocumentChannel

if TYPE_CHECKING:
    from collab.hub import Hub
    from collab.sessions.held_frames import HeldFrames
    from collab.sessions.transport import Transport
    from collab.settings import Settings

__all__ = ["SOCKET_WIDE", "Authorize", "HocuspocusDocuments"]

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


class HocuspocusDocuments:
    """The Auth, join and end of the documents of one socket (a base class of
    :class:`~collab.sessions.hocuspocus.HocuspocusSession`)."""

    if TYPE_CHECKING:
        transport: Transport
        hub: Hub
        settings: Settings
        authorize: Authorize
        client: str | None
        authorising: set[str]
        documents: dict[str, DocumentChannel]
        held: HeldFrames
        closed: tuple[int, str | None] | None
        _open: dict[bytes, DocumentChannel]
        _tasks: set[asyncio.Task[None]]

        def _send(self, frame: hp.Frame) -> None: ...

        def _forget(self, address: str) -> None: ...

        def _deliver(self, channel: DocumentChannel, message: hp.Message, raw: bytes) -> None: ...

        def end_of_read(self) -> None: ...

        def hold(self) -> None: ...

        def release(self) -> None: ...

        def close(self, code: int, reason: str, *, quiet: bool = False) -> None: ...

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
