"""The messages of the Hocuspocus wire protocol (``@hocuspocus/provider`` 3.x and 4.x), as
:mod:`collab.hocuspocus` decodes and encodes them: the message and Auth types, one dataclass
per message, and the addressed :class:`Frame`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from collab import protocol
from collab.protocol import SyncStep1, SyncStep2, Update

__all__ = [
    "AuthType",
    "Authenticated",
    "Awareness",
    "BroadcastStateless",
    "Close",
    "Frame",
    "Message",
    "MessageType",
    "PermissionDenied",
    "Ping",
    "Pong",
    "QueryAwareness",
    "Scope",
    "Stateless",
    "SyncReply",
    "SyncStatus",
    "Token",
]


Awareness = protocol.Awareness
QueryAwareness = protocol.QueryAwareness


class MessageType(IntEnum):
    """Hocuspocus message types (``@hocuspocus/server`` ``types.ts`` ``MessageType``)."""

    SYNC = 0
    AWARENESS = 1
    AUTH = 2
    QUERY_AWARENESS = 3
    SYNC_REPLY = 4
    STATELESS = 5
    BROADCAST_STATELESS = 6
    CLOSE = 7
    SYNC_STATUS = 8
    PING = 9
    PONG = 10


class AuthType(IntEnum):
    """Sub-types of an Auth message (``@hocuspocus/common`` ``auth.ts`` ``AuthMessageType``)."""

    TOKEN = 0
    PERMISSION_DENIED = 1
    AUTHENTICATED = 2


class Scope:
    """The scopes an Authenticated message names (``@hocuspocus/provider`` ``AuthorizedScope``)."""

    READ_ONLY = "readonly"
    READ_WRITE = "read-write"


@dataclass(frozen=True, slots=True)
class SyncReply:
    """A sync message answering a sync step 1 (type 4): applied like Sync, asks nothing back."""

    message: SyncStep1 | SyncStep2 | Update


@dataclass(frozen=True, slots=True)
class Token:
    """Auth Token. From a client: its token (``""`` without one) and, since provider 4.x,
    its version; from the server (``token is None``): a request for the token again."""

    token: str | None
    version: str | None = None


@dataclass(frozen=True, slots=True)
class PermissionDenied:
    """Auth PermissionDenied: the document is refused; the provider emits
    ``authenticationFailed`` with the reason."""

    reason: str


@dataclass(frozen=True, slots=True)
class Authenticated:
    """Auth Authenticated: the document is open with ``scope`` (see :class:`Scope`)."""

    scope: str


@dataclass(frozen=True, slots=True)
class Stateless:
    """A stateless message: an application string, never stored (type 5)."""

    payload: str


@dataclass(frozen=True, slots=True)
class BroadcastStateless:
    """A stateless message to fan out (type 6; server-internal in Hocuspocus)."""

    payload: str


@dataclass(frozen=True, slots=True)
class Close:
    """Close one document. From a client: no reason; from the server: the reason, which the
    provider emits as a ``close`` event with code 1000."""

    reason: str | None = None


@dataclass(frozen=True, slots=True)
class SyncStatus:
    """Whether the update the client sent last was applied (the provider counts its
    unsynced changes down on ``True``)."""

    applied: bool


@dataclass(frozen=True, slots=True)
class Ping:
    """Connection-level keepalive request (one byte, no address; provider 4.x answers)."""


@dataclass(frozen=True, slots=True)
class Pong:
    """Connection-level keepalive answer (one byte, no address)."""


Message = (
    SyncStep1
    | SyncStep2
    | Update
    | SyncReply
    | protocol.Awareness
    | protocol.QueryAwareness
    | Token
    | PermissionDenied
    | Authenticated
    | Stateless
    | BroadcastStateless
    | Close
    | SyncStatus
)


@dataclass(frozen=True, slots=True)
class Frame:
    """One addressed frame: ``address`` (document name, or name and session, see
    :func:`collab.hocuspocus.document_of`) and the message about that document."""

    address: str
    message: Message
