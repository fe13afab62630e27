"""The open rooms: load on first use, group-commit their updates, relay, compact, unload.

Durability rule (DESIGN.md section 4): an update is committed to SQLite before any peer is
sent it. Updates are applied to the room's document as they arrive, queued, and committed at
the end of the event-loop turn that read them, in one transaction per burst (group commit);
only then are they relayed. While the database thread commits one burst, the next waits for
it (one commit at a time, in order).
A sync step 2 reply or an HTTP read of a document, which could expose queued updates, is
computed at a moment when nothing of its room waits for a commit (:meth:`Hub.when_committed`).

Database work runs on one worker thread, so the event loop never waits for the disk. The one
exception is the commit of a small burst when it cannot wait for the disk either (WAL mode
without fsync on commit: ``synchronous`` NORMAL or OFF) and the thread is idle: then the event
loop commits itself, which costs less than the round trip to the thread, unless another
process holds the write lock (then the burst waits for it on the thread). WAL checkpoints (the
fsyncs) always run on the thread, every ``_CHECKPOINT_ROWS`` rows and at most
``_CHECKPOINT_SECONDS`` after a commit; they also write the document counters (see
:class:`~collab.store.Store`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from asyncio import FIRST_COMPLETED
from collections.abc import AsyncIterator, Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from pycrdt import Doc

from collab.integrator import Integrator, replay
from collab.metrics import Metrics
from collab.room import Peer, Room
from collab.settings import Settings
from collab.store import Compaction, Store, StoreBusy, StoredDocument, StoreError
from collab.updates import InvalidUpdate

__all__ = ["ClosablePeer", "Hub", "ShuttingDown", "TooManyConnections"]

log = logging.getLogger("collab.hub")

T = TypeVar("T")

# Close codes the hub asks peers to close with (the WebSocket layer names them all).
GOING_AWAY = 1001
STORAGE_ERROR = 1011
DOCUMENT_DELETED = 4410

# Queued bytes above which writers wait for the committer (backpressure on floods).
_HIGH_WATER_BYTES = 8 * 1024 * 1024

# Largest burst the event loop commits itself (see the module docstring).
_INLINE_COMMIT_ROWS = 32

# Log rows committed between two WAL checkpoints (the hub's store does not checkpoint itself).
_CHECKPOINT_ROWS = 500

# Seconds from a commit to the next checkpoint at the latest.
_CHECKPOINT_SECONDS = 1.0


def _read_document(store: Store, name: str) -> tuple[StoredDocument, Integrator]:
    """Load document ``name`` and rebuild it (on the database thread: a large document takes
    a second to apply, during which the event loop still gets the GIL between updates). The
    integrator also holds the stored updates of which part still waits for a predecessor.

    Raises:
        StoreError: on a database failure.
        InvalidUpdate: when a stored update cannot be applied.
    """
    stored = store.load(name)
    return stored, replay(Doc(), stored.updates_in_order())


def _salvage(store: Store, name: str, updates: list[bytes]) -> int:
    """Store those of ``updates`` that apply one by one to document ``name`` as stored, up to
    the first that fails; how many were stored.

    Raises:
        StoreError: on a database failure.
        InvalidUpdate: when a stored update cannot be applied.
    """
    _, integrator = _read_document(store, name)
    taken = []
    for update in updates:
        try:
            if integrator.apply(update):
                taken.append((name, update))
        except InvalidUpdate:  # the one that broke the merge (DocumentCorrupted is one)
            break
    store.append(taken)
    return len(taken)


class ClosablePeer(Peer, Protocol):
    """A peer the hub can disconnect (storage failure, deletion, shutdown)."""

    def close(self, code: int, reason: str) -> None:
        """Ask the connection to close with ``code`` and ``reason`` (non-blocking)."""


class ShuttingDown(RuntimeError):
    """The hub is closing and accepts no new room users."""


class TooManyConnections(RuntimeError):
    """The server or the document has its maximum number of WebSocket connections."""


@dataclass(eq=False)
class _Entry:
    """A room slot: the loading task, its users, and its pending unload."""

    name: str
    ready: asyncio.Future[Room]
    users: int = 0
    unload: asyncio.TimerHandle | None = None
    # Update messages in the log since the last compaction (a row of merged updates counts
    # those it holds; rows already stored count one each) and its bytes: what a load replays.
    log_updates: int = 0
    log_bytes: int = 0
    compacting: bool = False
    pending: int = 0  # updates applied to the room's document and not committed yet
    peers: set[ClosablePeer] = field(default_factory=set)
    # callbacks to run once ``pending`` is back to 0, and if the room is dropped first
    waiting: list[tuple[Callable[[], None], Callable[[], None]]] = field(default_factory=list)


_Item = tuple[_Entry, Room, bytes, Peer | None]
"""A queued update: its room slot, the room, the update, the peer that sent it."""


class Hub:
    """Owns the open rooms and the store.

    Args:
        store: the opened store; the hub runs its methods on a single worker thread.
        settings: grace period, compaction thresholds and awareness limit are read here.
    """

    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.settings = settings
        self._entries: dict[str, _Entry] = {}
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="collab-db")
        self._queue: list[_Item] = []
        self._batch_started = 0.0
        self._queued_bytes = 0
        self._callbacks: list[Callable[[], None]] = []
        self._wake = asyncio.Event()
        self._turn_end: asyncio.Handle | None = None  # _end_turn, scheduled for this turn
        self._committer: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None  # set by start()
        self._closing = False
        self._stopping: asyncio.Future[None] | None = None  # resolved when close() starts
        self._busy = False
        self._db_jobs = 0  # store calls submitted to the database thread and not yet done
        self._uncheckpointed = 0  # log rows committed since the last checkpoint
        self._checkpointing = False
        self._checkpoint_timer: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.commits = 0
        self.connections = 0  # WebSocket peers in all rooms
        self.metrics = Metrics(lambda: len(self._entries), lambda: self.connections)

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the committer task."""
        # Kept: asyncio.get_running_loop() makes a getpid system call each time.
        self._loop = asyncio.get_running_loop()
        self._committer = asyncio.create_task(self._commit_loop(), name="collab-committer")

    async def close(self) -> None:
        """Refuse new users, commit everything queued, close peers with 1001, stop.

        Safe to call twice.
        """
        if self._closing:
            return
        self._closing = True
        if self._stopping is not None and not self._stopping.done():
            self._stopping.set_result(None)  # joins waiting for a load give up: 1001
        await self.flush()
        for entry in list(self._entries.values()):
            for peer in list(entry.peers):
                peer.close(GOING_AWAY, "server shutting down")
        if self._committer is not None:
            self._committer.cancel()
            await asyncio.gather(self._committer, return_exceptions=True)
        if self._checkpoint_timer is not None:
            self._checkpoint_timer.cancel()
        await self.run(self.store.close)
        self._executor.shutdown(wait=True)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run ``coro`` as a background task, kept referenced until it ends."""
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        """Run a blocking store call on the database thread."""
        return await self._submit(fn, *args)

    def _submit(self, fn: Callable[..., T], *args: object) -> asyncio.Future[T]:
        """Queue a store call on the database thread now (jobs run in submission order)."""
        loop = asyncio.get_running_loop()
        job = self._executor.submit(fn, *args)
        # Counted until the thread is done with it (even when the caller is cancelled), so
        # that the event loop uses the store itself only while the thread does not.
        self._db_jobs += 1
        job.add_done_callback(lambda _: loop.call_soon_threadsafe(self._job_done))
        return asyncio.wrap_future(job)

    def _job_done(self) -> None:
        self._db_jobs -= 1

    @property
    def open_rooms(self) -> int:
        """How many rooms are loaded now."""
        return len(self._entries)

    def room(self, name: str) -> Room | None:
        """The loaded room of document ``name``, or ``None`` when it is not open."""
        entry = self._entries.get(name)
        if entry is None or not entry.ready.done() or entry.ready.exception():
            return None
        return entry.ready.result()

    def peer_count(self, name: str) -> int:
        """How many WebSocket peers are connected to document ``name`` now."""
        entry = self._entries.get(name)
        return len(entry.peers) if entry else 0

    # -- rooms -------------------------------------------------------------------------------

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
        if self._closing:
            raise ShuttingDown("server shutting down")
        if peer is not None:
            if self.connections >= self.settings.max_connections:
                raise TooManyConnections("server has too many connections")
            self.connections += 1  # reserved now: joins racing through the load count too
        entry = self._entries.get(name)
        if entry is None:
            entry = _Entry(name, asyncio.get_running_loop().create_future())
            self._entries[name] = entry
            self._spawn(self._load(entry))
        entry.users += 1
        if entry.unload is not None:
            entry.unload.cancel()
            entry.unload = None
        joined: Room | None = None  # the room ``peer`` joined
        left = False

        def leave() -> None:
            nonlocal left
            if left:
                return
            left = True
            if peer is not None:
                self.connections -= 1
                if joined is not None and peer in entry.peers:
                    entry.peers.discard(peer)
                    joined.leave(peer)
            entry.users -= 1
            if entry.users == 0 and self._entries.get(name) is entry:
                self._schedule_unload(entry)

        try:
            if not entry.ready.done():
                if self._stopping is None:
                    self._stopping = asyncio.get_running_loop().create_future()
                # Neither future is cancelled when this join is (others wait for the load).
                await asyncio.wait((entry.ready, self._stopping), return_when=FIRST_COMPLETED)
            if self._closing:
                raise ShuttingDown("server shutting down")
            loaded = entry.ready.result()
            if peer is not None:
                if len(entry.peers) >= self.settings.max_connections_per_document:
                    raise TooManyConnections("document has too many connections")
                entry.peers.add(peer)
                joined = loaded
                loaded.join(peer)
        except BaseException:
            leave()
            raise
        return loaded, leave

    async def _load(self, entry: _Entry) -> None:
        try:
            stored, rebuilt = await self.run(_read_document, self.store, entry.name)
        except Exception as exc:
            self.metrics.storage_errors += 1
            log.error("cannot load document", extra={"room": entry.name}, exc_info=exc)
            if self._entries.get(entry.name) is entry:
                del self._entries[entry.name]
            entry.ready.set_exception(exc if isinstance(exc, StoreError) else StoreError(str(exc)))
            entry.ready.exception()  # mark retrieved: users may all have gone
            return
        rebuilt.max_pending_bytes = self.settings.max_pending_bytes
        rebuilt.max_pending_structs = self.settings.max_pending_structs
        entry.log_updates = len(stored.updates)
        entry.log_bytes = sum(map(len, stored.updates))
        room = Room(
            entry.name,
            rebuilt.doc,
            tombstone=stored.tombstone,
            max_awareness_bytes=self.settings.max_awareness_bytes,
            integrator=rebuilt,
        )
        room.size_bytes = len(stored.snapshot or b"") + entry.log_bytes
        entry.ready.set_result(room)

    def _schedule_unload(self, entry: _Entry) -> None:
        loop = asyncio.get_running_loop()
        entry.unload = loop.call_later(self.settings.room_grace_seconds, self._unload, entry)

    def _unload(self, entry: _Entry) -> None:
        entry.unload = None
        if entry.users or self._entries.get(entry.name) is not entry:
            return
        if entry.pending or entry.compacting:
            self._schedule_unload(entry)  # still writing: try again after the grace period
            return
        del self._entries[entry.name]
        log.debug("unloaded room", extra={"room": entry.name})

    # -- writes ------------------------------------------------------------------------------

    def submit(self, room: Room, update: bytes, origin: Peer | None, messages: int = 1) -> None:
        """Queue an update already applied to ``room`` for commit, then relay to the others.

        ``messages`` is how many update messages it merges (they count towards
        ``compact_updates``). Never blocks; see :attr:`congested` for flow control.
        """
        entry = self._entries.get(room.name)
        if entry is None or room.closed:
            raise ShuttingDown(f"room {room.name!r} is closed")
        entry.pending += 1
        entry.log_updates += messages
        room.size_bytes += len(update)
        if not self._queue:
            self._batch_started = time.perf_counter()
        self._queue.append((entry, room, update, origin))
        self._queued_bytes += len(update)
        self._schedule_end_turn()

    @property
    def congested(self) -> bool:
        """Whether more than a few MiB are queued for commit: writers should wait."""
        return self._queued_bytes > _HIGH_WATER_BYTES and not self._closing

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` once everything queued so far is committed (at once if nothing is)."""
        if not self._queue and not self._callbacks and not self._busy:
            callback()
        else:
            self._callbacks.append(callback)
            self._wake.set()

    def uncommitted(self, room: Room) -> bool:
        """Whether ``room``'s document holds updates that are not committed yet."""
        entry = self._entries.get(room.name)
        return entry is not None and entry.pending > 0

    def when_committed(
        self,
        room: Room,
        callback: Callable[[], None],
        dropped: Callable[[], None] = lambda: None,
    ) -> None:
        """Run ``callback`` at the first moment every update applied to ``room`` is committed
        (at once when that is now): what it reads of the document is then durable. When the
        room is dropped first (a failed commit, a deletion), ``dropped`` runs instead."""
        entry = self._entries.get(room.name)
        if entry is None or entry.pending == 0:
            callback()
        else:
            entry.waiting.append((callback, dropped))

    async def flush(self) -> None:
        """Wait until everything queued so far is committed (or failed)."""
        done = asyncio.get_running_loop().create_future()

        def resolve() -> None:
            if not done.done():
                done.set_result(None)

        self.after_commit(resolve)
        await done

    async def delete(self, name: str) -> bool:
        """Delete document ``name``: commit what is queued, close its peers with 4410, drop it.

        Returns:
            ``True`` when the document existed.

        Raises:
            StoreError: on a database failure.
        """
        await self.flush()
        entry = self._entries.get(name)
        if entry is not None and entry.ready.done() and not entry.ready.exception():
            self._drop(entry, entry.ready.result(), DOCUMENT_DELETED, "document deleted")
        elif entry is not None:
            del self._entries[name]
        return await self.run(self.store.delete, name)

    def _end_turn(self) -> None:
        """Commit what this event-loop turn queued, at its end: here when the burst is small
        and the database thread idle (see the module docstring), else on the committer task.
        While the committer commits, what comes meanwhile waits for it."""
        self._turn_end = None
        if self._busy or not self._queue or self._committer is None or self._committer.done():
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
            self._queued_bytes += sum(len(update) for _, _, update, _ in batch)
            self._batch_started = started
        self._wake.set()

    def _inline(self, rows: int) -> bool:
        return rows <= _INLINE_COMMIT_ROWS and not (self.store.commits_sync or self._db_jobs)

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
            if self._queue:  # queued while the thread committed
                self._schedule_end_turn()

    def _schedule_end_turn(self) -> None:
        """Run :meth:`_end_turn` at the end of this event-loop turn (once)."""
        if self._turn_end is None:
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
            self.store.append([(room.name, update) for _, room, update, _ in batch], wait=False)
        except StoreBusy:
            return False
        except StoreError as exc:
            self._fail(batch, exc)
        else:
            self._committed(batch, started, begin)
        return True

    async def _commit_on_thread(self, batch: list[_Item], started: float) -> None:
        """Commit a large burst on the database thread: SQLite releases the GIL while it
        inserts, so the event loop goes on reading the next updates meanwhile."""
        begin = time.perf_counter()
        try:
            await self.run(self.store.append, [(room.name, update) for _, room, update, _ in batch])
        except StoreError as exc:
            self._fail(batch, exc)
        else:
            self._committed(batch, started, begin)

    def _committed(self, batch: list[_Item], started: float, begin: float) -> None:
        """Account for a committed burst, relay it, and run what waited for its rooms."""
        metrics = self.metrics
        committed = time.perf_counter()
        metrics.commit_seconds.observe(committed - begin)
        metrics.commit_batch.observe(len(batch))
        metrics.updates_committed += len(batch)
        self._uncheckpointed += len(batch)
        for entry, room, update, origin in batch:
            entry.pending -= 1
            entry.log_bytes += len(update)
            room.relay(update, origin)
        metrics.fanout_seconds.observe(time.perf_counter() - started)
        for entry, room in {(entry, room) for entry, room, *_ in batch}:
            if entry.waiting and not entry.pending:
                waiting, entry.waiting = entry.waiting, []
                for callback, _ in waiting:
                    callback()
            if (
                entry.log_updates >= self.settings.compact_updates
                or entry.log_bytes >= self.settings.compact_bytes
            ) and not (entry.compacting or entry.pending or room.closed):
                # Nothing of the room is queued, so its document is exactly the committed
                # log; the thread runs jobs in order, so no row is added before the fold.
                # With structs waiting for a predecessor, the store replays the log instead.
                state = None if room.waiting else room.doc.get_update()
                entry.compacting = True
                job = self._submit(self.store.compact, entry.name, state)
                self._spawn(self._compacted(entry, job, entry.log_updates))
        if self._uncheckpointed >= _CHECKPOINT_ROWS:
            self._start_checkpoint()
        elif self._checkpoint_timer is None:
            loop = asyncio.get_running_loop()
            self._checkpoint_timer = loop.call_later(_CHECKPOINT_SECONDS, self._start_checkpoint)

    def _start_checkpoint(self) -> None:
        if self._checkpoint_timer is not None:
            self._checkpoint_timer.cancel()
            self._checkpoint_timer = None
        if not (self._checkpointing or self._closing):
            self._checkpointing = True
            self._spawn(self._checkpoint())

    async def _checkpoint(self) -> None:
        self._uncheckpointed = 0
        try:
            await self.run(self.store.checkpoint)
        except StoreError as exc:
            self.metrics.storage_errors += 1
            log.error("checkpoint failed", exc_info=exc)
        finally:
            self._checkpointing = False

    def _fail(self, batch: list[_Item], exc: StoreError) -> None:
        """A commit failed: its rooms hold uncommitted updates, so drop them and their peers."""
        self.metrics.storage_errors += 1
        rooms = {room: entry for entry, room, _, _ in batch}
        names = sorted(room.name for room in rooms)
        log.error("commit failed, closing rooms", extra={"room": names}, exc_info=exc)
        for entry, *_ in batch:
            entry.pending -= 1
        for room, entry in rooms.items():
            self._drop(entry, room, STORAGE_ERROR, "storage error: update not saved")

    def discard(self, room: Room) -> None:
        """Forget ``room`` after pycrdt failed half-way through an update: its document may
        hold part of that update, so its peers are closed with 1011 and the next user
        reloads the document from storage (which never saw the update)."""
        entry = self._entries.get(room.name)
        if entry is not None and entry.ready.done() and entry.ready.result() is room:
            log.error("discarding a damaged room", extra={"room": room.name})
            self._drop(entry, room, STORAGE_ERROR, "document reloaded after a failed update")

    def salvage(self, room: Room, updates: list[bytes]) -> None:
        """``updates`` (one peer's, in order) broke ``room`` when applied merged: before the
        room is loaded again, store those that apply one by one to the stored document, up
        to the one that fails, as they would have been had they come one per read. They are
        relayed to no one: the room's peers resync from the reloaded room."""
        if not self._closing:
            self._spawn(
                self._salvaged(room.name, self._submit(_salvage, self.store, room.name, updates))
            )

    async def _salvaged(self, name: str, job: asyncio.Future[int]) -> None:
        try:
            taken = await job
        except (StoreError, InvalidUpdate) as exc:
            self.metrics.storage_errors += 1
            log.error("cannot salvage updates", extra={"room": name}, exc_info=exc)
        else:
            log.warning("salvaged updates", extra={"room": name, "updates": taken})

    def _drop(self, entry: _Entry, room: Room, code: int, reason: str) -> None:
        """Close ``room`` for good: forget it and disconnect its peers."""
        room.closed = True
        waiting, entry.waiting = entry.waiting, []
        for _, dropped in waiting:
            dropped()
        if self._entries.get(entry.name) is entry:
            del self._entries[entry.name]
        if entry.unload is not None:
            entry.unload.cancel()
            entry.unload = None
        for peer in list(entry.peers):
            peer.close(code, reason)

    async def _compacted(
        self, entry: _Entry, job: asyncio.Future[Compaction | None], folded: int
    ) -> None:
        """Account for a compaction of the ``folded`` update messages committed when it was
        asked for (what came after it stays counted)."""
        try:
            result = await job
        except StoreError as exc:
            self.metrics.storage_errors += 1
            log.error("compaction failed", extra={"room": entry.name}, exc_info=exc)
        else:
            if result is not None:
                self.metrics.compactions += 1
                entry.log_updates -= folded
                entry.log_bytes -= result.log_bytes
                room = self.room(entry.name)
                if room is not None:
                    room.size_bytes = result.bytes_after + entry.log_bytes
                extra = {
                    "room": entry.name,
                    "updates": result.rows,
                    "bytes_before": result.bytes_before,
                    "bytes_after": result.bytes_after,
                }
                log.info("compacted document", extra=extra)
        finally:
            entry.compacting = False
