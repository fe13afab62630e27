"""The versions of every document: saved on request or after an editing session, restored.

:class:`Versions` sits beside the hub (it listens to its commits) and reaches the store only
through the hub's database thread:

* **Automatic versions.** Each commit to a document restarts its quiet timer; when nothing was
  committed to it for ``version_quiet_seconds``, its state is saved as an automatic version
  (unless the newest version already holds that state), and the retention policy
  (:mod:`collab.history.retention`) deletes the automatic versions it no longer keeps.
* **Named versions** (:meth:`Versions.save`): the state now, with a label and an author.
* **Restore** (:meth:`Versions.restore`): an automatic version of the state now comes first
  (so the restore can be undone by restoring it), then ONE update written like any client's
  (applied, committed, relayed to every editor) makes every root's content equal to the
  version's (:func:`collab.history.restore.restore_update`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

from pycrdt import Doc

from collab.errors import CollabError
from collab.history.moment import state_at
from collab.history.restore import restore_update
from collab.history.retention import DAY, HOUR, RetentionPolicy, VersionStamp, expired
from collab.hub import Hub
from collab.integrator import apply_all
from collab.settings import Settings
from collab.stores import Store, StoreError, VersionRecord
from collab.stores.causes import cause
from collab.stores.outbox import RESTORED
from collab.updates import InvalidUpdate, check_update, same_document

__all__ = ["DocumentMissing", "Restored", "Versions", "policy_of"]

log = logging.getLogger("collab.history")


class DocumentMissing(CollabError, LookupError):
    """No document, or no version, of that name and id."""

    http_status = 404
    code = "not_found"


@dataclass(frozen=True, slots=True)
class Restored:
    """What a restore did: the version restored, the version saved just before (restoring it
    undoes the restore), and the size of the update written (bytes)."""

    version: VersionRecord
    saved: VersionRecord
    update_bytes: int


def policy_of(settings: Settings) -> RetentionPolicy:
    """The retention policy the settings describe (``0`` days of daily versions: forever)."""
    daily = settings.versions_keep_daily_days
    return RetentionPolicy(
        keep_all_seconds=settings.versions_keep_all_hours * HOUR,
        hourly_seconds=settings.versions_keep_hourly_days * DAY,
        daily_seconds=daily * DAY if daily > 0 else None,
    )


def _save(
    store: Store,
    name: str,
    state: bytes,
    label: str | None,
    author: str | None,
    automatic: bool,
    policy: RetentionPolicy,
) -> VersionRecord:
    """Store ``state`` as a version of ``name`` (on the database thread). An automatic version
    of the state the newest version already holds is not stored again: that one is returned.
    After an automatic version, the policy's expired versions are deleted."""
    if automatic:
        newest = store.list_versions(name, limit=1)
        if newest:
            found = store.get_version(name, newest[0].id)
            if found is not None and _same(found[1], state):
                return found[0]
    record = store.add_version(name, state, label=label, author=author, automatic=automatic)
    if automatic:
        stamps = [
            VersionStamp(v.id, v.created_at, v.automatic)
            for v in store.list_versions(name, limit=2**62)
        ]
        gone = expired(stamps, time.time(), policy)
        if gone:
            store.delete_versions(name, gone)
    return record


def _same(a: bytes, b: bytes) -> bool:
    if a == b:
        return True
    try:
        return same_document(apply_all(Doc(), [a]), apply_all(Doc(), [b]))
    except InvalidUpdate:
        return False


class Versions:
    """Versions of the hub's documents (see the module docstring).

    Args:
        hub: the started hub; its commits arm the quiet timers.
        settings: ``version_quiet_seconds`` (0: no automatic versions after editing) and the
            retention settings (:func:`policy_of`).
    """

    def __init__(self, hub: Hub, settings: Settings) -> None:
        self.hub = hub
        self.quiet = settings.version_quiet_seconds
        self.policy = policy_of(settings)
        self._last: dict[str, float] = {}  # loop time of each document's last commit
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        # The loop of the first commit, kept: asyncio.get_running_loop() makes a getpid
        # system call each time, and this runs for every commit.
        self._loop: asyncio.AbstractEventLoop | None = None
        self.saved = 0  # automatic versions stored after a quiet period (for tests and logs)
        hub.commit_listeners.append(self._committed)

    async def close(self) -> None:
        """End the editing sessions still waiting for their quiet period: save their automatic
        versions now (a stop ends the session), then wait for the versions being saved."""
        self._loop = None  # a later start may run on another loop
        for timer in self._timers.values():
            timer.cancel()
        pending = sorted(self._timers)
        self._timers.clear()
        self._last.clear()
        for name in pending:
            self._spawn(self._automatic(name))
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    # -- automatic versions after an editing session ----------------------------------------

    def _committed(self, name: str) -> None:
        if self.quiet <= 0:
            return
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        self._last[name] = loop.time()
        if name not in self._timers:
            self._timers[name] = loop.call_later(self.quiet, self._check, name)

    def _check(self, name: str) -> None:
        """The quiet timer of ``name`` fired: save a version, or wait for the rest of the
        quiet period after a later commit."""
        del self._timers[name]
        loop = asyncio.get_running_loop()
        remaining = self._last[name] + self.quiet - loop.time()
        if remaining > 0:
            self._timers[name] = loop.call_later(remaining, self._check, name)
            return
        del self._last[name]
        self._spawn(self._automatic(name))

    async def _automatic(self, name: str) -> None:
        cluster = self.hub.cluster
        # Cluster mode: every node with the room open heard the same edits, so their quiet
        # timers fire together; the one that claims the session saves its version.
        if cluster is not None and not await cluster.claim(name, "version", max(self.quiet, 1)):
            return
        try:
            record = await self.save(name, automatic=True)
        except DocumentMissing:
            return  # deleted meanwhile
        except (StoreError, InvalidUpdate) as exc:
            self.hub.metrics.storage_errors += 1
            why = cause(exc)  # no traceback: a failing disk repeats it at every quiet pause
            log.error("cannot save an automatic version: %s", why, extra={"room": name})
            return
        self.saved += 1
        log.info("saved a version", extra={"room": name, "version": record.id})

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- reading -----------------------------------------------------------------------------

    async def state(self, name: str) -> bytes:
        """The committed state of document ``name`` (from its room when it is loaded).

        Raises:
            DocumentMissing: no such document.
            StoreError: on a database failure.
        """
        if await self.hub.run(self.hub.store.get, name) is None:
            raise DocumentMissing(f"no document named {name!r}")
        return await self.hub.state(name)

    async def state_at(self, name: str, at: float) -> tuple[bytes, VersionRecord | None]:
        """Document ``name``'s state at Unix time ``at``, and the version it came from when
        the log no longer reaches back that far (see :func:`collab.history.moment.state_at`).

        Raises:
            DocumentNotFound, NotCreatedYet, HistoryCompacted: see ``state_at``.
            StoreError: on a database failure.
        """
        return await self.hub.run(state_at, self.hub.store, name, at)

    async def get(self, name: str, version_id: int) -> tuple[VersionRecord, bytes]:
        """Version ``version_id`` of document ``name`` and its state.

        Raises:
            DocumentMissing: no such version of that document.
        """
        found = await self.hub.run(self.hub.store.get_version, name, version_id)
        if found is None:
            raise DocumentMissing(f"document {name!r} has no version {version_id}")
        return found

    # -- writing -----------------------------------------------------------------------------

    async def save(
        self,
        name: str,
        *,
        label: str | None = None,
        author: str | None = None,
        automatic: bool = False,
    ) -> VersionRecord:
        """Save the committed state of document ``name`` as a version (see :func:`_save` for
        what an automatic one skips and prunes).

        Raises:
            DocumentMissing: no such document.
            StoreError: on a database failure.
        """
        state = await self.state(name)
        return await self.hub.run(
            _save, self.hub.store, name, state, label, author, automatic, self.policy
        )

    async def restore(self, name: str, version_id: int, *, author: str | None = None) -> Restored:
        """Make document ``name``'s content equal to version ``version_id``'s, after saving the
        state now as an automatic version; the update is committed and relayed like an edit.

        Raises:
            DocumentMissing: no such document or version.
            DocumentTooLarge: the update would take the document over its size limit.
            RestoreError: the version cannot be restored (see the class).
            StoreError: on a database failure.
        """
        version, data = await self.get(name, version_id)
        saved = await self.save(
            name, label=f"before restoring version {version_id}", author=author, automatic=True
        )
        current = await self.state(name)
        # Pure Python work of up to a second on a large document: off the event loop. Edits
        # made meanwhile merge with the restore like any concurrent edit.
        update = await asyncio.to_thread(restore_update, current, data)
        await self.hub.write(name, update, "restore")
        event = {"version": version_id, "saved_version": saved.id}
        await self.hub.run(self.hub.store.outbox.record, name, RESTORED, event)
        return Restored(version, saved, len(update))

    async def replace(self, name: str, state: bytes, *, author: str | None = None) -> None:
        """Make document ``name``'s content equal to the content of ``state`` (a whole state,
        e.g. a backup file), after saving the content before as an automatic version; a
        document that does not exist is written ``state`` as it is.

        Raises:
            InvalidUpdate: ``state`` is not a Yjs v1 update.
            DocumentTooLarge, RestoreError, StoreError: as :meth:`restore`.
        """
        check_update(state)
        if await self.hub.run(self.hub.store.get, name) is None:
            await self.hub.write(name, state, "import")
            return
        await self.save(name, label="before import --replace", author=author, automatic=True)
        current = await self.state(name)
        update = await asyncio.to_thread(restore_update, current, state)
        await self.hub.write(name, update, "import")
