"""``GET /api/changes``: the change feed, and ``GET /api/webhooks/deliveries``.

The feed returns the outbox's events after a cursor (the ``cursor`` of the last event a
consumer handled), oldest first, filtered by what the caller may read; a consumer that stores
its cursor resumes exactly where it stopped, across restarts of either side. ``wait=SECONDS``
long-polls until an event arrives; ``Accept: text/event-stream`` streams events as
Server-Sent Events (``id:`` is the cursor, so a browser's ``EventSource`` resumes by itself
with ``Last-Event-ID``).
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from collab import api
from collab.auth import Role
from collab.errors import AuthError, CollabError, Forbidden
from collab.sessions.access import Authorizer
from collab.stores.outbox import Event, EventOutbox
from collab.webhooks.changes import Signal

if TYPE_CHECKING:
    from collab.webhooks.service import Webhooks

__all__ = ["FeedError", "deliveries_page", "feed", "routes"]

MAX_LIMIT = 1000
MAX_WAIT = 60.0
KEEPALIVE = 15.0

Run = Callable[..., Awaitable[Any]]
Readable = Callable[[str], Awaitable[bool]]


class FeedError(CollabError):
    """A bad change-feed or deliveries query (400)."""

    http_status = 400
    code = "bad_query"


def _number(
    request: Request, key: str, default: float, low: float, high: float, raw: str | None = None
) -> float:
    raw = request.query_params.get(key) if raw is None else raw
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise FeedError(f"{key} must be a number") from None
    if not low <= value <= high:
        if high >= 2**62:
            raise FeedError(f"{key} must be {low:g} or more")
        raise FeedError(f"{key} must be between {low:g} and {high:g}")
    return value


async def _page(
    run: Run, outbox: EventOutbox, cursor: int, limit: int, readable: Readable
) -> tuple[list[Event], int]:
    """Up to ``limit`` readable events after ``cursor``, and the cursor after the last event
    looked at (events the caller may not read are skipped, and so is their cursor)."""
    found: list[Event] = []
    while len(found) < limit:
        batch: list[Event] = await run(outbox.events_after, cursor, MAX_LIMIT)
        if not batch:
            break
        for event in batch:
            cursor = event.id
            if await readable(event.document):
                found.append(event)
                if len(found) == limit:
                    break
    return found, cursor


async def feed(
    request: Request, run: Run, outbox: EventOutbox, signal: Signal, readable: Readable
) -> Response:
    """``GET /api/changes?since=CURSOR&limit=N&wait=SECONDS`` (JSON or Server-Sent Events).

    Raises:
        FeedError: a bad ``since``, ``limit`` or ``wait``.
    """
    # An EventSource reconnecting sends the last id it saw as Last-Event-ID.
    since = request.query_params.get("since") or request.headers.get("last-event-id")
    cursor = int(_number(request, "since", 0, 0, 2**63 - 1, since or ""))
    limit = int(_number(request, "limit", 100, 1, MAX_LIMIT))
    wait = _number(request, "wait", 0, 0, MAX_WAIT)
    newest = await run(outbox.last_event_id)
    if cursor > newest:  # a consumer ahead of the database (restored from a backup, say)
        raise FeedError(
            f"since {cursor} is past the newest event ({newest}): start again from a cursor"
            " this server gave"
        )
    if "text/event-stream" in request.headers.get("accept", ""):
        return StreamingResponse(
            _stream(run, outbox, signal, readable, cursor, limit),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )
    deadline = time.monotonic() + wait
    while True:
        events, cursor = await _page(run, outbox, cursor, limit, readable)
        left = deadline - time.monotonic()
        if events or left <= 0 or await request.is_disconnected():
            break
        await signal.wait(min(left, 1.0))
    return JSONResponse({"events": [event.payload() for event in events], "next_cursor": cursor})


async def _stream(
    run: Run, outbox: EventOutbox, signal: Signal, readable: Readable, cursor: int, limit: int
) -> AsyncIterator[bytes]:
    quiet_since = time.monotonic()
    while True:
        events, cursor = await _page(run, outbox, cursor, limit, readable)
        for event in events:
            data = json.dumps(event.payload(), separators=(",", ":"))
            yield f"id: {event.id}\nevent: {event.type}\ndata: {data}\n\n".encode()
        if events:
            quiet_since = time.monotonic()
            continue
        if time.monotonic() - quiet_since >= KEEPALIVE:
            yield b": keepalive\n\n"
            quiet_since = time.monotonic()
        await signal.wait(1.0)


async def deliveries_page(request: Request, run: Run, outbox: EventOutbox) -> Response:
    """``GET /api/webhooks/deliveries?state=pending|delivered|dead&cursor=N&limit=N``.

    Raises:
        FeedError: a bad query.
    """
    state = request.query_params.get("state") or None
    if state not in (None, "pending", "delivered", "dead"):
        raise FeedError("state must be pending, delivered or dead")
    after = int(_number(request, "cursor", 0, 0, 2**63 - 1))
    limit = int(_number(request, "limit", 100, 1, MAX_LIMIT))
    rows = await run(lambda: outbox.deliveries(state=state, after=after, limit=limit))
    items = [
        {
            "event": d.event.payload(),
            "endpoint": d.endpoint,
            "state": d.state,
            "attempts": d.attempts,
            "next_attempt_at": d.next_at if d.state == "pending" else None,
            "last_error": d.last_error,
        }
        for d in rows
    ]
    next_cursor = rows[-1].event.id if len(rows) == limit else None
    return JSONResponse({"deliveries": items, "next_cursor": next_cursor})


async def changes_endpoint(request: Request) -> Response:
    """``GET /api/changes``: the events the caller may read (see :func:`feed`)."""
    try:
        webhooks = _webhooks(request)
        hub = webhooks.hub
        authorizer: Authorizer = request.app.state.collab.authorizer
        grant = await authorizer.grant(request)
        allowed: dict[str, bool] = {}

        async def readable(name: str) -> bool:
            if grant is not None:  # a token or no auth: its grant says
                return grant.covers(name)
            if name not in allowed:  # the host's authorize hook, asked once per document
                try:
                    await authorizer.access(request, name)
                    allowed[name] = True
                except AuthError:
                    allowed[name] = False
            return allowed[name]

        return await feed(request, hub.run, hub.store.outbox, webhooks.signal, readable)
    except CollabError as exc:
        return api.error_response(exc)


async def deliveries_endpoint(request: Request) -> Response:
    """``GET /api/webhooks/deliveries``: admin of every document only (a token for ``*``
    with the admin role, or the authorize hook answering ``"admin"`` for the name ``*``)."""
    try:
        webhooks = _webhooks(request)
        authorizer: Authorizer = request.app.state.collab.authorizer
        grant = await authorizer.grant(request)
        if grant is not None:
            admin = grant.role >= Role.ADMIN and grant.doc == "*"
        else:
            admin = (await authorizer.access(request, "*")).role >= Role.ADMIN
        if not admin:
            raise Forbidden("listing webhook deliveries needs admin access to every document")
        hub = webhooks.hub
        return await deliveries_page(request, hub.run, hub.store.outbox)
    except CollabError as exc:
        return api.error_response(exc)


def _webhooks(request: Request) -> Webhooks:
    """The started webhooks of the app serving ``request``.

    Raises:
        NotStarted: collab's lifespan is not running.
    """
    request.app.state.collab.running()  # raises NotStarted
    webhooks: Webhooks = request.app.state.collab.webhooks
    return webhooks


def routes() -> list[Route]:
    """The feed's routes, to mount in the application."""
    return [
        Route("/api/changes", changes_endpoint),
        Route("/api/webhooks/deliveries", deliveries_endpoint),
    ]
