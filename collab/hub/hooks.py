"""The host application's hooks (``on_change``, ``on_connect``, ``on_disconnect``,
``on_delete``, ``on_stateless``), each run isolated from the rooms and from each other.

A hook may be a plain function or a coroutine function. A plain one runs at once on the event
loop (after the commit and the relay it reports), so it must be quick; an async one is queued
to a task of its own per hook, which awaits the calls one after the other, in order, each for
at most ``timeout`` seconds. A hook that raises is logged; one that hangs is cancelled after
``timeout`` and logged. Neither ever reaches a room, a commit or another hook: relaying never
waits for a hook.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from collab.errors import NOT_OURS

__all__ = ["ChangeHook", "ConnectHook", "DeleteHook", "Hook", "Hooks", "StatelessHook"]

log = logging.getLogger("collab.hooks")

ChangeHook = Callable[[str, bytes, str], Awaitable[None] | None]
"""``on_change(name, update, origin)``: a committed update (Yjs v1) of document ``name``;
``origin`` is ``"websocket"``, ``"http"``, ``"edit"`` or what a caller of ``Hub.write``
named."""

ConnectHook = Callable[[str, dict[str, Any]], Awaitable[None] | None]
"""``on_connect(name, info)`` / ``on_disconnect(name, info)``: a WebSocket peer joined or left
document ``name``; ``info`` has ``peer`` (an id), ``role`` and ``client`` (its address)."""

DeleteHook = Callable[[str], Awaitable[None] | None]
"""``on_delete(name)``: document ``name`` was deleted."""

StatelessHook = Callable[[str, str, Any], Awaitable[None] | None]
"""``on_stateless(name, payload, origin)``: a Hocuspocus client's Stateless message (a string
the application defines; never stored) about document ``name``; ``origin`` is the session of
that document on its socket (``origin.info()`` describes it)."""


class Hook:
    """One hook, called with :meth:`__call__` (never raises, never blocks on an async hook).

    Args:
        name: the hook's name, for the logs.
        fn: the host's function or coroutine function.
        timeout: seconds one call of an async hook may take before it is cancelled.
    """

    def __init__(self, name: str, fn: Callable[..., Any], timeout: float) -> None:
        self.name = name
        self.fn = fn
        self.timeout = timeout
        self._calls: deque[Awaitable[Any]] = deque()
        self._wake: asyncio.Event | None = None
        self._idle: asyncio.Event | None = None  # set while nothing is queued
        self._task: asyncio.Task[None] | None = None

    def __call__(self, *args: Any) -> None:
        try:
            result = self.fn(*args)
        except NOT_OURS:
            raise
        except BaseException:
            log.exception("hook %s failed", self.name)
            return
        if inspect.isawaitable(result):
            self._calls.append(result)
            if self._task is None:
                self._wake, self._idle = asyncio.Event(), asyncio.Event()
                self._task = asyncio.create_task(self._run(), name=f"collab-hook-{self.name}")
            assert self._wake is not None and self._idle is not None
            self._idle.clear()
            self._wake.set()

    async def _run(self) -> None:
        assert self._wake is not None and self._idle is not None
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._calls:
                call = self._calls.popleft()
                try:
                    async with asyncio.timeout(self.timeout):
                        await call
                except TimeoutError:
                    log.error("hook %s took over %s s: cancelled", self.name, self.timeout)
                except asyncio.CancelledError:
                    raise
                except NOT_OURS:
                    raise
                except BaseException:
                    log.exception("hook %s failed", self.name)
            self._idle.set()

    async def drain(self) -> None:
        """Wait for the queued calls (each bounded by the timeout), then stop the task."""
        if self._task is not None and self._idle is not None and not self._task.done():
            await self._idle.wait()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        for call in self._calls:  # the task died: close what it never awaited
            if inspect.iscoroutine(call):
                call.close()
        self._calls.clear()


class Hooks:
    """The hooks of one hub; a missing hook is ``None`` (and costs nothing)."""

    def __init__(
        self,
        *,
        on_change: ChangeHook | None = None,
        on_connect: ConnectHook | None = None,
        on_disconnect: ConnectHook | None = None,
        on_delete: DeleteHook | None = None,
        on_stateless: StatelessHook | None = None,
        timeout: float = 30.0,
    ) -> None:
        def hook(name: str, fn: Callable[..., Any] | None) -> Hook | None:
            return Hook(name, fn, timeout) if fn is not None else None

        self.change = hook("on_change", on_change)
        self.connect = hook("on_connect", on_connect)
        self.disconnect = hook("on_disconnect", on_disconnect)
        self.delete = hook("on_delete", on_delete)
        self.stateless = hook("on_stateless", on_stateless)

    async def drain(self) -> None:
        """Let every queued call finish (or time out), then stop the hooks' tasks."""
        for hook in (self.change, self.connect, self.disconnect, self.delete, self.stateless):
            if hook is not None:
                await hook.drain()
