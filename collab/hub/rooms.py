"""The registry of open rooms: load on first use, admission, membership, unload after a grace
period, and dropping a room for good (a failed commit, a deletion).

Membership (the WebSocket peers of each room, the connection count) and the rooms' stored
sizes are kept here and only here, in each room's :class:`~collab.hub.slots.RoomSlot`.
"""

from __future__ import annotations

import asyncio
import logging
from asyncio import FIRST_COMPLETED
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from collab.bus import BusUnavailable
from collab.errors import ShuttingDown, TooManyConnections
from collab.hub.folds import FoldThreads
from collab.hub.loading import Unreadable, quarantine, rebuild
from collab.hub.slots import ClosablePeer, Follower, RoomSlot
from collab.hub.worker import DatabaseThread
from collab.integrator import Integrator
from collab.metrics import Metrics
from collab.room import Room
from collab.settings import Settings
from collab.stores import DocumentStore, StoredDocument, StoreError

__all__ = ["Rooms"]

log = logging.getLogger("collab.hub")


class Rooms:
    """The open rooms of one hub.

    Args:
        store: where rooms are loaded from (on ``thread``).
        thread: the database thread.
        settings: limits (connections), the grace period, the awareness size limit.
        metrics: counts storage errors.
        folds: where loaded documents are rebuilt (a new :class:`FoldThreads` when none).
    """

    def __init__(
        self,
        store: DocumentStore,
        thread: DatabaseThread,
        settings: Settings,
        metrics: Metrics,
        folds: FoldThreads | None = None,
    ) -> None:
        self.store = store
        self.thread = thread
        self.folds = folds or FoldThreads()
        self.settings = settings
        self.metrics = metrics
        self.slots: dict[str, RoomSlot] = {}
        self.connections = 0  # WebSocket peers in all rooms
        self.closing = False
        self._stopping: asyncio.Future[None] | None = None  # resolved when closing starts
        self._tasks: set[asyncio.Task[None]] = set()
        self.cluster: Follower | None = None  # cluster mode: the rooms follow the bus

    def room(self, name: str) -> Room | None:
        """The loaded room of document ``name``, or ``None`` when it is not open."""
        slot = self.slots.get(name)
        return slot.loaded if slot is not None else None

    def peer_count(self, name: str) -> int:
        """How many WebSocket peers are connected to document ``name`` now."""
        slot = self.slots.get(name)
        return len(slot.peers) if slot else 0

    def peers(self, name: str | None = None) -> list[ClosablePeer]:
        """The WebSocket peers of document ``name``, or of every open room."""
        slots = [self.slots[name]] if name in self.slots else [] if name else self.slots.values()
        return [peer for slot in slots for peer in slot.peers]

    def stop(self) -> None:
        """Refuse new users from now on; joins waiting for a load give up (1001)."""
        self.closing = True
        if self._stopping is not None and not self._stopping.done():
            self._stopping.set_result(None)

    @asynccontextmanager
    async def use(self, name: str, peer: ClosablePeer | None = None) -> AsyncIterator[Room]:
        """Hold room ``name`` open for the ``async with`` body (see :meth:`join`)."""
        room, leave = await self.join(name, peer)
        try:
            yield room
        finally:
            leave()

    async def join(
        self, name: str, peer: ClosablePeer | None = None
    ) -> tuple[Room, Callable[[], None]]:
        """Hold room ``name`` open (loading it on first use) until the returned ``leave()``.

        With ``peer``, the peer joins the room (sync step 1 and awareness are queued to it)
        and ``leave()`` removes it, its awareness states at once. ``leave()`` may be called
        more than once; only the first call counts.

        Raises:
            ShuttingDown: when the hub is closing.
            TooManyConnections: when the server or the document is full.
            StoreError: when the document cannot be loaded.
        """
        if self.closing:
            raise ShuttingDown("server shutting down")
        if self.cluster is not None:
            self.cluster.check()
        if peer is not None:
            if self.connections >= self.settings.max_connections:
                raise TooManyConnections("server has too many connections")
            self.connections += 1  # reserved now: joins racing through the load count too
        slot = self.slots.get(name)
        if slot is None:
            slot = RoomSlot(name, asyncio.get_running_loop().create_future())
            self.slots[name] = slot
            task = asyncio.create_task(self._load(slot))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        slot.users += 1
        if slot.unload is not None:
            slot.unload.cancel()
            slot.unload = None
        joined: Room | None = None  # the room ``peer`` joined
        left = False

        def leave() -> None:
            nonlocal left
            if left:
                return
            left = True
            if peer is not None:
                self.connections -= 1
                if joined is not None and peer in slot.peers:
                    slot.peers.discard(peer)
                    joined.leave(peer)
            slot.users -= 1
            if slot.users == 0 and self.slots.get(name) is slot:
                self._schedule_unload(slot)

        try:
            if not slot.ready.done():
                if self._stopping is None:
                    self._stopping = asyncio.get_running_loop().create_future()
                # Neither future is cancelled when this join is (others wait for the load).
                await asyncio.wait((slot.ready, self._stopping), return_when=FIRST_COMPLETED)
            if self.closing:
                raise ShuttingDown("server shutting down")
            loaded = slot.ready.result()
            if peer is not None:
                if len(slot.peers) >= self.settings.max_connections_per_document:
                    raise TooManyConnections("document has too many connections")
                slot.peers.add(peer)
                joined = loaded
                loaded.join(peer)
        except BaseException:
            leave()
            raise
        return loaded, leave

    async def read(self, name: str) -> tuple[StoredDocument, Integrator]:
        """Load document ``name`` (see :func:`~collab.hub.loading.read_document`) in steps:
        the read on the database thread, the replay on a load thread (other rooms commit and
        load meanwhile), the quarantine of rows that do not decode on the database thread.

        Raises:
            StoreError: on a database failure.
            InvalidUpdate: when the stored rows fail together although each decodes.
            ShuttingDown: when the hub stops during the replay.
        """
        stored = await self.thread.run(self.store.load, name)
        pace = self.folds.pace(name, self._still_open)
        rebuilt = await self.folds.load(rebuild, stored, pace)
        if isinstance(rebuilt, Unreadable):
            stored = await self.thread.run(quarantine, self.store, name, rebuilt)
            rebuilt = await self.folds.load(rebuild, stored, pace)
            if isinstance(rebuilt, Unreadable):  # quarantined, so never: fail, don't loop
                raise StoreError(f"document {name!r} cannot be read: {rebuilt.reason}")
        return stored, rebuilt

    def _still_open(self) -> None:
        if self.closing:
            raise ShuttingDown("server shutting down")

    async def drain(self) -> None:
        """Wait for the loads under way (a replay ends at its next update once closing)."""
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _load(self, slot: RoomSlot) -> None:
        cluster, position = self.cluster, ""
        try:
            if cluster is not None:  # read first: the stream from there misses nothing
                position = await cluster.position(slot.name)
            stored, rebuilt = await self.read(slot.name)
        except Exception as exc:
            if not isinstance(exc, ShuttingDown):
                self.metrics.storage_errors += 1
                log.error("cannot load document", extra={"room": slot.name}, exc_info=exc)
            if self.slots.get(slot.name) is slot:
                del self.slots[slot.name]
            kept = isinstance(exc, StoreError | BusUnavailable | ShuttingDown)
            slot.ready.set_exception(exc if kept else StoreError(str(exc)))
            slot.ready.exception()  # mark retrieved: users may all have gone
            return
        rebuilt.max_pending_bytes = self.settings.max_pending_bytes
        rebuilt.max_pending_structs = self.settings.max_pending_structs
        slot.log_updates = len(stored.updates)
        slot.deleted_at = stored.deleted_at
        slot.log_bytes = sum(map(len, stored.updates))
        room = Room(
            slot.name,
            rebuilt.doc,
            tombstone=stored.tombstone,
            max_awareness_bytes=self.settings.max_awareness_bytes,
            integrator=rebuilt,
            defer=asyncio.get_running_loop().call_soon,  # one awareness message per turn
        )
        room.size_bytes = len(stored.snapshot or b"") + slot.log_bytes
        if cluster is not None:
            if self.slots.get(slot.name) is not slot:  # dropped while loading (bus down)
                slot.ready.set_exception(StoreError("the document was closed while it loaded"))
                slot.ready.exception()
                return
            cluster.loaded(room, position)
        slot.ready.set_result(room)

    def _schedule_unload(self, slot: RoomSlot) -> None:
        loop = asyncio.get_running_loop()
        slot.unload = loop.call_later(self.settings.room_grace_seconds, self._unload, slot)

    def _unload(self, slot: RoomSlot) -> None:
        slot.unload = None
        if slot.users or self.slots.get(slot.name) is not slot:
            return
        if slot.pending or slot.compacting:
            self._schedule_unload(slot)  # still writing: try again after the grace period
            return
        del self.slots[slot.name]
        if self.cluster is not None:
            self.cluster.unloaded(slot.name)
        log.debug("unloaded room", extra={"room": slot.name})

    def forget(self, name: str, code: int = 4410, reason: str = "document deleted") -> None:
        """Drop document ``name``'s room for good (loaded or not): its peers are closed by
        :meth:`drop` first, with ``code`` and ``reason``, when it is loaded."""
        slot = self.slots.get(name)
        if slot is None:
            return
        room = slot.loaded
        if room is not None:
            self.drop(slot, room, code, reason)
        else:
            del self.slots[name]

    def drop(self, slot: RoomSlot, room: Room, code: int, reason: str) -> None:
        """Close ``room`` for good: forget it and disconnect its peers with ``code``."""
        room.closed = True
        waiting, slot.waiting = slot.waiting, []
        for _, dropped in waiting:
            dropped()
        if self.slots.get(slot.name) is slot:
            del self.slots[slot.name]
            if self.cluster is not None:
                self.cluster.unloaded(slot.name)
        if slot.unload is not None:
            slot.unload.cancel()
            slot.unload = None
        for peer in list(slot.peers):
            peer.close(code, reason)
