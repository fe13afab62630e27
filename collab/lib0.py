"""lib0's encoding (``lib0/decoding.js``), read as lib0 reads it: the varUint, varInt, string,
JSON and ``any`` values of Yjs updates (:mod:`collab.structs`), with every length and count
checked against the bytes present before anything is sized by it.

Every failure is :class:`Malformed`, with the reason.
"""

from __future__ import annotations

import json

__all__ = ["MAX_NESTING", "MAX_SAFE_INTEGER", "Malformed", "Reader"]

MAX_SAFE_INTEGER = 2**53 - 1
"""lib0 throws on a varUint above JavaScript's largest exact integer."""

MAX_NESTING = 64
"""Deepest nesting of arrays and objects in an ``any`` value (lib0 recurses without bound)."""


class Malformed(ValueError):
    """An update Yjs would not decode, or would decode differently from pycrdt."""


class Reader:
    """Reads lib0-encoded values from ``data`` at ``pos``, refusing what lib0 would throw on
    (or read differently from yrs); every failure is :class:`Malformed`."""

    __slots__ = ("data", "pos")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def uint(self) -> int:
        data, pos = self.data, self.pos
        try:
            byte = data[pos]
            if byte < 0x80:
                self.pos = pos + 1
                return byte
            value = byte & 0x7F
            shift = 7
            while True:
                pos += 1
                byte = data[pos]
                value |= (byte & 0x7F) << shift
                if byte < 0x80:
                    break
                shift += 7
                if shift > 56:
                    raise Malformed("varUint too long")
        except IndexError:
            raise Malformed("truncated update") from None
        if value > MAX_SAFE_INTEGER:
            raise Malformed("integer out of range")
        self.pos = pos + 1
        return value

    def var_int(self) -> None:
        """Skip a lib0 varInt (sign and 6 bits, then 7 bits a byte)."""
        data, pos = self.data, self.pos
        try:
            byte = data[pos]
            value, shift = byte & 0x3F, 6
            while byte >= 0x80:
                pos += 1
                byte = data[pos]
                value |= (byte & 0x7F) << shift
                shift += 7
                if shift > 60:
                    raise Malformed("varInt too long")
        except IndexError:
            raise Malformed("truncated update") from None
        if value > MAX_SAFE_INTEGER:
            raise Malformed("integer out of range")
        self.pos = pos + 1

    def skip(self, count: int) -> None:
        if self.pos + count > len(self.data):
            raise Malformed("truncated update")
        self.pos += count

    def string(self) -> str:
        length = self.uint()
        start = self.pos
        end = start + length
        if end > len(self.data):
            raise Malformed("truncated update")
        self.pos = end
        try:
            return self.data[start:end].decode("utf-8")
        except UnicodeDecodeError:
            raise Malformed("string is not valid UTF-8") from None

    def json(self) -> None:
        text = self.string()
        if text == "undefined":  # Yjs writes undefined so (ContentJSON)
            return
        try:
            json.loads(text, parse_constant=_no_constant)
        except (ValueError, RecursionError):
            raise Malformed("content is not JSON") from None

    def any(self, depth: int = 0) -> None:
        """Skip one lib0 ``any`` value (``writeAny``), refusing what ``readAny`` throws on."""
        if depth > MAX_NESTING:
            raise Malformed("value nested too deeply")
        pos = self.pos
        if pos >= len(self.data):
            raise Malformed("truncated update")
        kind = self.data[pos]
        self.pos = pos + 1
        if kind in (127, 126, 121, 120):  # undefined, null, false, true
            return
        if kind == 125:
            self.var_int()
        elif kind == 124:
            self.skip(4)
        elif kind in (123, 122):
            self.skip(8)
        elif kind == 119:
            self.string()
        elif kind == 118:
            for _ in range(self.count(2)):
                self.string()
                self.any(depth + 1)
        elif kind == 117:
            for _ in range(self.count(1)):
                self.any(depth + 1)
        elif kind == 116:
            self.skip(self.uint())
        else:
            raise Malformed(f"unknown value type {kind}")

    def count(self, least: int) -> int:
        """A count of things of at least ``least`` bytes each, checked against what is left."""
        count = self.uint()
        if count * least > len(self.data) - self.pos:
            raise Malformed(f"count {count} exceeds the bytes left")
        return count


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")
