"""Restore: one update that makes a document's content equal to a version's.

A version is a document's whole state (a Yjs v1 update). Applying it to the current document
would change nothing: the current document already holds every struct of its past. A restore
therefore *writes* the version's content again, as a new editor would: :func:`restore_update`
copies the current state into a scratch document with a client id of its own, changes every
root in ONE transaction until its content equals the version's, and returns that
transaction's update. Applied to the current document (by the hub, like any edit) it makes
every shared root's content equal to the version's: Y.Text with formatting and embeds,
Y.Array, Y.Map, Y.XmlFragment / Y.XmlElement / Y.XmlText with their attributes, nested types.

The change is a diff, not a rewrite, so what both states share keeps its Yjs identity (an
editor's cursor in an untouched paragraph stays where it is, and concurrent edits to it
merge): texts are diffed character by character (Google's diff-match-patch, bounded in time),
formatting is changed in place with ``format``, and sequences of children (XML children,
array items) are diffed by content, a changed child of the same kind (element tag, text) being
patched recursively instead of replaced.

The result is checked: the update applied to the current state must give the version's
:func:`~collab.history.content.content`, or :class:`RestoreError` is raised.
"""

from __future__ import annotations

import difflib
import json
import secrets
from collections.abc import Callable, Sequence
from typing import Any, Final

from pycrdt import (
    Array,
    Doc,
    Map,
    Text,
    TransactionEvent,
    XmlElement,
    XmlFragment,
    XmlText,
    get_state,
)

from collab.export.roots import ExportError, RootType, load, reading
from collab.history.content import SHARED, RestoreError, content, plain, root, tree
from collab.history.text import patch_text

__all__ = ["RestoreError", "restore_update"]


def restore_update(current: bytes, version: bytes) -> bytes:
    """One Yjs v1 update that, applied to a document in state ``current``, makes the content
    of every root equal to the content of state ``version`` (roots the version lacks are
    emptied).

    Args:
        current: the document's state now (a Yjs v1 update, e.g. ``Doc.get_update()``).
        version: the state to restore (a Yjs v1 update).

    Returns:
        The update, written by a new client id (one the current state does not use); an empty
        update (``b"\\x00\\x00"``) when the contents are already equal.

    Raises:
        RestoreError: see the class.
    """
    try:
        target_doc, target_types = load(version)
        current_types = load(current)[1]
        work: Doc[Any] = Doc(client_id=_new_client_id(current))
        with reading("the current state"):
            work.apply_update(current)
        updates: list[bytes] = []

        def collect(event: TransactionEvent) -> None:
            updates.append(event.update)

        subscription = work.observe(collect)
        with reading("the documents"), work.transaction():
            for name in sorted(set(current_types) | set(target_types)):
                before, after = current_types.get(name), target_types.get(name)
                if before is not None and before != after:
                    _clear(root(work, name, before), before)
                if after is not None:
                    _patch(root(work, name, after), root(target_doc, name, after))
        work.unobserve(subscription)
        update = updates[0] if updates else b"\x00\x00"
        check: Doc[Any] = Doc()
        with reading("the restored state"):
            check.apply_update(current)
            check.apply_update(update)
            target = {
                name: tree(root(target_doc, name, kind))
                for name, kind in target_types.items()
                if kind
            }
        same = content(check.get_update()) == target
    except ExportError as exc:
        raise RestoreError(str(exc)) from None
    if not same:
        raise RestoreError("the restored content differs from the version's")
    return update


def _new_client_id(state: bytes) -> int:
    """A random 32-bit Yjs client id that ``state`` does not use."""
    with reading("the current state"):
        used = set(_clients(get_state(state)))
    while True:
        client = secrets.randbits(32)
        if client not in used:
            return client


def _clients(state_vector: bytes) -> list[int]:
    """The client ids of a state vector (varUint count, then client / clock pairs)."""
    values, value, shift = [], 0, 0
    for byte in state_vector:
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            values.append(value)
            value, shift = 0, 0
    return values[1::2]


def _clear(shared: Any, kind: RootType) -> None:
    if kind == "map":
        for key in list(shared.keys()):
            del shared[key]
    elif kind == "xml":
        if len(shared.children):
            del shared.children[0 : len(shared.children)]
    elif len(shared):
        del shared[0 : len(shared)]


def _patch(current: Any, target: Any) -> None:
    """Change the integrated shared type ``current`` until its content equals ``target``'s
    (both of the same kind)."""
    if isinstance(target, XmlText):
        patch_text(current, target)
        _patch_attributes(current, target)
    elif isinstance(target, Text):
        patch_text(current, target)
    elif isinstance(target, XmlElement):
        _patch_attributes(current, target)
        _patch_children(current, target)
    elif isinstance(target, XmlFragment):
        _patch_children(current, target)
    elif isinstance(target, Map):
        _patch_map(current, target)
    elif isinstance(target, Array):
        _patch_array(current, target)


def _same_kind(a: Any, b: Any) -> bool:
    """Whether shared type ``a`` can be patched into ``b`` (XML elements: the same tag)."""
    for kind in (XmlText, XmlElement, Text, Map, Array):
        if isinstance(a, kind) or isinstance(b, kind):
            if not (isinstance(a, kind) and isinstance(b, kind)):
                return False
            return not isinstance(a, XmlElement) or a.tag == getattr(b, "tag", None)
    return False


def _key(value: Any) -> str:
    return json.dumps(tree(value), sort_keys=True, default=repr)


# -- sequences of items: XML children, array items --------------------------------------------


def _patch_sequence(
    current: Sequence[Any],
    target: Sequence[Any],
    delete: Callable[[int, int], None],
    insert: Callable[[int, Any], None],
) -> None:
    """Diff two sequences of items by content and turn ``current`` into ``target``: equal runs
    stay, a changed item of the same kind is patched in place, others are deleted and the
    target's inserted (``insert(index, target_item)`` writes a copy). Edits run from the end,
    so the indexes of what comes before stay valid."""
    matcher = difflib.SequenceMatcher(
        None, [_key(v) for v in current], [_key(v) for v in target], autojunk=False
    )
    for op, i1, i2, j1, j2 in reversed(matcher.get_opcodes()):
        if op == "equal":
            continue
        paired = min(i2 - i1, j2 - j1)
        if i2 - i1 > paired:
            delete(i1 + paired, i2 - i1 - paired)
        for j in reversed(range(j1 + paired, j2)):
            insert(i1 + paired, target[j])
        for k in reversed(range(paired)):
            old, new = current[i1 + k], target[j1 + k]
            if isinstance(new, SHARED) and _same_kind(old, new):
                _patch(old, new)
            else:
                delete(i1 + k, 1)
                insert(i1 + k, new)


def _patch_children(current: XmlFragment | XmlElement, target: XmlFragment | XmlElement) -> None:
    children = current.children

    def delete(index: int, count: int) -> None:
        del children[index : index + count]

    def insert(index: int, node: Any) -> None:
        if isinstance(node, XmlElement):
            element = children.insert(index, XmlElement(node.tag))
            _patch(element, node)
        elif isinstance(node, XmlText):
            text = children.insert(index, XmlText())
            _patch(text, node)
        else:
            raise RestoreError(f"cannot restore a {type(node).__name__} inside XML")

    _patch_sequence(list(children), list(target.children), delete, insert)


def _patch_array(current: Array[Any], target: Array[Any]) -> None:
    def delete(index: int, count: int) -> None:
        del current[index : index + count]

    def insert(index: int, value: Any) -> None:
        current.insert(index, _prelim(value))
        if isinstance(value, SHARED):
            _patch(current[index], value)

    _patch_sequence(list(current), list(target), delete, insert)


def _patch_map(current: Map[Any], target: Map[Any]) -> None:
    for key in sorted(set(current.keys()) - set(target.keys())):
        del current[key]
    for key in sorted(target.keys()):
        new = target[key]
        old = current.get(key) if key in current else _MISSING
        if isinstance(new, SHARED) and old is not _MISSING and _same_kind(old, new):
            _patch(old, new)
        elif old is _MISSING or _key(old) != _key(new):
            current[key] = _prelim(new)
            if isinstance(new, SHARED):
                _patch(current[key], new)


_MISSING: Final = object()


def _prelim(value: Any) -> Any:
    """An empty, not yet integrated shared type of ``value``'s kind (filled by :func:`_patch`
    once integrated), or ``value`` itself when it is plain data."""
    if isinstance(value, XmlElement):
        return XmlElement(value.tag)
    for kind in (XmlText, Text, Map, Array):
        if isinstance(value, kind):
            return kind()
    if isinstance(value, (*SHARED, Doc)):
        raise RestoreError(f"cannot restore a {type(value).__name__} here")
    return value


def _patch_attributes(current: XmlElement | XmlText, target: XmlElement | XmlText) -> None:
    old = dict(current.attributes.__iter__())
    new = dict(target.attributes.__iter__())
    for key in sorted(set(old) - set(new)):
        del current.attributes[key]
    for key in sorted(new):
        if key not in old or plain(old[key]) != plain(new[key]):
            current.attributes[key] = new[key]
