"""A room's place in the registry of open rooms (:class:`~collab.hub.rooms.Rooms`), and what
the registry asks of the peers it holds and of cluster mode.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from collab.room import Peer, Room

__all__ = ["ClosablePeer", "Follower", "RoomSlot"]


class ClosablePeer(Peer, Protocol):
    """A peer the hub can disconnect (storage failure, deletion, shutdown)."""

    def close(self, code: int, reason: str) -> None:
        """Ask the connection to close with ``code`` and ``reason`` (non-blocking)."""


class Follower(Protocol):
    """What the rooms ask of cluster mode (:class:`collab.hub.cluster.Cluster`)."""

    def check(self) -> None:
        """Raise ``BusUnavailable`` while the bus is down."""

    async def position(self, name: str) -> str:
        """The position of ``name``'s stream, read before loading it from the store."""

    def loaded(self, room: Room, position: str) -> None:
        """``room`` was loaded: follow its stream from ``position``."""

    def unloaded(self, name: str) -> None:
        """``name``'s room is gone: stop following its stream."""


@dataclass(eq=False)
class RoomSlot:
    """A room's place in the registry: the loading task, its users, its pending unload, and
    what the committer and maintenance keep per room."""

    name: str
    ready: asyncio.Future[Room]
    users: int = 0
    unload: asyncio.TimerHandle | None = None
    # Update messages in the log since the last compaction (a row of merged updates counts
    # those it holds; rows already stored count one each) and its bytes: what a load replays.
    log_updates: int = 0
    log_bytes: int = 0
    compacting: bool = False
    # After a failed compaction, the log (updates, bytes) it must reach before the next try:
    # a compaction that fails again and again must not run after every commit.
    compact_again_at: tuple[int, int] = (0, 0)
    pending: int = 0  # updates applied to the room's document and not committed yet
    # The document's life the room loaded (its tombstone's ``deleted_at``): cluster mode
    # fences its commits with it, so none lands after another node deleted the document.
    deleted_at: float | None = None
    written_at: float = field(default_factory=time.monotonic)  # last write (or the load)
    peers: set[ClosablePeer] = field(default_factory=set)
    # callbacks to run once ``pending`` is back to 0, and if the room is dropped first
    waiting: list[tuple[Callable[[], None], Callable[[], None]]] = field(default_factory=list)

    @property
    def loaded(self) -> Room | None:
        """The room, once loaded (``None`` while loading or when the load failed)."""
        ready = self.ready
        if not ready.done() or ready.exception() is not None:
            return None
        return ready.result()
