"""Checked operations on Yjs updates (format v1), on top of pycrdt.

pycrdt raises ``ValueError`` for most bad updates, but some failures inside the Rust core
surface as ``pyo3_runtime.PanicException``, which derives from ``BaseException``; every
function here turns both into :class:`InvalidUpdate` so callers handle one error type (by the
one rule of :mod:`collab.errors`: :func:`~collab.errors.crdt_call` and ``NOT_OURS``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from pycrdt import Doc, get_state, get_update, merge_updates

from collab.errors import NOT_OURS, CloseCode, CollabError, crdt_call
from collab.protocol import MAX_VARUINT_BYTES, ByteReader, ProtocolError

__all__ = [
    "EMPTY_STATE_VECTOR",
    "EMPTY_UPDATE",
    "DocumentCorrupted",
    "Integrator",
    "InvalidUpdate",
    "apply_all",
    "apply_update",
    "carries_new_structs",
    "check_update",
    "diff_update",
    "encode_diff",
    "holds_back",
    "merge_burst",
    "replay",
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


def _guarded(what: str, fn: Callable[[], T]) -> T:
    return crdt_call(what, fn, InvalidUpdate)


def check_update(update: bytes) -> None:
    """Refuse an update that is not a well-formed Yjs v1 update.

    A Yjs v2 update (``Y.encodeStateAsUpdateV2``) always starts with a zero byte, and
    pycrdt's v1 decoder reads it as "no structs plus some delete set" without failing, so
    the document silently stays unchanged (or a garbage delete set is merged). A v1 update
    starting with zero has no structs: it must then be exactly a v1 delete set, which is
    checked strictly here (every range non-empty and after the previous one of its client,
    no trailing bytes; Yjs ``DeleteSet`` encoding). Updates with structs are checked by
    pycrdt when applied.

    Raises:
        InvalidUpdate: for an empty byte string, a malformed delete-only update or a v2 update.
    """
    if not update:
        raise InvalidUpdate("empty update")
    if update[0] != 0:
        # pycrdt sizes a table by the leading client count before reading the clients, so a
        # forged count costs up to a second and gigabytes of memory per 300-byte update.
        # Each client needs at least three bytes (struct count, client id, clock).
        # yrs keeps clocks in 32 bits and wraps past them, so an update starting near 2^32
        # changes the document while its state vector says nothing happened.
        clients, clock = _header(update)
        if clients * 3 > len(update):
            raise InvalidUpdate(f"update claims {clients} clients in {len(update)} bytes")
        if clock >= MAX_CLOCK:
            raise InvalidUpdate(f"clock {clock} is beyond what Yjs documents use")
        return
    reader = ByteReader(update)
    try:
        reader.var_uint()  # no structs
        for _ in range(reader.var_uint()):  # clients in the delete set
            reader.var_uint()  # client id
            end = -1
            for _ in range(reader.var_uint()):
                clock, length = reader.var_uint(), reader.var_uint()
                if length == 0 or clock <= end:
                    raise ProtocolError("bad delete range")
                end = clock + length
        reader.end()
    except ProtocolError as exc:
        raise InvalidUpdate("not a Yjs v1 update (v2 encoding is not supported)") from exc


def _header(update: bytes) -> tuple[int, int]:
    """The client count and the first client's first clock of an update with structs: the
    first and fourth of its leading varUints (client count, then the first client's struct
    count, client id and clock; Yjs ``writeClientsStructs``).

    Raises:
        InvalidUpdate: when they are truncated or longer than 8 bytes.
    """
    clients = update[0]
    pos = 1
    if clients >= 0x80:
        reader = ByteReader(update)
        try:
            clients = reader.var_uint()
        except ProtocolError as exc:
            raise InvalidUpdate(f"cannot decode update: {exc}") from exc
        pos = reader.pos
    try:
        for _ in range(2):  # the struct count and the client id, skipped
            stop = pos + MAX_VARUINT_BYTES
            while update[pos] >= 0x80:
                pos += 1
                if pos == stop:
                    raise InvalidUpdate("cannot decode update: varUint longer than 8 bytes")
            pos += 1
        clock = shift = 0
        while True:
            byte = update[pos]
            clock |= (byte & 0x7F) << shift
            if byte < 0x80:
                return clients, clock
            pos += 1
            shift += 7
            if shift == 7 * MAX_VARUINT_BYTES:
                raise InvalidUpdate("cannot decode update: varUint longer than 8 bytes")
    except IndexError:
        raise InvalidUpdate("cannot decode update: truncated varUint") from None


def apply_update(doc: Doc[Any], update: bytes) -> None:
    """Check ``update`` (see :func:`check_update`) and apply it to ``doc``.

    Raises:
        InvalidUpdate: when the update is malformed; ``doc`` is unchanged then.
    """
    check_update(update)
    _guarded("cannot apply update", lambda: doc.apply_update(update))


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
    return _guarded("cannot merge updates", lambda: merge_updates(*updates))


class DocumentCorrupted(InvalidUpdate):
    """pycrdt failed while integrating an update it could decode: ``Doc.apply_update`` is not
    atomic, so the document may hold part of it (or be damaged, after a Rust panic) and must
    be discarded and reloaded from storage."""


MAX_CLOCK = 2**31
"""Clocks at or past this are refused: yrs wraps them at 2^32 (no real client gets near)."""

MAX_PENDING = 64
"""Updates kept for re-merging while some wait for a missing predecessor (see Integrator)."""


class Integrator:
    """Applies updates to one ``Doc``, keeping structs that wait for a missing predecessor.

    pycrdt 0.14 (yrs) loses content when several updates of one client arrive out of order:
    applying them one by one leaves the document without some inserts even after every
    update arrived (e.g. updates 0, 2, 3 then 1 of four single-character inserts). Applying
    the merge of the updates still waiting, together with the new one, integrates correctly.
    So while the document has pending structs, the raw updates that carry them are kept
    (at most :data:`MAX_PENDING`, the oldest dropped first, so that an update whose
    predecessor never comes cannot make every later update costlier) and merged with each
    new update. So are updates deleting clocks the document does not have yet (a client
    that got content another way, e.g. from a WebRTC peer): yrs keeps such deletions
    pending, calls no observer for them, and leaves them out of ``Doc.get_update()``.

    Whether an update changed the document comes from its diff against the state vector
    (new structs) and, for an update that only deletes, from a document observer: one
    observing every transaction would encode each (it tripled the cost of applying
    updates to a large document, measured).

    Every update is decoded (``pycrdt.get_update``) before it touches the document, so a
    malformed one leaves the document unchanged; a failure after that raises
    :class:`DocumentCorrupted`.

    Args:
        doc: the document to apply updates to.
        pending: updates already applied to ``doc`` of which part still waits (those of
            the integrator that rebuilt it from storage), oldest first.
    """

    def __init__(self, doc: Doc[Any], pending: Iterable[bytes] = ()) -> None:
        self.doc = doc
        self.pending = list(pending)  # applied updates of which part waits, oldest first
        self._state = doc.get_state()  # the document's state vector (only this class edits it)

    def apply(self, update: bytes) -> bool:
        """Check and apply ``update``.

        Returns:
            Whether it changed the document or some of it waits for a missing predecessor;
            ``False`` when it brought nothing new (such as the empty sync step 2 every client
            sends on connect, or a delete set already applied).

        Raises:
            InvalidUpdate: when the update is malformed; the document is unchanged then.
            DocumentCorrupted: when pycrdt failed half-way; discard the document.
        """
        check_update(update)
        if update in self.pending:  # sent again (a client's reconnect): it waits already
            return False
        try:
            # Decoding the whole update first catches malformed input before the document
            # sees it (one try block instead of _guarded: this runs once per update). Its
            # diff against the state vector keeps the structs the document lacks (the first
            # varUint counts the clients that have some) and the whole delete set.
            diff = get_update(update, self._state)
        except NOT_OURS:
            raise
        except BaseException as exc:
            raise InvalidUpdate(f"cannot decode update: {type(exc).__name__}: {exc}") from exc
        if self.pending:
            pending = [*self.pending[-(MAX_PENDING - 1) :], update]
            payload = _guarded("cannot merge update", lambda: merge_updates(*pending))
        else:
            pending, payload = [update], update
        if diff[0] != 0:  # it inserts: it changes the document, or waits
            self._state = state = _apply(self.doc, payload)
            changed = waits = True
        else:
            # Only its delete set can change the document. yrs calls a document's observers
            # only after a transaction that changed it, with what it deleted; an observer
            # costs an encoding of every transaction, so there is one for these updates only
            # (the native one: pycrdt's wrapper builds an event and a read transaction).
            deleted: list[bytes] = []

            def observe(event: Any) -> None:
                deleted.append(event.delete_set)

            subscription = self.doc._doc.observe(observe)
            try:
                self._state = state = _apply(self.doc, payload)
            finally:
                subscription.drop()
            # Deletions of clocks the document lacks change nothing yet, but must be kept.
            # When all of the delete set was deleted now (the same encoding: a keystroke's
            # deletion), none of it waits.
            waits = not (deleted and deleted[0] == diff[1:]) and _deletes_unknown(diff, state)
            changed = waits or bool(deleted)
        try:
            if len(pending) == 1:
                self.pending = pending if waits and _waits(update, state) else []
            else:
                self.pending = [u for u in pending if _waits(u, state)]
        except NOT_OURS:
            raise
        except BaseException as exc:
            raise InvalidUpdate(f"cannot diff update: {type(exc).__name__}: {exc}") from exc
        return changed or (bool(self.pending) and self.pending[-1] is update)

    def with_waiting(self, update: bytes) -> bytes:
        """``update`` (the document, or a diff of it, from ``Doc.get_update``) merged with
        what waits, which ``Doc.get_update`` leaves out: a client or an export sent it can
        integrate it once the rest arrives, as the server does (Yjs includes it too).

        Raises:
            InvalidUpdate: when pycrdt cannot merge them.
        """
        if not self.pending:
            return update
        waiting = self.pending
        return _guarded("cannot merge update", lambda: merge_updates(update, *waiting))

    def state(self) -> bytes:
        """The whole document as one Yjs v1 update, with what waits (see :meth:`with_waiting`).

        Raises:
            InvalidUpdate: when pycrdt cannot merge them.
        """
        return self.with_waiting(self.doc.get_update())


def _apply(doc: Doc[Any], update: bytes) -> bytes:
    """Apply ``update`` to ``doc`` and return the state vector right after it, in one
    transaction of pycrdt's native document (``Doc._doc``; pycrdt is pinned below 0.15).

    pycrdt's ``Doc.apply_update`` and ``Doc.get_state`` each open a Python ``Transaction``
    wrapper, which costs more than the Rust work for a keystroke-sized update (measured: 5.4
    against 1.9 us per update of the automerge-paper trace). Observers still run at the commit.

    Raises:
        DocumentCorrupted: when pycrdt failed; the transaction is committed as far as it got.
    """
    native = doc._doc
    txn = native.create_transaction()
    try:
        native.apply_update(txn, update)
        return native.get_state(txn)
    except NOT_OURS:
        raise
    except BaseException as exc:  # PanicException is a BaseException
        raise DocumentCorrupted(f"cannot apply update: {type(exc).__name__}: {exc}") from exc
    finally:
        try:
            txn.commit()
        finally:
            txn.drop()


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
    return _guarded("cannot diff update", lambda: _waits(update, state))


def carries_new_structs(doc: Doc[Any], update: bytes) -> bool:
    """Whether ``update`` inserts anything ``doc`` does not have (deletions aside).

    Raises:
        InvalidUpdate: when the update cannot be decoded.
    """
    return not _integrated(doc, update)


def _integrated(doc: Doc[Any], update: bytes) -> bool:
    """Whether every struct of ``update`` is covered by the document's state vector.

    The diff of the update against the state vector keeps only uncovered structs; its
    first varUint counts the clients that still have some (zero: all integrated).
    """
    state = doc.get_state()
    return _guarded("cannot diff update", lambda: get_update(update, state))[0] == 0


def replay(doc: Doc[Any], updates: Iterable[bytes]) -> Integrator:
    """Apply stored updates to ``doc`` in order, through an :class:`Integrator`, which is
    returned: it also holds the updates of which part still waits for a predecessor.

    One by one, not as one ``merge_updates`` of the log: merging grows quadratically with
    the number of updates (20,000 keystrokes: 1.9 s merged, 0.05 s applied in order).

    Raises:
        InvalidUpdate: when a stored update cannot be applied.
    """
    integrator = Integrator(doc)
    for update in updates:
        integrator.apply(update)
    return integrator


def apply_all(doc: Doc[Any], updates: Iterable[bytes]) -> Doc[Any]:
    """:func:`replay`, for the document only.

    Raises:
        InvalidUpdate: when a stored update cannot be applied.
    """
    return replay(doc, updates).doc


def diff_update(update: bytes, state_vector: bytes) -> bytes:
    """What ``update`` holds beyond ``state_vector`` (both Yjs v1 encodings).

    Raises:
        InvalidUpdate: when either cannot be decoded.
    """
    return _guarded("cannot compute diff", lambda: get_update(update, state_vector))


def encode_diff(doc: Doc[Any], state_vector: bytes) -> bytes:
    """What ``doc`` holds beyond ``state_vector``, as a v1 update (sync step 2's payload).

    Raises:
        InvalidUpdate: when the state vector cannot be decoded.
    """
    return _guarded("cannot read state vector", lambda: doc.get_update(state_vector))


def revives_deleted(update: bytes, tombstone: bytes) -> bool:
    """Whether ``update`` carries structs of a deleted document's state ``tombstone``.

    A struct is old when its clock is below the tombstone's state-vector clock for its
    client: the diff of the update against that state vector then drops or trims it, which
    makes the re-encoded update shorter. Lengths are compared, not bytes: pycrdt writes the
    keys of JSON values (e.g. a link mark's attributes) in a different order on each encode.

    Raises:
        InvalidUpdate: when the update cannot be decoded.
    """
    state = _guarded("cannot read tombstone", lambda: get_state(tombstone))
    fresh = diff_update(update, state)
    full = _guarded("cannot decode update", lambda: get_update(update, b"\x00"))
    return len(fresh) != len(full)


def state_vector(encoded: bytes) -> dict[int, int]:
    """Decode a Yjs state vector (varUint count, then client id and clock pairs).

    Raises:
        ProtocolError: when it is malformed.
    """
    reader = ByteReader(encoded)
    pairs = [(reader.var_uint(), reader.var_uint()) for _ in range(reader.var_uint())]
    reader.end()
    return dict(pairs)


def same_document(a: Doc[Any], b: Doc[Any]) -> bool:
    """Whether two documents hold the same state: equal state vectors (decoded: pycrdt's
    client order varies) and equally long full encodings (bytes vary with JSON key order)."""
    return state_vector(a.get_state()) == state_vector(b.get_state()) and len(
        a.get_update()
    ) == len(b.get_update())
