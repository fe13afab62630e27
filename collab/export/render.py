"""One export: pick the root, read it with its layout's mapping, render the format.

:func:`render` is what the HTTP route and the CLI call; it returns the body with the root and
layout it used and a warning naming what the layout's mapping did not know.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from collab.export.blocknote import read_blocknote
from collab.export.html import html_page, html_pre_page
from collab.export.lexical import read_lexical
from collab.export.markdown import render_markdown, render_text
from collab.export.quill import read_quill
from collab.export.roots import FORMATS, ExportError, Loaded, Node, doc_from_update, load, reading
from collab.export.schemas import PROSEMIRROR, TIPTAP, Unknown
from collab.export.select import (
    LAYOUTS,
    NothingToExport,
    RootError,
    describe_roots,
    detect_layout,
    select_root,
)
from collab.export.tree import all_json, fragment, root_json, text_items, text_value

__all__ = ["Rendered", "read_layout", "render"]


@dataclass(frozen=True)
class Rendered:
    """An export's ``body`` (bytes), the ``root`` and ``layout`` it rendered (``None`` for
    ``yjs`` and whole-document ``json``) and a one-line ``warning`` (or ``None``)."""

    body: bytes
    root: str | None = None
    layout: str | None = None
    warning: str | None = None


def read_layout(loaded: Loaded, field: str, schema: str | None) -> tuple[str, list[Node], Unknown]:
    """Root ``field`` as (layout, canonical blocks, unknown names); ``schema`` forces the layout.

    Raises:
        RootError: ``schema`` reads another type of root than ``field`` is.
        ExportError: the document cannot be read.
    """
    doc, types = loaded
    kind = types.get(field)
    raw = fragment(loaded, field) if kind == "xml" else None
    layout = schema or detect_layout(loaded, field, raw)
    wanted = LAYOUTS[layout][0]
    if kind is not None and kind != wanted:
        raise RootError(
            f"schema {layout} reads a {'Y.Text' if wanted == 'text' else 'Y.XmlFragment'} root;"
            f" root {field!r} is not one"
        )
    unknown = Unknown()
    with reading("the document"):
        if layout == "text":
            return layout, [], unknown
        if layout == "quill":
            return layout, read_quill(text_items(doc, field), unknown), unknown
        if layout == "lexical":
            return layout, read_lexical(doc, field, unknown), unknown
        if layout == "blocknote":
            return layout, read_blocknote(raw or [], unknown), unknown
        mapping = PROSEMIRROR if layout == "prosemirror" else TIPTAP
        return layout, [mapping.node(node, unknown) for node in raw or []], unknown


def render(
    update: bytes,
    fmt: str,
    field: str | None = None,
    *,
    schema: str | None = None,
    title: str | None = None,
) -> Rendered:
    """Export a document (a Yjs v1 update) in format ``fmt``, a key of :data:`FORMATS`.

    ``yjs`` is the update itself and ``json`` without ``field`` every root; otherwise the root
    is chosen by :func:`collab.export.select.select_root` and read with the layout ``schema``
    (a key of :data:`LAYOUTS`; detected when ``None``). ``title`` titles the HTML page.

    Raises:
        RootError: no root fits (missing, ambiguous, wrong type), or ``field``/``schema`` given
            with a format that does not use them.
        NothingToExport: (a RootError) markdown, html or text of a root that holds no text
            (when no root was asked for, a root without text gives way to the only one with).
        ExportError: unknown format or schema, unreadable update.
    """
    if fmt not in FORMATS:
        raise ExportError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    if schema is not None and schema not in LAYOUTS:
        raise ExportError(f"unknown schema {schema!r}; expected one of {', '.join(LAYOUTS)}")
    if fmt == "yjs":
        if field is not None or schema is not None:
            raise RootError("yjs is the whole document: field and schema apply to other formats")
        doc_from_update(update)
        return Rendered(bytes(update))
    loaded = load(update)
    if fmt == "json":
        if schema is not None:
            raise RootError("json holds the shared types as they are: schema does not apply")
        if field is None:
            return Rendered(_json(all_json(loaded)))
        field = select_root(loaded[1], fmt, field)
        with reading("the document"):
            return Rendered(_json(root_json(loaded[0], field, loaded[1][field])), field)
    chosen = select_root(loaded[1], fmt, field)
    rendered, has_text = _render_root(loaded, fmt, chosen, schema, title)
    if has_text:
        return rendered
    return _instead_of_blank(loaded, fmt, chosen, field is None, schema, title)


def _render_root(
    loaded: Loaded, fmt: str, field: str, schema: str | None, title: str | None
) -> tuple[Rendered, bool]:
    """Root ``field`` in ``fmt`` (markdown, html or text), and whether it holds any text (or
    an image or rule: anything its Markdown shows)."""
    layout, content, unknown = read_layout(loaded, field, schema)
    if layout == "text":
        text = text_value(loaded, field)
        if fmt == "html":
            return Rendered(_utf8(html_pre_page(text, title)), field, layout), bool(text.strip())
        return Rendered(_utf8(text), field, layout), bool(text.strip())
    markdown = render_markdown(content)
    if fmt == "markdown":
        body = markdown
    elif fmt == "html":
        body = html_page(content, title)
    else:
        body = render_text(content)
    return Rendered(_utf8(body), field, layout, unknown.warning()), bool(markdown.strip())


def _instead_of_blank(
    loaded: Loaded,
    fmt: str,
    chosen: str,
    picked: bool,
    schema: str | None,
    title: str | None,
) -> Rendered:
    """What to export when root ``chosen`` holds no text: when it was ``picked`` (no field
    asked for), the only other root that holds text; otherwise a :class:`RootError`, so that
    an export is never an empty file.

    Raises:
        NothingToExport: no root holds text, or the root asked for holds none.
        RootError: several other roots hold text.
    """
    types = loaded[1]
    listing = f"the document's roots: {describe_roots(types)}"
    if not picked:
        raise NothingToExport(f"nothing to export: root {chosen!r} holds no text; {listing}")
    with_text: list[Rendered] = []
    for name, kind in types.items():
        if name == chosen or kind not in ("xml", "text"):
            continue
        try:
            rendered, has_text = _render_root(loaded, fmt, name, schema, title)
        except RootError:  # a schema that reads another type of root
            continue
        if has_text:
            with_text.append(rendered)
    if len(with_text) == 1:
        return with_text[0]
    if with_text:
        raise RootError(
            f"root {chosen!r} holds no text and {len(with_text)} other roots do:"
            f" pick one with field (--field); {listing}"
        )
    raise NothingToExport(f"nothing to export as {fmt}: the document holds no text; {listing}")


def _json(value: Any) -> bytes:
    return _utf8(json.dumps(value, ensure_ascii=False, indent=2) + "\n")


def _utf8(text: str) -> bytes:
    return text.encode("utf-8", "replace")
