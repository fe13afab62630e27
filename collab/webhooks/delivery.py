"""Webhook delivery: POST each outbox event to each endpoint until it answers 2xx.

The outbox (in the store) holds one delivery per event and endpoint. The deliverer asks it
for the deliveries that are due, which are only the oldest pending one of each
``(endpoint, document)`` pair, so each endpoint sees each document's events in order; a
failed attempt is retried with exponential backoff and full jitter until the retry window
(``webhook_retry_seconds`` after the event) ends, then the delivery is *dead* (kept, counted,
listed by ``GET /api/webhooks/deliveries``) and the next event of the pair goes out.

Each endpoint has its own bounded number of requests in flight and a request timeout, so a
slow or dead endpoint delays only its own deliveries, never relays or other endpoints. Store
calls go through ``run`` (the hub's database thread): the event loop never waits on the disk.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

from collab.stores.outbox import Delivery, EventOutbox
from collab.webhooks.signature import SIGNATURE_HEADER, sign

if TYPE_CHECKING:
    import httpx

__all__ = ["Deliverer", "backoff"]

log = logging.getLogger("collab.webhooks")


def backoff(attempts: int, *, base: float = 1.0, cap: float = 3600.0, rng: random.Random) -> float:
    """Seconds before the next attempt after ``attempts`` failures (1, 2, 3, ...): exponential
    from ``base``, at most ``cap``, with full jitter between half and all of it (so many
    events failing together do not retry in lockstep)."""
    ceiling = min(cap, base * 2 ** max(0, attempts - 1))
    return float(ceiling * rng.uniform(0.5, 1.0))


class Deliverer:
    """Delivers outbox events to webhook endpoints in the background.

    Args:
        outbox: the store's outbox.
        run: runs a blocking outbox call off the event loop (``Hub.run``).
        endpoints: receiver URLs.
        secret: the HMAC secret that signs every request (``""``: unsigned).
        retry_seconds: how long after an event it is retried before it is dead.
        timeout: seconds one request may take (connect, send and answer).
        concurrency: requests in flight per endpoint, at most.
        on_result: called with ``(endpoint, outcome)``, outcome ``delivered``, ``failed`` or
            ``dead`` (metrics).
        poll: seconds between two looks at the outbox when nothing woke the deliverer.
        transport: an httpx transport (tests); the network when omitted.
    """

    def __init__(
        self,
        outbox: EventOutbox,
        run: Callable[..., Awaitable[Any]],
        endpoints: Sequence[str],
        *,
        secret: str = "",
        retry_seconds: float = 24 * 3600.0,
        timeout: float = 10.0,
        concurrency: int = 4,
        on_result: Callable[[str, str], None] = lambda endpoint, outcome: None,
        poll: float = 1.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.outbox = outbox
        self._run = run
        self.endpoints = tuple(endpoints)
        self.secret = secret
        self.retry_seconds = retry_seconds
        self.on_result = on_result
        self.poll = poll
        self._limits = {url: asyncio.Semaphore(concurrency) for url in self.endpoints}
        # Made at the first delivery: httpx is imported only by a server with endpoints.
        self._client: httpx.AsyncClient | None = None
        self._timeout, self._transport = timeout, transport
        self._rng = random.Random()
        self._in_flight: set[tuple[int, str]] = set()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._requests: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Register the endpoints with the outbox and start delivering in the background.

        Raises:
            StoreError: when the outbox cannot be written.
        """
        if self.endpoints and self._task is None:
            await self._run(self.outbox.register_endpoints, self.endpoints)
            self._task = asyncio.create_task(self._loop(), name="collab-webhooks")

    def wake(self) -> None:
        """Look at the outbox now (new events were committed)."""
        self._wake.set()

    async def close(self) -> None:
        """Stop delivering: requests in flight are cancelled and stay pending in the outbox
        (they are sent again after a restart; receivers deduplicate by event id)."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        for request in list(self._requests):
            request.cancel()
        await asyncio.gather(*self._requests, return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()

    async def _loop(self) -> None:
        while True:
            try:
                due: list[Delivery] = await self._run(
                    self.outbox.due_deliveries, self.endpoints, time.time(), 256
                )
            except Exception:
                log.exception("cannot read the webhook outbox")
                due = []
            for delivery in due:
                key = (delivery.event.id, delivery.endpoint)
                if key in self._in_flight or delivery.endpoint not in self._limits:
                    continue
                self._in_flight.add(key)
                request = asyncio.create_task(self._deliver(delivery))
                self._requests.add(request)
                request.add_done_callback(self._requests.discard)
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll)

    async def _deliver(self, delivery: Delivery) -> None:
        event, endpoint = delivery.event, delivery.endpoint
        try:
            async with self._limits[endpoint]:
                error = await self._post(endpoint, event.body(), event.key)
            if error is None:
                await self._run(self.outbox.delivery_done, event.id, endpoint)
                self.on_result(endpoint, "delivered")
                self._wake.set()  # the document's next event may go now
                return
            attempts = delivery.attempts + 1
            retry_at = time.time() + backoff(attempts, rng=self._rng)
            next_at = retry_at if retry_at <= event.created_at + self.retry_seconds else None
            await self._run(self.outbox.delivery_failed, event.id, endpoint, error, next_at)
            outcome = "dead" if next_at is None else "failed"
            self.on_result(endpoint, outcome)
            extra = {"room": event.document, "event": event.key, "endpoint": endpoint}
            log.warning("webhook %s: %s", outcome, error, extra=extra)
            if next_at is None:
                self._wake.set()
        except Exception:
            log.exception("cannot record a webhook delivery")
        finally:
            self._in_flight.discard((event.id, endpoint))

    async def _post(self, endpoint: str, body: bytes, key: str) -> str | None:
        """POST one event; ``None`` when the endpoint took it (2xx), else why not."""
        headers = {"Content-Type": "application/json", "X-Collab-Event-Id": key}
        if self.secret:
            headers[SIGNATURE_HEADER] = sign(self.secret, body)
        import httpx

        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self._timeout, transport=self._transport)
        try:
            response = await self._client.post(endpoint, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__}: {exc}"[:500]
        if 200 <= response.status_code < 300:
            return None
        return f"HTTP {response.status_code}"
