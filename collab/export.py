"""Pure conversions of a document's state (a Yjs v1 update) into JSON, Markdown, HTML and text.

Nothing here does I/O: every function takes the bytes of an update and returns a value.

**Root types.** A Yjs update does not say whether a root is a Text, Map, Array or XmlFragment;
Yjs learns it when the application asks (``doc.getText(name)``), and pycrdt's ``Doc.keys()``
lists the names with ``None`` types. :func:`root_types` reads the data instead, through three
views of the same root in a scratch document (pycrdt lets one root be re-cast; reading never
changes the update):

1. Viewed as a Map, visible entries stored under a key (items with ``parentSub``) -> ``map``.
2. Viewed as a Text, the delta lists the sequence items that Text understands: an XmlElement or
   XmlText item -> ``xml``; a string, an embed or any formatting -> ``text`` (only Y.Text holds
   ContentString, ContentEmbed and ContentFormat).
3. Viewed as an Array, visible items -> ``array`` (ContentAny, binary and nested shared types,
   which the Text view skips or shows without formatting).

A root whose items are all deleted (Yjs keeps only their ids) has no readable type: ``None``.
A Y.Text holding nothing but embedded shared types reads as an ``array``; Yjs cannot tell.

**Rich text.** The web editor is Tiptap 3, bound by ``@tiptap/y-tiptap`` (a y-prosemirror
fork) to the Y.XmlFragment :data:`DEFAULT_FRAGMENT`. Checked against bytes written by that stack
(``tests/golden/make_golden.mjs``): each ProseMirror node is a Y.XmlElement named after the node
type; each non-null node attribute is ``setAttribute(key, value)`` with the JSON value itself
(``level`` and ``start`` are numbers, which pycrdt reads back as floats like ``1.0``; null
attributes are not stored). Each run of text nodes is one Y.XmlText whose delta carries every
mark as a formatting attribute ``{mark name: mark.attrs}``: ``bold`` -> ``{}``, ``link`` ->
``{"href": ..., "target": ..., "rel": ..., "class": None, "title": None}``. Marks whose type does
not exclude itself are keyed ``name--<8 base64 chars>`` (a hash), which is stripped here.
"""

from __future__ import annotations

import base64
import html
import json
import math
import re
import string
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Final, Literal

from pycrdt import Array, Doc, Map, Text, XmlElement, XmlFragment, XmlText

__all__ = [
    "DEFAULT_FRAGMENT",
    "DEFAULT_TEXT",
    "FORMATS",
    "ExportError",
    "RootType",
    "doc_from_update",
    "export",
    "fragment_to_html",
    "fragment_to_json",
    "fragment_to_markdown",
    "fragment_to_text",
    "root_types",
    "text_to_text",
    "to_json",
]

DEFAULT_FRAGMENT: Final = "default"
"""The Y.XmlFragment that Tiptap's Collaboration extension edits (its ``field`` option)."""
DEFAULT_TEXT: Final = "text"
"""The Y.Text used by plain-text clients."""

FORMATS: Final[dict[str, tuple[str, str]]] = {
    "yjs": ("application/octet-stream", "yjs"),
    "json": ("application/json", "json"),
    "markdown": ("text/markdown; charset=utf-8", "md"),
    "html": ("text/html; charset=utf-8", "html"),
    "text": ("text/plain; charset=utf-8", "txt"),
}
"""Export format name -> (media type, file extension), shared by the HTTP API and the CLI."""

_MAX_DEPTH: Final = 100
"""Deepest nesting read (far beyond any real document); keeps the renderers' recursion safe."""

RootType = Literal["text", "map", "array", "xml"]
Node = dict[str, Any]
"""A ProseMirror-JSON-shaped node: ``{"type", "attrs"?, "content"?}`` or a text node
``{"type": "text", "text", "marks"?}`` with marks ``{"type", "attrs"?}``."""


class ExportError(Exception):
    """The update cannot be read, or the requested field is missing or of another type."""


@contextmanager
def _reading(what: str) -> Iterator[None]:
    """Turn any pycrdt failure, including pyo3's ``PanicException``, into :class:`ExportError`."""
    try:
        yield
    except ExportError:
        raise
    except BaseException as exc:
        # PanicException derives from BaseException; let KeyboardInterrupt & co. through.
        if isinstance(exc, Exception) or type(exc).__name__ == "PanicException":
            raise ExportError(f"cannot read {what}: {exc}") from exc
        raise


def doc_from_update(update: bytes) -> Doc[Any]:
    """Return a new pycrdt ``Doc`` holding ``update`` (Yjs update format v1).

    Raises:
        ExportError: ``update`` is not bytes or pycrdt cannot decode or apply it.
    """
    if not isinstance(update, bytes | bytearray | memoryview):
        raise ExportError(f"an update must be bytes, not {type(update).__name__}")
    with _reading("the update"):
        doc: Doc[Any] = Doc()
        doc.apply_update(bytes(update))
        return doc


def _root_type(doc: Doc[Any], name: str) -> RootType | None:
    """Probe root ``name`` of a scratch ``doc`` as described in the module docstring."""
    if len(doc.get(name, type=Map)) > 0:
        return "map"
    delta = doc.get(name, type=Text).diff()
    if any(isinstance(value, XmlElement | XmlText | XmlFragment) for value, _ in delta):
        return "xml"
    if any(attrs or not isinstance(value, Map | Array | Text) for value, attrs in delta):
        return "text"
    return "array" if len(doc.get(name, type=Array)) > 0 else None


_Loaded = tuple[Doc[Any], dict[str, RootType | None]]
_TYPE_NAMES: Final = {"text": "Y.Text", "map": "Y.Map", "array": "Y.Array", "xml": "Y.XmlFragment"}


def _load(update: bytes) -> _Loaded:
    """A document to read ``update`` from, and its root types (probed on a scratch copy)."""
    probe = doc_from_update(update)
    with _reading("the document's roots"):
        types = {name: _root_type(probe, name) for name in sorted(probe.keys())}
    return doc_from_update(update), types


def root_types(update: bytes) -> dict[str, RootType | None]:
    """Map each root name of ``update`` to ``"text" | "map" | "array" | "xml"``, or ``None``
    when the root has no visible content to tell (see the module docstring).

    Raises:
        ExportError: the update cannot be read.
    """
    return _load(update)[1]


# -- JSON -------------------------------------------------------------------------------------


def _jsonable(value: Any, depth: int = 0) -> Any:
    """A JSON-safe copy of a value read from pycrdt (integral floats become ints).

    Raises:
        ExportError: the value nests deeper than ``_MAX_DEPTH``.
    """
    if depth > _MAX_DEPTH:
        raise ExportError(f"the document nests deeper than {_MAX_DEPTH} levels")
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


def _xml_children(node: XmlFragment | XmlElement | XmlText, depth: int = 0) -> list[Node]:
    """The ProseMirror-JSON nodes for ``node`` (a list: an XmlText yields one per delta run).

    Raises:
        ExportError: the tree nests deeper than ``_MAX_DEPTH``.
    """
    if depth > _MAX_DEPTH:
        raise ExportError(f"the document nests deeper than {_MAX_DEPTH} levels")
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
        return out
    content = [n for child in node.children for n in _xml_children(child, depth + 1)]
    if isinstance(node, XmlFragment):
        return content
    element: Node = {"type": node.tag or ""}
    attrs = {str(k): _jsonable(v, depth + 1) for k, v in sorted(node.attributes.__iter__())}
    attrs = {k: v for k, v in attrs.items() if v is not None}
    if attrs:
        element["attrs"] = attrs
    if content:
        element["content"] = content
    return [element]


def _root_json(doc: Doc[Any], name: str, kind: RootType | None) -> Any:
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
    return _all_json(_load(update))


def _all_json(loaded: _Loaded) -> dict[str, Any]:
    doc, types = loaded
    with _reading("the document"):
        return {name: _root_json(doc, name, kind) for name, kind in types.items()}


def _check(loaded: _Loaded, field: str, *wanted: RootType) -> RootType | None:
    """The type of root ``field``: one of ``wanted``, or ``None`` for a root with no content.

    Raises:
        ExportError: no root ``field``, or one of another type.
    """
    types = loaded[1]
    if field not in types:
        raise ExportError(f"the document has no field {field!r}")
    kind = types[field]
    if kind is not None and kind not in wanted:
        expected = " or ".join(_TYPE_NAMES[want] for want in wanted)
        raise ExportError(f"field {field!r} is a {_TYPE_NAMES[kind]}, not a {expected}")
    return kind


def _fragment(loaded: _Loaded, field: str) -> list[Node]:
    """The top-level nodes of XmlFragment ``field`` (raises like :func:`_check`)."""
    if _check(loaded, field, "xml") is None:
        return []
    with _reading("the fragment"):
        return _xml_children(loaded[0].get(field, type=XmlFragment))


def _text(loaded: _Loaded, field: str) -> str:
    """The string in Y.Text ``field`` (raises like :func:`_check`)."""
    if _check(loaded, field, "text") is None:
        return ""
    with _reading("the text"):
        return str(loaded[0].get(field, type=Text))


def fragment_to_json(update: bytes, field: str = DEFAULT_FRAGMENT) -> Node:
    """The XmlFragment ``field`` as a ProseMirror document ``{"type": "doc", "content": [...]}``.

    Raises:
        ExportError: unreadable update; ``field`` missing or not an XmlFragment.
    """
    return {"type": "doc", "content": _fragment(_load(update), field)}


def text_to_text(update: bytes, field: str = DEFAULT_TEXT) -> str:
    """The string content of the Y.Text ``field``.

    Raises:
        ExportError: unreadable update; ``field`` missing or not a Y.Text.
    """
    return _text(_load(update), field)


# -- Markdown and plain text ------------------------------------------------------------------

_INLINE_LEAVES: Final = frozenset({"text", "hardBreak", "image"})
_LISTS: Final = frozenset({"bulletList", "orderedList"})
_SAFE_SCHEMES: Final = frozenset({"http", "https", "mailto", "tel", "ftp"})
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


def _safe_url(url: Any) -> str | None:
    """``url`` if it is a string with a harmless scheme (or none), else ``None``."""
    if not isinstance(url, str):
        return None
    scheme = re.match(r"([a-z][a-z0-9+.-]*):", re.sub(r"[\x00-\x20]", "", url), re.IGNORECASE)
    return None if scheme and scheme.group(1).lower() not in _SAFE_SCHEMES else url


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


def _active_marks(node: Node) -> list[Node]:
    """A text node's marks minus code (rendered per node) and links to unsafe URLs."""
    return [
        m
        for m in node.get("marks", [])
        if m["type"] != "code"
        and (m["type"] != "link" or _safe_url(m.get("attrs", {}).get("href")) is not None)
    ]


def _inline_nodes(nodes: list[Node]) -> list[Node]:
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


def _common_marks(active: list[Node], marks: list[Node]) -> int:
    """How many of the ``active`` (open) marks, outermost first, can stay open for ``marks``."""
    keep = 0
    while keep < len(active) and active[keep] in marks:
        keep += 1
    return keep


def _md_inline(nodes: list[Node], in_heading: bool = False) -> str:
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

    for node in _inline_nodes(nodes):
        kind = node.get("type")
        if kind != "text":
            close(0)
            parts.append(pending)
            pending = ""
            if kind == "hardBreak":
                parts.append(" " if in_heading else "\\\n")
                line_start = not in_heading
                continue
            parts.append(
                _md_image(node) if kind == "image" else _md_inline(node.get("content", []))
            )
            line_start = False
            continue
        text: str = node["text"]
        code = any(mark["type"] == "code" for mark in node.get("marks", []))
        marks = _active_marks(node)
        keep = _common_marks([mark for mark, _ in active], marks)
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


def _plain_inline(nodes: list[Node], in_heading: bool = False) -> str:
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
            out.append(_plain_inline(node.get("content", [])))
    text = "".join(out)
    return " ".join(text.split("\n")).strip() if in_heading else text


def _md_image(node: Node) -> str:
    attrs = node.get("attrs", {})
    alt = str(attrs.get("alt") or "")
    src = _safe_url(attrs.get("src")) or ""
    return "![" + _md_escape(alt, False) + _md_dest({"attrs": {**attrs, "href": src}})


def _int_attr(node: Node, name: str, default: int, low: int, high: int) -> int:
    value = node.get("attrs", {}).get(name, default)
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool):
        value = default
    return min(max(value, low), high)


def _indent(text: str, first: str, rest: str) -> str:
    lines = text.split("\n")
    head = (first + lines[0]) if lines[0] else first.rstrip()
    return "\n".join([head] + [rest + line if line else rest.rstrip() for line in lines[1:]])


def _is_textblock(node: Node) -> bool:
    content = node.get("content", [])
    return bool(content) and any(child.get("type") in _INLINE_LEAVES for child in content)


def _md_list(node: Node, plain: bool, alt: bool) -> str | None:
    ordered = node["type"] == "orderedList"
    start = _int_attr(node, "start", 1, 0, 999_999_999) if ordered else 0
    items: list[str] = []
    for number, item in enumerate(node.get("content", []), start):
        marker = (f"{number})" if alt else f"{number}.") if ordered else ("*" if alt else "-")
        children = item.get("content", []) if item.get("type") == "listItem" else [item]
        body = _md_blocks(children, plain, in_item=True)
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
            return _plain_inline(content, in_heading=True)
        text = _md_inline(content, in_heading=True)
        closing = re.search(r"(\\*)#$", text)  # a closing "#" run would be dropped
        if closing and len(closing.group(1)) % 2 == 0:
            text = text[:-1] + "\\#"
        return ("#" * _int_attr(node, "level", 1, 1, 6) + " " + text).rstrip()
    if kind == "codeBlock":
        code = "".join(str(child.get("text", "")) for child in content)
        if plain:
            return code
        fence = "`" * max([3, *(len(run) + 1 for run in re.findall(r"`+", code))])
        info = _language(node).replace("`", "")
        return f"{fence}{info}\n{code}\n{fence}" if code else f"{fence}{info}\n{fence}"
    if kind in _LISTS:
        return _md_list(node, plain, alt)
    if kind == "blockquote":
        inner = _md_blocks(content, plain)
        return inner if plain else _indent(inner, "> ", "> ")
    if kind == "horizontalRule":
        return None if plain else "---"
    if kind in _INLINE_LEAVES:
        return (_plain_inline([node]) if plain else _md_inline([node])) or None
    if kind == "paragraph" or _is_textblock(node):
        if plain:
            return _plain_inline(content)
        return _md_inline(content) or None
    return _md_blocks(content, plain) or None


def _md_blocks(nodes: list[Node], plain: bool, in_item: bool = False) -> str:
    """Sibling blocks, separated by a blank line. Two adjacent lists of one kind would read as
    one list, so every other one uses ``*`` bullets or ``N)`` numbers. In a list item, a list
    that can interrupt a paragraph (and in plain text, any block) starts on the next line."""
    out = ""
    prev_kind, alt = None, False
    for node in nodes:
        kind = node.get("type")
        same = kind in _LISTS and kind == prev_kind
        block = _md_block(node, plain, alt=same and not alt)
        if block is None:
            continue
        alt, prev_kind = same and not alt, kind
        # a list may interrupt a paragraph only if it starts with "-" or "1." and a non-empty item
        interrupts = " " in block.split("\n", 1)[0] and (
            kind == "bulletList"
            or (kind == "orderedList" and _int_attr(node, "start", 1, 0, 999_999_999) == 1)
        )
        tight = in_item and (interrupts or plain)
        out += ("\n" if tight else "\n\n") + block if out else block
    return out


def _markdown(content: list[Node]) -> str:
    text = _md_blocks(content, plain=False).strip("\n")
    return text + "\n" if text else ""


def _plain_text(content: list[Node]) -> str:
    text = _md_blocks(content, plain=True).strip("\n")
    return text + "\n" if text else ""


def fragment_to_markdown(update: bytes, field: str = DEFAULT_FRAGMENT) -> str:
    """The XmlFragment ``field`` as CommonMark (plus ``~~strike~~`` and ``<u>underline</u>``).

    Empty paragraphs are dropped; links to schemes other than http(s), mailto, tel and ftp
    lose their link (the text stays).

    Raises:
        ExportError: unreadable update; ``field`` missing or not an XmlFragment.
    """
    return _markdown(_fragment(_load(update), field))


def fragment_to_text(update: bytes, field: str = DEFAULT_FRAGMENT) -> str:
    """The XmlFragment ``field`` as plain text: blocks separated by a blank line, list items
    one per line with ``-`` or ``N.`` markers and nesting indented, hard breaks as newlines.

    Raises:
        ExportError: unreadable update; ``field`` missing or not an XmlFragment.
    """
    return _plain_text(_fragment(_load(update), field))


def _language(node: Node) -> str:
    words = str(node.get("attrs", {}).get("language") or "").split()
    return words[0] if words else ""


# -- HTML -------------------------------------------------------------------------------------

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
_HTML_BLOCKS: Final = {"bulletList": "ul", "orderedList": "ol", "listItem": "li"}


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
    for node in _inline_nodes(nodes):
        marks = _active_marks(node) + [m for m in node.get("marks", []) if m["type"] == "code"]
        if node.get("type") != "text":
            marks = []
        keep = _common_marks(active, marks)
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
    parts = [f'src="{_attr(_safe_url(attrs.get("src")) or "")}"']
    parts += [f'{key}="{_attr(attrs[key])}"' for key in ("alt", "title") if attrs.get(key)]
    return "<img " + " ".join(parts) + ">"


def _html_block(node: Node) -> str:
    kind = node.get("type")
    content: list[Node] = node.get("content", [])
    if kind == "paragraph":
        return f"<p>{_html_inline(content)}</p>"
    if kind == "heading":
        level = _int_attr(node, "level", 1, 1, 6)
        return f"<h{level}>{_html_inline(content)}</h{level}>"
    if kind == "codeBlock":
        language = _language(node)
        css = f' class="language-{_attr(language)}"' if language else ""
        code = "".join(str(child.get("text", "")) for child in content)
        return f"<pre><code{css}>{_esc(code)}</code></pre>"
    if kind == "horizontalRule":
        return "<hr>"
    if kind in _INLINE_LEAVES:
        return _html_inline([node])
    if kind == "blockquote":
        return f"<blockquote>\n{_html_blocks(content)}\n</blockquote>"
    if kind in _HTML_BLOCKS:
        tag = _HTML_BLOCKS[str(kind)]
        start = _int_attr(node, "start", 1, 0, 999_999_999) if kind == "orderedList" else 1
        open_tag = f'<ol start="{start}">' if start != 1 else f"<{tag}>"
        inner = _html_blocks(content)
        if kind == "listItem" and len(content) == 1:
            return f"{open_tag}{inner}</{tag}>"
        return f"{open_tag}\n{inner}\n</{tag}>"
    if _is_textblock(node):
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
    content = _fragment(_load(update), field)
    return _page(content, title) if standalone else _html_blocks(content)


def _page(content: list[Node], title: str | None) -> str:
    if title is None:
        headings = (
            _plain_inline(n.get("content", []), in_heading=True)
            for n in content
            if n["type"] == "heading"
        )
        title = next((h for h in headings if h), "Untitled")
    return (
        '<!DOCTYPE html>\n<html>\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_esc(title)}</title>\n</head>\n<body>\n{_html_blocks(content)}\n</body>\n</html>\n"
    )


# -- Dispatch ---------------------------------------------------------------------------------


def export(update: bytes, fmt: str, field: str | None = None, *, title: str | None = None) -> bytes:
    """Export a document in format ``fmt`` (a key of :data:`FORMATS`), as bytes (UTF-8 text).

    Args:
        update: the document's state as a Yjs v1 update.
        fmt: ``yjs`` (the update unchanged), ``json`` (:func:`to_json`, or only root ``field``),
            ``markdown``, ``html`` (a standalone page titled ``title``) or ``text``.
        field: the root to export. ``None`` picks the default: :data:`DEFAULT_FRAGMENT` for
            markdown and html (an empty result if the document has no such root); for text, the
            plain text of that fragment if the document has one, else of the Y.Text
            :data:`DEFAULT_TEXT`, else ``""``.
        title: the HTML page title (see :func:`fragment_to_html`).

    Raises:
        ExportError: unknown format, unreadable update, or a ``field`` that is missing or of the
            wrong type for the format.
    """
    if fmt not in FORMATS:
        raise ExportError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    if fmt == "yjs":
        doc_from_update(update)
        return bytes(update)
    loaded = _load(update)
    if fmt == "json":
        if field is None:
            value: Any = _all_json(loaded)
        else:
            kind = _check(loaded, field, "text", "map", "array", "xml")
            with _reading("the document"):
                value = _root_json(loaded[0], field, kind)
        return _utf8(json.dumps(value, ensure_ascii=False, indent=2) + "\n")
    types = loaded[1]
    if field is None:
        plain_text = DEFAULT_TEXT in types and types[DEFAULT_TEXT] in ("text", None)
        if fmt == "text" and types.get(DEFAULT_FRAGMENT) != "xml" and plain_text:
            field = DEFAULT_TEXT
        elif DEFAULT_FRAGMENT not in types:
            return _utf8(_page([], title)) if fmt == "html" else b""
        else:
            field = DEFAULT_FRAGMENT
    if fmt == "markdown":
        return _utf8(_markdown(_fragment(loaded, field)))
    if fmt == "html":
        return _utf8(_page(_fragment(loaded, field), title))
    if _check(loaded, field, "xml", "text") == "text":
        return _utf8(_text(loaded, field))
    return _utf8(_plain_text(_fragment(loaded, field)))


def _utf8(text: str) -> bytes:
    return text.encode("utf-8", "replace")
