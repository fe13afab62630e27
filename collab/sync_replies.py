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

    def sync_frames(self, state_vector: bytes) -> list[bytes]:
        """The answer to a peer's sync step 1, as frames to send in order: one sync step 2,
        or for an update over :data:`SYNC_CHUNK_BYTES` the state in several update messages
        of about that size with the last part as the sync step 2 (y-protocols allows a state
        in several updates), so a client on a slow link sees messages arrive: the
        y-websocket client closes a connection that received nothing for 30 s, and a 20 MB
        sync step 2 over 500 kB/s never arrived whole.

        The answer to a client that has nothing of the document (an empty state vector, or
        one naming only clients the document does not know) is kept until the document
        changes: peers opening a large document together encode it once, and a state vector
        naming an unknown client does not cost a new encoding; a large document's is kept in
        parts only (not also as one frame).

        Raises:
            InvalidUpdate: when the state vector cannot be decoded (its count is checked
                against its length first).
        """
        if not self.full_sync(state_vector):  # structs waiting stay out, as from relays
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
