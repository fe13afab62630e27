"""Sans-I/O codec for the Hocuspocus wire protocol (``@hocuspocus/provider`` 3.x and 4.x).

Every frame about a document is ``varString(address)`` then ``varUint type`` then a payload
(``@hocuspocus/provider`` ``OutgoingMessages/*``, ``@hocuspocus/server`` ``OutgoingMessage.ts``,
``MessageReceiver.ts``, ``ClientConnection.ts``). The address is the document name, or with
4.x's opt-in ``sessionAwareness`` ``name + "\\0" + sessionId`` (``@hocuspocus/common``
``routingKey.ts``); a reply goes to the address it answers. Types:

* ``0`` Sync: as y-protocols (``varUint syncType`` then ``varUint8Array``: step 1, step 2,
  update); ``4`` SyncReply: the same, answering a sync step 1 (it asks no sync step 1 back);
* ``1`` Awareness: ``varUint8Array`` awareness update; ``3`` QueryAwareness: no payload;
* ``2`` Auth: ``varUint authType``: ``0`` Token (client: ``varString token``, and since 4.x
  ``varString providerVersion``; server: no payload, asking the client for its token again),
  ``1`` PermissionDenied (``varString reason``), ``2`` Authenticated (``varString scope``,
  ``"readonly"`` or ``"read-write"``);
* ``5`` Stateless and ``6`` BroadcastStateless: ``varString payload`` (6 is a server-internal
  opcode; a server sends clients 5);
* ``7`` Close: client to server no payload; server to client ``varString reason``;
* ``8`` SyncStatus: ``varUint`` 1 when the update was applied, 0 when refused (the provider
  reads it as a lib0 varInt: the same byte for 0 and 1).

Two frames carry no address: Ping is the single byte ``9`` and Pong the single byte ``10``
(4.x ``HocuspocusProviderWebsocket.onMessage``: the provider answers a one-byte Ping with a
one-byte Pong; 3.x has neither). A frame with an address is at least two bytes long, so a
one-byte frame is never ambiguous.

Decoding is strict and bounded: it raises only :class:`~collab.protocol.ProtocolError`. The
messages are :mod:`collab.hocuspocus_messages`' (named here too: ``hocuspocus.Token``, ...).
"""

from __future__ import annotations

from pycrdt import write_message, write_var_uint

from collab import protocol
from collab.hocuspocus_messages import (
    Authenticated,
    AuthType,
    Awareness,
    BroadcastStateless,
    Close,
    Frame,
    Message,
    MessageType,
    PermissionDenied,
    Ping,
    Pong,
    QueryAwareness,
    Scope,
    Stateless,
    SyncReply,
    SyncStatus,
    Token,
)
from collab.protocol import ByteReader, ProtocolError, SyncStep1, SyncStep2, SyncType, Update

__all__ = [
    "PING",
    "PONG",
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
    "SyncStep1",
    "SyncStep2",
    "Token",
    "Update",
    "decode",
    "document_of",
    "encode",
    "is_auth",
    "prefix",
]

PING = b"\x09"
PONG = b"\x0a"

_SYNC_MESSAGES: tuple[type[SyncStep1 | SyncStep2 | Update], ...] = (SyncStep1, SyncStep2, Update)


def document_of(address: str) -> str:
    """The document name of an address: the part before the first ``"\\0"``."""
    return address.partition("\0")[0]


def decode(frame: bytes) -> Frame | Ping | Pong:
    """Decode one binary frame.

    Args:
        frame: the whole WebSocket binary frame.

    Returns:
        :class:`Ping` or :class:`Pong` for the one-byte keepalives, else the addressed
        :class:`Frame`. Payloads (updates, state vectors, awareness updates) stay raw bytes.

    Raises:
        ProtocolError: on an empty, truncated or over-long frame, an address that is not
            UTF-8, or an unknown message, sync or auth type.
    """
    if len(frame) == 1 and frame[0] in (MessageType.PING, MessageType.PONG):
        return Ping() if frame[0] == MessageType.PING else Pong()
    reader = ByteReader(frame)
    address = reader.var_string()
    kind = reader.var_uint()
    message: Message
    if kind == MessageType.SYNC or kind == MessageType.SYNC_REPLY:
        sync_type = reader.var_uint()
        if sync_type > SyncType.UPDATE:
            raise ProtocolError(f"unknown sync message type {sync_type}")
        sync = _SYNC_MESSAGES[sync_type](reader.var_bytes())
        message = sync if kind == MessageType.SYNC else SyncReply(sync)
    elif kind == MessageType.AWARENESS:
        message = protocol.Awareness(reader.var_bytes())
    elif kind == MessageType.QUERY_AWARENESS:
        message = protocol.QueryAwareness()
    elif kind == MessageType.AUTH:
        message = _decode_auth(reader)
    elif kind == MessageType.STATELESS:
        message = Stateless(reader.var_string())
    elif kind == MessageType.BROADCAST_STATELESS:
        message = BroadcastStateless(reader.var_string())
    elif kind == MessageType.CLOSE:
        message = Close(reader.var_string() if reader.pos < len(frame) else None)
    elif kind == MessageType.SYNC_STATUS:
        status = reader.var_uint()
        if status > 1:
            raise ProtocolError(f"sync status {status} is neither 0 nor 1")
        message = SyncStatus(status == 1)
    else:
        raise ProtocolError(f"unknown message type {kind}")
    reader.end()
    return Frame(address, message)


def _decode_auth(reader: ByteReader) -> Token | PermissionDenied | Authenticated:
    auth_type = reader.var_uint()
    if auth_type == AuthType.TOKEN:
        if reader.pos == len(reader.data):
            return Token(None)
        token = reader.var_string()
        version = reader.var_string() if reader.pos < len(reader.data) else None
        return Token(token, version)
    if auth_type == AuthType.PERMISSION_DENIED:
        return PermissionDenied(reader.var_string())
    if auth_type == AuthType.AUTHENTICATED:
        return Authenticated(reader.var_string())
    raise ProtocolError(f"unknown auth message type {auth_type}")


def is_auth(frame: bytes) -> bool:
    """Whether ``frame`` is a client's Auth Token: the first frame every provider sends (used
    to tell a provider that reached the y-websocket endpoint where to go)."""
    try:
        item = decode(frame)
    except ProtocolError:
        return False
    if not isinstance(item, Frame):
        return False
    return isinstance(item.message, Token) and item.message.token is not None


def prefix(address: str) -> bytes:
    """The bytes that start every frame about ``address``: ``varString(address)``.

    A y-protocols sync, awareness or query-awareness frame (:func:`collab.protocol.encode`)
    after this prefix is the Hocuspocus frame of the same message: types 0, 1 and 3 and their
    payloads are the same in both protocols.
    """
    return write_message(address.encode())


def encode(item: Frame | Ping | Pong) -> bytes:
    """Encode a frame or a keepalive (the inverse of :func:`decode`)."""
    if isinstance(item, Ping):
        return PING
    if isinstance(item, Pong):
        return PONG
    return prefix(item.address) + _encode_message(item.message)


def _encode_message(message: Message) -> bytes:
    if isinstance(message, SyncStep1 | SyncStep2 | Update | Awareness | QueryAwareness):
        return protocol.encode(message)
    if isinstance(message, SyncReply):
        return bytes((MessageType.SYNC_REPLY,)) + protocol.encode(message.message)[1:]
    if isinstance(message, Token):
        head = bytes((MessageType.AUTH, AuthType.TOKEN))
        if message.token is None:
            return head
        tail = b"" if message.version is None else _string(message.version)
        return head + _string(message.token) + tail
    if isinstance(message, PermissionDenied):
        return bytes((MessageType.AUTH, AuthType.PERMISSION_DENIED)) + _string(message.reason)
    if isinstance(message, Authenticated):
        return bytes((MessageType.AUTH, AuthType.AUTHENTICATED)) + _string(message.scope)
    if isinstance(message, Stateless):
        return bytes((MessageType.STATELESS,)) + _string(message.payload)
    if isinstance(message, BroadcastStateless):
        return bytes((MessageType.BROADCAST_STATELESS,)) + _string(message.payload)
    if isinstance(message, Close):
        reason = b"" if message.reason is None else _string(message.reason)
        return bytes((MessageType.CLOSE,)) + reason
    return bytes((MessageType.SYNC_STATUS,)) + write_var_uint(int(message.applied))


def _string(text: str) -> bytes:
    return write_message(text.encode())
