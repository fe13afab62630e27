"""An item's clocks one by one: what a struct says of each clock it covers, whatever the
boundaries it was written in.

Yjs merges adjacent items of one client (``Item.mergeWith``: the right one's origin is the
left one's last clock, same right origin, same content kind) and slices them again
(``sliceStruct``: the slice's origin is the clock before it), so the same content reaches
the server in other boundaries: a client holding structs that wait sends them back merged.
:func:`units` gives each clock's kind, origin, right origin, parent (first clock of an item
given with no origin) and content unit (a UTF-16 code unit of a string, an element of an
``any`` array, the whole content of a one-clock kind, nothing for a deletion or GC), so two
writings of the same clocks compare equal exactly when Yjs reads the same items from them.
"""

from __future__ import annotations

from collab.lib0 import Reader
from collab.structs import DELETED, GC, STRING, Struct, skip_header

__all__ = ["Unit", "units"]

_ANY = 8

Unit = tuple[int, tuple[int, int] | None, tuple[int, int] | None, bytes, bytes]
"""One clock of an item: kind, origin, right origin, parent bytes (empty but for an item's
first clock given with a parent), content unit."""


def units(data: bytes, client: int, struct: Struct) -> list[Unit]:
    """The clocks of ``struct`` (of ``client``, read by :func:`collab.structs.parse` from
    ``data``), one :data:`Unit` each; ``struct`` is a GC struct or an item (a Skip is no
    content: a gap).

    Raises:
        collab.lib0.Malformed: never for a struct :func:`~collab.structs.parse` read.
    """
    clock, length, kind, origin, right, _, start, end = struct
    if kind == GC or not length:
        return [(GC, None, None, b"", b"")] * length
    reader = Reader(data)
    reader.pos = start + 1
    info = data[start]
    parent_start = skip_header(reader, info)
    parent = data[parent_start : reader.pos]
    contents: list[bytes]
    if kind == DELETED:
        contents = [b""] * length
    elif kind == STRING:
        text = reader.string().encode("utf-16-le")
        contents = [text[i : i + 2] for i in range(0, len(text), 2)]
    elif kind == _ANY:
        contents = []
        for _ in range(reader.uint()):
            at = reader.pos
            reader.any()
            contents.append(data[at : reader.pos])
    else:  # one clock: binary, embed, format, type, subdocument
        contents = [data[reader.pos : end]]
    return [
        (kind, origin, right, parent, contents[0]),
        *(
            (kind, (client, clock + i - 1), right, b"", contents[i])
            for i in range(1, len(contents))
        ),
    ]
