"""The webhooks of one server: change reporting, delivery, the feed's signal, metrics."""

from __future__ import annotations

import base64
import logging
import time
from typing import Any

from collab import export
from collab.errors import CollabError
from collab.hub import Hub
from collab.settings import Settings
from collab.webhooks.changes import ChangeReporter, Signal
from collab.webhooks.delivery import Deliverer

__all__ = ["Webhooks"]

log = logging.getLogger("collab.webhooks")


class Webhooks:
    """Turns the store's outbox into ``document.changed`` events, webhook requests and
    change-feed wake-ups, for as long as the server runs.

    Args:
        hub: the started hub (its store's outbox, its database thread, its rooms).
        settings: the ``webhook_*`` and ``event_retention_seconds`` settings.

    Raises:
        SettingsError: when the webhook secret file cannot be read.
    """

    def __init__(self, hub: Hub, settings: Settings) -> None:
        self.hub = hub
        self.settings = settings
        outbox = hub.store.outbox
        self.signal = Signal()
        self.reporter = ChangeReporter(
            hub.run,
            outbox.due_changes,
            outbox.report_changes,
            outbox.last_event_id,
            self.describe,
            debounce=settings.webhook_debounce_seconds,
            signal=self.signal,
        )
        self.deliverer = Deliverer(
            outbox,
            hub.run,
            settings.webhook_urls,
            secret=settings.signing_secret(),
            retry_seconds=settings.webhook_retry_seconds,
            timeout=settings.webhook_timeout_seconds,
            on_result=lambda endpoint, outcome: hub.metrics.webhook_deliveries.update([outcome]),
        )
        self.signal.subscribe(self.deliverer.wake)

    async def start(self) -> None:
        """Start reporting and delivering; prune events past their retention.

        Raises:
            StoreError: when the outbox cannot be written.
        """
        await self.hub.run(
            self.hub.store.outbox.prune, time.time() - self.settings.event_retention_seconds
        )
        await self.deliverer.start()
        self.reporter.start()

    async def close(self) -> None:
        """Stop; what is not reported or delivered yet stays in the outbox for the next start."""
        await self.reporter.close()
        await self.deliverer.close()

    async def describe(self, names: list[str]) -> dict[str, dict[str, Any]]:
        """The ``data`` of a ``document.changed`` event for each document of ``names`` as it
        is now (those gone or unreadable now are left out, reported at a later tick):
        ``state_vector`` (base64 of the Yjs state vector), ``size_bytes`` and, with
        ``webhook_include_text``, ``text`` (the text export).

        Raises:
            StoreError: when the records cannot be read.
        """
        store = self.hub.store
        records = await self.hub.run(lambda: {name: store.get(name) for name in names})
        described: dict[str, dict[str, Any]] = {}
        for name, record in records.items():
            if record is None:
                continue
            try:
                described[name] = await self._describe(name, record.size_bytes)
            except CollabError as exc:  # the room was dropped while read, say: next time
                log.warning("change event postponed: %s", exc, extra={"room": name})
        return described

    async def _describe(self, name: str, size_bytes: int) -> dict[str, Any]:
        # from the document itself, not from its state encoded and decoded again (see there)
        vector = await self.hub.state_vector(name)
        data: dict[str, Any] = {
            "state_vector": base64.b64encode(vector).decode(),
            "size_bytes": size_bytes,
        }
        if self.settings.webhook_include_text:
            state = await self.hub.state(name)
            try:
                data["text"] = export.export(state, "text").decode()
            except export.NothingToExport:  # a blank document: its text is empty
                data["text"] = ""
            except CollabError as exc:  # no text root to render, say
                log.warning("no text for a change event: %s", exc, extra={"room": name})
        return data
