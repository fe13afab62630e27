"""Helpers on ProseMirror-JSON nodes shared by the Markdown, plain-text and HTML renderers."""

from __future__ import annotations

import re
from typing import Any, Final

from collab.export.roots import Node

__all__ = [
    "INLINE_LEAVES",
    "active_marks",
    "code_language",
    "common_marks",
    "inline_nodes",
    "int_attr",
    "is_textblock",
    "plain_inline",
    "safe_url",
]

INLINE_LEAVES: Final = frozenset({"text", "hardBreak", "image"})
_SAFE_SCHEMES: Final = frozenset({"http", "https", "mailto", "tel", "ftp"})


def safe_url(url: Any) -> str | None:
    """``url`` if it is a string with a harmless scheme (or none), else ``None``."""
    if not isinstance(url, str):
        return None
    scheme = re.match(r"([a-z][a-z0-9+.-]*):", re.sub(r"[\x00-\x20]", "", url), re.IGNORECASE)
    return None if scheme and scheme.group(1).lower() not in _SAFE_SCHEMES else url


def active_marks(node: Node) -> list[Node]:
    """A text node's marks minus code (rendered per node) and links to unsafe URLs."""
    return [
        m
        for m in node.get("marks", [])
        if m["type"] != "code"
        and (m["type"] != "link" or safe_url(m.get("attrs", {}).get("href")) is not None)
    ]


def inline_nodes(nodes: list[Node]) -> list[Node]:
    """``nodes`` with adjacent text nodes of equal marks merged (two Y.XmlText siblings can
    meet after concurrent edits) and each newline inside a text turned into a hard break."""
    merged: list[Node] = []
    for node in nodes:
        last = merged[-1] if merged else None
        if (
            last is not None
            and node.get("type") == last.get("type") == "text"
            and node.get("marks") == last.get("marks")
        ):
            merged[-1] = {**last, "text": last["text"] + node["text"]}
        else:
            merged.append(node)
    out: list[Node] = []
    for node in merged:
        if node.get("type") != "text" or "\n" not in node["text"]:
            out.append(node)
            continue
        for i, line in enumerate(node["text"].split("\n")):
            if i:
                out.append({"type": "hardBreak"})
            if line:
                out.append({**node, "text": line})
    return out


def common_marks(active: list[Node], marks: list[Node]) -> int:
    """How many of the ``active`` (open) marks, outermost first, can stay open for ``marks``."""
    keep = 0
    while keep < len(active) and active[keep] in marks:
        keep += 1
    return keep


def plain_inline(nodes: list[Node], in_heading: bool = False) -> str:
    """Plain text for a run of inline ``nodes`` (hard breaks are newlines, or spaces)."""
    out: list[str] = []
    for node in nodes:
        kind = node.get("type")
        if kind == "text":
            out.append(str(node["text"]))
        elif kind == "hardBreak":
            out.append("\n")
        elif kind == "image":
            out.append(str(node.get("attrs", {}).get("alt") or ""))
        else:
            out.append(plain_inline(node.get("content", [])))
    text = "".join(out)
    return " ".join(text.split("\n")).strip() if in_heading else text


def int_attr(node: Node, name: str, default: int, low: int, high: int) -> int:
    value = node.get("attrs", {}).get(name, default)
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool):
        value = default
    return min(max(value, low), high)


def is_textblock(node: Node) -> bool:
    content = node.get("content", [])
    return bool(content) and any(child.get("type") in INLINE_LEAVES for child in content)


def code_language(node: Node) -> str:
    words = str(node.get("attrs", {}).get("language") or "").split()
    return words[0] if words else ""
