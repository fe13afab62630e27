"""Which root an export renders, and which layout reads it: rules that never pick nothing.

Root (:func:`select_root`): the one asked for (``field``), else the editor's root ``default``
when the document has one, else the document's only root (roots whose content was all deleted
do not count when another root holds content), else a :class:`RootError` listing every root and
its type. A missing root, or one whose type the format cannot render, is a :class:`RootError`
with the same list.

Layout (:func:`detect_layout`): from the root's structure, unless forced (``schema``): a
Y.XmlText whose items are Lexical element nodes (``__type`` attributes) is ``lexical``; a
fragment of ``blockGroup``/``blockContainer`` elements is ``blocknote``; another fragment is
``tiptap`` or ``prosemirror``, whichever mapping knows more of its names; a Y.Text with
formatting or embeds is ``quill``, a Y.Text without is ``text``.
"""

from __future__ import annotations

from typing import Final

from pycrdt import XmlElement, XmlFragment

from collab.export.lexical import looks_like_lexical
from collab.export.quill import has_formats
from collab.export.roots import DEFAULT_FRAGMENT, ExportError, Loaded, Node, RootType, reading
from collab.export.schemas import PROSEMIRROR, TIPTAP, Schema
from collab.export.tree import text_items

__all__ = [
    "LAYOUTS",
    "NothingToExport",
    "RootError",
    "describe_roots",
    "detect_layout",
    "select_root",
]

LAYOUTS: Final[dict[str, tuple[RootType, str]]] = {
    "tiptap": ("xml", "Tiptap (StarterKit names) through @tiptap/y-tiptap or y-prosemirror"),
    "prosemirror": ("xml", "ProseMirror with prosemirror-schema-basic/-list names, y-prosemirror"),
    "blocknote": ("xml", "BlockNote (blockGroup/blockContainer blocks)"),
    "lexical": ("xml", "Lexical through @lexical/yjs (a Y.XmlText root)"),
    "quill": ("text", "Quill through y-quill (a Y.Text holding a delta)"),
    "text": ("text", "plain Y.Text (CodeMirror, Monaco, any plain-text binding)"),
}
"""Layout name -> (root type it reads, description): the values of ``schema`` / ``--schema``."""

_TYPE_NAMES: Final = {
    "text": "Y.Text",
    "map": "Y.Map",
    "array": "Y.Array",
    "xml": "Y.XmlFragment/Y.XmlText",
    None: "empty",
}
_RENDERS: Final[dict[str, tuple[RootType, ...]]] = {
    "json": ("text", "map", "array", "xml"),
    "markdown": ("xml", "text"),
    "html": ("xml", "text"),
    "text": ("xml", "text"),
}


class RootError(ExportError):
    """No root fits the request: missing, ambiguous, or of a type the format cannot render;
    or ``field``/``schema`` asked of a format that does not use them (HTTP 400 ``bad_field``)."""

    http_status = 400
    code = "bad_field"


class NothingToExport(RootError):
    """The root to render holds no text (its content was deleted, or it is a blank editor's
    empty paragraph) and no other single root does: an error rather than an empty file."""


def describe_roots(types: dict[str, RootType | None]) -> str:
    """``'a' (Y.Text), 'b' (Y.Map)``, or ``none``: every root and its type."""
    if not types:
        return "none"
    return ", ".join(f"{name!r} ({_TYPE_NAMES[kind]})" for name, kind in types.items())


def select_root(types: dict[str, RootType | None], fmt: str, field: str | None) -> str:
    """The root to render in format ``fmt`` (``json``, ``markdown``, ``html`` or ``text``).

    Raises:
        RootError: see the module docstring; the message lists the roots and their types.
    """
    listing = f"the document's roots: {describe_roots(types)}"
    if field is None:
        filled = [name for name, kind in types.items() if kind is not None]
        if DEFAULT_FRAGMENT in types:
            field = DEFAULT_FRAGMENT
        elif len(types) == 1:
            field = next(iter(types))
        elif len(filled) == 1:
            field = filled[0]
        elif not types:
            raise RootError(f"the document is empty: it has no root to export as {fmt}")
        else:
            raise RootError(
                f"the document has {len(filled) or len(types)} roots and none is the editor's"
                f" {DEFAULT_FRAGMENT!r}: pick one with field (--field); {listing}"
            )
    elif field not in types:
        raise RootError(f"the document has no root {field!r}; {listing}")
    kind = types[field]
    if kind is not None and kind not in _RENDERS[fmt]:
        raise RootError(
            f"root {field!r} is a {_TYPE_NAMES[kind]}, which {fmt} cannot render"
            f" (it renders {' and '.join(_TYPE_NAMES[k] for k in _RENDERS[fmt])}); {listing}"
        )
    return field


def _names(nodes: list[Node], into: set[str]) -> set[str]:
    for node in nodes:
        into.add(str(node.get("type")))
        into.update(str(mark["type"]) for mark in node.get("marks", []))
        _names(node.get("content", []), into)
    return into


def _knows(schema: Schema, names: set[str]) -> int:
    return len(names & (set(schema.nodes) | set(schema.marks)))


def detect_layout(loaded: Loaded, field: str, raw: list[Node] | None) -> str:
    """The layout of root ``field`` (see the module docstring); ``raw`` is the root read as
    a fragment (:func:`collab.export.tree.fragment`) when it is an XML root."""
    doc, types = loaded
    kind = types.get(field)
    if kind == "text" or (kind is None and raw is None):
        with reading("the text"):
            return "quill" if has_formats(text_items(doc, field)) else "text"
    with reading("the document"):
        if looks_like_lexical(text_items(doc, field)):
            return "lexical"
        children = doc.get(field, type=XmlFragment).children
        if any(isinstance(c, XmlElement) and c.tag == "blockGroup" for c in children):
            return "blocknote"
    names = _names(raw or [], set())
    return "prosemirror" if _knows(PROSEMIRROR, names) > _knows(TIPTAP, names) else "tiptap"
