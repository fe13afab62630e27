"""HTTP API under ``/api``: document listing, records, state read and write, export, delete,
rename.

Errors are JSON ``{"error": code, "detail": text}`` with the matching status. Document names
come from the raw request path and are decoded once by :func:`collab.names.parse_name`, as for
the WebSocket endpoint. The path ``/api/documents/{name}/{action}`` ends with an action
(``update``, ``content``, ``export``, ``quarantine``, ``rename``) when its last segment is
one; a document whose name itself ends in such a segment is addressed by percent-encoding
that slash (``a%2Fupdate``).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from functools import partial
from typing import Any, cast

from starlette.convertors import Convertor, register_url_convertor
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from collab import api_versions, export
from collab.auth import Role, origin_allowed
from collab.errors import AuthError, CollabError
from collab.hub import Hub
from collab.names import InvalidName, parse_name, raw_route_path, validate_name
from collab.openapi import OPENAPI
from collab.quarantine_api import get_quarantine, post_quarantine
from collab.sessions.access import Authorizer
from collab.stores import DocumentRecord, SortKey
from collab.updates import diff_update

__all__ = ["ApiError", "routes"]

DOCS_PREFIX = "/api/documents/"
ACTIONS = ("update", "content", "export", "quarantine", "rename")
MAX_RENAME_BODY = 4096  # bytes: {"to": name} with a name of at most 255 UTF-8 bytes, escaped
MAX_PAGE = 1000


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


def _json_errors(handler: Handler) -> Handler:
    async def wrapped(request: Request) -> Response:
        try:
            return await handler(request)
        except CollabError as exc:
            return error_response(exc)

    wrapped.__name__ = handler.__name__
    return wrapped


class AnyPathConvertor(Convertor[str]):
    """Like Starlette's ``path`` convertor, but also matching newlines (``.`` does not), so
    every name reaches :func:`collab.names.parse_name` and gets its proper refusal."""

    regex = r"[\s\S]*"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("anypath", AnyPathConvertor())


def routes() -> list[Route]:
    """The API routes, to mount in the application."""
    return [
        Route("/api/openapi.json", openapi),
        Route("/api/documents", list_documents),
        Route(
            "/api/documents/{rest:anypath}",
            document_endpoint,
            methods=["GET", "POST", "DELETE", "HEAD"],
        ),
    ]


async def openapi(request: Request) -> Response:
    """The OpenAPI 3.1 description of this API."""
    return JSONResponse(OPENAPI)


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


async def http_error(request: Request, exc: Exception) -> Response:
    """Starlette's 404 and 405 as JSON errors under ``/api``, plain text elsewhere."""
    assert isinstance(exc, HTTPException)
    if _route_path(request).startswith("/api/"):
        code = "not_found" if exc.status_code == 404 else "method_not_allowed"
        detail = f"{request.method} {request.url.path}: {exc.detail}"
        return ApiError(exc.status_code, code, detail).response()
    return Response(exc.detail, status_code=exc.status_code, media_type="text/plain")


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


@_json_errors
async def list_documents(request: Request) -> Response:
    """``GET /api/documents?limit=&cursor=&sort=name|updated_at&prefix=``."""
    hub = hub_of(request)
    authorizer = authorizer_of(request)
    grant = await authorizer.grant(request)
    params = request.query_params
    sort = params.get("sort", "name")
    if sort not in ("name", "updated_at"):
        raise ApiError(400, "bad_sort", "sort must be 'name' or 'updated_at'")
    try:
        limit = int(params.get("limit", "100"))
    except ValueError as exc:
        raise ApiError(400, "bad_limit", "limit must be an integer") from exc
    if not 1 <= limit <= MAX_PAGE:
        raise ApiError(400, "bad_limit", f"limit must be between 1 and {MAX_PAGE}")
    after = _decode_cursor(params["cursor"], sort) if params.get("cursor") else None
    prefix = params.get("prefix", "")
    if grant is None:  # the host's authorize hook: each document is checked
        records = await _authorized(request, authorizer, hub, limit + 1, after, sort, prefix)
    elif grant.prefix is None:  # a token for one document lists at most that one
        records = [] if after else [r for r in [await hub.run(hub.store.get, grant.doc)] if r]
        records = [r for r in records if r.name.startswith(prefix)]
    elif prefix.startswith(grant.prefix) or grant.prefix.startswith(prefix):
        prefix = max(prefix, grant.prefix, key=len)
        records = await hub.run(
            lambda: hub.store.list(limit=limit + 1, after=after, sort=sort, prefix=prefix)  # type: ignore[arg-type]
        )
    else:
        records = []
    page, more = records[:limit], len(records) > limit
    next_cursor = None
    if more:
        last = page[-1]
        next_cursor = _encode_cursor((last.updated_at if sort == "updated_at" else None, last.name))
    return JSONResponse(
        {"documents": [record_json(r, hub) for r in page], "next_cursor": next_cursor}
    )


def _encode_cursor(key: tuple[Any, str]) -> str:
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode().rstrip("=")


def _decode_cursor(cursor: str, sort: str) -> tuple[Any, str]:
    try:
        value, name = json.loads(_b64decode(cursor))
        if not isinstance(name, str) or (sort == "updated_at" and not isinstance(value, float)):
            raise ValueError("cursor does not match the sort order")
    except (ValueError, TypeError) as exc:
        raise ApiError(400, "bad_cursor", "cursor is not one this API returned") from exc
    return value, name


def _b64decode(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise ValueError("not base64url") from exc


async def _authorized(
    request: Request,
    authorizer: Authorizer,
    hub: Hub,
    limit: int,
    after: tuple[Any, str] | None,
    sort: str,
    prefix: str,
) -> list[DocumentRecord]:
    """Up to ``limit`` records from ``after`` on that the authorize hook lets ``request`` read
    (pages of the store, each record checked; the cursor continues where this stopped)."""
    found: list[DocumentRecord] = []
    while len(found) < limit:
        key = cast(SortKey, sort)
        page = await hub.run(
            partial(hub.store.list, limit=limit, after=after, sort=key, prefix=prefix)
        )
        for record in page:
            try:
                await authorizer.access(request, record.name)
            except AuthError:
                continue
            found.append(record)
        if len(page) < limit:
            break
        last = page[-1]
        after = (last.updated_at if sort == "updated_at" else None, last.name)
    return found[:limit]


def _route_path(request: Request) -> str:
    """The raw path below the mount point (``/api/...``), see :func:`raw_route_path`."""
    try:
        return raw_route_path(request.scope)
    except InvalidName:
        return ""


def _name_and_action(request: Request) -> tuple[str, str | None]:
    rest = raw_route_path(request.scope).removeprefix(DOCS_PREFIX)
    action = None
    head, _, last = rest.rpartition("/")
    if head and last in ACTIONS:
        rest, action = head, last
    return parse_name(rest), action


@_json_errors
async def document_endpoint(request: Request) -> Response:
    """Dispatch ``/api/documents/{name}[/{action}]`` by action and method (and
    ``{name}/versions[/{id}[/{action}]]`` to :mod:`collab.api_versions`)."""
    method = request.method if request.method != "HEAD" else "GET"
    rest = raw_route_path(request.scope).removeprefix(DOCS_PREFIX)
    versions_path = api_versions.parse_versions_path(rest)
    if versions_path is not None:
        raw_name, version_id, version_action = versions_path
        name = parse_name(raw_name)
        versions_handler = api_versions.handler_for(version_id, version_action, method)
        if versions_handler is None:
            raise ApiError(405, "method_not_allowed", f"{request.method} is not allowed here")
        access = await authorizer_of(request).access(request, name)
        access.require(Role.WRITE if method == "POST" else Role.READ)
        request.state.name, request.state.version_id = name, version_id
        request.state.subject = access.user
        response: Response = await versions_handler(request)
        return response
    name, action = _name_and_action(request)
    handlers: dict[tuple[str | None, str], Handler] = {
        (None, "GET"): get_document,
        (None, "DELETE"): delete_document,
        ("update", "GET"): get_state,
        ("update", "POST"): post_update,
        ("content", "GET"): get_content,
        ("export", "GET"): get_export,
        ("quarantine", "GET"): get_quarantine,
        ("quarantine", "POST"): post_quarantine,
        ("rename", "POST"): rename_document,
    }
    handler = handlers.get((action, method))
    if handler is None:
        raise ApiError(405, "method_not_allowed", f"{request.method} is not allowed here")
    if method in ("POST", "DELETE"):
        _check_cross_site(request, action)
    needed = {"DELETE": Role.ADMIN, "POST": Role.WRITE}.get(method, Role.READ)
    if action in ("quarantine", "rename") or (
        action == "update" and method == "POST" and _replacing(request)
    ):
        needed = Role.ADMIN
    access = await authorizer_of(request).access(request, name)
    access.require(needed)
    request.state.name, request.state.subject = name, access.user
    return await handler(request)


async def _record(hub: Hub, name: str) -> DocumentRecord:
    record = await hub.run(hub.store.get, name)
    if record is None:
        raise ApiError(404, "not_found", f"no document named {name!r}")
    return record


async def get_document(request: Request) -> Response:
    """``GET /api/documents/{name}``: the document's record."""
    hub = hub_of(request)
    return JSONResponse(record_json(await _record(hub, request.state.name), hub))


async def delete_document(request: Request) -> Response:
    """``DELETE /api/documents/{name}``: remove it; connected peers are closed with 4410."""
    hub = hub_of(request)
    if not await hub.delete(request.state.name):
        raise ApiError(404, "not_found", f"no document named {request.state.name!r}")
    return JSONResponse({"deleted": request.state.name})


async def rename_document(request: Request) -> Response:
    """``POST /api/documents/{name}/rename`` with ``{"to": "new name"}`` (admin role on both
    names): move the document, its history and versions to the new name; its peers are closed
    with 4409 and the new name (:meth:`collab.hub.Hub.rename`). Answers the new record.

    Raises:
        ApiError: 400 (bad body or name), 403 (no admin role on the new name), 404 (no such
            document), 409 (the new name is taken), 415 (not JSON).
    """
    name = request.state.name
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/json":
        raise ApiError(415, "unsupported_media_type", 'send {"to": "new name"} as application/json')
    body = await request.body()
    if len(body) > MAX_RENAME_BODY:
        raise ApiError(413, "too_large", f"body over the {MAX_RENAME_BODY}-byte limit")
    try:
        payload = json.loads(body)
    except ValueError:
        raise ApiError(400, "bad_body", 'the body must be JSON: {"to": "new name"}') from None
    if not isinstance(payload, dict) or not isinstance(payload.get("to"), str):
        raise ApiError(400, "bad_body", 'the body must be {"to": "new name"}')
    new = validate_name(payload["to"])  # InvalidName: 400 bad_name
    access = await authorizer_of(request).access(request, new)
    access.require(Role.ADMIN)
    hub = hub_of(request)
    if new == name:
        raise ApiError(409, "exists", f"the document is named {name!r} already")
    if not await hub.rename(name, new):
        raise ApiError(404, "not_found", f"no document named {name!r}")
    return JSONResponse(record_json(await _record(hub, new), hub))


async def document_state(hub: Hub, name: str) -> bytes:
    """The committed state of document ``name`` as one v1 update.

    Raises:
        ApiError: 404 when the document does not exist.
    """
    await _record(hub, name)
    return await hub.state(name)


async def get_state(request: Request) -> Response:
    """``GET /api/documents/{name}/update[?state_vector=base64url][&at=TIME]``: the state as
    an update (``at``: as it was then, see :func:`collab.api_versions.requested_state`)."""
    hub = hub_of(request)
    name = request.state.name
    state = await api_versions.requested_state(request, name, lambda: document_state(hub, name))
    encoded_sv = request.query_params.get("state_vector")
    if encoded_sv:
        try:
            state = diff_update(state, _b64decode(encoded_sv))
        except ValueError as exc:
            raise ApiError(400, "bad_state_vector", f"cannot read state_vector: {exc}") from exc
    response = Response(state, media_type="application/octet-stream")
    return api_versions.with_version_header(request, response)


def _check_cross_site(request: Request, action: str | None) -> None:
    """Refuse a state-changing request a page of another site could send: an Origin the
    WebSocket would refuse (403), or an update body that is not application/octet-stream
    (415: a browser sends ``text/plain`` or no type across sites without a CORS preflight).

    Raises:
        ApiError: 403 or 415.
    """
    headers = request.headers
    settings = hub_of(request).settings
    if not origin_allowed(headers.get("origin"), headers.get("host"), settings.allowed_origins):
        raise ApiError(403, "origin_not_allowed", f"origin {headers['origin']!r} not allowed")
    kind = headers.get("content-type", "").split(";")[0].strip().lower()
    if action == "update" and kind != "application/octet-stream":
        raise ApiError(
            415,
            "unsupported_media_type",
            "an update is sent as Content-Type: application/octet-stream",
        )


async def post_update(request: Request) -> Response:
    """``POST /api/documents/{name}/update[?replace=true]``: apply, commit and relay a v1
    update; with ``If-None-Match: *`` only when the document holds nothing yet (else 412
    ``exists``); with ``replace`` (admin role), make the content equal to the update's instead
    (:func:`collab.api_versions.replace_content`)."""
    hub = hub_of(request)
    limit = hub.settings.max_message_bytes
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ApiError(413, "too_large", f"body over the {limit}-byte limit")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise ApiError(413, "too_large", f"body over the {limit}-byte limit")
    name = request.state.name
    if _replacing(request):
        await api_versions.replace_content(request, name, bytes(body))
    else:
        create_only = request.headers.get("if-none-match", "").strip() == "*"
        # committed (and relayed) when it returns
        await hub.write(name, bytes(body), "http", create_only=create_only)
    return JSONResponse(record_json(await _record(hub, name), hub))


def _replacing(request: Request) -> bool:
    """Whether a ``POST .../update`` asks to replace the content (``?replace=true``)."""
    return request.query_params.get("replace", "").lower() in ("1", "true", "yes")


async def get_content(request: Request) -> Response:
    """``GET /api/documents/{name}/content[?at=TIME]``: every shared type as JSON."""
    hub = hub_of(request)
    name = request.state.name
    state = await api_versions.requested_state(request, name, lambda: document_state(hub, name))
    return api_versions.with_version_header(request, JSONResponse(export.to_json(state)))


async def get_export(request: Request) -> Response:
    """``GET /api/documents/{name}/export?format=&field=&schema=[&at=TIME]``: a download in one
    of export.FORMATS, of root ``field`` read with layout ``schema`` (see collab.export.select),
    as the document is now or was at ``at`` (:func:`collab.api_versions.requested_state`).

    A root that is missing, ambiguous or of the wrong type is a 400 listing the roots; the root
    and layout used are in ``X-Collab-Root`` (percent-encoded) and ``X-Collab-Layout``, node
    types the layout does not know in ``X-Collab-Warning``."""
    hub = hub_of(request)
    options = api_versions.export_options(request)
    name = request.state.name
    state = await api_versions.requested_state(request, name, lambda: document_state(hub, name))
    response = api_versions.export_response(state, name, options)
    return api_versions.with_version_header(request, response)
