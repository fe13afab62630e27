"""Hibernation of open rooms whose writers went quiet (``--hibernate-seconds``).

A pycrdt document takes about ten times its encoded size in memory (a 20 MB document about
200 MB), and a room stays loaded while anyone is connected, though most documents are read
far more than written. Every ``--hibernate-seconds`` / 4, :meth:`Hibernation.sweep` puts to
sleep (:meth:`collab.room.Room.hibernate`) each loaded room of at least
``--hibernate-bytes`` stored bytes to which nothing was written for ``--hibernate-seconds``
and nothing waits (no uncommitted update, no compaction, nothing waiting for a commit): its
document is dropped, one encoded state kept, and the freed pages are given back to the system
on the database thread (:func:`collab.process.release_free_memory`). Peers stay, joiners are
served from the kept state, awareness flows.

A write wakes the room: :meth:`Hibernation.wake` rebuilds the document on the database
thread (the event loop serves other rooms meanwhile; the sessions hold the writer's messages
back and apply them after it, in order). Whatever needs the document before that rebuilds it
synchronously (:attr:`collab.room.Room.doc`). Off in cluster mode: the rooms follow the bus,
which applies other nodes' updates as they come.
"""

from __future__ import annotations

import asyncio
import logging
import time

from collab.hub.periodic import Periodic
from collab.hub.rooms import Rooms
from collab.hub.worker import DatabaseThread
from collab.integrator import Integrator
from collab.metrics import Metrics
from collab.process import release_free_memory
from collab.room import Room
from collab.settings import Settings

__all__ = ["Hibernation"]

log = logging.getLogger("collab.hub")


class Hibernation:
    """Puts quiet rooms to sleep and wakes them (see the module docstring).

    Args:
        rooms: the open rooms.
        thread: the database thread (rebuilds and memory release run there).
        settings: ``hibernate_seconds`` (0: off) and ``hibernate_bytes``.
        metrics: counts hibernations (and reports the rooms asleep).
    """

    def __init__(
        self, rooms: Rooms, thread: DatabaseThread, settings: Settings, metrics: Metrics
    ) -> None:
        self.rooms = rooms
        self.thread = thread
        self.seconds = settings.hibernate_seconds
        self.min_bytes = settings.hibernate_bytes
        self.metrics = metrics
        metrics.asleep = lambda: sum(1 for s in rooms.slots.values() if _asleep(s.loaded))
        self.enabled = self.seconds > 0
        self._sweeps = Periodic(max(0.05, self.seconds / 4), self.sweep, "hibernation sweep")
        self._waking: dict[Room, asyncio.Future[None]] = {}

    def start(self) -> None:
        """Start the sweeps (when enabled)."""
        if self.enabled:
            self._sweeps.start()

    async def stop(self) -> None:
        """Stop the sweeps."""
        await self._sweeps.stop()

    def sweep(self, now: float | None = None) -> int:
        """Put every quiet room to sleep now.

        Returns:
            How many rooms went to sleep.
        """
        now = time.monotonic() if now is None else now
        slept = 0
        for slot in list(self.rooms.slots.values()):
            room = slot.loaded
            if (
                room is None
                or room.asleep
                or room.closed
                or slot.pending
                or slot.compacting
                or slot.waiting
                or room in self._waking
                or room.size_bytes < self.min_bytes
                or now - slot.written_at < self.seconds
            ):
                continue
            if room.hibernate():
                slept += 1
                log.debug("room hibernates", extra={"room": room.name})
        if slept:
            self.metrics.hibernations += slept
            self.thread.submit(release_free_memory)
        return slept

    def wake(self, room: Room) -> asyncio.Future[None]:
        """Rebuild ``room``'s document on the database thread, unless it is awake: the
        returned future is done once it is (also when the rebuild failed: whatever needs
        the document then rebuilds it synchronously and meets the error itself)."""
        waking = self._waking.get(room)
        if waking is not None:
            return waking
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        rebuild = room.rebuilder()
        if rebuild is None:
            done.set_result(None)
            return done
        self._waking[room] = done
        sleeps = room.sleeps
        job = self.thread.submit(rebuild)

        def rebuilt(job: asyncio.Future[Integrator]) -> None:
            del self._waking[room]
            if job.cancelled() or job.exception() is not None:
                log.error("cannot rebuild a hibernated document", extra={"room": room.name})
            elif room.sleeps == sleeps:  # else it woke and slept again meanwhile
                room.awaken(job.result())
            done.set_result(None)

        job.add_done_callback(rebuilt)
        return done


def _asleep(room: Room | None) -> bool:
    return room is not None and room.asleep
