"""Quill's layout: a Y.Text holding a Quill delta, read into the tree of
:mod:`collab.export.schemas`.

y-quill keeps Quill's document in a Y.Text as the delta itself (``QuillBinding`` applies each
Quill change with ``ytext.applyDelta``): text runs carry Quill's **inline** formats as Yjs
formatting attributes (``bold``, ``italic``, ``underline``, ``strike``, ``code``, ``link``
(the URL), ``script`` (``sub``/``super``), ``color``, ``background``, ``font``, ``size``), and the
``"\\n"`` that ends a line carries the line's **block** formats (``header`` 1-6, ``list``
``bullet``/``ordered``/``checked``/``unchecked`` with ``indent`` for nesting, ``blockquote``,
``code-block`` (true or a language), ``align``, ``direction``, ``indent``); embeds (``image``,
``video``, ``formula``) are ContentEmbed objects. This is Quill 2's documented delta format
(quilljs.com/docs/delta), checked against bytes y-quill wrote (``tests/golden/bindings``).
"""

from __future__ import annotations

from typing import Any, Final

from collab.export.roots import Node
from collab.export.schemas import Unknown, sort_marks

__all__ = ["has_formats", "read_quill"]

_INLINE: Final = {"bold": "bold", "italic": "italic", "underline": "underline", "strike": "strike"}
_INLINE_STYLE: Final = frozenset({"color", "background", "font", "size"})
_LINE: Final = frozenset(
    {"header", "list", "indent", "blockquote", "code-block", "align", "direction"}
)
_LISTS: Final = {
    "bullet": "bulletList",
    "ordered": "orderedList",
    "checked": "taskList",
    "unchecked": "taskList",
}

Item = tuple[Any, dict[str, Any] | None]


def has_formats(delta: list[Item]) -> bool:
    """Whether a Y.Text carries formatting or embeds (a Quill document, not plain text)."""
    return any(attrs or not isinstance(value, str) for value, attrs in delta)


def _marks(attrs: dict[str, Any], unknown: Unknown) -> list[Node]:
    marks: list[Node] = []
    for key, value in attrs.items():
        if value is None or value is False:
            continue
        if key in _INLINE:
            marks.append({"type": _INLINE[key]})
        elif key == "code":
            marks.append({"type": "code"})
        elif key == "link" and isinstance(value, str):
            marks.append({"type": "link", "attrs": {"href": value}})
        elif key == "script" and value in ("sub", "super"):
            marks.append({"type": "subscript" if value == "sub" else "superscript"})
        elif key not in _INLINE_STYLE and key not in _LINE:
            unknown.marks.add(key)
    return sort_marks(marks)


def _embed(value: Any, unknown: Unknown) -> Node | None:
    if isinstance(value, dict) and isinstance(value.get("image"), str):
        return {"type": "image", "attrs": {"src": value["image"]}}
    name = next(iter(value), "embed") if isinstance(value, dict) else type(value).__name__
    unknown.nodes.add(str(name))
    text = value.get(name) if isinstance(value, dict) else None
    return {"type": "text", "text": text} if isinstance(text, str) and text else None


class _Builder:
    """Lines in, blocks out: consecutive list lines form (nested) lists, consecutive code
    lines one code block, consecutive quote lines one quote."""

    def __init__(self) -> None:
        self.blocks: list[Node] = []
        self.lists: list[Node] = []  # the open list at each indent level

    def line(self, inline: list[Node], formats: dict[str, Any]) -> None:
        kind = formats.get("list")
        if kind in _LISTS:
            self._list_line(inline, str(kind), formats.get("indent"))
            return
        self.lists = []
        last = self.blocks[-1] if self.blocks else None
        if formats.get("code-block"):
            text = "".join(str(n.get("text", "")) for n in inline if n["type"] == "text")
            language = formats["code-block"]
            if last is not None and last["type"] == "codeBlock" and last.get("_quill"):
                last["content"][0]["text"] += "\n" + text
                return
            named = isinstance(language, str) and language != "plain"
            attrs = {"language": language} if named else {}
            block = {"type": "codeBlock", "attrs": attrs, "_quill": True}
            self.blocks.append({**block, "content": [{"type": "text", "text": text}]})
            return
        header = formats.get("header")
        if isinstance(header, int | float) and 1 <= header <= 6:
            heading = {"type": "heading", "attrs": {"level": int(header)}, "content": inline}
            self.blocks.append(heading)
            return
        paragraph = {"type": "paragraph", "content": inline}
        if formats.get("blockquote"):
            if last is not None and last["type"] == "blockquote" and last.get("_quill"):
                last["content"].append(paragraph)
            else:
                self.blocks.append({"type": "blockquote", "_quill": True, "content": [paragraph]})
            return
        self.blocks.append(paragraph)

    def _list_line(self, inline: list[Node], kind: str, indent: Any) -> None:
        level = int(indent) if isinstance(indent, int | float) and 0 < indent < 100 else 0
        list_type = _LISTS[kind]
        del self.lists[level + 1 :]
        while len(self.lists) <= level:  # open the levels down to this line's
            self._open(len(self.lists), list_type, kind)
        if self.lists[level]["type"] != list_type:  # another kind of list at this level
            self._open(level, list_type, kind)
        self.lists[level]["content"].append(_item(list_type, kind, inline))

    def _open(self, level: int, list_type: str, kind: str) -> None:
        fresh: Node = {"type": list_type, "content": []}
        if level == 0:
            self.blocks.append(fresh)
        else:
            parent = self.lists[level - 1]
            if not parent["content"]:  # an indented first line: its parent item is empty
                parent["content"].append(_item(parent["type"], kind, []))
            parent["content"][-1]["content"].append(fresh)
        del self.lists[level:]
        self.lists.append(fresh)

    def done(self) -> list[Node]:
        for block in self.blocks:
            block.pop("_quill", None)
        return self.blocks


def _item(list_type: str, kind: str, inline: list[Node]) -> Node:
    item: Node = {"type": "taskItem" if list_type == "taskList" else "listItem"}
    if list_type == "taskList":
        item["attrs"] = {"checked": kind == "checked"}
    item["content"] = [{"type": "paragraph", "content": inline}]
    return item


def read_quill(delta: list[Item], unknown: Unknown) -> list[Node]:
    """The canonical blocks of a Quill delta (a Y.Text's ``diff()``)."""
    builder = _Builder()
    inline: list[Node] = []
    for value, attrs in delta:
        if not isinstance(value, str):
            node = _embed(value, unknown)
            if node is not None:
                inline.append(node)
            continue
        for i, part in enumerate(value.split("\n")):
            if i:
                builder.line(inline, attrs or {})
                inline = []
            if part:
                text: Node = {"type": "text", "text": part}
                marks = _marks(attrs or {}, unknown)
                if marks:
                    text["marks"] = marks
                inline.append(text)
    if inline:
        builder.line(inline, {})
    return builder.done()
