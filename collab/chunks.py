"""A Yjs v1 update cut into several updates of about a given size, whole structs each:
:func:`split` (the parts of a large sync step 2 reply, see
:meth:`collab.room.Room.sync_frames`).

The update is read struct by struct as :func:`collab.structs.parse` reads it (the layout is
described there), but only where each struct ends and how many clocks it spans is kept, not a
record per struct: :func:`~collab.structs.parse`'s records cost about 20 times the update (a
20 MB document's state took 417 MiB of Python objects to split, the peak of a join storm).
The update to split comes from pycrdt (the room's own state), so nothing is checked beyond
what reading needs: :func:`collab.structs.parse` checks what clients send.
"""

from __future__ import annotations

from pycrdt import write_var_uint

from collab.lib0 import Malformed, Reader
from collab.structs import GC, SKIP, content_length, skip_header

__all__ = ["Malformed", "split"]


def split(update: bytes, max_bytes: int) -> list[bytes]:
    """``update`` as several updates of about ``max_bytes`` each (whole structs; one struct
    larger than that makes a part of its own), the delete set in the last, the others with an
    empty one. Applied in order they give the same document: a struct whose origin comes in a
    later part waits for it, as any Yjs client keeps structs waiting (y-protocols allows a
    state in several updates).

    Memory: the parts, and a few small objects per part and client (never per struct).

    Raises:
        Malformed: when ``update`` cannot be read (truncated, an unknown content kind, bytes
            after the delete set).
    """
    data = update
    reader = Reader(data)
    uint = reader.uint
    end_of_data = len(data)
    parts: list[bytes] = []
    runs: list[bytes] = []  # the current part's client runs, each encoded whole
    size = 0  # bytes of structs in the current part
    for _ in range(reader.count(3)):
        count = reader.count(2)
        client = uint()
        clock = uint()
        first, start, taken = clock, reader.pos, 0  # the run of this client in the part
        for _ in range(count):
            here = reader.pos
            if here >= end_of_data:
                raise Malformed("truncated update")
            info = data[here]
            reader.pos = here + 1
            kind = info & 0x1F
            if kind in (GC, SKIP):
                length = uint()
            else:
                skip_header(reader, info)
                length = content_length(reader, kind)
            stop = reader.pos
            if size + (stop - here) > max_bytes and (taken or runs):
                if taken:
                    runs.append(_run(taken, client, first, data[start:here]))
                parts.append(_update(runs, b"\x00"))
                runs, size = [], 0
                first, start, taken = clock, here, 0
            taken += 1
            size += stop - here
            clock += length
        if taken:  # Yjs reads an empty entry as nothing
            runs.append(_run(taken, client, first, data[start : reader.pos]))
    delete_set = reader.pos
    for _ in range(reader.count(2)):
        uint()
        for _ in range(reader.count(2)):
            uint()
            uint()
    if reader.pos != end_of_data:
        raise Malformed(f"{end_of_data - reader.pos} unexpected trailing bytes")
    parts.append(_update(runs, data[delete_set:]))
    return parts


def _run(count: int, client: int, clock: int, structs: bytes) -> bytes:
    """One client's entry of a v1 update: ``count`` structs from ``clock`` on."""
    return write_var_uint(count) + write_var_uint(client) + write_var_uint(clock) + structs


def _update(runs: list[bytes], delete_set: bytes) -> bytes:
    """A v1 update of the client entries ``runs``, ended by ``delete_set``."""
    return b"".join((write_var_uint(len(runs)), *runs, delete_set))
