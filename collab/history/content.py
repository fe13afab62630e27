"""A document's content as plain, comparable data: every root, every shared type, formatting.

Two documents hold the same content when :func:`content` gives equal values, whatever their
Yjs history (client ids, clocks, deletions). Unlike :func:`collab.export.to_json`, which shows
what a reader sees, this keeps everything a restore must reproduce: a Y.Text's delta with its
formatting attributes and embeds, XML element tags and attributes, XML text attributes, map
entries and array items, nested at any depth, each tagged with its shared type.

Numbers are normalised as pycrdt reads them back (``1`` and ``1.0`` are one value), and a
delta's adjacent runs with the same attributes are merged (one text may be split into runs
differently by two documents).
"""

from __future__ import annotations

import math
from typing import Any, Final

from pycrdt import Array, Doc, Map, Text, XmlElement, XmlFragment, XmlText

from collab.errors import CollabError
from collab.export.roots import RootType, load, reading

__all__ = [
    "SHARED",
    "RestoreError",
    "content",
    "delta",
    "plain",
    "root",
    "tree",
]


class RestoreError(CollabError):
    """The version or the current state cannot be read, holds what a restore cannot write
    (subdocuments), or the computed update does not reproduce the version."""

    http_status = 422
    code = "cannot_restore"


SHARED: Final = (Map, Array, Text, XmlFragment, XmlElement, XmlText)
"""The pycrdt shared types a document can hold."""


def plain(value: Any) -> Any:
    """A JSON-like copy of a plain value read from pycrdt: integral floats become ints, tuples
    lists, dict keys are sorted; bytes stay bytes."""
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer() and abs(value) < 2**53:
            return int(value)
        return value
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, bytearray | memoryview):
        return bytes(value)
    return value


def attributes(attrs: dict[str, Any] | None) -> dict[str, Any]:
    """Formatting attributes of a delta run, without the ``None`` ones (Yjs stores none)."""
    return {k: plain(v) for k, v in sorted((attrs or {}).items()) if v is not None}


def delta(text: Text | XmlText) -> list[list[Any]]:
    """A text's delta as ``[[insert, attributes], ...]``: ``insert`` is a string, a plain embed
    ``{"embed": value}`` or a nested type ``{"type": tree}``; adjacent string runs with equal
    attributes are merged."""
    out: list[list[Any]] = []
    for value, attrs in text.diff():
        marks = attributes(attrs)
        if isinstance(value, str):
            if not value:
                continue
            if out and isinstance(out[-1][0], str) and out[-1][1] == marks:
                out[-1][0] += value
            else:
                out.append([value, marks])
        elif isinstance(value, SHARED):
            out.append([{"type": tree(value)}, marks])
        else:
            out.append([{"embed": plain(value)}, marks])
    return out


def tree(value: Any) -> Any:
    """The content of a shared type, or a plain value, as tagged plain data."""
    if isinstance(value, XmlText):
        attrs = {str(k): plain(v) for k, v in sorted(value.attributes.__iter__())}
        return {"xmltext": delta(value), "attributes": attrs}
    if isinstance(value, Text):
        return {"text": delta(value)}
    if isinstance(value, XmlElement):
        attrs = {str(k): plain(v) for k, v in sorted(value.attributes.__iter__())}
        children = [tree(child) for child in value.children]
        return {"element": value.tag, "attributes": attrs, "children": children}
    if isinstance(value, XmlFragment):
        return {"fragment": [tree(child) for child in value.children]}
    if isinstance(value, Map):
        return {"map": {str(k): tree(value[k]) for k in sorted(value.keys())}}
    if isinstance(value, Array):
        return {"array": [tree(item) for item in value]}
    if isinstance(value, Doc):
        return {"subdocument": value.guid}
    return {"value": plain(value)}


_TYPES: Final[dict[str, type]] = {
    "text": Text,
    "map": Map,
    "array": Array,
    "xml": XmlFragment,
}


def root(doc: Doc[Any], name: str, kind: RootType) -> Any:
    """Root ``name`` of ``doc`` as the shared type ``kind`` (pycrdt lets a root be re-cast)."""
    return doc.get(name, type=_TYPES[kind])


def content(update: bytes) -> dict[str, Any]:
    """Every root of the state ``update`` that holds something, as ``{name: tree}``.

    Raises:
        collab.export.ExportError: the update cannot be read.
    """
    doc, types = load(update)
    with reading("the document"):
        return {name: tree(root(doc, name, kind)) for name, kind in types.items() if kind}
