"""Reading an update: the scratch document, root type detection, format table and errors.

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
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Final, Literal

from pycrdt import Array, Doc, Map, Text, XmlElement, XmlFragment, XmlText

from collab.errors import NOT_OURS, CloseCode, CollabError
from collab.integrator import apply_all

__all__ = [
    "DEFAULT_FRAGMENT",
    "DEFAULT_TEXT",
    "FORMATS",
    "MAX_DEPTH",
    "ExportError",
    "Loaded",
    "Node",
    "RootType",
    "check",
    "doc_from_update",
    "load",
    "reading",
    "root_types",
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

MAX_DEPTH: Final = 100
"""Deepest nesting read (far beyond any real document); keeps the renderers' recursion safe."""

RootType = Literal["text", "map", "array", "xml"]
Node = dict[str, Any]
"""A ProseMirror-JSON-shaped node: ``{"type", "attrs"?, "content"?}`` or a text node
``{"type": "text", "text", "marks"?}`` with marks ``{"type", "attrs"?}``."""


class ExportError(CollabError):
    """The update cannot be read, or the requested field is missing or of another type."""

    close_code = CloseCode.INVALID_UPDATE
    http_status = 422
    code = "cannot_export"


@contextmanager
def reading(what: str) -> Iterator[None]:
    """Turn any pycrdt failure, including pyo3's ``PanicException``, into :class:`ExportError`."""
    try:
        yield
    except ExportError:
        raise
    except NOT_OURS:
        raise
    except BaseException as exc:  # PanicException derives from BaseException (collab.errors)
        raise ExportError(f"cannot read {what}: {exc}") from exc


def doc_from_update(update: bytes) -> Doc[Any]:
    """Return a new pycrdt ``Doc`` holding ``update`` (Yjs update format v1).

    Raises:
        ExportError: ``update`` is not bytes or pycrdt cannot decode or apply it.
    """
    if not isinstance(update, bytes | bytearray | memoryview):
        raise ExportError(f"an update must be bytes, not {type(update).__name__}")
    with reading("the update"):
        # Through the integrator: what waits for a missing predecessor stays out, as in Yjs.
        return apply_all(Doc(), [bytes(update)])


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


Loaded = tuple[Doc[Any], dict[str, RootType | None]]
_TYPE_NAMES: Final = {"text": "Y.Text", "map": "Y.Map", "array": "Y.Array", "xml": "Y.XmlFragment"}


def load(update: bytes) -> Loaded:
    """A document to read ``update`` from, and its root types (probed on a scratch copy)."""
    probe = doc_from_update(update)
    with reading("the document's roots"):
        types = {name: _root_type(probe, name) for name in sorted(probe.keys())}
    return doc_from_update(update), types


def root_types(update: bytes) -> dict[str, RootType | None]:
    """Map each root name of ``update`` to ``"text" | "map" | "array" | "xml"``, or ``None``
    when the root has no visible content to tell (see the module docstring).

    Raises:
        ExportError: the update cannot be read.
    """
    return load(update)[1]


def check(loaded: Loaded, field: str, *wanted: RootType) -> RootType | None:
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
