"""Just enough y-protocols and Yjs update (v1) encoding for a cheap load generator.

Frames are built once; received frames are parsed only as far as needed: a reader finds the
clock range each update covers for each client (:func:`clock_ranges`), which identifies the sent
updates a relayed frame carries, whether the server relays them one by one, re-encoded or merged.
"""

from __future__ import annotations

MSG_SYNC = 0
MSG_AWARENESS = 1
MSG_AUTH = 2
MSG_QUERY_AWARENESS = 3
SYNC_STEP1 = 0
SYNC_STEP2 = 1
SYNC_UPDATE = 2
# Hocuspocus-only message types (its provider's MessageType).
HP_SYNC_STATUS = 8
HP_PING = 9
HP_PONG = 10

EMPTY_UPDATE = b"\x00\x00"  # no structs, empty delete set
EMPTY_STATE_VECTOR = b"\x00"


def var_uint(n: int) -> bytes:
    """lib0 varUint encoding of ``n``."""
    out = bytearray()
    while n > 0x7F:
        out.append(0x80 | (n & 0x7F))
        n >>= 7
    out.append(n)
    return bytes(out)


def var_bytes(data: bytes) -> bytes:
    """lib0 varUint8Array: length then bytes."""
    return var_uint(len(data)) + data


def var_string(text: str) -> bytes:
    """lib0 varString: UTF-8 length then bytes."""
    return var_bytes(text.encode())


def read_var_uint(buf: bytes, pos: int) -> tuple[int, int]:
    """Decode a varUint at ``pos``; returns ``(value, next position)``."""
    b = buf[pos]
    pos += 1
    if b < 0x80:
        return b, pos
    num = b & 0x7F
    shift = 7
    while True:
        b = buf[pos]
        pos += 1
        num |= (b & 0x7F) << shift
        if b < 0x80:
            return num, pos
        shift += 7


def sync_frame(sync_type: int, payload: bytes) -> bytes:
    """A y-protocols sync message (without any Hocuspocus prefix)."""
    return bytes((MSG_SYNC, sync_type)) + var_bytes(payload)


def update_frame(update: bytes) -> bytes:
    return sync_frame(SYNC_UPDATE, update)


def step1_frame(state_vector: bytes = EMPTY_STATE_VECTOR) -> bytes:
    return sync_frame(SYNC_STEP1, state_vector)


def step2_frame(update: bytes = EMPTY_UPDATE) -> bytes:
    return sync_frame(SYNC_STEP2, update)


def hocuspocus_prefix(name: str) -> bytes:
    """Every Hocuspocus frame starts with the document name as a varString."""
    return var_string(name)


def hocuspocus_auth(name: str, token: str = "", provider_version: str = "4.7.0") -> bytes:
    """The first frame a Hocuspocus provider sends for a document.

    ``varString name, varUint 2 (Auth), varUint 0 (Token), varString token, varString version``
    (``@hocuspocus/provider`` AuthenticationMessage and ``@hocuspocus/common`` auth.ts).
    """
    auth = bytes((MSG_AUTH, 0)) + var_string(token) + var_string(provider_version)
    return var_string(name) + auth


def decode_state_vector(sv: bytes) -> dict[int, int]:
    """A state vector (``varUint n``, n x ``client, clock``) as a dict."""
    n, pos = read_var_uint(sv, 0)
    out: dict[int, int] = {}
    for _ in range(n):
        client, pos = read_var_uint(sv, pos)
        clock, pos = read_var_uint(sv, pos)
        out[client] = clock
    return out


def _skip_string(buf: bytes, pos: int) -> int:
    n, pos = read_var_uint(buf, pos)
    return pos + n


def _utf16_length(raw: bytes) -> int:
    if raw.isascii():
        return len(raw)
    text = raw.decode("utf-8", "surrogatepass")
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def _skip_any(buf: bytes, pos: int) -> int:
    """Skip one lib0 ``Any`` value."""
    tag = buf[pos]
    pos += 1
    if tag in (127, 126, 121, 120):  # undefined, null, false, true
        return pos
    if tag == 125:  # varInt
        while buf[pos] & 0x80:
            pos += 1
        return pos + 1
    if tag == 124:
        return pos + 4
    if tag in (123, 122):
        return pos + 8
    if tag == 119:
        return _skip_string(buf, pos)
    if tag == 118:  # object
        n, pos = read_var_uint(buf, pos)
        for _ in range(n):
            pos = _skip_any(buf, _skip_string(buf, pos))
        return pos
    if tag == 117:  # array
        n, pos = read_var_uint(buf, pos)
        for _ in range(n):
            pos = _skip_any(buf, pos)
        return pos
    if tag == 116:  # Uint8Array
        return _skip_string(buf, pos)
    raise ValueError(f"unknown Any tag {tag}")


def clock_ranges(update: bytes, pos: int = 0) -> list[tuple[int, int, int]]:
    """``(client, first clock, end clock)`` of each client's structs in a Yjs v1 update.

    The delete set is not read. Raises ``ValueError``/``IndexError`` on malformed input.
    """
    return _structs(update, pos)[0]


def delete_set(update: bytes, pos: int = 0) -> list[tuple[int, int, int]]:
    """``(client, first clock, length)`` of each deleted range in a Yjs v1 update's delete
    set (after its structs). Raises ``ValueError``/``IndexError`` on malformed input."""
    _, pos = _structs(update, pos)
    n_clients, pos = read_var_uint(update, pos)
    out = []
    for _ in range(n_clients):
        client, pos = read_var_uint(update, pos)
        n_ranges, pos = read_var_uint(update, pos)
        for _ in range(n_ranges):
            clock, pos = read_var_uint(update, pos)
            length, pos = read_var_uint(update, pos)
            out.append((client, clock, length))
    return out


def _structs(update: bytes, pos: int) -> tuple[list[tuple[int, int, int]], int]:
    """:func:`clock_ranges` from ``pos``, and the position after the structs."""
    n_clients, pos = read_var_uint(update, pos)
    out = []
    for _ in range(n_clients):
        n_structs, pos = read_var_uint(update, pos)
        client, pos = read_var_uint(update, pos)
        clock, pos = read_var_uint(update, pos)
        start = clock
        for _ in range(n_structs):
            info = update[pos]
            pos += 1
            ref = info & 0x1F
            if ref == 0 or ref == 10:  # GC or Skip: just a length
                length, pos = read_var_uint(update, pos)
                clock += length
                continue
            if info & 0x80:  # origin id
                _, pos = read_var_uint(update, pos)
                _, pos = read_var_uint(update, pos)
            if info & 0x40:  # right origin id
                _, pos = read_var_uint(update, pos)
                _, pos = read_var_uint(update, pos)
            if not info & 0xC0:  # parent info follows
                is_key, pos = read_var_uint(update, pos)
                if is_key == 1:
                    pos = _skip_string(update, pos)
                else:
                    _, pos = read_var_uint(update, pos)
                    _, pos = read_var_uint(update, pos)
                if info & 0x20:  # parentSub
                    pos = _skip_string(update, pos)
            if ref == 4:  # string: length in UTF-16 code units
                n, pos = read_var_uint(update, pos)
                clock += _utf16_length(update[pos : pos + n])
                pos += n
            elif ref == 1:  # deleted
                length, pos = read_var_uint(update, pos)
                clock += length
            elif ref == 2:  # JSON: count then strings
                count, pos = read_var_uint(update, pos)
                for _ in range(count):
                    pos = _skip_string(update, pos)
                clock += count
            elif ref == 8:  # Any: count then values
                count, pos = read_var_uint(update, pos)
                for _ in range(count):
                    pos = _skip_any(update, pos)
                clock += count
            elif ref in (3, 5):  # binary, embed
                pos = _skip_string(update, pos)
                clock += 1
            elif ref == 6:  # format: key, value
                pos = _skip_string(update, _skip_string(update, pos))
                clock += 1
            elif ref == 7:  # type
                type_ref, pos = read_var_uint(update, pos)
                if type_ref in (3, 5):
                    pos = _skip_string(update, pos)
                clock += 1
            elif ref == 9:  # subdocument
                pos = _skip_any(update, _skip_string(update, pos))
                clock += 1
            else:
                raise ValueError(f"unknown content ref {ref}")
        out.append((client, start, clock))
    return out, pos
