"""Lexical's ``@lexical/yjs`` layout, read into the canonical tree of :mod:`collab.export.schemas`.

``@lexical/yjs`` (the collaboration plugin's binding) keeps the editor's root in a top-level
**Y.XmlText** (``root``) whose content is Lexical's child nodes, in order
(``CollabElementNode``, ``CollabTextNode``, ``CollabLineBreakNode``, ``CollabDecoratorNode`` in
its sources; checked against bytes its binding wrote in ``tests/golden/bindings``):

* an element node (paragraph, heading, quote, list, listitem, code, link...) is an embedded
  Y.XmlText whose *attributes* are the node's properties: ``__type``, and ``__tag``
  (``h1``..``h6``), ``__listType`` (``bullet``/``number``/``check``), ``__start``,
  ``__checked``, ``__language``, ``__url``, ``__title``...;
* a text node (``text``, ``code-highlight``, ``tab``...) is a Y.Map of its properties
  (``__type``, ``__format``: a bit set, 1 bold, 2 italic, 4 strikethrough, 8 underline, 16 code,
  32 subscript, 64 superscript, 128 highlight) followed by its string in the parent Y.XmlText;
  a line break is a Y.Map alone;
* a decorator node (horizontal rule, images...) is an embedded Y.XmlElement with its properties
  as attributes.

pycrdt cannot open a root Y.XmlText, so the root is read through its Y.Text view (the same
items). A nested list is a list item holding only a list; it joins the item before it.
"""

from __future__ import annotations

from typing import Any, Final

from pycrdt import Doc, Map, XmlElement, XmlText

from collab.export.roots import MAX_DEPTH, ExportError, Node
from collab.export.schemas import Unknown, sort_marks
from collab.export.tree import text_items

__all__ = ["looks_like_lexical", "read_lexical"]

_FORMAT_BITS: Final = (
    (1, "bold"),
    (2, "italic"),
    (4, "strike"),
    (8, "underline"),
    (16, "code"),
    (32, "subscript"),
    (64, "superscript"),
    (128, "highlight"),
)
_TEXT_TYPES: Final = frozenset({"text", "code-highlight", "tab"})
_INLINE_ELEMENTS: Final = frozenset({"link", "autolink"})
_DECORATORS: Final = {"horizontalrule": "horizontalRule", "page-break": None}

Item = tuple[Any, dict[str, Any] | None]


def looks_like_lexical(delta: list[Item]) -> bool:
    """Whether the root's items (its Y.Text view) are Lexical element nodes (``__type``)."""
    return any(isinstance(value, XmlText) and "__type" in _attrs(value) for value, _ in delta)


def _attrs(node: XmlText | XmlElement) -> dict[str, Any]:
    # pycrdt types XmlAttributesView.__iter__ as returning an Iterable: list() it first.
    return {str(key): value for key, value in list(node.attributes.__iter__())}


def _marks(fmt: Any, link: Node | None) -> list[Node]:
    bits = int(fmt) if isinstance(fmt, int | float) and not isinstance(fmt, bool) else 0
    marks: list[Node] = [{"type": name} for bit, name in _FORMAT_BITS if bits & bit]
    if link is not None:
        marks.append(link)
    return sort_marks(marks)


class _Reader:
    def __init__(self, unknown: Unknown) -> None:
        self.unknown = unknown

    def inline(self, items: list[Item], link: Node | None, depth: int) -> list[Node]:
        """Inline nodes from an element's items: text, breaks, links, inline unknowns."""
        if depth > MAX_DEPTH:
            raise ExportError(f"the document nests deeper than {MAX_DEPTH} levels")
        out: list[Node] = []
        props: dict[str, Any] | None = None
        for value, _ in items:
            if isinstance(value, str):
                if not value:
                    continue
                props = props or {}
                kind = str(props.get("__type", "text"))
                if kind not in _TEXT_TYPES:
                    self.unknown.nodes.add(kind)
                text: Node = {"type": "text", "text": value}
                marks = _marks(props.get("__format"), link)
                if marks:
                    text["marks"] = marks
                out.append(text)
                continue
            props = None
            if isinstance(value, Map):
                props = dict(value)
                kind = str(props.get("__type", ""))
                if kind == "linebreak":
                    out.append({"type": "hardBreak"})
                    props = None
            elif isinstance(value, XmlText):
                attrs = _attrs(value)
                kind = str(attrs.get("__type", ""))
                inner_link = link
                if kind in _INLINE_ELEMENTS:
                    inner_link = {"type": "link", "attrs": {"href": attrs.get("__url")}}
                    if attrs.get("__title"):
                        inner_link["attrs"]["title"] = attrs["__title"]
                else:
                    self.unknown.nodes.add(kind or "element")
                out.extend(self.inline(list(value.diff()), inner_link, depth + 1))
            elif isinstance(value, XmlElement):
                self.decorator(value, out)
        return out

    def decorator(self, node: XmlElement, out: list[Node]) -> None:
        attrs = _attrs(node)
        kind = str(attrs.get("__type") or node.tag or "decorator")
        if kind in _DECORATORS:
            canonical = _DECORATORS[kind]
            if canonical:
                out.append({"type": canonical})
            return
        self.unknown.nodes.add(kind)
        text = str(attrs.get("__text") or attrs.get("__altText") or "")
        if text:
            out.append({"type": "text", "text": text})

    def blocks(self, items: list[Item], depth: int) -> list[Node]:
        """Block nodes from the items of the root, a quote's... or a list item's children."""
        if depth > MAX_DEPTH:
            raise ExportError(f"the document nests deeper than {MAX_DEPTH} levels")
        out: list[Node] = []
        loose: list[Item] = []  # inline items directly in a block container

        def flush() -> None:
            content = self.inline(loose, None, depth + 1)
            if content:
                out.append({"type": "paragraph", "content": content})
            loose.clear()

        for value, attrs in items:
            kind = str(_attrs(value).get("__type", "")) if isinstance(value, XmlText) else ""
            if isinstance(value, XmlText) and kind not in _INLINE_ELEMENTS:
                flush()
                out.append(self.block(value, depth + 1))
            elif isinstance(value, XmlElement) and str(_attrs(value).get("__type")) in _DECORATORS:
                flush()
                self.decorator(value, out)
            else:
                loose.append((value, attrs))
        flush()
        return out

    def block(self, node: XmlText, depth: int) -> Node:
        attrs = _attrs(node)
        kind = str(attrs.get("__type", ""))
        items: list[Item] = list(node.diff())
        if kind == "paragraph":
            return {"type": "paragraph", "content": self.inline(items, None, depth)}
        if kind == "heading":
            tag = str(attrs.get("__tag", "h1"))
            level = int(tag[1]) if len(tag) == 2 and tag[1] in "123456" else 1
            content = self.inline(items, None, depth)
            return {"type": "heading", "attrs": {"level": level}, "content": content}
        if kind == "quote":
            content = self.inline(items, None, depth)
            return {"type": "blockquote", "content": [{"type": "paragraph", "content": content}]}
        if kind == "code":
            code = "".join(
                str(n.get("text", "")) if n["type"] == "text" else "\n"
                for n in self.inline(items, None, depth)
            )
            language = attrs.get("__language")
            return {
                "type": "codeBlock",
                "attrs": {"language": language} if language else {},
                "content": [{"type": "text", "text": code}] if code else [],
            }
        if kind == "list":
            return self.list(attrs, items, depth)
        if kind == "listitem":  # outside a list: its content as a paragraph
            return {"type": "paragraph", "content": self.inline(items, None, depth)}
        self.unknown.nodes.add(kind or "element")
        blocks = self.blocks(items, depth)
        return {"type": "unknown", "attrs": {"name": kind}, "content": blocks}

    def list(self, attrs: dict[str, Any], items: list[Item], depth: int) -> Node:
        list_type = str(attrs.get("__listType", "bullet"))
        kind = {"number": "orderedList", "check": "taskList"}.get(list_type, "bulletList")
        entries: list[Node] = []
        for value, _ in items:
            if not isinstance(value, XmlText):
                continue
            item_attrs = _attrs(value)
            children = self.blocks(list(value.diff()), depth + 1)
            nested_only = bool(children) and all(
                c["type"] in ("bulletList", "orderedList", "taskList") for c in children
            )
            if nested_only and entries:
                entries[-1]["content"].extend(children)
                continue
            entry: Node = {"type": "taskItem" if kind == "taskList" else "listItem"}
            if kind == "taskList":
                entry["attrs"] = {"checked": bool(item_attrs.get("__checked"))}
            entry["content"] = children or [{"type": "paragraph", "content": []}]
            entries.append(entry)
        node: Node = {"type": kind, "content": entries}
        start = attrs.get("__start")
        if kind == "orderedList" and isinstance(start, int | float) and start != 1:
            node["attrs"] = {"start": int(start)}
        return node


def read_lexical(doc: Doc[Any], name: str, unknown: Unknown) -> list[Node]:
    """The canonical blocks of the Lexical root ``name`` of ``doc``."""
    return _Reader(unknown).blocks(text_items(doc, name), 0)
