"""The structs of a Yjs v1 update, read the way Yjs reads them.

Yjs (``readClientsStructRefs`` in ``yjs/src/utils/encoding.js``, ``readItemContent`` in
``structs/Item.js``, lib0 ``decoding.js``) is the reference of what an update means: the
server must never hold a document that a Yjs client would decode differently. pycrdt (yrs)
decodes more than Yjs does (content kinds 11 to 31, JSON that ``JSON.parse`` throws on,
duplicate client entries, ...), so every update is read here first and refused when Yjs
would throw on it or read it differently. Layout of a v1 update:

* ``varUint`` count of clients, then per client ``varUint`` count of structs, ``varUint``
  client id, ``varUint`` clock of the first struct, then the structs back to back;
* a struct starts with an info byte: its low 5 bits are the kind (0 GC and 10 Skip with a
  ``varUint`` length; 1 to 9 an item's content), bit 8 an origin ID follows, bit 7 a right
  origin ID, and when neither, a parent (``varUint`` 1 then a root name, else an ID) and,
  with bit 6, a ``varString`` key in a map;
* then the delete set: ``varUint`` count of clients, per client its id, a count of ranges and
  each range's clock and length.

Only :class:`~collab.protocol.ProtocolError`-free reading lives here (lib0's values are read
by :mod:`collab.lib0`): every failure is :class:`Malformed`, with the reason. Structs are
written back in slices by :mod:`collab.slices`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from collab.lib0 import MAX_NESTING, Malformed, Reader

__all__ = [
    "GC",
    "MAX_CLOCK",
    "MAX_NESTING",
    "SKIP",
    "TYPE",
    "ClientRun",
    "Malformed",
    "Parsed",
    "Part",
    "Struct",
    "content_length",
    "merged_spans",
    "parse",
    "skip_header",
]

MAX_CLOCK = 2**31
"""Clocks at or past this are refused: yrs keeps them in 32 bits and wraps (no real client
gets near)."""

GC = 0
DELETED = 1
JSON = 2
STRING = 4
TYPE = 7
SKIP = 10
_LAST_CONTENT = 9  # content kinds 1..9; 11..31 make Yjs throw "contentRefs[...] is not a function"
_TYPE_REFS = 7  # YArray, YMap, YText, YXmlElement, YXmlFragment, YXmlHook, YXmlText
_NAMED_TYPES = (3, 5)  # YXmlElement and YXmlHook carry a name

ID = tuple[int, int]
"""A struct id: (client, clock)."""

Struct = tuple[int, int, int, ID | None, ID | None, ID | None, int, int]
"""One struct: clock, length, kind (info & 31), origin, right origin, parent id (when the
parent is given as an id, not as a root name), and its start and end offset in the update."""

Part = tuple[bytes, int, int, list[Struct]]
"""Consecutive structs of one client for :func:`encode`: the update they are in, the client,
the clock of the first, and the structs."""


@dataclass(slots=True)
class ClientRun:
    """One client's structs in an update, in clock order from ``clock`` on."""

    client: int
    clock: int
    structs: list[Struct]
    data: bytes  # the update the structs are in
    surrogates: list[int] = field(default_factory=list)
    """Clocks of the low halves of UTF-16 surrogate pairs in its strings, ascending: Yjs
    (``ContentString.splice``) turns both halves of a pair it splits into U+FFFD, yrs keeps
    the character, so a reference or deletion that splits one reads differently."""


@dataclass(slots=True)
class Parsed:
    """An update read by :func:`parse`."""

    data: bytes
    runs: list[ClientRun]
    ds_start: int  # offset of the delete set
    deletes: list[tuple[int, list[tuple[int, int]]]] = field(default_factory=list)

    @property
    def delete_set(self) -> bytes:
        """The delete set's bytes (as they end the update)."""
        return self.data[self.ds_start :]


def parse(data: bytes) -> Parsed:
    """Read a Yjs v1 update struct by struct, as Yjs would, without touching a document.

    Besides what makes Yjs throw (a content kind past 9, a type past 6, JSON that does not
    parse, a truncated struct, an integer past 2^53), this refuses what honest encoders
    never write and where pycrdt and Yjs read differently: a client listed twice (Yjs keeps
    the last entry, yrs both), a zero-length GC, Skip, deletion or deleted item, invalid UTF-8 (Yjs
    substitutes U+FFFD, changing the length), clocks past :data:`MAX_CLOCK`, a struct of a
    client referring to its own later clock (Yjs throws when integrating), a parent info other
    than 0 or 1, deletions out of order, and trailing bytes.

    Raises:
        Malformed: naming the reason.
    """
    reader = Reader(data)
    uint = reader.uint
    runs: list[ClientRun] = []
    seen: set[int] = set()
    for _ in range(reader.count(3)):
        count = reader.count(2)
        client = uint()
        if client in seen:
            raise Malformed(f"client {client} listed twice")
        seen.add(client)
        clock = uint()
        structs: list[Struct] = []
        surrogates: list[int] = []
        for _ in range(count):
            start = reader.pos
            if start >= len(data):
                raise Malformed("truncated update")
            info = data[start]
            reader.pos = start + 1
            kind = info & 0x1F
            origin = right = parent = None
            if kind in (GC, SKIP):
                if info != kind:  # Yjs ignores the flags; yrs cannot merge such a struct
                    raise Malformed(f"flags 0x{info & 0xE0:02x} on a GC or Skip struct")
                length = uint()
                if length == 0:
                    raise Malformed("zero-length struct")
            elif kind > _LAST_CONTENT:
                raise Malformed(f"unknown content kind {kind}")
            else:
                if info & 0x80:
                    origin = (uint(), uint())
                    if origin[0] == client and origin[1] >= clock:
                        raise Malformed("origin after its own item")
                if info & 0x40:
                    right = (uint(), uint())
                    if right[0] == client and right[1] >= clock:
                        raise Malformed("right origin after its own item")
                if not info & 0xC0:
                    parent_info = uint()
                    if parent_info == 1:
                        reader.string()
                    elif parent_info == 0:
                        parent = (uint(), uint())
                        if parent[0] == client and parent[1] >= clock:
                            raise Malformed("parent after its own item")
                    else:
                        raise Malformed(f"unknown parent info {parent_info}")
                    if info & 0x20:
                        reader.string()
                if kind == STRING:
                    text = reader.string()
                    length = len(text)
                    if not text.isascii():
                        length = len(text.encode("utf-16-le")) // 2  # Yjs counts UTF-16
                        if length != len(text):
                            surrogates += _low_surrogates(text, clock)
                else:
                    length = content_length(reader, kind)  # may be 0: yrs writes empty strings
                    if length == 0 and kind == DELETED:  # Yjs throws in its cleanup (its
                        # deletion of length 0 at clock 0 of a client has no struct before)
                        raise Malformed("a zero-length deleted item")
            structs.append((clock, length, kind, origin, right, parent, start, reader.pos))
            clock += length
        if clock > MAX_CLOCK:
            raise Malformed(f"clock {clock} is beyond what Yjs documents use")
        if structs:  # Yjs reads an empty entry as nothing
            runs.append(ClientRun(client, structs[0][0], structs, data, surrogates))
    ds_start = reader.pos
    deletes: list[tuple[int, list[tuple[int, int]]]] = []
    seen.clear()
    for _ in range(reader.count(2)):
        client = uint()
        if client in seen:  # Yjs applies both entries, yrs keeps the last
            raise Malformed(f"client {client} listed twice in the delete set")
        seen.add(client)
        ranges = []
        end = -1
        for _ in range(reader.count(2)):
            clock, length = uint(), uint()
            if length == 0 or clock <= end:
                raise Malformed("bad delete range")
            end = clock + length
            if end > MAX_CLOCK:
                raise Malformed(f"deletion past clock {MAX_CLOCK}")
            ranges.append((clock, length))
        if ranges:
            deletes.append((client, ranges))
    if reader.pos != len(data):
        raise Malformed(f"{len(data) - reader.pos} unexpected trailing bytes")
    return Parsed(data, runs, ds_start, deletes)


def _low_surrogates(text: str, clock: int) -> list[int]:
    """The clocks of the low surrogates of ``text``'s characters past U+FFFF (each two
    UTF-16 code units, so two clocks), ``text`` starting at ``clock``."""
    out = []
    for char in text:
        if ord(char) > 0xFFFF:
            out.append(clock + 1)
            clock += 2
        else:
            clock += 1
    return out


def skip_header(reader: Reader, info: int) -> int:
    """Skip an item's origin, right origin, parent and key as its info byte ``info`` says
    (the layout is in this module's docstring), ``reader`` just past that byte. It only
    reads (:func:`parse` checks): an unknown parent info is read as an ID.

    Returns:
        The offset where the parent starts: the parent and key as written end at
        ``reader.pos`` (none when the item has an origin or a right origin).

    Raises:
        Malformed: when the update ends first, or a string is not UTF-8.
    """
    uint = reader.uint
    if info & 0x80:  # an origin: an ID
        uint(), uint()
    if info & 0x40:  # a right origin: an ID
        uint(), uint()
    parent = reader.pos
    if not info & 0xC0:  # a root's name or an item's ID, then with bit 6 a key
        if uint() == 1:
            reader.string()
        else:
            uint(), uint()
        if info & 0x20:
            reader.string()
    return parent


def content_length(reader: Reader, kind: int) -> int:
    """Read an item's content of ``kind`` (1 to 9) as Yjs reads it; its length in clocks
    (a string's in UTF-16 code units; 0 for an empty string or deletion).

    Raises:
        Malformed: when the update ends first, or on content Yjs throws on or reads otherwise
            than pycrdt (JSON content, an unknown type, invalid UTF-8 or JSON, ...).
    """
    if kind == DELETED:
        return reader.uint()
    if kind == 8:  # ContentAny
        count = reader.count(1)
        for _ in range(count):
            reader.any()
        return count
    if kind == JSON:
        # Yjs reads ``count`` strings, yrs (pycrdt 0.14) ``count + 1``: the rest of the update
        # means different structs to each (and pycrdt's merges of it do not read back); Yjs
        # writes ContentAny since v13, so no current client sends it
        raise Malformed("JSON content (kind 2), which pycrdt and Yjs read differently")
    if kind == 3:  # ContentBinary
        reader.skip(reader.uint())
    elif kind == 5:  # ContentEmbed
        reader.json()
    elif kind == 6:  # ContentFormat
        reader.string()
        reader.json()
    elif kind == TYPE:
        ref = reader.uint()
        if ref >= _TYPE_REFS:
            raise Malformed(f"unknown type {ref}")
        if ref in _NAMED_TYPES:
            reader.string()
    elif kind == STRING:  # (:func:`parse` reads its strings itself, for surrogate pairs)
        text = reader.string()
        return len(text) if text.isascii() else len(text.encode("utf-16-le")) // 2
    else:  # 9: ContentDoc, a guid and its options (Yjs reads options.shouldLoad)
        reader.string()
        if reader.pos >= len(reader.data) or reader.data[reader.pos] != 118:
            raise Malformed("subdocument options are not an object")
        reader.any()
    return 1


def merged_spans(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Clock ranges ``(start, end)`` sorted, those that overlap or touch merged into one."""
    out: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(end, out[-1][1]))
        else:
            out.append((start, end))
    return out
