"""Blocks and marks as HTML, every text and attribute escaped; a standalone page."""

from __future__ import annotations

import html
from typing import Any, Final

from collab.export.nodes import (
    INLINE_LEAVES,
    active_marks,
    code_language,
    common_marks,
    inline_nodes,
    int_attr,
    is_textblock,
    plain_inline,
    safe_url,
)
from collab.export.roots import DEFAULT_FRAGMENT, Node, load
from collab.export.tree import fragment

__all__ = ["fragment_to_html", "html_page", "html_pre_page"]

_HTML_MARKS: Final = {
    "bold": "strong",
    "italic": "em",
    "strike": "s",
    "underline": "u",
    "code": "code",
    "subscript": "sub",
    "superscript": "sup",
    "highlight": "mark",
}
_HTML_BLOCKS: Final = {
    "bulletList": "ul",
    "orderedList": "ol",
    "listItem": "li",
    "taskList": "ul",
    "taskItem": "li",
}


def _esc(text: str) -> str:
    return html.escape(text, quote=False)


def _attr(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _html_mark_tags(mark: Node) -> tuple[str, str]:
    if mark["type"] == "link":
        attrs = mark.get("attrs", {})
        title = attrs.get("title")
        extra = f' title="{_attr(title)}"' if isinstance(title, str) and title else ""
        href = _attr(attrs.get("href"))
        return f'<a href="{href}"{extra} rel="noopener noreferrer nofollow">', "</a>"
    tag = _HTML_MARKS.get(mark["type"])
    return (f"<{tag}>", f"</{tag}>") if tag else ("", "")


def _html_inline(nodes: list[Node]) -> str:
    out: list[str] = []
    active: list[Node] = []
    for node in inline_nodes(nodes):
        marks = active_marks(node) + [m for m in node.get("marks", []) if m["type"] == "code"]
        if node.get("type") != "text":
            marks = []
        keep = common_marks(active, marks)
        while len(active) > keep:
            out.append(_html_mark_tags(active.pop())[1])
        for mark in marks:
            if mark not in active:
                out.append(_html_mark_tags(mark)[0])
                active.append(mark)
        kind = node.get("type")
        if kind == "text":
            out.append(_esc(node["text"]))
        elif kind == "hardBreak":
            out.append("<br>")
        elif kind == "image":
            out.append(_html_image(node))
        else:
            out.append(_html_inline(node.get("content", [])))
    while active:
        out.append(_html_mark_tags(active.pop())[1])
    return "".join(out)


def _html_image(node: Node) -> str:
    attrs = node.get("attrs", {})
    parts = [f'src="{_attr(safe_url(attrs.get("src")) or "")}"']
    parts += [f'{key}="{_attr(attrs[key])}"' for key in ("alt", "title") if attrs.get(key)]
    return "<img " + " ".join(parts) + ">"


def _html_block(node: Node) -> str:
    kind = node.get("type")
    content: list[Node] = node.get("content", [])
    if kind == "paragraph":
        return f"<p>{_html_inline(content)}</p>"
    if kind == "heading":
        level = int_attr(node, "level", 1, 1, 6)
        return f"<h{level}>{_html_inline(content)}</h{level}>"
    if kind == "codeBlock":
        language = code_language(node)
        css = f' class="language-{_attr(language)}"' if language else ""
        code = "".join(str(child.get("text", "")) for child in content)
        return f"<pre><code{css}>{_esc(code)}</code></pre>"
    if kind == "horizontalRule":
        return "<hr>"
    if kind in INLINE_LEAVES:
        return _html_inline([node])
    if kind == "blockquote":
        return f"<blockquote>\n{_html_blocks(content)}\n</blockquote>"
    if kind in _HTML_BLOCKS:
        tag = _HTML_BLOCKS[str(kind)]
        start = int_attr(node, "start", 1, 0, 999_999_999) if kind == "orderedList" else 1
        open_tag = f'<ol start="{start}">' if start != 1 else f"<{tag}>"
        inner = _html_blocks(content)
        if kind == "taskItem":
            checked = " checked" if node.get("attrs", {}).get("checked") else ""
            open_tag = f'<li><input type="checkbox"{checked} disabled>'
        if kind in ("listItem", "taskItem") and len(content) == 1:
            return f"{open_tag}{inner}</{tag}>"
        return f"{open_tag}\n{inner}\n</{tag}>"
    if is_textblock(node):
        return f"<p>{_html_inline(content)}</p>"
    return _html_blocks(content)


def _html_blocks(nodes: list[Node]) -> str:
    return "\n".join(block for block in map(_html_block, nodes) if block)


def fragment_to_html(
    update: bytes,
    field: str = DEFAULT_FRAGMENT,
    *,
    standalone: bool = False,
    title: str | None = None,
) -> str:
    """The XmlFragment ``field`` as HTML, every text and attribute escaped.

    Args:
        update: a Yjs v1 update.
        field: the XmlFragment's root name.
        standalone: return a whole ``<!DOCTYPE html>`` page instead of a fragment.
        title: the page's ``<title>``; by default the first heading's text, else "Untitled".

    Links to schemes other than http(s), mailto, tel and ftp are dropped (their text stays);
    links get ``rel="noopener noreferrer nofollow"``.

    Raises:
        ExportError: unreadable update; ``field`` missing or not an XmlFragment.
    """
    content = fragment(load(update), field)
    return html_page(content, title) if standalone else _html_blocks(content)


def html_page(content: list[Node], title: str | None) -> str:
    """A standalone page of ``content`` titled ``title`` (default: the first heading)."""
    if title is None:
        headings = (
            plain_inline(n.get("content", []), in_heading=True)
            for n in content
            if n["type"] == "heading"
        )
        title = next((h for h in headings if h), "Untitled")
    return _page(title, _html_blocks(content))


def html_pre_page(text: str, title: str | None) -> str:
    """A standalone page showing plain ``text`` as it is (``<pre>``), titled ``title``."""
    return _page(title or "Untitled", f"<pre>{_esc(text)}</pre>")


def _page(title: str, body: str) -> str:
    return (
        '<!DOCTYPE html>\n<html>\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_esc(title)}</title>\n</head>\n<body>\n{body}\n</body>\n</html>\n"
    )
