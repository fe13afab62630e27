"""The commit of a burst on the database thread, and in cluster mode its append to the bus.

:class:`~collab.hub.committer.Committer` queues updates and commits small bursts on the event
loop itself; every other burst is committed here, by :class:`ThreadCommit`: on the database
thread, tried again with backoff while another process holds the write lock, then (cluster
mode) appended to the bus. A burst that cannot be committed drops its rooms and their peers
(:meth:`ThreadCommit.fail`, which the event loop's own commit uses too).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from functools import partial

from collab.bus import Bus, BusUnavailable
from collab.errors import CloseCode, CollabError, clip_reason
from collab.hub.rooms import Rooms
from collab.hub.slots import RoomSlot
from collab.hub.worker import DatabaseThread
from collab.metrics import Metrics
from collab.room import Peer, Room
from collab.stores import DeletedMeanwhile, DocumentStore, StoreBusy, StoreError, StoreLocked
from collab.stores.causes import cause

__all__ = ["Item", "Origin", "ThreadCommit"]

log = logging.getLogger("collab.hub")

Origin = Peer | str | None
"""Who wrote an update: the peer that sent it (relayed to every other peer), or a name such
as ``"http"`` or ``"edit"`` (relayed to every peer)."""

Item = tuple[RoomSlot, Room, bytes, Origin, "list[bytes] | None"]
"""A queued update: its room slot, the room, the update, who wrote it, and what of it to relay
(``None``: all of it; else what integrated, see :attr:`collab.integrator.Integrator.relayed`)."""

STORAGE_ERROR = 1011

FAILING_SECONDS = 10.0
"""How long after a failed commit :attr:`ThreadCommit.reported` still reports it when no
commit succeeded since (a server nobody writes to would otherwise look failed for ever, and a
load balancer that stops sending it writes would never see it recover)."""


class ThreadCommit:
    """Commits bursts on the database thread (and appends them to the bus), or drops them.

    Args:
        store: the store; appends run on ``thread``, or on the event loop for a small burst
            in cluster mode (see :meth:`_append_and_publish`).
        thread: the database thread.
        rooms: the open rooms (a failed commit drops the rooms it held).
        metrics: retries, storage errors and lost updates are counted here.
        committed: called with a committed burst, when its first update was queued and when
            its commit began (``time.perf_counter`` seconds): the committer relays it.
        bus: in cluster mode, the bus each burst is appended to after the store committed
            it and before it is relayed. ``None``: one process.
        retry_seconds: how long a commit failed for a transient reason is tried again.
        inline_rows: in cluster mode, the largest burst committed on the event loop when the
            database thread is idle.
    """

    def __init__(
        self,
        store: DocumentStore,
        thread: DatabaseThread,
        rooms: Rooms,
        metrics: Metrics,
        committed: Callable[[list[Item], float, float], None],
        bus: Bus | None,
        retry_seconds: float,
        inline_rows: int,
    ) -> None:
        self.store = store
        self.thread = thread
        self.rooms = rooms
        self.metrics = metrics
        self.committed = committed
        self.bus = bus
        self.retry_seconds = retry_seconds
        self.inline_rows = inline_rows
        self.failing: str | None = None
        """Why the last commit failed (:func:`collab.stores.causes.cause`: "the disk is full
        (database or disk is full)"), until a commit succeeds; ``None``: the last succeeded."""
        self.failures = 0
        """Commits failed in a row (of a :class:`StoreError`)."""
        self.failed_at = 0.0
        """When the last commit failed (``time.monotonic()`` seconds)."""

    async def commit(self, batch: list[Item], started: float) -> None:
        """Commit a large burst on the database thread: SQLite releases the GIL while it
        inserts, so the event loop goes on reading the next updates meanwhile.

        A commit that failed for a transient reason (:class:`StoreLocked`: another process
        held the write lock past the busy timeout) is tried again with backoff (0.1 s
        doubling to 2 s) for ``commit_retry_seconds``: its updates, of authors that may have
        left since, are kept meanwhile (their rooms stay loaded, nothing is relayed), and
        only then reported lost (log, ``collab_updates_lost_total``). Never raises: a burst
        that fails is dropped (:meth:`fail`)."""
        begin = time.perf_counter()
        rows = [(item[1].name, item[2]) for item in batch]
        deadline = time.monotonic() + self.retry_seconds
        delay = 0.1
        while True:
            try:
                if self.bus is None:
                    await self.thread.run(self.store.append, rows)
                else:
                    await self._append_and_publish(batch)
            except StoreLocked as exc:
                if time.monotonic() + delay > deadline:
                    self.fail(batch, exc)
                    return
                self.metrics.commit_retries += 1
                log.warning(
                    "commit failed (database locked), trying again",
                    extra={"room": sorted({item[1].name for item in batch}), "in": delay},
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
            except BusUnavailable as exc:  # in the store, but not relayed: peers resync
                self.fail(batch, exc, "cluster bus unavailable: update not relayed")
                return
            except StoreError as exc:
                self.fail(batch, exc)
                return
            else:
                if batch:
                    self.committed(batch, started, begin)
                return

    async def _append_and_publish(self, batch: list[Item]) -> None:
        """Cluster mode: commit ``batch`` to the store, then append it to the bus. A small
        burst goes into the store here when the database thread is idle (as the committer's
        own commit on the event loop does; the task waits for Redis anyway, and the round
        trip to the thread would add to every relay's latency).

        The append is fenced by the life of each document its room loaded: the updates of
        a document another node deleted since are refused (its room dropped, its peers closed
        with 4410 as on one node) and removed from ``batch``; the rest is committed.

        Raises:
            StoreError, BusUnavailable: nothing was relayed.
        """
        assert self.bus is not None
        while batch:
            rows = [(item[1].name, item[2]) for item in batch]
            fence = {slot.name: slot.deleted_at for slot, *_ in batch}
            try:
                if len(rows) <= self.inline_rows and not (
                    self.store.commits_sync or self.thread.jobs
                ):
                    try:
                        self.store.append(rows, wait=False, fence=fence)
                    except StoreBusy:  # another node holds the write lock: wait on the thread
                        await self.thread.run(partial(self.store.append, rows, fence=fence))
                else:
                    await self.thread.run(partial(self.store.append, rows, fence=fence))
            except DeletedMeanwhile as exc:
                self._refuse_deleted(batch, set(exc.names))
                continue
            await self.bus.append(rows)
            return

    def _refuse_deleted(self, batch: list[Item], names: set[str]) -> None:
        """Drop the rooms of ``names`` (deleted by another node since they loaded) with 4410,
        and remove their updates from ``batch`` (in place: the caller's list)."""
        log.info(
            "edits of documents deleted on another node refused", extra={"room": sorted(names)}
        )
        kept: list[Item] = []
        for item in batch:
            slot, room = item[0], item[1]
            if room.name not in names:
                kept.append(item)
                continue
            slot.pending -= 1
            if not room.closed:
                self.rooms.drop(slot, room, CloseCode.DOCUMENT_DELETED, "document deleted")
        batch[:] = kept

    def fail(
        self, batch: list[Item], exc: CollabError, reason: str = "storage error: update not saved"
    ) -> None:
        """A commit failed: its rooms hold uncommitted updates, so drop them and their peers
        (close code 1011 with ``reason``); a :class:`StoreError` counts as a storage error
        and its updates as lost, sets :attr:`failing` (added to the close reason), and is
        logged with its traceback when it is the first in a row, then in one line each."""
        rooms = {room: slot for slot, room, *_ in batch}
        names = sorted(room.name for room in rooms)
        if isinstance(exc, StoreError):
            self.metrics.storage_errors += 1
            self.metrics.updates_lost += len(batch)
            self.failing = cause(exc)
            self.failures += 1
            self.failed_at = time.monotonic()
            reason = clip_reason(f"{reason}: {self.failing}")
            if self.failures == 1:
                log.error("commit failed, closing rooms", extra={"room": names}, exc_info=exc)
            else:
                log.error(
                    "commit failed again (%d in a row), closing rooms: %s",
                    self.failures,
                    self.failing,
                    extra={"room": names},
                )
        else:
            log.error("commit failed, closing rooms", extra={"room": names}, exc_info=exc)
        for slot, *_ in batch:
            slot.pending -= 1
        for room, slot in rooms.items():
            self.rooms.drop(slot, room, STORAGE_ERROR, reason)

    @property
    def reported(self) -> str | None:
        """:attr:`failing` if the last commit failed in the last :data:`FAILING_SECONDS`
        (``/healthz`` reports it), else ``None``."""
        if self.failing is None or time.monotonic() - self.failed_at > FAILING_SECONDS:
            return None
        return self.failing

    def succeeded(self) -> None:
        """A commit succeeded: clear :attr:`failing`, logging how many failed before."""
        if self.failing is not None:
            log.warning("commits succeed again, after %d failed", self.failures)
            self.failing, self.failures = None, 0
