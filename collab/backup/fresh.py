"""The same content under a fresh Yjs identity: a copy written by a new client.

A server keeps a tombstone of each deleted document and refuses updates that carry its structs
(so a stale editor cannot resurrect it). Restoring a backup of that document over HTTP would be
refused. Client ids cannot be rewritten inside an update (every struct, origin and delete range
refers to them), so instead the content is read and written again by a new ``Doc``: same
texts, formatting, maps, arrays and XML trees, new structs. The copy is checked against the
original through :func:`collab.export.to_json`; editors holding the old document cannot merge
with the copy (they were closed when it was deleted anyway).
"""

from __future__ import annotations

from typing import Any

from pycrdt import Array, Doc, Map, Text, XmlElement, XmlFragment, XmlText

from collab import export
from collab.backup.errors import BackupError
from collab.errors import NOT_OURS

__all__ = ["fresh_copy"]

_SHARED = (Map, Array, Text, XmlFragment, XmlElement, XmlText)


def fresh_copy(update: bytes) -> bytes:
    """A new update, written by a fresh client, holding the same content as ``update``.

    Raises:
        BackupError: the content cannot be read or copied faithfully (e.g. subdocuments).
    """
    try:
        source = export.doc_from_update(update)
        types = export.root_types(update)
        target: Doc[Any] = Doc()
        with target.transaction():
            for name, kind in types.items():
                if kind == "text":
                    _copy_text(source.get(name, type=Text), target.get(name, type=Text))
                elif kind == "map":
                    _copy_map(source.get(name, type=Map), target.get(name, type=Map))
                elif kind == "array":
                    _copy_array(source.get(name, type=Array), target.get(name, type=Array))
                elif kind == "xml":
                    _copy_children(
                        source.get(name, type=XmlFragment), target.get(name, type=XmlFragment)
                    )
        copy = target.get_update()
        same = _visible(export.to_json(copy)) == _visible(export.to_json(update))
    except export.ExportError as exc:
        raise BackupError(f"cannot copy the document: {exc}") from None
    except NOT_OURS:
        raise
    except BaseException as exc:  # pycrdt failures, including pyo3 panics (collab.errors)
        raise BackupError(f"cannot copy the document: {exc}") from None
    if not same:
        raise BackupError("cannot copy the document faithfully (it holds types the copy lacks)")
    return copy


def _visible(roots: dict[str, Any]) -> dict[str, Any]:
    """The roots that hold something (a root whose items were all deleted has no type)."""
    return {name: value for name, value in roots.items() if value is not None}


def _empty_like(value: Any) -> Any:
    """An empty prelim shared type of ``value``'s kind, or ``value`` itself if plain data."""
    for kind in (Map, Array, Text, XmlElement, XmlText):
        if isinstance(value, kind):
            return XmlElement(value.tag) if isinstance(value, XmlElement) else kind()
    return _plain(value)


def _plain(value: Any) -> Any:
    if isinstance(value, _SHARED):
        raise BackupError(f"cannot copy a {type(value).__name__} here")
    if type(value).__name__ == "Doc":
        raise BackupError("cannot copy subdocuments")
    return value


def _fill(source: Any, target: Any) -> None:
    """Copy the content of shared type ``source`` into the empty, integrated ``target``."""
    if isinstance(source, Map):
        _copy_map(source, target)
    elif isinstance(source, Array):
        _copy_array(source, target)
    elif isinstance(source, Text | XmlText):
        _copy_text(source, target)
    elif isinstance(source, XmlElement):
        _copy_element(source, target)


def _copy_map(source: Map[Any], target: Map[Any]) -> None:
    for key in sorted(source.keys()):
        value = source[key]
        target[key] = _empty_like(value)
        if isinstance(value, _SHARED):
            _fill(value, target[key])


def _copy_array(source: Array[Any], target: Array[Any]) -> None:
    for value in source:
        target.append(_empty_like(value))
        if isinstance(value, _SHARED):
            _fill(value, target[len(target) - 1])


def _copy_text(source: Text | XmlText, target: Text | XmlText) -> None:
    for value, attrs in source.diff():
        if isinstance(value, str):
            target.insert(len(target), value, attrs or None)
        elif isinstance(value, _SHARED):
            raise BackupError("cannot copy a shared type embedded in a text")
        else:
            target.insert_embed(len(target), _plain(value), attrs or None)
    if isinstance(source, XmlText) and isinstance(target, XmlText):
        for key, value in source.attributes.__iter__():
            target.attributes[key] = value


def _copy_element(source: XmlElement, target: XmlElement) -> None:
    for key, value in source.attributes.__iter__():
        target.attributes[key] = value
    _copy_children(source, target)


def _copy_children(source: XmlFragment | XmlElement, target: XmlFragment | XmlElement) -> None:
    for child in source.children:
        if isinstance(child, XmlElement):
            element = target.children.append(XmlElement(child.tag))
            _copy_element(child, element)
        elif isinstance(child, XmlText):
            text = target.children.append(XmlText())
            _copy_text(child, text)
