"""Yjs v1 updates written from whole structs sliced out of other updates (as read by
:func:`collab.structs.parse`), some of them rewritten as GC structs.
"""

from __future__ import annotations

from pycrdt import write_var_uint

from collab.structs import GC, Part, Struct

__all__ = ["as_gc", "encode"]


def encode(parts: list[Part], delete_set: bytes = b"\x00") -> bytes:
    """A v1 update of whole structs taken from other updates: ``parts`` holds per client
    the update the structs are in, the client id, the clock of the first, and the structs
    (consecutive, as read by :func:`parse`); ``delete_set`` ends it (none by default)."""
    out = [write_var_uint(len(parts))]
    for data, client, clock, structs in parts:
        out += [write_var_uint(len(structs)), write_var_uint(client), write_var_uint(clock)]
        out.append(data[structs[0][6] : structs[-1][7]])
    out.append(delete_set)
    return b"".join(out)


def as_gc(part: Part, clocks: set[int]) -> Part:
    """``part`` with its structs starting at ``clocks`` written as GC structs of the same
    length (info byte 0, ``varUint`` length: Yjs ``GC.write``), in a buffer of its own."""
    data, client, clock, run = part
    out = bytearray()
    rewritten: list[Struct] = []
    for struct in run:
        start = len(out)
        if struct[0] in clocks:
            out += b"\x00" + write_var_uint(struct[1])
            rewritten.append((struct[0], struct[1], GC, None, None, None, start, len(out)))
        else:
            out += data[struct[6] : struct[7]]
            rewritten.append((*struct[:6], start, len(out)))
    return bytes(out), client, clock, rewritten
