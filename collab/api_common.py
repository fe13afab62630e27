"""What the HTTP API's handlers share: the JSON error, the app's hub and authorizer, the
document record's JSON form, base64url."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from collab.errors import CollabError
from collab.hub import Hub
from collab.sessions.access import Authorizer
from collab.stores import DocumentRecord

__all__ = [
    "ApiError",
    "Handler",
    "authorizer_of",
    "b64decode",
    "error_response",
    "hub_of",
    "iso",
    "json_errors",
    "record_json",
    "record_of",
]


class ApiError(CollabError):
    """A refusal of the HTTP API itself, with its status and ``error`` code."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(detail)
        self.http_status, self.code = status, code  # type: ignore[misc]

    def response(self) -> JSONResponse:
        return error_response(self)


def error_response(exc: CollabError) -> JSONResponse:
    """The JSON error ``{"error": code, "detail": reason}`` of ``exc``, with its status (and
    ``WWW-Authenticate: Bearer`` for a 401)."""
    response = JSONResponse({"error": exc.code, "detail": str(exc)}, exc.http_status)
    if exc.http_status == 401:
        response.headers["WWW-Authenticate"] = "Bearer"
    return response


Handler = Callable[[Request], Awaitable[Response]]


def json_errors(handler: Handler) -> Handler:
    """``handler`` answering every :class:`CollabError` it raises as its JSON error."""

    async def wrapped(request: Request) -> Response:
        try:
            return await handler(request)
        except CollabError as exc:
            return error_response(exc)

    wrapped.__name__ = handler.__name__
    return wrapped


def hub_of(request: Request) -> Hub:
    """The started hub of the app serving ``request``.

    Raises:
        NotStarted: collab's lifespan is not running.
    """
    hub: Hub = request.app.state.collab.running()
    return hub


def authorizer_of(request: Request) -> Authorizer:
    """Who decides the access of ``request`` (see :mod:`collab.sessions.access`)."""
    authorizer: Authorizer = request.app.state.collab.authorizer
    return authorizer


def iso(ts: float) -> str:
    """A Unix time as ISO 8601 UTC with milliseconds, e.g. ``2026-11-29T12:00:00.000Z``."""
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def record_json(record: DocumentRecord, hub: Hub) -> dict[str, Any]:
    """The JSON form of a document record, with its live peer count."""
    return {
        "name": record.name,
        "created_at": iso(record.created_at),
        "updated_at": iso(record.updated_at),
        "size_bytes": record.size_bytes,
        "updates": record.updates,
        "peers": hub.peer_count(record.name),
    }


async def record_of(hub: Hub, name: str) -> DocumentRecord:
    """The record of document ``name``.

    Raises:
        ApiError: 404 when the document does not exist.
    """
    record = await hub.run(hub.store.get, name)
    if record is None:
        raise ApiError(404, "not_found", f"no document named {name!r}")
    return record


def b64decode(text: str) -> bytes:
    """Decode unpadded base64url.

    Raises:
        ValueError: when ``text`` is not base64url.
    """
    try:
        # validate: a character outside the alphabet is an error, not skipped ("!!!" read
        # as nothing, then failed as "truncated varUint")
        return base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("not base64url") from exc
