"""Pure conversions of a document's state (a Yjs v1 update) into JSON, Markdown, HTML and text.

Nothing here does I/O: every function takes the bytes of an update and returns a value.

The package splits the work by responsibility:

* :mod:`collab.export.roots`: decoding an update, detecting root types, errors, the format table.
* :mod:`collab.export.tree`: JSON of every root; the rich-text fragment as ProseMirror JSON.
* :mod:`collab.export.schemas`: the canonical tree the renderers draw, and the named mappings of
  Tiptap's and prosemirror-schema-basic's names; :mod:`collab.export.blocknote`,
  :mod:`collab.export.lexical`, :mod:`collab.export.quill`: the layouts read into that tree.
* :mod:`collab.export.select`: which root an export renders and which layout reads it.
* :mod:`collab.export.nodes`, :mod:`collab.export.inline`, :mod:`collab.export.markdown`:
  Markdown and plain text; :mod:`collab.export.html`: HTML.
* :mod:`collab.export.render`: one export (:func:`render`).

This module re-exports the public names (:func:`export` is :func:`render`'s body).
"""

from __future__ import annotations

from collab.export.html import fragment_to_html
from collab.export.markdown import fragment_to_markdown, fragment_to_text
from collab.export.render import Rendered, render
from collab.export.roots import (
    DEFAULT_FRAGMENT,
    DEFAULT_TEXT,
    FORMATS,
    ExportError,
    RootType,
    doc_from_update,
    root_types,
)
from collab.export.select import LAYOUTS, NothingToExport, RootError, select_root
from collab.export.tree import fragment_to_json, text_to_text, to_json

__all__ = [
    "DEFAULT_FRAGMENT",
    "DEFAULT_TEXT",
    "FORMATS",
    "LAYOUTS",
    "ExportError",
    "NothingToExport",
    "Rendered",
    "RootError",
    "RootType",
    "doc_from_update",
    "export",
    "fragment_to_html",
    "fragment_to_json",
    "fragment_to_markdown",
    "fragment_to_text",
    "render",
    "root_types",
    "select_root",
    "text_to_text",
    "to_json",
]


def export(
    update: bytes,
    fmt: str,
    field: str | None = None,
    *,
    schema: str | None = None,
    title: str | None = None,
) -> bytes:
    """The body of :func:`collab.export.render.render` (same arguments and errors)."""
    return render(update, fmt, field, schema=schema, title=title).body
