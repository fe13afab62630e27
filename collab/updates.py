"""Checked operations on Yjs updates (format v1), on top of pycrdt.

pycrdt raises ``ValueError`` for most bad updates, but some failures inside the Rust core
surface as ``pyo3_runtime.PanicException``, which derives from ``BaseException``; every
function here turns both into :class:`InvalidUpdate` so callers handle one error type (by the
one rule of :mod:`collab.errors`: :func:`~collab.errors.crdt_call` and ``NOT_OURS``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from pycrdt import Doc, get_state, get_update, merge_updates

from collab import structs
from collab.errors import CloseCode, CollabError, crdt_call
from collab.protocol import ByteReader, ProtocolError
from collab.structs import Malformed

__all__ = [
    "EMPTY_STATE_VECTOR",
    "EMPTY_UPDATE",
    "DocumentCorrupted",
    "InvalidUpdate",
    "apply_update",
    "carries_new_structs",
    "carries_structs_beyond",
    "check_state_vector",
    "check_update",
    "diff_update",
    "encode_diff",
    "guarded",
    "holds_back",
    "merge_burst",
    "refusal",
    "revives_deleted",
    "same_document",
    "state_vector",
]

EMPTY_UPDATE = b"\x00\x00"
"""A v1 update with no structs and an empty delete set."""

EMPTY_STATE_VECTOR = b"\x00"
"""The state vector of an empty document (no clients)."""

T = TypeVar("T")


class InvalidUpdate(CollabError, ValueError):
    """An update that pycrdt cannot read, or one in Yjs update format v2."""

    close_code = CloseCode.INVALID_UPDATE
    http_status = 400
    code = "invalid_update"


class ClientIdInUse(CollabError):
    """An update bringing structs of a client id another live connection of the room writes
    with: refused whole, nothing applied. Retryable (1013): an honest client that reconnected
    before the server noticed its old connection died gets in once that one is gone."""

    close_code = CloseCode.TRY_AGAIN_LATER
    http_status = 409
    code = "client_id_in_use"


def guarded(what: str, fn: Callable[[], T]) -> T:
    """Call ``fn``, a pycrdt operation on updates or state vectors, and return its result;
    any failure of it (a ``ValueError``, a pyo3 ``PanicException``; not one of
    :data:`~collab.errors.NOT_OURS`, see :func:`~collab.errors.crdt_call`) is raised as
    :class:`InvalidUpdate` with the message ``f"{what}: {type}: {message}"``.

    Raises:
        InvalidUpdate: when ``fn`` failed.
    """
    return crdt_call(what, fn, InvalidUpdate)


def check_update(update: bytes) -> None:
    """Refuse an update that Yjs would not decode as a v1 update, or would read differently
    from pycrdt (see :func:`collab.structs.parse`).

    A Yjs v2 update (``Y.encodeStateAsUpdateV2``) always starts with a zero byte, which a v1
    reader takes for "no structs": the rest must then be exactly a v1 delete set, which it
    never is.

    Raises:
        InvalidUpdate: for an empty byte string, a v2 update or one Yjs would not decode.
    """
    if not update:
        raise InvalidUpdate("empty update")
    try:
        structs.parse(update)
    except Malformed as exc:
        raise refusal(update, exc) from exc


def refusal(update: bytes, exc: Malformed) -> InvalidUpdate:
    """The error for ``update``, which :func:`collab.structs.parse` refused with ``exc``:
    what was wrong, and first, when it starts with a zero byte (as every v2 update does, see
    :func:`check_update`, and a v1 update with deletions only), that v2 is not supported."""
    if update[:1] == b"\x00":
        return InvalidUpdate(f"v2 encoding is not supported, or a malformed v1 update: {exc}")
    return InvalidUpdate(f"not a valid Yjs v1 update: {exc}")


def apply_update(doc: Doc[Any], update: bytes) -> None:
    """Check ``update`` (see :func:`check_update`) and apply it to ``doc``.

    Raises:
        InvalidUpdate: when the update is malformed; ``doc`` is unchanged then.
    """
    check_update(update)
    guarded("cannot apply update", lambda: doc.apply_update(update))


def merge_burst(updates: list[bytes]) -> bytes:
    """Several updates as one (``pycrdt.merge_updates``), each checked first (see
    :func:`check_update`).

    Applying the merge of a few dozen keystroke updates costs about a third of applying them
    one by one (measured on the automerge-paper trace: 1.3 against 4.4 us per update for
    bursts of 10 to 100); past a few hundred updates the merge itself grows costlier.

    Raises:
        InvalidUpdate: when one of them is malformed (which one is not said).
    """
    for update in updates:
        check_update(update)
    return guarded("cannot merge updates", lambda: merge_updates(*updates))


class DocumentCorrupted(InvalidUpdate):
    """pycrdt failed while integrating an update it could decode: ``Doc.apply_update`` is not
    atomic, so the document may hold part of it (or be damaged, after a Rust panic) and must
    be discarded and reloaded from storage."""


def _waits(update: bytes, state: bytes) -> bool:
    """Whether part of ``update`` is not integrated in a document whose state vector is
    ``state``: structs whose predecessor it lacks, or deletions of clocks it does not have.

    yrs keeps both pending until what they need arrives, and leaves both out of
    ``Doc.get_update()``; it calls no observer for a deletion it keeps pending.
    """
    diff = get_update(update, state)
    return diff[0] != 0 or _deletes_unknown(diff, state)


def _deletes_unknown(diff: bytes, state: bytes) -> bool:
    """Whether the delete set of ``diff`` (a v1 update without structs, written by pycrdt)
    names a clock at or past ``state``'s clock of its client (Yjs v1 delete set: varUint
    count of clients, then per client its id, the count of ranges, and each range's clock
    and length). Rare: a keystroke's deletion is recognised before this is needed.
    """
    if diff == EMPTY_UPDATE:
        return False
    try:
        known = state_vector(state)
        reader = ByteReader(diff)
        reader.var_uint()  # clients with structs: none
        for _ in range(reader.var_uint()):
            end = known.get(reader.var_uint(), 0)
            for _ in range(reader.var_uint()):
                if reader.var_uint() + reader.var_uint() > end:
                    return True
    except ProtocolError:
        return True  # pycrdt wrote both, so never; if it did, keeping the update is safe
    return False


def holds_back(doc: Doc[Any], update: bytes) -> bool:
    """Whether ``doc`` keeps part of ``update`` pending (see :func:`_waits`): structs whose
    predecessor is missing, or deletions of clocks it does not have.

    Raises:
        InvalidUpdate: when the update cannot be decoded.
    """
    state = doc.get_state()
    return guarded("cannot diff update", lambda: _waits(update, state))


def carries_new_structs(doc: Doc[Any], update: bytes) -> bool:
    """Whether ``update`` inserts anything ``doc`` does not have (deletions aside).

    Raises:
        InvalidUpdate: when the update cannot be decoded.
    """
    return carries_structs_beyond(doc.get_state(), update)


def carries_structs_beyond(state_vector: bytes, update: bytes) -> bool:
    """Whether ``update`` holds structs ``state_vector`` does not cover (deletions aside).

    The diff of the update against the state vector keeps only uncovered structs; its
    first varUint counts the clients that still have some (zero: none).

    Raises:
        InvalidUpdate: when the update cannot be decoded.
    """
    return guarded("cannot diff update", lambda: get_update(update, state_vector))[0] != 0


def diff_update(update: bytes, state_vector: bytes) -> bytes:
    """What ``update`` holds beyond ``state_vector`` (both Yjs v1 encodings).

    Raises:
        InvalidUpdate: when either cannot be decoded.
    """
    check_state_vector(state_vector)
    return guarded("cannot compute diff", lambda: get_update(update, state_vector))


def encode_diff(doc: Doc[Any], state_vector: bytes) -> bytes:
    """What ``doc`` holds beyond ``state_vector``, as a v1 update (sync step 2's payload).

    Raises:
        InvalidUpdate: when the state vector cannot be decoded.
    """
    check_state_vector(state_vector)
    return guarded("cannot read state vector", lambda: doc.get_update(state_vector))


def check_state_vector(encoded: bytes) -> dict[int, int]:
    """Decode a state vector before pycrdt sees it: pycrdt sizes a table by its leading
    count, so 10 bytes claiming 2^29 clients cost a gigabyte (each client takes at least two
    bytes, its id and clock, so the count is checked against the bytes present first).

    Raises:
        InvalidUpdate: when it is malformed.
    """
    try:
        return state_vector(encoded)
    except ProtocolError as exc:
        raise InvalidUpdate(f"cannot read state vector: {exc}") from exc


def revives_deleted(update: bytes, tombstone: bytes) -> bool:
    """Whether ``update`` carries structs of a deleted document's state ``tombstone``.

    A struct is old when its clock is below the tombstone's state-vector clock for its
    client: the diff of the update against that state vector then drops or trims it, which
    makes the re-encoded update shorter. Lengths are compared, not bytes: pycrdt writes the
    keys of JSON values (e.g. a link mark's attributes) in a different order on each encode.

    Raises:
        InvalidUpdate: when the update cannot be decoded.
    """
    state = guarded("cannot read tombstone", lambda: get_state(tombstone))
    fresh = diff_update(update, state)
    full = guarded("cannot decode update", lambda: get_update(update, b"\x00"))
    return len(fresh) != len(full)


def state_vector(encoded: bytes) -> dict[int, int]:
    """Decode a Yjs state vector (varUint count, then client id and clock pairs).

    Raises:
        ProtocolError: when it is malformed.
    """
    reader = ByteReader(encoded)
    count = reader.var_uint()
    if count * 2 > len(encoded) - reader.pos:
        raise ProtocolError(f"state vector claims {count} clients in {len(encoded)} bytes")
    pairs = [(reader.var_uint(), reader.var_uint()) for _ in range(count)]
    reader.end()
    return dict(pairs)


def same_document(a: Doc[Any], b: Doc[Any]) -> bool:
    """Whether two documents hold the same state: equal state vectors (decoded: pycrdt's
    client order varies) and equally long full encodings (bytes vary with JSON key order)."""
    return state_vector(a.get_state()) == state_vector(b.get_state()) and len(
        a.get_update()
    ) == len(b.get_update())
