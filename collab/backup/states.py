"""Comparing and combining document states (Yjs v1 updates) for export and import.

Two states are compared by what they hold, never by their bytes: pycrdt (yrs) encodes the
entries of a JSON map value (a link mark's ``{"href", "target", ...}``) in hash-map order, which
differs between two ``Doc`` objects decoded from the same update, and it lists clients in
state vectors and delete sets in no fixed order either.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from pycrdt import Doc, merge_updates

from collab.backup.errors import BackupError, DocumentError
from collab.errors import crdt_call
from collab.integrator import Integrator, apply_all
from collab.protocol import ByteReader, ProtocolError
from collab.structs import merged_spans
from collab.updates import EMPTY_UPDATE, InvalidUpdate, check_update

__all__ = ["adds_nothing", "checked", "clients", "is_empty", "merge", "same_document"]

T = TypeVar("T")


def _pycrdt(what: str, fn: Callable[[], T]) -> T:
    """Run ``fn``, turning pycrdt failures (including pyo3 panics) into :class:`BackupError`."""
    return crdt_call(what, fn, BackupError)


def merge(parts: list[bytes], what: str) -> bytes:
    """One update holding ``parts`` (a snapshot and log rows, in order).

    The parts are applied in order and the document encoded (merging many updates at once
    costs quadratic time); when some structs still wait for a missing predecessor, which
    ``Doc.get_update()`` would leave out, they are merged instead, so nothing is lost. A single
    part is returned as it is: a document imported from a file exports to the same bytes.
    """
    if not parts:
        return EMPTY_UPDATE
    if len(parts) == 1:
        return parts[0]

    def combine() -> bytes:
        integrator = Integrator(Doc())
        for part in parts:
            integrator.apply(part, bounded=False)
        if integrator.pending:
            return merge_updates(*parts)
        return integrator.doc.get_update()

    try:
        return _pycrdt(f"cannot read the stored updates of {what}", combine)
    except BackupError as exc:
        raise DocumentError(str(exc)) from None


def checked(update: bytes, what: str) -> bytes:
    """``update`` if it is a Yjs v1 update that pycrdt can apply.

    Raises:
        BackupError: naming ``what`` (a file) when it is not.
    """
    try:
        check_update(update)
        _pycrdt("", lambda: apply_all(Doc(), [update]))
    except (InvalidUpdate, BackupError) as exc:
        detail = str(exc).strip(": ").removeprefix("not a valid Yjs v1 update: ")  # said below
        raise BackupError(f"{what} is not a Yjs v1 update ({detail or 'unreadable'})") from None
    return update


def _doc(update: bytes) -> Doc[Any]:
    return _pycrdt("cannot read a document state", lambda: apply_all(Doc(), [update]))


def _state_vector(doc: Doc[Any]) -> dict[int, int]:
    """``{client: clock}`` of the structs the document integrated."""
    reader = ByteReader(doc.get_state())
    clocks: dict[int, int] = {}
    for _ in range(reader.var_uint()):
        client = reader.var_uint()
        clocks[client] = reader.var_uint()
    return clocks


def _delete_set(doc: Doc[Any]) -> dict[int, list[tuple[int, int]]]:
    """``{client: [(clock, end), ...]}``: every deleted range, merged and sorted."""
    reader = ByteReader(doc.get_update(doc.get_state()))  # no structs, the whole delete set
    try:
        if reader.var_uint() != 0:
            raise ProtocolError("structs beyond the document's own state vector")
        deleted: dict[int, list[tuple[int, int]]] = {}
        for _ in range(reader.var_uint()):
            client = reader.var_uint()
            ranges = deleted.setdefault(client, [])
            for _ in range(reader.var_uint()):
                clock = reader.var_uint()
                ranges.append((clock, clock + reader.var_uint()))
    except ProtocolError as exc:
        raise BackupError(f"cannot read a delete set: {exc}") from None
    return {client: merged_spans(ranges) for client, ranges in deleted.items() if ranges}


def clients(update: bytes) -> set[int]:
    """The Yjs client ids whose structs the state holds."""
    return set(_state_vector(_doc(update)))


def is_empty(update: bytes) -> bool:
    """Whether the state holds no structs at all (a document created but never written)."""
    return not clients(update)


def same_document(a: bytes, b: bytes) -> bool:
    """Whether two states hold the same structs and deletions, so the same content.

    The same state vector means the same struct ids (a document integrates each client's
    structs from clock 0 without gaps), and one id always names the same content.
    """
    doc_a, doc_b = _doc(a), _doc(b)
    return _state_vector(doc_a) == _state_vector(doc_b) and _delete_set(doc_a) == _delete_set(doc_b)


def adds_nothing(current: bytes, update: bytes) -> bool:
    """Whether applying ``update`` to the state ``current`` would change nothing."""
    return same_document(current, merge([current, update], "the document"))
