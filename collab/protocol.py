"""Sans-I/O codec for the y-websocket wire protocol (y-protocols).

Every WebSocket message is one binary frame: ``varUint messageType`` then a payload
(y-protocols ``sync.js``, ``awareness.js`` and ``auth.js``; y-websocket ``server.js``):

* ``0`` sync: ``varUint syncType`` then ``varUint8Array``; syncType ``0`` sync step 1 (a state
  vector), ``1`` sync step 2 (an update), ``2`` update (an update, Yjs update format v1);
* ``1`` awareness: ``varUint8Array`` of an awareness update, itself
  ``varUint count`` then ``count`` x (``varUint clientID``, ``varUint clock``, ``varString JSON``)
  (read and written by :mod:`collab.awareness_codec`);
* ``2`` auth: ``varUint authType`` (``0`` = permission denied) then ``varString reason``;
* ``3`` query awareness: no payload.

Encoding uses pycrdt's helpers. Decoding is strict and bounded: it raises only
:class:`ProtocolError`, whatever the input, so hostile bytes can never crash a caller.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from pycrdt import write_message, write_var_uint

from collab.errors import CloseCode, CollabError

__all__ = [
    "MAX_VARUINT_BYTES",
    "Auth",
    "Awareness",
    "ByteReader",
    "Message",
    "MessageType",
    "ProtocolError",
    "QueryAwareness",
    "SyncStep1",
    "SyncStep2",
    "SyncType",
    "Update",
    "decode",
    "encode",
]

MAX_VARUINT_BYTES = 8
"""The longest varUint read: 8 bytes (56 bits) are more than any length or id a sane peer
sends (lib0 itself caps numbers at 2^53); reading further is how hostile input buys time."""


class MessageType(IntEnum):
    """Top-level y-protocols message types (the first varUint of a frame)."""

    SYNC = 0
    AWARENESS = 1
    AUTH = 2
    QUERY_AWARENESS = 3


class SyncType(IntEnum):
    """Sub-types of a sync message (y-protocols ``sync.js``)."""

    STEP1 = 0
    STEP2 = 1
    UPDATE = 2


class ProtocolError(CollabError, ValueError):
    """A frame that does not follow the y-protocols encoding; the message says why."""

    close_code = CloseCode.PROTOCOL_ERROR
    http_status = 400
    code = "malformed"


@dataclass(frozen=True, slots=True)
class SyncStep1:
    """Sync step 1: the sender's state vector; the receiver answers with sync step 2."""

    state_vector: bytes


@dataclass(frozen=True, slots=True)
class SyncStep2:
    """Sync step 2: an update holding everything the receiver's state vector lacked."""

    update: bytes


@dataclass(frozen=True, slots=True)
class Update:
    """An incremental document update (Yjs update format v1)."""

    update: bytes


@dataclass(frozen=True, slots=True)
class Awareness:
    """An awareness update, kept encoded (see :func:`decode_awareness` for its entries)."""

    payload: bytes


@dataclass(frozen=True, slots=True)
class QueryAwareness:
    """A request for every awareness state the receiver knows."""


@dataclass(frozen=True, slots=True)
class Auth:
    """An auth message; y-protocols defines only ``permission denied`` with a reason."""

    reason: str


Message = SyncStep1 | SyncStep2 | Update | Awareness | QueryAwareness | Auth


class ByteReader:
    """A bounds-checked cursor over lib0-encoded bytes; every failure is a ProtocolError."""

    __slots__ = ("data", "pos")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def var_uint(self) -> int:
        data, pos = self.data, self.pos
        if pos < len(data) and data[pos] < 0x80:  # one byte: most message types and lengths
            self.pos = pos + 1
            return data[pos]
        value = 0
        for shift in range(0, 7 * MAX_VARUINT_BYTES, 7):
            if pos >= len(data):
                raise ProtocolError("truncated varUint")
            byte = data[pos]
            pos += 1
            value |= (byte & 0x7F) << shift
            if byte < 0x80:
                self.pos = pos
                return value
        raise ProtocolError("varUint longer than 8 bytes")

    def var_uints(self, count: int) -> list[int]:
        """The next ``count`` varUints (one loop: cheaper than ``count`` calls)."""
        data, pos = self.data, self.pos
        values: list[int] = []
        value = shift = 0
        for byte in data[pos : pos + count * MAX_VARUINT_BYTES]:
            pos += 1
            value |= (byte & 0x7F) << shift
            if byte < 0x80:
                values.append(value)
                if len(values) == count:
                    self.pos = pos
                    return values
                value = shift = 0
            else:
                shift += 7
                if shift == 7 * MAX_VARUINT_BYTES:
                    raise ProtocolError("varUint longer than 8 bytes")
        raise ProtocolError("truncated varUint")

    def var_bytes(self) -> bytes:
        length = self.var_uint()
        end = self.pos + length
        if end > len(self.data):
            raise ProtocolError(
                f"length {length} exceeds the {len(self.data) - self.pos} bytes left"
            )
        chunk = self.data[self.pos : end]
        self.pos = end
        return chunk

    def var_string(self) -> str:
        raw = self.var_bytes()
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ProtocolError("string is not valid UTF-8") from exc

    def end(self) -> None:
        if self.pos != len(self.data):
            raise ProtocolError(f"{len(self.data) - self.pos} unexpected trailing bytes")


def decode(frame: bytes) -> Message:
    """Decode one binary frame into a message.

    Args:
        frame: the whole WebSocket binary frame.

    Returns:
        The typed message. Payloads (updates, state vectors, awareness updates) are returned
        as raw bytes; their own validity is checked by pycrdt or
        :func:`collab.awareness_codec.decode_awareness`.

    Raises:
        ProtocolError: on an empty, truncated or over-long frame or an unknown message type.
    """
    if len(frame) > 3 and frame[0] == 0 and frame[1] < 3 and len(frame) == 3 + frame[2] < 131:
        # The common case, a sync message with up to 127 bytes of payload (a keystroke's
        # update): its one-byte length says exactly the rest of the frame.
        return _SYNC_MESSAGES[frame[1]](frame[3:])
    reader = ByteReader(frame)
    kind = reader.var_uint()
    message: Message
    if kind == MessageType.SYNC:
        sync_type = reader.var_uint()
        payload = reader.var_bytes()
        if sync_type == SyncType.STEP1:
            message = SyncStep1(payload)
        elif sync_type == SyncType.STEP2:
            message = SyncStep2(payload)
        elif sync_type == SyncType.UPDATE:
            message = Update(payload)
        else:
            raise ProtocolError(f"unknown sync message type {sync_type}")
    elif kind == MessageType.AWARENESS:
        message = Awareness(reader.var_bytes())
    elif kind == MessageType.QUERY_AWARENESS:
        message = QueryAwareness()
    elif kind == MessageType.AUTH:
        auth_type = reader.var_uint()
        if auth_type != 0:
            raise ProtocolError(f"unknown auth message type {auth_type}")
        message = Auth(reader.var_string())
    else:
        raise ProtocolError(f"unknown message type {kind}")
    reader.end()
    return message


_SYNC_MESSAGES: tuple[type[SyncStep1 | SyncStep2 | Update], ...] = (SyncStep1, SyncStep2, Update)
"""The sync message classes by sync type (y-protocols ``sync.js``: 0, 1, 2)."""


def encode(message: Message) -> bytes:
    """Encode a message as one binary frame (the inverse of :func:`decode`)."""
    if isinstance(message, SyncStep1):
        return _sync(SyncType.STEP1, message.state_vector)
    if isinstance(message, SyncStep2):
        return _sync(SyncType.STEP2, message.update)
    if isinstance(message, Update):
        return _sync(SyncType.UPDATE, message.update)
    if isinstance(message, Awareness):
        return write_var_uint(MessageType.AWARENESS) + write_message(message.payload)
    if isinstance(message, QueryAwareness):
        return write_var_uint(MessageType.QUERY_AWARENESS)
    reason = message.reason.encode()
    return write_var_uint(MessageType.AUTH) + write_var_uint(0) + write_message(reason)


def _sync(sync_type: SyncType, payload: bytes) -> bytes:
    return bytes((MessageType.SYNC, sync_type)) + write_message(payload)
