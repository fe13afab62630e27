"""The document tree as JSON: every root, and the rich-text fragment as ProseMirror JSON.

**Rich text.** The web editor is Tiptap 3, bound by ``@tiptap/y-tiptap`` (a y-prosemirror
fork) to the Y.XmlFragment :data:`DEFAULT_FRAGMENT`. Checked against bytes written by that stack
(``tests/golden/make_golden.mjs``): each ProseMirror node is a Y.XmlElement named after the node
type; each non-null node attribute is ``setAttribute(key, value)`` with the JSON value itself
(``level`` and ``start`` are numbers, which pycrdt reads back as floats like ``1.0``; null
attributes are not stored). Each run of text nodes is one Y.XmlText whose delta carries every
mark as a formatting attribute ``{mark name: mark.attrs}``: ``bold`` -> ``{}``, ``link`` ->
``{"href": ..., "target": ..., "rel": ..., "class": None, "title": None}``. Marks whose type does
not exclude itself are keyed ``name--<8 base64 chars>`` (a hash), which is stripped here.

**Other XML.** A Y.XmlText with attributes (Lexical's element nodes, see
:mod:`collab.export.lexical`) is a node ``{"type": "xmlText", "attrs", "content"}`` and a Y.Map
inside a Y.XmlText's content (Lexical's text, line break and tab nodes) a node
``{"type": "map", "attrs"}``, so the JSON keeps their boundaries and properties.
"""

from __future__ import annotations

import base64
import math
import re
from typing import Any, Final

from pycrdt import Array, Doc, Map, Text, XmlElement, XmlFragment, XmlText

from collab.export.roots import (
    DEFAULT_FRAGMENT,
    DEFAULT_TEXT,
    MAX_DEPTH,
    ExportError,
    Loaded,
    Node,
    RootType,
    check,
    load,
    reading,
)

__all__ = [
    "all_json",
    "fragment",
    "fragment_to_json",
    "root_json",
    "text_items",
    "text_to_text",
    "text_value",
    "to_json",
]


def _jsonable(value: Any, depth: int = 0) -> Any:
    """A JSON-safe copy of a value read from pycrdt (integral floats become ints).

    Raises:
        ExportError: the value nests deeper than ``MAX_DEPTH``.
    """
    if depth > MAX_DEPTH:
        raise ExportError(f"the document nests deeper than {MAX_DEPTH} levels")
    if isinstance(value, bool | str) or value is None:
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        return int(value) if value.is_integer() and abs(value) < 2**53 else value
    if isinstance(value, int):
        return value
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, Map | dict):
        items = sorted(value.items(), key=lambda item: str(item[0]))
        return {str(k): _jsonable(v, depth + 1) for k, v in items}
    if isinstance(value, Array | list | tuple):
        return [_jsonable(v, depth + 1) for v in value]
    if isinstance(value, Text | XmlText):
        return str(value)
    if isinstance(value, XmlFragment):
        return {"type": "doc", "content": _xml_children(value, depth + 1)}
    if isinstance(value, XmlElement):
        return _xml_children(value, depth + 1)[0]
    return None  # subdocuments and anything else without a JSON form


_HASHED_MARK = re.compile(r"(.+)--[A-Za-z0-9+/=]{8}")
_MARK_ORDER: Final = {"link": 0, "bold": 1, "italic": 2, "strike": 3, "underline": 4, "code": 9}


def _marks(attrs: dict[str, Any] | None) -> list[Node]:
    marks: list[Node] = []
    for key, value in (attrs or {}).items():
        if value is None or value is False:
            continue
        hashed = _HASHED_MARK.fullmatch(key)
        mark: Node = {"type": hashed.group(1) if hashed else key}
        if isinstance(value, dict):
            mark_attrs = {k: v for k, v in _jsonable(value).items() if v is not None}
            if mark_attrs:
                mark["attrs"] = mark_attrs
        marks.append(mark)
    return sorted(marks, key=lambda m: (_MARK_ORDER.get(m["type"], 5), m["type"], repr(m)))


def _attributes(node: XmlElement | XmlText, depth: int) -> dict[str, Any]:
    """The node's non-null attributes, JSON-safe and sorted by name."""
    attrs = {str(k): _jsonable(v, depth + 1) for k, v in sorted(node.attributes.__iter__())}
    return {k: v for k, v in attrs.items() if v is not None}


def _xml_children(node: XmlFragment | XmlElement | XmlText, depth: int = 0) -> list[Node]:
    """The ProseMirror-JSON nodes for ``node`` (a list: an XmlText yields one per delta run).

    Raises:
        ExportError: the tree nests deeper than ``MAX_DEPTH``.
    """
    if depth > MAX_DEPTH:
        raise ExportError(f"the document nests deeper than {MAX_DEPTH} levels")
    if isinstance(node, XmlText):
        out: list[Node] = []
        for value, attrs in node.diff():
            if isinstance(value, str):
                if value:
                    text: Node = {"type": "text", "text": value}
                    marks = _marks(attrs)
                    if marks:
                        text["marks"] = marks
                    out.append(text)
            elif isinstance(value, XmlElement | XmlText | XmlFragment):
                out.extend(_xml_children(value, depth + 1))
            elif isinstance(value, Map):  # Lexical's text, line break and tab nodes
                out.append({"type": "map", "attrs": _jsonable(value, depth + 1)})
        own = _attributes(node, depth)
        if own:  # an XmlText element with properties: Lexical's element nodes
            return [{"type": "xmlText", "attrs": own, "content": out}]
        return out
    content = [n for child in node.children for n in _xml_children(child, depth + 1)]
    if isinstance(node, XmlFragment):
        return content
    element: Node = {"type": node.tag or ""}
    attrs = _attributes(node, depth)
    if attrs:
        element["attrs"] = attrs
    if content:
        element["content"] = content
    return [element]


def root_json(doc: Doc[Any], name: str, kind: RootType | None) -> Any:
    if kind == "text":
        return str(doc.get(name, type=Text))
    if kind == "map":
        return _jsonable(doc.get(name, type=Map))
    if kind == "array":
        return _jsonable(doc.get(name, type=Array))
    if kind == "xml":
        return _jsonable(doc.get(name, type=XmlFragment))
    return None


def to_json(update: bytes) -> dict[str, Any]:
    """Every root of ``update`` as JSON: ``{name: value}``.

    A Text is a string, a Map an object (keys sorted), an Array a list, an XmlFragment a
    ProseMirror document ``{"type": "doc", "content": [...]}`` and a root of unknown type
    (see :func:`root_types`) ``None``. Numbers without a fraction are ints; binary is base64.

    Raises:
        ExportError: the update cannot be read.
    """
    return all_json(load(update))


def all_json(loaded: Loaded) -> dict[str, Any]:
    doc, types = loaded
    with reading("the document"):
        return {name: root_json(doc, name, kind) for name, kind in types.items()}


def fragment(loaded: Loaded, field: str) -> list[Node]:
    """The top-level nodes of XmlFragment ``field`` (raises like :func:`check`)."""
    if check(loaded, field, "xml") is None:
        return []
    with reading("the fragment"):
        return _xml_children(loaded[0].get(field, type=XmlFragment))


def text_value(loaded: Loaded, field: str) -> str:
    """The string in Y.Text ``field`` (raises like :func:`check`)."""
    if check(loaded, field, "text") is None:
        return ""
    with reading("the text"):
        return str(loaded[0].get(field, type=Text))


def text_items(doc: Doc[Any], name: str) -> list[tuple[Any, dict[str, Any] | None]]:
    """Root ``name``'s items through its Y.Text view: ``(string or embed, attributes)`` pairs
    (a Quill delta; the nodes of a Lexical root, which pycrdt cannot open as a Y.XmlText)."""
    return list(doc.get(name, type=Text).diff())


def fragment_to_json(update: bytes, field: str = DEFAULT_FRAGMENT) -> Node:
    """The XmlFragment ``field`` as a ProseMirror document ``{"type": "doc", "content": [...]}``.

    Raises:
        ExportError: unreadable update; ``field`` missing or not an XmlFragment.
    """
    return {"type": "doc", "content": fragment(load(update), field)}


def text_to_text(update: bytes, field: str = DEFAULT_TEXT) -> str:
    """The string content of the Y.Text ``field``.

    Raises:
        ExportError: unreadable update; ``field`` missing or not a Y.Text.
    """
    return text_value(load(update), field)
