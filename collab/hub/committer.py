"""Group commit before relay.

Durability rule (DESIGN.md section 4): an update is committed to the store before any peer is
sent it. Updates are applied to the room's document as they arrive, queued, and committed at
the end of the event-loop turn that read them, in one transaction per burst (group commit);
only then are they relayed (and passed to ``on_change``). While the database thread commits
one burst, the next waits for it (one commit at a time, in order).
A sync step 2 reply or an HTTP read of a document, which could expose queued updates, is
computed at a moment when nothing of its room waits for a commit (:meth:`Committer.when_committed`).

Database work runs on one worker thread, so the event loop never waits for the disk. The one
exception is the commit of a small burst when it cannot wait for the disk either (the store's
``commits_sync`` is false: SQLite in WAL mode with ``synchronous`` NORMAL or OFF) and the
thread is idle: then the event loop commits itself, which costs less than the round trip to
the thread, unless another process holds the write lock (then the burst waits for it on the
thread). Checkpoints (SQLite: the WAL's fsyncs) follow commits, on the thread
(:mod:`collab.hub.checkpoints`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from functools import partial

from collab.bus import Bus, BusUnavailable
from collab.errors import CloseCode, CollabError, ShuttingDown
from collab.hub.checkpoints import Checkpoints
from collab.hub.hooks import Hook
from collab.hub.rooms import Rooms, RoomSlot
from collab.hub.worker import DatabaseThread
from collab.metrics import Metrics
from collab.room import Peer, Room
from collab.stores import DeletedMeanwhile, DocumentStore, StoreBusy, StoreError, StoreLocked

__all__ = ["Committer", "Origin"]

log = logging.getLogger("collab.hub")

Origin = Peer | str | None
"""Who wrote an update: the peer that sent it (relayed to every other peer), or a name such
as ``"http"`` or ``"edit"`` (relayed to every peer)."""

_Item = tuple[RoomSlot, Room, bytes, Origin, "list[bytes] | None"]
"""A queued update: its room slot, the room, the update, who wrote it, and what of it to relay
(``None``: all of it; else what integrated, see :attr:`collab.integrator.Integrator.relayed`)."""

STORAGE_ERROR = 1011

# Queued bytes above which writers wait for the committer (backpressure on floods).
_HIGH_WATER_BYTES = 8 * 1024 * 1024

# Largest burst the event loop commits itself (see the module docstring).
_INLINE_COMMIT_ROWS = 32


def origin_name(origin: Origin) -> str:
    """What ``on_change`` is told of an update's origin: a name as given, ``"websocket"`` for
    a peer."""
    return origin if isinstance(origin, str) else "websocket" if origin is not None else "server"


class Committer:
    """Commits queued updates in bursts, then relays them and runs what waited for them.

    Args:
        store: the store; appends run on ``thread``, or here (see the module docstring).
        thread: the database thread.
        rooms: the open rooms (a failed commit drops the rooms it held).
        metrics: commit timings and counts.
        committed_room: called for each room of a committed burst once its waiting callbacks
            ran (the hub checks whether to compact it).
        on_change: the host's hook, given each committed update after its relay.
        bus: in cluster mode, the bus each burst is appended to after the store committed
            it and before it is relayed (its acknowledgement completes the commit); the
            event loop then never commits itself. ``None``: one process.
        retry_seconds: how long a commit failed for a transient reason is tried again.
    """

    def __init__(
        self,
        store: DocumentStore,
        thread: DatabaseThread,
        rooms: Rooms,
        metrics: Metrics,
        committed_room: Callable[[RoomSlot, Room], None],
        on_change: Hook | None,
        bus: Bus | None = None,
        retry_seconds: float = 60.0,
    ) -> None:
        self.store = store
        self.bus = bus
        self._inline_rows = _INLINE_COMMIT_ROWS if bus is None else 0
        self.retry_seconds = retry_seconds
        self.thread = thread
        self.rooms = rooms
        self.metrics = metrics
        self.committed_room = committed_room
        self.on_change = on_change
        self._queue: list[_Item] = []
        self._batch_started = 0.0
        self._queued_bytes = 0
        self._callbacks: list[Callable[[], None]] = []
        self._wake = asyncio.Event()
        self._turn_end: asyncio.Handle | None = None  # _end_turn, scheduled for this turn
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None  # set by start()
        self._busy = False
        self.checkpoints = Checkpoints(store, thread, metrics, lambda: rooms.closing)

    def start(self) -> None:
        """Start the committer task (on the running loop)."""
        # Kept: asyncio.get_running_loop() makes a getpid system call each time.
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.create_task(self._commit_loop(), name="collab-committer")

    async def stop(self) -> None:
        """Stop the task and the checkpoint timer (after :meth:`flush`)."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self.checkpoints.stop()

    # -- the queue ---------------------------------------------------------------------------

    def submit(
        self,
        room: Room,
        update: bytes,
        origin: Origin,
        messages: int = 1,
        relay: list[bytes] | None = None,
    ) -> None:
        """Queue an update already applied to ``room`` for commit, then relay to the others.

        ``messages`` is how many update messages it merges (they count towards
        ``compact_updates``); ``relay`` what of it to relay when not all of it (what waits
        for a missing predecessor is stored, never relayed). Never blocks; see
        :attr:`congested` for flow control.

        Raises:
            ShuttingDown: when the room is closed.
        """
        slot = self.rooms.slots.get(room.name)
        if slot is None or room.closed:
            raise ShuttingDown(f"room {room.name!r} is closed")
        slot.pending += 1
        slot.written_at = time.monotonic()
        slot.log_updates += messages
        room.size_bytes += len(update)
        if not self._queue:
            self._batch_started = time.perf_counter()
        self._queue.append((slot, room, update, origin, relay))
        self._queued_bytes += len(update)
        if self._turn_end is None:  # _end_turn at the end of this event-loop turn (once)
            loop = self._loop or asyncio.get_running_loop()
            self._turn_end = loop.call_soon(self._end_turn)

    @property
    def congested(self) -> bool:
        """Whether more than a few MiB are queued for commit: writers should wait."""
        return self._queued_bytes > _HIGH_WATER_BYTES and not self.rooms.closing

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` once everything queued so far is committed (at once if nothing is)."""
        if not self._queue and not self._callbacks and not self._busy:
            callback()
        else:
            self._callbacks.append(callback)
            self._wake.set()

    def uncommitted(self, room: Room) -> bool:
        """Whether ``room``'s document holds updates that are not committed yet."""
        slot = self.rooms.slots.get(room.name)
        return slot is not None and slot.pending > 0

    def when_committed(
        self,
        room: Room,
        callback: Callable[[], None],
        dropped: Callable[[], None] = lambda: None,
    ) -> None:
        """Run ``callback`` at the first moment every update applied to ``room`` is committed
        (at once when that is now): what it reads of the document is then durable. When the
        room is dropped first (a failed commit, a deletion), ``dropped`` runs instead."""
        slot = self.rooms.slots.get(room.name)
        if slot is None or slot.pending == 0:
            callback()
        else:
            slot.waiting.append((callback, dropped))

    async def flush(self) -> None:
        """Wait until everything queued so far is committed (or failed)."""
        done = asyncio.get_running_loop().create_future()

        def resolve() -> None:
            if not done.done():
                done.set_result(None)

        self.after_commit(resolve)
        await done

    # -- committing --------------------------------------------------------------------------

    def _end_turn(self) -> None:
        """Commit what this event-loop turn queued, at its end: here when the burst is small
        and the database thread idle (see the module docstring), else on the committer task.
        While the committer commits, what comes meanwhile waits for it."""
        self._turn_end = None
        if self._busy or not self._queue or self._task is None or self._task.done():
            return
        if self._inline(len(self._queue)):
            batch, started, callbacks = self._take()
            if self._commit_here(batch, started):
                for callback in callbacks:
                    callback()
                return
            # Another process holds the write lock: the committer waits for it on the thread.
            self._queue[:0] = batch
            self._callbacks[:0] = callbacks
            self._queued_bytes += sum(len(item[2]) for item in batch)
            self._batch_started = started
        self._wake.set()

    def _inline(self, rows: int) -> bool:
        return rows <= self._inline_rows and not (self.store.commits_sync or self.thread.jobs)

    def _take(self) -> tuple[list[_Item], float, list[Callable[[], None]]]:
        """Everything queued: the updates, when the first was queued, and the callbacks."""
        batch, self._queue = self._queue, []
        callbacks, self._callbacks = self._callbacks, []
        self._queued_bytes = 0
        return batch, self._batch_started, callbacks

    async def _commit_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            batch, started, callbacks = self._take()
            self._busy = True
            try:
                if batch and not (self._inline(len(batch)) and self._commit_here(batch, started)):
                    await self._commit_on_thread(batch, started)
            finally:
                self._busy = False
                for callback in callbacks:
                    callback()
            if self._queue and self._turn_end is None:  # queued while the thread committed
                loop = self._loop or asyncio.get_running_loop()
                self._turn_end = loop.call_soon(self._end_turn)

    def _commit_here(self, batch: list[_Item], started: float) -> bool:
        """Commit a small burst on the event loop: a write into the WAL file, cheaper than
        the round trip to the database thread (which is idle: nothing races).

        Returns:
            ``False`` when another process holds the database's write lock: nothing was
            done, and the burst is to be committed on the thread, which waits for the lock
            (the event loop must not: every room would stall).
        """
        begin = time.perf_counter()
        try:
            self.store.append([(item[1].name, item[2]) for item in batch], wait=False)
        except StoreBusy:
            return False
        except StoreError as exc:
            self._fail(batch, exc)
        else:
            self._committed(batch, started, begin)
        return True

    async def _commit_on_thread(self, batch: list[_Item], started: float) -> None:
        """Commit a large burst on the database thread: SQLite releases the GIL while it
        inserts, so the event loop goes on reading the next updates meanwhile.

        A commit that failed for a transient reason (:class:`StoreLocked`: another process
        held the write lock past the busy timeout) is tried again with backoff (0.1 s
        doubling to 2 s) for ``commit_retry_seconds``: its updates, of authors that may have
        left since, are kept meanwhile (their rooms stay loaded, nothing is relayed), and
        only then reported lost (log, ``collab_updates_lost_total``)."""
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
                    self._fail(batch, exc)
                    return
                self.metrics.commit_retries += 1
                log.warning(
                    "commit failed (database locked), trying again",
                    extra={"room": sorted({item[1].name for item in batch}), "in": delay},
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
            except BusUnavailable as exc:  # in the store, but not relayed: peers resync
                self._fail(batch, exc, "cluster bus unavailable: update not relayed")
                return
            except StoreError as exc:
                self._fail(batch, exc)
                return
            else:
                if batch:
                    self._committed(batch, started, begin)
                return

    async def _append_and_publish(self, batch: list[_Item]) -> None:
        """Cluster mode: commit ``batch`` to the store, then append it to the bus. A small
        burst goes into the store here when the database thread is idle (as
        :meth:`_commit_here` does; the task waits for Redis anyway, and the round trip to
        the thread would add to every relay's latency).

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
                if len(rows) <= _INLINE_COMMIT_ROWS and not (
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

    def _refuse_deleted(self, batch: list[_Item], names: set[str]) -> None:
        """Drop the rooms of ``names`` (deleted by another node since they loaded) with 4410,
        and remove their updates from ``batch`` (in place: the caller's list)."""
        log.info(
            "edits of documents deleted on another node refused", extra={"room": sorted(names)}
        )
        kept: list[_Item] = []
        for item in batch:
            slot, room = item[0], item[1]
            if room.name not in names:
                kept.append(item)
                continue
            slot.pending -= 1
            if not room.closed:
                self.rooms.drop(slot, room, CloseCode.DOCUMENT_DELETED, "document deleted")
        batch[:] = kept

    def _committed(self, batch: list[_Item], started: float, begin: float) -> None:
        """Account for a committed burst, relay it, and run what waited for its rooms."""
        metrics = self.metrics
        committed = time.perf_counter()
        metrics.commit_seconds.observe(committed - begin)
        metrics.commit_batch.observe(len(batch))
        metrics.updates_committed += len(batch)
        for slot, room, update, origin, relay in batch:
            slot.pending -= 1
            slot.log_bytes += len(update)
            if relay is None:
                room.relay(update, origin)
            else:
                for part in relay:
                    room.relay(part, origin)
        metrics.fanout_seconds.observe(time.perf_counter() - started)
        on_change = self.on_change
        if on_change is not None:
            for _, room, update, origin, _ in batch:
                on_change(room.name, update, origin_name(origin))
        for slot, room in {(slot, room) for slot, room, *_ in batch}:
            if slot.waiting and not slot.pending:
                waiting, slot.waiting = slot.waiting, []
                for callback, _ in waiting:
                    callback()
            try:
                self.committed_room(slot, room)
            except Exception:  # a bug: it must not end the committer (every room would stall)
                log.exception("after-commit work failed", extra={"room": room.name})
        self.checkpoints.committed(len(batch), self._loop or asyncio.get_running_loop())

    def _fail(
        self, batch: list[_Item], exc: CollabError, reason: str = "storage error: update not saved"
    ) -> None:
        """A commit failed: its rooms hold uncommitted updates, so drop them and their peers."""
        if isinstance(exc, StoreError):
            self.metrics.storage_errors += 1
            self.metrics.updates_lost += len(batch)
        rooms = {room: slot for slot, room, *_ in batch}
        names = sorted(room.name for room in rooms)
        log.error("commit failed, closing rooms", extra={"room": names}, exc_info=exc)
        for slot, *_ in batch:
            slot.pending -= 1
        for room, slot in rooms.items():
            self.rooms.drop(slot, room, STORAGE_ERROR, reason)
