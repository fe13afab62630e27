"""The hub: the open rooms, their one write path, their commits and their maintenance.

Its parts: :class:`~collab.hub.rooms.Rooms` (load, admission, membership, unload),
:class:`~collab.hub.committer.Committer` (group commit before relay, checkpoints),
:class:`~collab.hub.maintenance.Maintenance` (compaction, salvage),
:class:`~collab.hub.documents.Documents` (delete, rename, committed states), the database
thread, and the host's :class:`~collab.hub.hooks.Hooks`. Every write, whoever makes it (a WebSocket
session, the HTTP API, ``Collab.edit``, an import over HTTP), goes through
:meth:`Hub.write_now` (an open room, synchronous: the sessions' hot path) or :meth:`Hub.write`
(any document, returns once committed), which checks the size limit and the tombstone,
applies, handles a damaged document, queues the commit, relays after it and runs
``on_change``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from collab.bus import Bus, BusUnavailable
from collab.errors import CloseCode, CollabError, DocumentTooLarge
from collab.hub.cluster import Cluster
from collab.hub.committer import Committer, Origin
from collab.hub.documents import Documents
from collab.hub.folds import FoldThreads
from collab.hub.hibernation import Hibernation
from collab.hub.hooks import Hooks
from collab.hub.maintenance import Maintenance
from collab.hub.release import MemoryRelease
from collab.hub.rooms import Rooms
from collab.hub.slots import RoomSlot
from collab.hub.worker import DatabaseThread
from collab.metrics import Metrics
from collab.room import Room
from collab.settings import Settings
from collab.stores import DocumentStore, StoreError
from collab.updates import DocumentCorrupted

__all__ = ["DocumentExists", "Hub", "WriteResult"]


class DocumentExists(CollabError):
    """A create-only write found the document holding content (HTTP ``If-None-Match: *``)."""

    close_code = CloseCode.FORBIDDEN
    http_status = 412
    code = "exists"


log = logging.getLogger("collab.hub")


@dataclass(frozen=True, slots=True)
class WriteResult:
    """What :meth:`Hub.write` did: whether the update changed the document (else it was
    already there, and was neither stored nor relayed unless it created the document), and
    the document's stored size afterwards, in bytes."""

    changed: bool
    size_bytes: int


class Hub:
    """Owns the open rooms and the store.

    Args:
        store: the opened store; the hub runs its methods on a single worker thread, and
            closes it in :meth:`close`.
        settings: limits, grace period, compaction thresholds.
        hooks: the host's hooks (none by default).
        bus: the cross-node bus; a remote one (``bus.remote``, e.g.
            :class:`~collab.bus.RedisBus`) turns on cluster mode (:mod:`collab.hub.cluster`).
            ``None`` or a :class:`~collab.bus.LocalBus`: one process, no bus call at all.
    """

    def __init__(
        self,
        store: DocumentStore,
        settings: Settings,
        hooks: Hooks | None = None,
        bus: Bus | None = None,
    ):
        self.store = store
        self.settings = settings
        self.hooks = hooks or Hooks()
        self.thread = DatabaseThread()
        self.folds = FoldThreads()  # the replays of loads and compactions
        self.metrics = Metrics(lambda: len(self.rooms.slots), lambda: self.rooms.connections)
        self.rooms = Rooms(store, self.thread, settings, self.metrics, self.folds)
        self.maintenance = Maintenance(store, self.thread, self.rooms, settings, self.metrics)
        remote = bus if bus is not None and bus.remote else None
        self.bus = remote
        self.cluster = Cluster(remote, self.rooms, self.metrics) if remote else None
        self.rooms.cluster = self.cluster
        self.maintenance.replays = remote is not None
        if self.cluster is not None:
            self.maintenance.compacted = self.cluster.compacted
            self.cluster.changed = self._changed
        self.metrics.bus = remote
        # Called with a document's name after each commit of its updates (the versions' quiet
        # timers); a listener that raises is logged and does not stop the others.
        self.commit_listeners: list[Callable[[str], None]] = []
        self.committer = Committer(
            store, self.thread, self.rooms, self.metrics, self._committed_room,
            self.hooks.change, remote, settings.commit_retry_seconds,
        )  # fmt: skip
        self.documents = Documents(
            store, self.thread, self.rooms, self.committer, self.folds, self.hooks, self.cluster
        )
        self.hibernation = Hibernation(self.rooms, self.thread, settings, self.metrics)
        self.hibernation.enabled &= remote is None  # cluster mode: the rooms follow the bus
        self.release = MemoryRelease(self.folds, self.metrics)  # free heap pages after writes
        self.maintenance.encoded = self.release.wrote
        self.max_document_bytes = settings.max_document_bytes
        # The parts' methods, bound once: sessions call them per message.
        self.run = self.thread.run
        self.join = self.rooms.join
        self.use = self.rooms.use
        self.room = self.rooms.room
        self.peer_count = self.rooms.peer_count
        self.submit = self.committer.submit
        self.after_commit = self.committer.after_commit
        self.uncommitted = self.committer.uncommitted
        self.when_committed = self.committer.when_committed
        self.flush = self.committer.flush
        self.salvage = self.maintenance.salvage
        self.wake = self.hibernation.wake
        self.delete = self.documents.delete
        self.rename = self.documents.rename
        self.state = self.documents.state
        self.state_vector = self.documents.state_vector

    def _committed_room(self, slot: RoomSlot, room: Room) -> None:
        """Updates of ``room`` were committed: maintenance (compaction), then the listeners."""
        self.maintenance.committed(slot, room)
        self._changed(room.name)

    def _changed(self, name: str) -> None:
        """Updates of ``name`` were committed, here or (cluster mode) on another node."""
        for listener in self.commit_listeners:
            try:
                listener(name)
            except Exception as exc:
                log.error("commit listener failed", extra={"room": name}, exc_info=exc)

    @property
    def congested(self) -> bool:
        """Whether more than a few MiB are queued for commit: writers should wait."""
        return self.committer.congested

    @property
    def connections(self) -> int:
        """WebSocket peers in all rooms."""
        return self.rooms.connections

    @property
    def open_rooms(self) -> int:
        """How many rooms are loaded now."""
        return len(self.rooms.slots)

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the committer task, and in cluster mode the bus (which keeps trying to
        connect in the background when Redis is not reachable yet)."""
        self.committer.start()
        self.hibernation.start()
        self.release.start()
        if self.cluster is not None:
            await self.cluster.bus.start(self.cluster)

    async def close(self) -> None:
        """Refuse new users, commit everything queued, close peers with 1001, let the hooks
        finish, close the store. Safe to call twice."""
        if self.rooms.closing:
            return
        self.rooms.stop()
        await self.hibernation.stop()
        await self.release.stop()
        await self.flush()
        for peer in self.rooms.peers():
            peer.close(CloseCode.GOING_AWAY, "server shutting down")
        await self.committer.stop()
        if self.cluster is not None:
            await self.cluster.bus.close()
        await self.hooks.drain()
        # Compactions and loads under way end at their next update replayed (closing).
        await self.maintenance.drain()
        await self.rooms.drain()
        await self.run(self.store.close)
        self.thread.shutdown()
        self.folds.shutdown()

    # -- the write path ----------------------------------------------------------------------

    def fits(self, room: Room, size: int) -> bool:
        """Whether ``size`` more bytes keep ``room``'s document within ``max_document_bytes``."""
        return room.size_bytes + size <= self.max_document_bytes

    def write_now(
        self, room: Room, update: bytes, origin: Origin, parts: list[bytes] | None = None
    ) -> bool:
        """Apply ``update`` to the open ``room`` and queue it for commit; it is relayed (to
        every peer but ``origin``) and passed to ``on_change`` once committed.

        Args:
            room: a room the caller holds open (``join``/``use``).
            update: a Yjs v1 update.
            origin: the peer that sent it, or a name (``"http"``, ``"edit"``).
            parts: the update messages ``update`` merges, when it merges several (they
                count towards compaction, and are salvaged one by one should the merge
                break the document).

        Returns:
            Whether it changed the document (or waits for a predecessor): ``False`` for an
            update with nothing new, which is neither stored nor relayed, or a closed room.

        Raises:
            DocumentTooLarge: the document would pass ``max_document_bytes``.
            InvalidUpdate: malformed, v2, or reviving a deleted document; nothing changed.
            ClientIdInUse: structs of a client id another live connection writes with
                (:meth:`Room.apply`); nothing changed.
            DocumentCorrupted: pycrdt failed half-way: the room was discarded (its peers but
                ``origin`` closed with 1011) and will be reloaded from storage.
        """
        if room.closed:
            return False
        if room.size_bytes + len(update) > self.max_document_bytes:
            raise DocumentTooLarge(f"document over the {self.max_document_bytes}-byte limit")
        try:
            changed = room.apply(update, origin)
        except DocumentCorrupted:
            self.maintenance.discard(room, spare=origin)
            if parts is not None:
                self.maintenance.salvage(room, parts)
            raise
        if changed:
            self.committer.submit(room, update, origin, len(parts) if parts else 1, room.relayed)
            self.release.wrote(len(update))
        return changed

    async def write(
        self, name: str, update: bytes, origin: Origin = "server", *, create_only: bool = False
    ) -> WriteResult:
        """Write ``update`` to document ``name`` (loading its room if needed) and return once
        it is committed. An update the document already holds (an empty one too) is neither
        stored nor relayed: to a document that does not exist, it does not create it.

        With ``create_only``, only when the document holds nothing yet: checked and applied
        with no await between, so two writers creating one document cannot both write it;
        then an update that changes nothing creates the document too (``collab import`` of
        an exported empty document).

        Raises:
            DocumentExists: with ``create_only``, the document holds content.
            DocumentTooLarge, InvalidUpdate, ClientIdInUse, DocumentCorrupted: see
                :meth:`write_now`.
            ShuttingDown: the hub is closing.
            StoreError: the document cannot be loaded, or the commit failed.
            BusUnavailable: cluster mode, Redis is down (the update may be in the store, but
                no peer was sent it).
        """
        async with self.rooms.use(name) as room:
            if create_only and not room.empty:
                raise DocumentExists(f"document {name!r} already holds content")
            if room.asleep:  # rebuilt on the database thread, not here (collab.hub.hibernation)
                await self.wake(room)
                if create_only and not room.empty:
                    raise DocumentExists(f"document {name!r} already holds content")
            changed = self.write_now(room, update, origin)
            if not changed and create_only and room.size_bytes == 0 and not room.closed:
                self.committer.submit(room, update, origin)
            await self.flush()  # what it holds may still wait for its commit
        if room.closed:
            if self.cluster is not None and not self.cluster.bus.healthy:
                raise BusUnavailable(f"the update was not relayed: {self.cluster.bus.reason}")
            failing = self.committer.storage.failing
            raise StoreError(
                f"the update could not be saved: {failing}"
                if failing
                else "the update could not be saved"
            )
        return WriteResult(changed, room.size_bytes)

    def discard(self, room: Room, spare: object = None) -> None:
        """Forget a room pycrdt damaged (see :meth:`Maintenance.discard`)."""
        self.maintenance.discard(room, spare)
