"""The frames a ``/hocuspocus`` socket holds for documents whose Auth or join is not done.

A Hocuspocus provider sends a document's Auth message and, without waiting for the answer, its
sync and awareness frames: :class:`~collab.sessions.hocuspocus.HocuspocusSession` holds those
frames, in order, until the document's room is joined (then they are handled) or its Auth
refused (then they are dropped). What one socket holds so is bounded (:data:`HELD_FRAMES`,
:data:`HELD_BYTES`), as ``@hocuspocus/server`` bounds its unauthenticated queue.
"""

from __future__ import annotations

from collections.abc import KeysView

__all__ = ["HELD_BYTES", "HELD_FRAMES", "HeldFrames"]

HELD_FRAMES = 1000
"""Frames one socket may have held for documents whose Auth is not decided, at most (as
``@hocuspocus/server``'s ``maxUnauthenticatedQueueMessages``); past it: 1008."""

HELD_BYTES = 4 * 1024 * 1024
"""Bytes of such held frames, at most; past it: 1008."""


class HeldFrames:
    """The frames held by one socket, by document address, and their count and size.

    An address is held for from :meth:`expect` (even with no frame yet) to :meth:`pop`;
    ``len()`` is the number of such addresses.
    """

    __slots__ = ("by_address", "bytes", "frames")

    def __init__(self) -> None:
        self.by_address: dict[str, list[bytes]] = {}  # frames waiting for Auth or join
        self.frames = 0
        self.bytes = 0

    def __len__(self) -> int:
        return len(self.by_address)

    def __contains__(self, address: object) -> bool:
        return address in self.by_address

    def addresses(self) -> KeysView[str]:
        """The addresses frames are held for (a live view: copy it to pop while iterating)."""
        return self.by_address.keys()

    def expect(self, address: str) -> None:
        """Start holding frames for ``address`` (a new document of the socket)."""
        self.by_address[address] = []

    def add(self, address: str, raw: bytes) -> bool:
        """Hold ``raw``, a frame for ``address`` (which :meth:`expect` named).

        Returns:
            ``False`` when the socket is over :data:`HELD_FRAMES` or :data:`HELD_BYTES` with
            it: the frame is not kept, and the socket is to be closed (1008).
        """
        self.frames += 1
        self.bytes += len(raw)
        if self.frames > HELD_FRAMES or self.bytes > HELD_BYTES:
            return False
        self.by_address[address].append(raw)
        return True

    def pop(self, address: str) -> list[bytes]:
        """Stop holding for ``address``: its frames, in the order they came (none if it was
        not held)."""
        frames = self.by_address.pop(address, [])
        self.frames -= len(frames)
        self.bytes -= sum(map(len, frames))
        return frames
