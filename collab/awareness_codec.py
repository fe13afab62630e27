"""Sans-I/O codec for awareness updates (y-protocols ``awareness.js``), the payload of an
:class:`~collab.protocol.Awareness` message: ``varUint count`` then ``count`` x (``varUint
clientID``, ``varUint clock``, ``varString JSON``).

Decoding is strict and bounded: it raises only :class:`~collab.protocol.ProtocolError`, and
refuses JSON that ``JSON.parse`` would throw on when the state is relayed.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from pycrdt import write_message, write_var_uint

from collab.protocol import ByteReader, ProtocolError

__all__ = [
    "AwarenessEntry",
    "decode_awareness",
    "decode_awareness_entries",
    "encode_awareness",
    "encode_awareness_entries",
]


@dataclass(frozen=True, slots=True)
class AwarenessEntry:
    """One client's entry in an awareness update: ``state is None`` removes the client."""

    client_id: int
    clock: int
    state: Any


def decode_awareness(payload: bytes) -> list[AwarenessEntry]:
    """Decode an awareness update (y-protocols ``awareness.js`` ``encodeAwarenessUpdate``).

    Args:
        payload: the awareness update carried by an :class:`~collab.protocol.Awareness` message.

    Returns:
        The entries in order; a ``None`` state (JSON ``null``) means the client left.

    Raises:
        ProtocolError: on a truncated update, bad UTF-8 or a state that is not JSON.
    """
    return [entry for entry, _ in decode_awareness_entries(payload)]


def decode_awareness_entries(payload: bytes) -> list[tuple[AwarenessEntry, bytes]]:
    """Like :func:`decode_awareness`, with each entry's bytes as sent (client id, clock and
    state string): entries are relayed, merged with others, without encoding them again.

    Raises:
        ProtocolError: see :func:`decode_awareness`.
    """
    reader = ByteReader(payload)
    count = reader.var_uint()
    entries: list[tuple[AwarenessEntry, bytes]] = []
    for _ in range(count):
        start = reader.pos
        client_id = reader.var_uint()
        clock = reader.var_uint()
        text = reader.var_string()
        try:
            # strict JSON: NaN and Infinity parse in Python, but make every y-websocket
            # client that is relayed them throw in JSON.parse (found by scripts/fuzz --editors)
            state = json.loads(text, parse_constant=_not_json, parse_float=_finite)
        except ValueError as exc:
            raise ProtocolError("awareness state is not JSON") from exc
        except RecursionError as exc:
            raise ProtocolError("awareness state is nested too deeply") from exc
        entries.append((AwarenessEntry(client_id, clock, state), payload[start : reader.pos]))
    reader.end()
    return entries


def encode_awareness_entries(entries: list[bytes]) -> bytes:
    """An awareness update of already encoded entries (see :func:`decode_awareness_entries`)."""
    return write_var_uint(len(entries)) + b"".join(entries)


def _not_json(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def _finite(text: str) -> float:
    """A JSON number as a float, refusing one past the float range (``1e400``): Python
    reads it as infinity and writes it back as ``Infinity``, which ``JSON.parse`` throws on
    when the state is sent to a newcomer."""
    value = float(text)
    if value in (math.inf, -math.inf):
        raise ValueError(f"{text} is out of range")
    return value


def encode_awareness(entries: list[AwarenessEntry]) -> bytes:
    """Encode awareness entries as an awareness update (the inverse of decode_awareness)."""
    parts = [write_var_uint(len(entries))]
    for entry in entries:
        state = json.dumps(entry.state, separators=(",", ":")).encode()
        parts += [write_var_uint(entry.client_id), write_var_uint(entry.clock)]
        parts.append(write_message(state))
    return b"".join(parts)
