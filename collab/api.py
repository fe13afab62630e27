"""HTTP API under ``/api``: its routes, and the dispatch of ``/api/documents/{name}[/...]``
by action and method after the access check (the handlers: :mod:`collab.api_listing`,
:mod:`collab.api_documents`, :mod:`collab.api_versions`, :mod:`collab.quarantine_api`; what
they share: :mod:`collab.api_common`).

Errors are JSON ``{"error": code, "detail": text}`` with the matching status. Document names
come from the raw request path and are decoded once by :func:`collab.names.parse_name`, as for
the WebSocket endpoint. The path ``/api/documents/{name}/{action}`` ends with an action
(``update``, ``content``, ``export``, ``quarantine``, ``rename``) when its last segment is
one; a document whose name itself ends in such a segment is addressed by percent-encoding
that slash (``a%2Fupdate``).
"""

from __future__ import annotations

from starlette.convertors import Convertor, register_url_convertor
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from collab import api_versions
from collab.api_common import (
    ApiError,
    Handler,
    authorizer_of,
    error_response,
    hub_of,
    json_errors,
    record_json,
)
from collab.api_documents import (
    check_cross_site,
    delete_document,
    get_content,
    get_document,
    get_export,
    get_state,
    post_update,
    rename_document,
    replacing,
)
from collab.api_listing import list_documents
from collab.auth import Role
from collab.errors import CollabError
from collab.names import InvalidName, parse_name, raw_route_path
from collab.openapi import OPENAPI
from collab.quarantine_api import get_quarantine, post_quarantine

__all__ = [
    "ApiError",
    "document_endpoint",
    "error_response",
    "http_error",
    "hub_of",
    "record_json",
    "routes",
]


DOCS_PREFIX = "/api/documents/"
ACTIONS = ("update", "content", "export", "quarantine", "rename")


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


_WEBSOCKET_PATHS = {
    "/sync": "/sync/{name} is a WebSocket endpoint: y-websocket clients connect to"
    " ws://HOST:PORT/sync/{name}; the HTTP API is under /api/documents/{name}",
    "/hocuspocus": "/hocuspocus is a WebSocket endpoint: Hocuspocus providers connect to"
    " ws://HOST:PORT/hocuspocus; the HTTP API is under /api/documents/{name}",
}


async def http_error(request: Request, exc: Exception) -> Response:
    """Starlette's 404 and 405 as JSON errors; a plain HTTP request on a WebSocket endpoint
    (``/sync/...``, ``/hocuspocus``) is 426 ``websocket_required`` with ``Upgrade: websocket``
    (RFC 9110 section 15.5.22)."""
    assert isinstance(exc, HTTPException)
    path = _route_path(request)
    endpoint = path.split("/", 2)[1] if path.startswith("/") else ""
    if exc.status_code == 404 and f"/{endpoint}" in _WEBSOCKET_PATHS:
        response = ApiError(426, "websocket_required", _WEBSOCKET_PATHS[f"/{endpoint}"]).response()
        response.headers["Upgrade"] = "websocket"
        return response
    code = "not_found" if exc.status_code == 404 else "method_not_allowed"
    if path.startswith("/api/") or exc.status_code != 404:
        detail = f"{request.method} {request.url.path}: {exc.detail}"
    else:
        detail = f"{request.method} {request.url.path}: no such page"
    return ApiError(exc.status_code, code, detail).response()


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


ADMIN_ACTIONS = {"quarantine": "repair documents", "rename": "rename documents"}
"""The actions that need the admin role, and how a refusal names them."""


@json_errors
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
        if method == "POST":  # a save or a restore: refused from another site's page
            check_cross_site(request, "versions")
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
        check_cross_site(request, action)
    needed = {"DELETE": Role.ADMIN, "POST": Role.WRITE}.get(method, Role.READ)
    doing = ADMIN_ACTIONS.get(action or "", "")  # what needs the admin role, for the refusal
    if doing:
        needed = Role.ADMIN
    elif action == "update" and method == "POST" and replacing(request):
        needed, doing = Role.ADMIN, "replace a document's content"
    access = await authorizer_of(request).access(request, name)
    access.require(needed, doing)
    request.state.name, request.state.subject = name, access.user
    try:
        return await handler(request)
    except CollabError as exc:
        if exc.http_status == 404 and "/versions/" in name:  # .../versions/abc, say
            raise ApiError(404, exc.code, f"{exc}; {_VERSIONS_HINT}") from exc
        raise


_VERSIONS_HINT = (
    "version ids are numbers (.../versions/12), and a document whose name holds /versions/ is"
    " addressed with that slash percent-encoded (a%2Fversions/b)"
)
