"""The HTTP API's handlers of one document: its record, state, content and export, writing
an update, deleting and renaming it. :func:`collab.api.document_endpoint` routes to them after
the access check, with ``request.state.name`` and ``request.state.subject`` set."""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from collab import api_exports, api_versions, export
from collab.api_common import ApiError, authorizer_of, b64decode, hub_of, record_json, record_of
from collab.auth import Role, origin_allowed
from collab.hub import Hub
from collab.names import validate_name
from collab.updates import diff_update

__all__ = [
    "MAX_RENAME_BODY",
    "check_cross_site",
    "delete_document",
    "document_state",
    "get_content",
    "get_document",
    "get_export",
    "get_state",
    "post_update",
    "rename_document",
    "replacing",
]

MAX_RENAME_BODY = 4096  # bytes: {"to": name} with a name of at most 255 UTF-8 bytes, escaped


async def get_document(request: Request) -> Response:
    """``GET /api/documents/{name}``: the document's record."""
    hub = hub_of(request)
    return JSONResponse(record_json(await record_of(hub, request.state.name), hub))


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
    access.require(Role.ADMIN, "rename documents")
    hub = hub_of(request)
    if new == name:
        raise ApiError(409, "exists", f"the document is named {name!r} already")
    if not await hub.rename(name, new):
        raise ApiError(404, "not_found", f"no document named {name!r}")
    return JSONResponse(record_json(await record_of(hub, new), hub))


async def document_state(hub: Hub, name: str) -> bytes:
    """The committed state of document ``name`` as one v1 update.

    Raises:
        ApiError: 404 when the document does not exist.
    """
    await record_of(hub, name)
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
            state = diff_update(state, b64decode(encoded_sv))
        except ValueError as exc:
            raise ApiError(400, "bad_state_vector", f"cannot read state_vector: {exc}") from exc
    response = Response(state, media_type="application/octet-stream")
    return api_versions.with_version_header(request, response)


def check_cross_site(request: Request, action: str | None) -> None:
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
    (:func:`collab.api_versions.replace_content`). Answers the document's record, or 204
    when there is none (an update that changes nothing, e.g. an empty one, does not create
    the document unless ``If-None-Match: *`` asks to, see :meth:`Hub.write`)."""
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
    if replacing(request):
        await api_versions.replace_content(request, name, bytes(body))
    else:
        create_only = request.headers.get("if-none-match", "").strip() == "*"
        # committed (and relayed) when it returns
        await hub.write(name, bytes(body), "http", create_only=create_only)
    record = await hub.run(hub.store.get, name)
    if record is None:  # nothing changed, and nothing was stored before
        return Response(status_code=204)
    return JSONResponse(record_json(record, hub))


def replacing(request: Request) -> bool:
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
    options = api_exports.export_options(request)
    name = request.state.name
    state = await api_versions.requested_state(request, name, lambda: document_state(hub, name))
    response = api_exports.export_response(state, name, options)
    return api_versions.with_version_header(request, response)
