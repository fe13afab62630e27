"""Keeping stored documents small and whole: compaction after commits, and the salvage and
reload of a room that pycrdt damaged.

A compaction that replays the log (structs wait, or cluster mode) runs in three steps: the
log read on the database thread, the fold on the fold thread (:mod:`collab.hub.folds`) within
``--compact-seconds``, the snapshot written on the database thread if the log it folded is
unchanged. Other rooms commit and load between the steps. An abandoned or failed compaction
is tried again only once the log grew by another threshold (never in a loop).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from collab.hub.folds import FoldThreads
from collab.hub.loading import read_document
from collab.hub.rooms import Rooms
from collab.hub.slots import RoomSlot
from collab.hub.worker import DatabaseThread
from collab.metrics import Metrics
from collab.room import Room
from collab.settings import Settings
from collab.stores import (
    Compaction,
    CompactionAbandoned,
    CompactionInput,
    DocumentStore,
    StoreError,
)
from collab.stores.folding import Deadline, fold
from collab.updates import InvalidUpdate

__all__ = ["Maintenance", "salvage"]

log = logging.getLogger("collab.hub")

STORAGE_ERROR = 1011


def salvage(store: DocumentStore, name: str, updates: list[bytes]) -> int:
    """Store those of ``updates`` that apply one by one to document ``name`` as stored, up to
    the first that fails; how many were stored.

    Raises:
        StoreError: on a database failure.
        InvalidUpdate: when a stored update cannot be applied.
    """
    _, integrator = read_document(store, name)
    taken = []
    for update in updates:
        try:
            if integrator.apply(update):
                taken.append((name, update))
        except InvalidUpdate:  # the one that broke the merge (DocumentCorrupted is one)
            break
    store.append(taken)
    return len(taken)


class Maintenance:
    """Compaction, salvage and reload for the rooms of one hub.

    Args:
        store: the store (its calls run on ``thread``).
        thread: the database thread.
        rooms: the open rooms.
        settings: the compaction thresholds and time budget.
        metrics: compaction and storage error counts.
        folds: where folds run (the rooms' :class:`FoldThreads`).

    Attributes:
        clock: the time budget's clock (:func:`time.monotonic`; a fake one in tests).
    """

    def __init__(
        self,
        store: DocumentStore,
        thread: DatabaseThread,
        rooms: Rooms,
        settings: Settings,
        metrics: Metrics,
        folds: FoldThreads | None = None,
    ) -> None:
        self.store = store
        self.thread = thread
        self.rooms = rooms
        self.settings = settings
        self.metrics = metrics
        self.folds = folds or rooms.folds
        self.clock: Callable[[], float] = time.monotonic
        self._tasks: set[asyncio.Task[None]] = set()
        # Cluster mode: a room's document may lack what other nodes committed and it has
        # not read yet, so the store replays its own log (in its compaction transaction).
        self.replays = False
        # Cluster mode: told of each compaction (name, bytes it removed) for the others.
        self.compacted: Callable[[str, int], None] | None = None
        # Told the size of each snapshot a compaction encoded (the hub's MemoryRelease:
        # encoding a document allocates several times its size, freed between its blocks).
        self.encoded: Callable[[int], None] = lambda size: None

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @property
    def busy(self) -> bool:
        """Whether a compaction or salvage is under way."""
        return bool(self._tasks)

    async def drain(self) -> None:
        """Wait for the compactions and salvages under way (a fold ends at its next update
        once the rooms are closing)."""
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def committed(self, slot: RoomSlot, room: Room) -> None:
        """A burst of ``room`` was committed: compact it when its log grew past a threshold."""
        again_updates, again_bytes = slot.compact_again_at
        if (
            slot.log_updates >= max(self.settings.compact_updates, again_updates)
            or slot.log_bytes >= max(self.settings.compact_bytes, again_bytes)
        ) and not (slot.compacting or slot.pending or room.closed):
            # Nothing of the room is queued, so its document is exactly the committed log;
            # the thread runs jobs in order, so no row is added before the fold (or the read).
            slot.compacting = True
            job: Awaitable[Compaction | None]
            if room.waiting or self.replays:
                # With structs waiting for a predecessor, the log is replayed (merging what
                # waits into the state was tried: pycrdt's merge of them gave updates that do
                # not read back). In cluster mode other nodes add rows the room may not hold
                # yet. The replay runs on the fold thread, between two short transactions.
                read = self.thread.submit(self.store.read_for_compaction, slot.name)
                job = self._fold(slot.name, read)
            else:
                job = self.thread.submit(self.store.compact, slot.name, room.doc.get_update())
            self._spawn(self._compacted(slot, job, slot.log_updates))

    async def _fold(
        self, name: str, read_job: asyncio.Future[CompactionInput | None]
    ) -> Compaction | None:
        """Fold what ``read_job`` read on the fold thread, within the time budget, then write
        it (if the log is unchanged) on the database thread.

        Raises:
            CompactionAbandoned: past the budget, the hub stopping, or the log changed.
            StoreError: on a database failure, or when the fold's check fails.
        """
        read = await read_job
        if read is None:
            return None
        seconds, clock, rooms = self.settings.compact_seconds, self.clock, self.rooms

        def folded() -> tuple[bytes, dict[int, int]]:
            deadline = Deadline(name, seconds, clock)  # from the fold's start, not its queueing

            def check() -> None:
                if rooms.closing:
                    raise CompactionAbandoned(f"compaction of {name!r} abandoned: stopping")
                deadline()

            return fold(name, read.snapshot, read.rows, self.folds.pace(name, check))

        merged, kept = await self.folds.fold(folded)
        return await self.thread.run(self.store.finish_compaction, read, merged, kept)

    async def _compacted(
        self, slot: RoomSlot, job: Awaitable[Compaction | None], folded: int
    ) -> None:
        """Account for a compaction of the ``folded`` update messages committed when it was
        asked for (what came after it stays counted)."""
        try:
            result = await job
        except (StoreError, InvalidUpdate) as exc:  # InvalidUpdate: a stored row pycrdt fails on
            # Not again at the next commit (it ran for minutes on a hostile document, failed,
            # and started over at once, starving every other room): once the log grew by
            # another threshold.
            slot.compact_again_at = (
                slot.log_updates + self.settings.compact_updates,
                slot.log_bytes + self.settings.compact_bytes,
            )
            if isinstance(exc, CompactionAbandoned):
                self.metrics.compactions_abandoned += 1
                log.warning("compaction abandoned", extra={"room": slot.name, "reason": str(exc)})
            else:
                self.metrics.storage_errors += 1
                log.error("compaction failed", extra={"room": slot.name}, exc_info=exc)
        else:
            if result is not None:
                self.metrics.compactions += 1
                self.encoded(result.bytes_after)
                slot.log_updates -= folded
                # (in cluster mode the fold also took other nodes' rows: at least none left)
                slot.log_bytes = max(0, slot.log_bytes - result.log_bytes)
                room = self.rooms.room(slot.name)
                removed = result.bytes_before - result.bytes_after
                if self.compacted is not None:  # cluster: the size counts every node's rows
                    self.compacted(slot.name, removed)
                    if room is not None:
                        room.size_bytes -= removed
                elif room is not None:
                    room.size_bytes = result.bytes_after + slot.log_bytes
                extra = {
                    "room": slot.name,
                    "updates": result.rows,
                    "bytes_before": result.bytes_before,
                    "bytes_after": result.bytes_after,
                }
                log.info("compacted document", extra=extra)
        finally:
            slot.compacting = False

    def discard(self, room: Room, spare: object = None) -> None:
        """Forget ``room`` after pycrdt failed half-way through an update: its document may
        hold part of that update, so its peers (except ``spare``, which the caller closes with
        its own reason) are closed with 1011 and the next user reloads the document from
        storage (which never saw the update)."""
        slot = self.rooms.slots.get(room.name)
        if slot is not None and slot.loaded is room:
            log.error("discarding a damaged room", extra={"room": room.name})
            slot.peers = {peer for peer in slot.peers if peer is not spare}
            self.rooms.drop(slot, room, STORAGE_ERROR, "document reloaded after a failed update")

    def salvage(self, room: Room, updates: list[bytes]) -> None:
        """``updates`` (one peer's, in order) broke ``room`` when applied merged: before the
        room is loaded again, store those that apply one by one to the stored document, up
        to the one that fails, as they would have been had they come one per read. They are
        relayed to no one: the room's peers resync from the reloaded room."""
        if not self.rooms.closing:
            job = self.thread.submit(salvage, self.store, room.name, updates)
            self._spawn(self._salvaged(room.name, job))

    async def _salvaged(self, name: str, job: asyncio.Future[int]) -> None:
        try:
            taken = await job
        except (StoreError, InvalidUpdate) as exc:
            self.metrics.storage_errors += 1
            log.error("cannot salvage updates", extra={"room": name}, exc_info=exc)
        else:
            log.warning("salvaged updates", extra={"room": name, "updates": taken})
