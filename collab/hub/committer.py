"""Group commit before relay.

Durability rule (README "Storage and durability"): an update is committed to the store before
any peer is sent it. Updates are applied to the room's document as they arrive, queued, and
committed at the end of the event-loop turn that read them, in one transaction per burst
(group commit); only then are they relayed (and passed to ``on_change``). While the database
thread commits one burst, the next waits for it (one commit at a time, in order).
A sync step 2 reply or an HTTP read of a document, which could expose queued updates, is
computed at a moment when nothing of its room waits for a commit (:meth:`Committer.when_committed`).

Database work runs on one worker thread, so the event loop never waits for the disk. The one
exception is the commit of a small burst when it cannot wait for the disk either (the store's
``commits_sync`` is false: SQLite in WAL mode with ``synchronous`` NORMAL or OFF) and the
thread is idle: then the event loop commits itself, which costs less than the round trip to
the thread, unless another process holds the write lock (then the burst waits for it on the
thread). The commit on the thread, its retries and the bus append in cluster mode are
:mod:`collab.hub.thread_commit`'s. Checkpoints (SQLite: the WAL's fsyncs) follow commits, on
the thread (:mod:`collab.hub.checkpoints`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from collab.bus import Bus
from collab.errors import ShuttingDown
from collab.hub.checkpoints import Checkpoints
from collab.hub.hooks import Hook
from collab.hub.rooms import Rooms
from collab.hub.slots import RoomSlot
from collab.hub.thread_commit import Item, Origin, ThreadCommit
from collab.hub.worker import DatabaseThread
from collab.metrics import Metrics
from collab.room import Room
from collab.stores import DocumentStore, StoreBusy, StoreError

__all__ = ["Committer", "Origin"]

log = logging.getLogger("collab.hub")

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
        self.thread = thread
        self.rooms = rooms
        self.metrics = metrics
        self.committed_room = committed_room
        self.on_change = on_change
        self._queue: list[Item] = []
        self._batch_started = 0.0
        self._queued_bytes = 0
        self._callbacks: list[Callable[[], None]] = []
        self._wake = asyncio.Event()
        self._turn_end: asyncio.Handle | None = None  # _end_turn, scheduled for this turn
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None  # set by start()
        self._busy = False
        self.checkpoints = Checkpoints(store, thread, metrics, lambda: rooms.closing)
        self._on_thread = ThreadCommit(
            store, thread, rooms, metrics, self._committed, bus, retry_seconds, _INLINE_COMMIT_ROWS
        )

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
    def storage(self) -> ThreadCommit:
        """Whether commits fail: :attr:`ThreadCommit.failing`, :attr:`ThreadCommit.reported`."""
        return self._on_thread

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

    def _take(self) -> tuple[list[Item], float, list[Callable[[], None]]]:
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
                    await self._on_thread.commit(batch, started)
            finally:
                self._busy = False
                for callback in callbacks:
                    callback()
            if self._queue and self._turn_end is None:  # queued while the thread committed
                loop = self._loop or asyncio.get_running_loop()
                self._turn_end = loop.call_soon(self._end_turn)

    def _commit_here(self, batch: list[Item], started: float) -> bool:
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
            self._on_thread.fail(batch, exc)
        else:
            self._committed(batch, started, begin)
        return True

    def _committed(self, batch: list[Item], started: float, begin: float) -> None:
        """Account for a committed burst, relay it, and run what waited for its rooms."""
        metrics = self.metrics
        committed = time.perf_counter()
        if self._on_thread.failing is not None:
            self._on_thread.succeeded()
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
