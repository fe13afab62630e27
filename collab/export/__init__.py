"""Pure conversions of a document's state (a Yjs v1 update) into JSON, Markdown, HTML and text.

Nothing here does I/O: every function takes the bytes of an update and returns a value.

The package splits the work by responsibility:

* :mod:`collab.export.roots`: decoding an update, detecting root types, errors, the format table.
* :mod:`collab.export.tree`: JSON of every root; the rich-text fragment as ProseMirror JSON.
* :mod:`collab.export.nodes`, :mod:`collab.export.inline`, :mod:`collab.export.markdown`:
  Markdown and plain text; :mod:`collab.export.html`: HTML.

This module re-exports the public names and dispatches on the format (:func:`export`).
"""

from __future__ import annotations

import json
from typing import Any

from collab.export.html import fragment_to_html, html_page
from collab.export.markdown import (
    fragment_to_markdown,
    fragment_to_text,
    render_markdown,
    render_text,
)
from collab.export.roots import (
    DEFAULT_FRAGMENT,
    DEFAULT_TEXT,
    FORMATS,
    ExportError,
    RootType,
    check,
    doc_from_update,
    load,
    reading,
    root_types,
)
from collab.export.tree import (
    all_json,
    fragment,
    fragment_to_json,
    root_json,
    text_to_text,
    text_value,
    to_json,
)

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
    loaded = load(update)
    if fmt == "json":
        if field is None:
            value: Any = all_json(loaded)
        else:
            kind = check(loaded, field, "text", "map", "array", "xml")
            with reading("the document"):
                value = root_json(loaded[0], field, kind)
        return _utf8(json.dumps(value, ensure_ascii=False, indent=2) + "\n")
    types = loaded[1]
    if field is None:
        plain_text = DEFAULT_TEXT in types and types[DEFAULT_TEXT] in ("text", None)
        if fmt == "text" and types.get(DEFAULT_FRAGMENT) != "xml" and plain_text:
            field = DEFAULT_TEXT
        elif DEFAULT_FRAGMENT not in types:
            return _utf8(html_page([], title)) if fmt == "html" else b""
        else:
            field = DEFAULT_FRAGMENT
    if fmt == "markdown":
        return _utf8(render_markdown(fragment(loaded, field)))
    if fmt == "html":
        return _utf8(html_page(fragment(loaded, field), title))
    if check(loaded, field, "xml", "text") == "text":
        return _utf8(text_value(loaded, field))
    return _utf8(render_text(fragment(loaded, field)))


def _utf8(text: str) -> bytes:
    return text.encode("utf-8", "replace")
