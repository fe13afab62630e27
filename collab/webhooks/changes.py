"""Debounced ``document.changed`` events and the wake-up of change-feed readers.

A commit marks its documents changed in its own transaction (:mod:`collab.stores.sqlite_outbox`).
The reporter looks at the marks every ``debounce / 4`` seconds and turns each mark at least
``debounce`` seconds old into one ``document.changed`` event describing the document as it is
then. While edits continue, a document gets at most one event per ``debounce`` seconds (the
next commit marks it again); after the last edit of a burst, one more event reflects the
final state. A crash between a commit and its event leaves the mark, reported after restart.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from collab.errors import CollabError
from collab.stores.outbox import CHANGED

__all__ = ["ChangeReporter", "Signal"]

log = logging.getLogger("collab.webhooks")


class Signal:
    """Wakes everyone waiting for new events (long-polling feed readers, the deliverer)."""

    def __init__(self) -> None:
        self._event = asyncio.Event()
        self._listeners: list[Callable[[], None]] = []

    def subscribe(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` (no arguments, non-blocking) on every :meth:`notify`."""
        self._listeners.append(listener)

    def notify(self) -> None:
        """New events were committed."""
        self._event.set()
        self._event = asyncio.Event()
        for listener in self._listeners:
            listener()

    async def wait(self, timeout: float) -> bool:
        """Wait for the next :meth:`notify`, ``timeout`` seconds at most; whether it came."""
        try:
            await asyncio.wait_for(self._event.wait(), timeout)
        except TimeoutError:
            return False
        return True


class ChangeReporter:
    """The background task that reports changed documents, and notifies :class:`Signal`
    whenever the outbox has new events.

    Args:
        run: runs a blocking store call on the database thread (``Hub.run``).
        due: store call ``(marked_before) -> [(name, marked_at)]``.
        report: store call ``([(name, marked_at, type, data)]) -> count`` (one transaction).
        last_event: store call ``() -> id`` of the newest event (to notify of events written
            elsewhere: document created or deleted).
        describe: ``async (names) -> {name: data}``: the ``data`` of a
            ``document.changed`` event (state vector, size, text) of each document of
            ``names`` that still exists.
        debounce: seconds (see the module docstring).
        signal: notified after events were written.
    """

    def __init__(
        self,
        run: Callable[..., Awaitable[Any]],
        due: Callable[[float], list[tuple[str, float]]],
        report: Callable[[list[tuple[str, float, str, dict[str, Any]]]], int],
        last_event: Callable[[], int],
        describe: Callable[[list[str]], Awaitable[dict[str, dict[str, Any]]]],
        *,
        debounce: float,
        signal: Signal,
    ) -> None:
        self._run, self._due, self._report, self._describe = run, due, report, describe
        self._last_event = last_event
        self._seen = -1  # the newest event id the signal was notified of
        self.debounce = debounce
        self.signal = signal
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start reporting (on the running event loop)."""
        self._task = asyncio.create_task(self._loop(), name="collab-changes")

    async def close(self) -> None:
        """Stop; marks not reported yet stay in the store for the next start."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def report_due(self, now: float | None = None) -> int:
        """Report every mark at least ``debounce`` old; how many events were written."""
        clock = time.time() if now is None else now
        written = 0
        due = await self._run(self._due, clock - self.debounce)
        if due:  # all of them at once: one read, one transaction (300 edited documents
            # reported one by one cost a third of the server's CPU)
            described = await self._describe([name for name, _ in due])
            changes = [(n, at, CHANGED, described[n]) for n, at in due if n in described]
            written = await self._run(self._report, changes)
        last = await self._run(self._last_event)
        if last != self._seen:
            if self._seen >= 0 or written:
                self.signal.notify()
            self._seen = last
        return written

    async def _loop(self) -> None:
        while True:
            try:
                await self.report_due()
            except CollabError as exc:  # the store failed: logged, tried again next tick
                log.error("cannot report document changes: %s", exc)
            except Exception:  # a bug: logged with its traceback, the loop goes on
                log.exception("cannot report document changes")
            await asyncio.sleep(max(0.05, self.debounce / 4))
