"""The answers of an open document to a peer's sync step 1: one sync step 2, or a large
document's state in parts, the whole document's answer kept until it changes.

:class:`SyncReplies` is a base class of :class:`collab.room.Room`, which keeps the document
(and drops the kept answers when it changes).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from collab import chunks, protocol
from collab.updates import EMPTY_STATE_VECTOR, check_state_vector, encode_diff

if TYPE_CHECKING:
    from pycrdt import Doc

    from collab.hibernated import Asleep
    from collab.integrator import Integrator

__all__ = ["SYNC_CHUNK_BYTES", "SyncReplies"]

SYNC_CHUNK_BYTES = 1024 * 1024
"""Sync step 2 replies larger than this go in parts of about this size (see
:meth:`SyncReplies.sync_frames`): 2 s each over a 500 kB/s link."""


class SyncReplies:
    """The sync step 2 replies of a :class:`collab.room.Room` (a base class of it)."""

    if TYPE_CHECKING:
        _known: dict[int, int]
        _full_sync: bytes | None
        _full_frames: list[bytes] | None
        _asleep: Asleep | None

        @property
        def doc(self) -> Doc[Any]: ...

        @property
        def _integrator(self) -> Integrator: ...

        def _wake(self) -> Integrator: ...

    def sync_step2(self, state_vector: bytes) -> bytes:
        """The sync step 2 frame answering a peer's sync step 1 (``state_vector``).

        The answer to a client that has nothing of the document (an empty state vector, or
        one naming only clients the document does not know) is kept until the document
        changes: peers opening a large document together encode it once, and a state vector
        naming an unknown client does not cost a new encoding.

        Raises:
            InvalidUpdate: when the state vector cannot be decoded (its count is checked
                against its length first).
        """
        known = self._known
        if not any(
            known.get(client) for client, clock in check_state_vector(state_vector).items() if clock
        ):
            if self._full_sync is None and self._asleep is not None:
                self._wake()  # asleep, a large document keeps its parts only
            if self._full_sync is None:
                update = self._integrator.with_waiting_deletions(
                    encode_diff(self.doc, EMPTY_STATE_VECTOR)
                )
                self._full_sync = protocol.encode(protocol.SyncStep2(update))
            return self._full_sync
        # Structs waiting for a predecessor stay out, as from relays (Integrator.relayed).
        update = self._integrator.with_waiting_deletions(encode_diff(self.doc, state_vector))
        return protocol.encode(protocol.SyncStep2(update))

    def sync_frames(self, state_vector: bytes) -> list[bytes]:
        """The answer to a peer's sync step 1, as frames to send in order: one sync step 2,
        or for an update over :data:`SYNC_CHUNK_BYTES` the state in several update messages
        of about that size with the last part as the sync step 2 (y-protocols allows a state
        in several updates), so a client on a slow link sees messages arrive: the
        y-websocket client closes a connection that received nothing for 30 s, and a 20 MB
        sync step 2 over 500 kB/s never arrived whole. The whole document's frames are kept
        until it changes, like :meth:`sync_step2`'s, and in parts only: a large document's
        whole state is not kept twice (nor encoded as one frame first).

        Raises:
            InvalidUpdate: when the state vector cannot be decoded.
        """
        if not self.full_sync(state_vector):
            update = self._integrator.with_waiting_deletions(encode_diff(self.doc, state_vector))
            return _frames(update)
        if self._full_frames is not None:  # kept in parts (also while asleep)
            return self._full_frames
        if self._full_sync is None:
            if self._asleep is not None:
                self._wake()
            update = self._integrator.with_waiting_deletions(
                encode_diff(self.doc, EMPTY_STATE_VECTOR)
            )
            frames = _frames(update)
            if len(frames) > 1:
                self._full_frames = frames
                return frames
            self._full_sync = frames[0]
        return [self._full_sync]

    def full_sync(self, state_vector: bytes) -> bool:
        """Whether the answer to ``state_vector`` is the whole document (it names no clock
        of a client the document knows).

        Raises:
            InvalidUpdate: when the state vector cannot be decoded.
        """
        known = self._known
        return not any(known.get(c) for c, k in check_state_vector(state_vector).items() if k)

    def has_structs_beyond(self, state_vector: bytes) -> bool:
        """Whether the document holds structs ``state_vector`` lacks (else the answer to it
        is the delete set only).

        Raises:
            InvalidUpdate: when the state vector cannot be decoded.
        """
        theirs = check_state_vector(state_vector)
        return any(clock > theirs.get(client, 0) for client, clock in self._known.items())


def _frames(update: bytes) -> list[bytes]:
    """``update`` as one sync step 2 frame, or when it is over :data:`SYNC_CHUNK_BYTES` as
    update messages of about that size ending with a sync step 2 (see
    :meth:`SyncReplies.sync_frames`)."""
    if len(update) > SYNC_CHUNK_BYTES:
        try:
            parts = chunks.split(update, SYNC_CHUNK_BYTES)
        except chunks.Malformed:  # pycrdt wrote it: never; then it goes whole
            parts = [update]
        frames = [protocol.encode(protocol.Update(part)) for part in parts[:-1]]
        frames.append(protocol.encode(protocol.SyncStep2(parts[-1])))
        return frames
    return [protocol.encode(protocol.SyncStep2(update))]
