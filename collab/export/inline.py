"""Inline Markdown: escaping, code spans, links, and marks that CommonMark reads as intended."""

from __future__ import annotations

import re
import string
import unicodedata
from typing import Final

from collab.export.nodes import active_marks, common_marks, inline_nodes, safe_url
from collab.export.roots import Node

__all__ = ["md_inline"]

_MD_ESCAPE = re.compile(r"[\\`*_\[\]<~]|&(?=#?\w+;)")
_MD_LINE_START = re.compile(r"[#>+=-]|(\d{1,9})([.)])")
_LEADING_SPACE = re.compile(r"^[ \t]+(?=\S)", re.MULTILINE)
_TRAILING_SPACE = re.compile(r"(?:[ \t]|\\\n)+$")
_HTML_FALLBACK: Final = {"bold": "strong", "italic": "em", "strike": "s"}
_MD_DELIMS: Final = {
    "bold": ("**", "**"),
    "italic": ("*", "*"),
    "strike": ("~~", "~~"),
    "underline": ("<u>", "</u>"),
}


def _md_escape(text: str, line_start: bool) -> str:
    out = _MD_ESCAPE.sub(lambda m: "\\" + m.group(0), text)
    if line_start and (m := _MD_LINE_START.match(out)):
        if m.group(1):
            return m.group(1) + "\\" + m.group(2) + out[m.end() :]
        return "\\" + out
    return out


def _md_code(text: str) -> str:
    runs = [len(r) for r in re.findall(r"`+", text)]
    fence = "`" * (max(runs, default=0) + 1)
    pad = " " if (text[:1] in "` " and text.strip()) or text[-1:] == "`" else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _md_dest(mark: Node) -> str:
    href = str(mark.get("attrs", {}).get("href", ""))
    title = mark.get("attrs", {}).get("title")
    if re.search(r"[\s<>()]", href) or not href:
        href = "<" + re.sub(r"([\\<>])", r"\\\1", href).replace("\n", "%0A") + ">"
    if isinstance(title, str) and title:
        href += ' "' + re.sub(r'([\\"])', r"\\\1", title) + '"'
    return f"]({href})"


def _mark_tags(mark: Node) -> tuple[str, str]:
    if mark["type"] == "link":
        return "[", _md_dest(mark)
    return _MD_DELIMS.get(mark["type"], ("", ""))


def md_inline(nodes: list[Node], in_heading: bool = False) -> str:
    """Markdown for a run of inline ``nodes``.

    Marks open and close as a stack shared by adjacent text nodes; whitespace at the edge of
    a marked span moves outside it (``** a**`` is not bold in CommonMark); ``*``/``~~`` pairs
    that CommonMark still would not read as emphasis become HTML tags (see ``_fix_delims``).
    """
    parts: list[str] = []
    active: list[tuple[Node, int]] = []  # open marks, with the index of their opening part
    pairs: list[tuple[int, int, str]] = []  # (opening part, closing part, mark) of * and ~~
    pending = ""  # escaped whitespace expelled from the end of a marked span
    line_start = True

    def close(keep: int) -> None:
        while len(active) > keep:
            mark, start = active.pop()
            if mark["type"] in _HTML_FALLBACK:
                pairs.append((start, len(parts), mark["type"]))
            parts.append(_mark_tags(mark)[1])

    for node in inline_nodes(nodes):
        kind = node.get("type")
        if kind != "text":
            close(0)
            parts.append(pending)
            pending = ""
            if kind == "hardBreak":
                parts.append(" " if in_heading else "\\\n")
                line_start = not in_heading
                continue
            parts.append(_md_image(node) if kind == "image" else md_inline(node.get("content", [])))
            line_start = False
            continue
        text: str = node["text"]
        code = any(mark["type"] == "code" for mark in node.get("marks", []))
        marks = active_marks(node)
        keep = common_marks([mark for mark, _ in active], marks)
        kept = [mark for mark, _ in active[:keep]]
        new = [mark for mark in marks if mark not in kept] if text.strip() or code else []
        close(keep)
        parts.append(pending)
        pending = ""
        if new:
            lead = "" if code else text[: len(text) - len(text.lstrip())]
            parts.append(_md_escape(lead, line_start))
            text = text[len(lead) :]
            for mark in new:
                last = next((i for i in range(len(parts) - 1, -1, -1) if parts[i]), None)
                if mark["type"] == "link" and last is not None and parts[last].endswith("!"):
                    parts[last] = parts[last][:-1] + "\\!"  # "![" would start an image
                active.append((mark, len(parts)))
                parts.append(_mark_tags(mark)[0])
            line_start = False
        if active and not code:
            stripped = text.rstrip()
            pending = _md_escape(text[len(stripped) :], False)
            text = stripped
        if text:
            parts.append(_md_code(text) if code else _md_escape(text, line_start))
            line_start = False
    close(0)
    parts.append(pending)
    _fix_delims(parts, pairs)
    # Leading whitespace would be dropped (or start a code block): write it as entities.
    # Trailing whitespace is dropped anyway, and a hard break cannot end a block.
    result = _TRAILING_SPACE.sub("", "".join(parts))
    return _LEADING_SPACE.sub(lambda m: m[0].replace(" ", "&#32;").replace("\t", "&#9;"), result)


def _fix_delims(parts: list[str], pairs: list[tuple[int, int, str]]) -> None:
    """Replace, in place, each pair of ``*``/``~~`` delimiters that CommonMark might not read
    as the intended emphasis (see ``_flanks``) by HTML tags."""
    while True:
        delims = {i: is_open for o, c, _ in pairs for i, is_open in ((o, True), (c, False))}
        bad = None
        for pair in pairs:
            opening, closing, _ = pair
            char = parts[opening][0]
            nested = any(o < opening and closing < c and parts[o][0] == char for o, c, _ in pairs)
            if not (
                _flanks(parts, opening, delims, nested) and _flanks(parts, closing, delims, nested)
            ):
                bad = pair
                break
        if bad is None:
            return
        pairs.remove(bad)
        tag = _HTML_FALLBACK[bad[2]]
        parts[bad[0]], parts[bad[1]] = f"<{tag}>", f"</{tag}>"


def _flanks(parts: list[str], i: int, delims: dict[int, bool], nested: bool) -> bool:
    """Whether delimiter ``parts[i]`` opens (or closes) emphasis where it stands, under either
    definition of punctuation (CommonMark 0.31 counts symbols, older parsers do not).

    It must be left- (right-) flanking, and not be part of a run that also holds a delimiter
    of the other direction. Inside another pair of the same character (``nested``) it must not
    be both left- and right-flanking either, or a parser could pair it with the outer one.
    """
    opening, char = delims[i], parts[i][0]
    around: list[str | None] = []
    for step in (-1, 1):
        j, found = i + step, None
        while 0 <= j < len(parts) and found is None:
            if j in delims and parts[j][:1] == char:  # the same delimiter run
                if delims[j] != opening:
                    return False
            elif parts[j]:
                found = parts[j][-1] if step < 0 else parts[j][0]
            j += step
        around.append(found)
    before, after = around
    for symbols in (False, True):
        p_before, p_after = _punct(before, symbols), _punct(after, symbols)
        left = not _space(after) and (not p_after or _space(before) or p_before)
        right = not _space(before) and (not p_before or _space(after) or p_after)
        if not (left if opening else right) or (nested and left and right):
            return False
    return True


def _space(char: str | None) -> bool:
    return char is None or char.isspace()


def _punct(char: str | None, symbols: bool) -> bool:
    """Punctuation by CommonMark 0.31 (Unicode P and S) or by older parsers (ASCII punctuation
    and Unicode P; parsers working on UTF-16 see no punctuation in astral characters)."""
    if char is None:
        return False
    if char in string.punctuation:
        return True
    category = unicodedata.category(char)[0]
    return category in "PS" if symbols else category == "P" and ord(char) < 0x10000


def _md_image(node: Node) -> str:
    attrs = node.get("attrs", {})
    alt = str(attrs.get("alt") or "")
    src = safe_url(attrs.get("src")) or ""
    return "![" + _md_escape(alt, False) + _md_dest({"attrs": {**attrs, "href": src}})
