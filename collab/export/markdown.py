"""Blocks as Markdown (CommonMark) or plain text: one walker, two renderings."""

from __future__ import annotations

import re
from typing import Final

from collab.export.inline import md_inline
from collab.export.nodes import INLINE_LEAVES, code_language, int_attr, is_textblock, plain_inline
from collab.export.roots import DEFAULT_FRAGMENT, Node, load
from collab.export.tree import fragment

__all__ = ["fragment_to_markdown", "fragment_to_text", "render_markdown", "render_text"]

_LISTS: Final = frozenset({"bulletList", "orderedList", "taskList"})
_MARKERS: Final = {"bulletList": "-", "taskList": "-", "orderedList": "1."}
"""Lists whose items share a marker: two adjacent ones would read as one list."""


def _indent(text: str, first: str, rest: str) -> str:
    lines = text.split("\n")
    head = (first + lines[0]) if lines[0] else first.rstrip()
    return "\n".join([head] + [rest + line if line else rest.rstrip() for line in lines[1:]])


def _md_list(node: Node, plain: bool, alt: bool) -> str | None:
    ordered = node["type"] == "orderedList"
    start = int_attr(node, "start", 1, 0, 999_999_999) if ordered else 0
    items: list[str] = []
    for number, item in enumerate(node.get("content", []), start):
        marker = (f"{number})" if alt else f"{number}.") if ordered else ("*" if alt else "-")
        is_item = item.get("type") in ("listItem", "taskItem")
        children = item.get("content", []) if is_item else [item]
        body = _md_blocks(children, plain, in_item=True)
        if item.get("type") == "taskItem":
            body = ("[x] " if item.get("attrs", {}).get("checked") else "[ ] ") + body
        if marker == "-" and body.split("\n", 1)[0] == "---":
            body = "***" + body[3:]  # "- ---" would be one thematic break
        items.append(_indent(body, marker + " ", " " * (len(marker) + 1)))
    tight = all("\n\n" not in item for item in items)
    return ("\n" if tight else "\n\n").join(items) or None


def _md_block(node: Node, plain: bool, alt: bool = False) -> str | None:
    """One block as Markdown (or plain text); ``None`` for blocks that render to nothing."""
    kind = node.get("type")
    content: list[Node] = node.get("content", [])
    if kind == "heading":
        if plain:
            return plain_inline(content, in_heading=True)
        text = md_inline(content, in_heading=True)
        closing = re.search(r"(\\*)#$", text)  # a closing "#" run would be dropped
        if closing and len(closing.group(1)) % 2 == 0:
            text = text[:-1] + "\\#"
        return ("#" * int_attr(node, "level", 1, 1, 6) + " " + text).rstrip()
    if kind == "codeBlock":
        code = "".join(str(child.get("text", "")) for child in content)
        if plain:
            return code
        fence = "`" * max([3, *(len(run) + 1 for run in re.findall(r"`+", code))])
        info = code_language(node).replace("`", "")
        return f"{fence}{info}\n{code}\n{fence}" if code else f"{fence}{info}\n{fence}"
    if kind in _LISTS:
        return _md_list(node, plain, alt)
    if kind == "blockquote":
        inner = _md_blocks(content, plain)
        return inner if plain else _indent(inner, "> ", "> ")
    if kind == "horizontalRule":
        return None if plain else "---"
    if kind in INLINE_LEAVES:
        return (plain_inline([node]) if plain else md_inline([node])) or None
    if kind == "paragraph" or is_textblock(node):
        if plain:
            return plain_inline(content)
        return md_inline(content) or None
    return _md_blocks(content, plain) or None


def _md_blocks(nodes: list[Node], plain: bool, in_item: bool = False) -> str:
    """Sibling blocks, separated by a blank line. Two adjacent lists of one kind would read as
    one list, so every other one uses ``*`` bullets or ``N)`` numbers. In a list item, a list
    that can interrupt a paragraph (and in plain text, any block) starts on the next line."""
    out = ""
    prev_kind, alt = None, False
    for node in nodes:
        kind = node.get("type")
        same = kind in _LISTS and _MARKERS.get(str(kind)) == _MARKERS.get(str(prev_kind))
        block = _md_block(node, plain, alt=same and not alt)
        if block is None:
            continue
        alt, prev_kind = same and not alt, kind
        # a list may interrupt a paragraph only if it starts with "-" or "1." and a non-empty item
        interrupts = " " in block.split("\n", 1)[0] and (
            kind in ("bulletList", "taskList")
            or (kind == "orderedList" and int_attr(node, "start", 1, 0, 999_999_999) == 1)
        )
        tight = in_item and (interrupts or plain)
        out += ("\n" if tight else "\n\n") + block if out else block
    return out


def render_markdown(content: list[Node]) -> str:
    text = _md_blocks(content, plain=False).strip("\n")
    return text + "\n" if text else ""


def render_text(content: list[Node]) -> str:
    text = _md_blocks(content, plain=True).strip("\n")
    return text + "\n" if text else ""


def fragment_to_markdown(update: bytes, field: str = DEFAULT_FRAGMENT) -> str:
    """The XmlFragment ``field`` as CommonMark (plus ``~~strike~~`` and ``<u>underline</u>``).

    Empty paragraphs are dropped; links to schemes other than http(s), mailto, tel and ftp
    lose their link (the text stays).

    Raises:
        ExportError: unreadable update; ``field`` missing or not an XmlFragment.
    """
    return render_markdown(fragment(load(update), field))


def fragment_to_text(update: bytes, field: str = DEFAULT_FRAGMENT) -> str:
    """The XmlFragment ``field`` as plain text: blocks separated by a blank line, list items
    one per line with ``-`` or ``N.`` markers and nesting indented, hard breaks as newlines.

    Raises:
        ExportError: unreadable update; ``field`` missing or not an XmlFragment.
    """
    return render_text(fragment(load(update), field))
