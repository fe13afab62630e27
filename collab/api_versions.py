"""HTTP API of versions, under ``/api/documents/{name}/versions``.

| method | path | role |
|---|---|---|
| GET | ``versions?limit=&cursor=`` | read: a page of the document's versions, newest first |
| POST | ``versions`` ``{"label": "..."}`` | write: save the state now as a named version |
| GET | ``versions/{id}`` | read: one version's record |
| GET | ``versions/{id}/update`` | read: its state as a Yjs v1 update |
| GET | ``versions/{id}/export?format=`` | read: its state in an export format |
| GET | ``versions/{id}/diff?to=ID|current`` | read: text blocks added and removed |
| POST | ``versions/{id}/restore`` | write: make the document's content the version's |

:func:`parse_versions_path` splits such a path; :mod:`collab.api` dispatches to the handlers
here after checking the token's role. A version's author is the token's subject (``sub``).
"""

from __future__ import annotations

import json
import re
import unicodedata
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from collab.api_exports import export_options, export_response
from collab.backup.errors import BackupError
from collab.backup.moments import compacted_detail, iso, not_yet_detail, parse_moment
from collab.errors import CollabError
from collab.history.blocks import diff_blocks, text_blocks
from collab.history.versions import Versions
from collab.stores import HistoryCompacted, NotCreatedYet, VersionRecord

__all__ = [
    "MAX_LABEL_CHARS",
    "VERSION_ACTIONS",
    "VersionsError",
    "handler_for",
    "parse_versions_path",
    "replace_content",
    "requested_state",
    "version_json",
    "with_version_header",
]

VERSION_ACTIONS = ("update", "export", "restore", "diff")
MAX_LABEL_CHARS = 200
MAX_PAGE = 1000

_PATH = re.compile(
    rf"(?P<name>.+)/versions(?:/(?P<id>[0-9]{{1,18}})(?:/(?P<action>{'|'.join(VERSION_ACTIONS)}))?)?"
)


class VersionsError(CollabError):
    """A refusal of the versions API, answered as JSON ``{"error": code, "detail": detail}``
    with ``status``."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(detail)
        self.http_status, self.code = status, code  # type: ignore[misc]


def parse_versions_path(rest: str) -> tuple[str, int | None, str | None] | None:
    """Split ``{name}/versions[/{id}[/{action}]]`` (raw, still percent-encoded) into the raw
    name, the version id and the action; ``None`` when ``rest`` is not such a path (then it
    names a document, e.g. ``a/versions/b``, or one whose name ends in ``/versions`` with that
    slash percent-encoded)."""
    match = _PATH.fullmatch(rest)
    if match is None:
        return None
    raw_id = match.group("id")
    return match.group("name"), int(raw_id) if raw_id else None, match.group("action")


def version_json(record: VersionRecord) -> dict[str, Any]:
    """The JSON form of a version record (times in ISO 8601 UTC)."""
    return {
        "id": record.id,
        "document": record.name,
        "created_at": iso(record.created_at),
        "label": record.label,
        "author": record.author,
        "automatic": record.automatic,
        "size_bytes": record.size_bytes,
    }


def handler_for(version_id: int | None, action: str | None, method: str) -> Any:
    """The handler of a versions path and method, or ``None`` (method not allowed)."""
    table: dict[tuple[bool, str | None, str], Any] = {
        (False, None, "GET"): list_versions,
        (False, None, "POST"): save_version,
        (True, None, "GET"): get_version,
        (True, "update", "GET"): get_version_update,
        (True, "export", "GET"): get_version_export,
        (True, "diff", "GET"): get_version_diff,
        (True, "restore", "POST"): restore_version,
    }
    return table.get((version_id is not None, action, method))


def _versions(request: Request) -> Versions:
    """The started versions of the app serving ``request``.

    Raises:
        NotStarted: collab's lifespan is not running.
    """
    collab = request.app.state.collab
    collab.running()
    versions: Versions = collab.versions
    return versions


async def list_versions(request: Request) -> Response:
    """``GET .../versions?limit=&cursor=``: newest first; ``next_cursor`` pages on."""
    name = request.state.name
    hub = _versions(request).hub
    params = request.query_params
    try:
        limit = int(params.get("limit", "100"))
    except ValueError:
        raise VersionsError(400, "bad_limit", "limit must be an integer") from None
    if not 1 <= limit <= MAX_PAGE:
        raise VersionsError(400, "bad_limit", f"limit must be between 1 and {MAX_PAGE}")
    cursor = params.get("cursor")
    if cursor is not None and not cursor.isdigit():
        raise VersionsError(400, "bad_cursor", "cursor is not one this API returned")
    if await hub.run(hub.store.get, name) is None:
        raise VersionsError(404, "not_found", f"no document named {name!r}")
    before = int(cursor) if cursor else None
    page = await hub.run(lambda: hub.store.list_versions(name, before=before, limit=limit + 1))
    more = len(page) > limit
    page = page[:limit]
    return JSONResponse(
        {
            "versions": [version_json(v) for v in page],
            "next_cursor": str(page[-1].id) if more else None,
        }
    )


async def save_version(request: Request) -> Response:
    """``POST .../versions`` with ``{"label": "..."}`` (optional): a named version of now."""
    name, subject = request.state.name, request.state.subject
    body = await request.body()
    label = None
    if body.strip():
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind != "application/json":  # a form or text/plain needs no CORS preflight
            raise VersionsError(
                415, "unsupported_media_type", 'send {"label": "..."} as application/json'
            )
        try:
            payload = json.loads(body)
        except ValueError:
            raise VersionsError(400, "bad_body", "the body must be JSON") from None
        if not isinstance(payload, dict):
            raise VersionsError(400, "bad_body", 'the body must be {"label": "..."}')
        label = payload.get("label")
        if label is not None and not isinstance(label, str):
            raise VersionsError(400, "bad_label", "label must be a string")
        if label is not None and len(label) > MAX_LABEL_CHARS:
            raise VersionsError(400, "bad_label", f"label over {MAX_LABEL_CHARS} characters")
        if label is not None and any(unicodedata.category(c) in ("Cc", "Cs") for c in label):
            raise VersionsError(
                400,
                "bad_label",
                "label may not contain control characters (such as a line break or tab)",
            )
    record = await _versions(request).save(name, label=label or None, author=subject)
    return JSONResponse(version_json(record), 201)


async def get_version(request: Request) -> Response:
    """``GET .../versions/{id}``: the record."""
    name, version_id = request.state.name, request.state.version_id
    record, _ = await _versions(request).get(name, version_id)
    return JSONResponse(version_json(record))


async def get_version_update(request: Request) -> Response:
    """``GET .../versions/{id}/update``: the version's state as a Yjs v1 update."""
    name, version_id = request.state.name, request.state.version_id
    _, state = await _versions(request).get(name, version_id)
    return Response(state, media_type="application/octet-stream")


async def get_version_export(request: Request) -> Response:
    """``GET .../versions/{id}/export?format=&field=&schema=``: the version in an export
    format (the options and headers of the document's export route)."""
    name, version_id = request.state.name, request.state.version_id
    options = export_options(request)
    _, state = await _versions(request).get(name, version_id)
    return export_response(state, name, options, suffix=f"@{version_id}")


async def get_version_diff(request: Request) -> Response:
    """``GET .../versions/{id}/diff?to=ID|current``: blocks removed since version ``id`` and
    added in ``to`` (default ``current``: the document now)."""
    name, version_id = request.state.name, request.state.version_id
    versions = _versions(request)
    _, old = await versions.get(name, version_id)
    to = request.query_params.get("to", "current")
    if to == "current":
        new = await versions.state(name)
    elif to.isdigit() and len(to) <= 18:
        _, new = await versions.get(name, int(to))
    else:
        raise VersionsError(400, "bad_to", "to must be a version id or 'current'")
    changes = diff_blocks(text_blocks(old), text_blocks(new))  # ExportError: 422
    return JSONResponse(
        {
            "from": version_id,
            "to": "current" if to == "current" else int(to),
            "added": sum(change["op"] == "added" for change in changes),
            "removed": sum(change["op"] == "removed" for change in changes),
            "blocks": changes,
        }
    )


async def restore_version(request: Request) -> Response:
    """``POST .../versions/{id}/restore``: the document's content becomes the version's; the
    state just before is saved as an automatic version (``saved``: restore it to undo)."""
    name, version_id = request.state.name, request.state.version_id
    subject = request.state.subject
    done = await _versions(request).restore(name, version_id, author=subject)
    return JSONResponse(
        {
            "restored": version_json(done.version),
            "saved": version_json(done.saved),
            "update_bytes": done.update_bytes,
        }
    )


async def requested_state(request: Request, name: str, now: Any) -> bytes:
    """The state a read route answers with: ``now()`` (the committed state), or with
    ``?at=TIME`` (ISO 8601 or Unix seconds, as ``collab export --at``) the state then, from
    the log or, where compaction folded that moment, the newest version made by then (named in
    the ``X-Collab-Version`` response header via ``request.state.version_header``).

    Raises:
        VersionsError: 400 for a bad time; 404 when the document did not exist yet then; 410
            ``history_gone`` when neither the log nor a version reaches back that far.
    """
    at_text = request.query_params.get("at")
    if at_text is None:
        state: bytes = await now()
        return state
    try:
        at = parse_moment(at_text)
    except BackupError as exc:
        raise VersionsError(400, "bad_time", str(exc)) from None
    try:
        state, version = await _versions(request).state_at(name, at)
    except NotCreatedYet as exc:
        detail = not_yet_detail(name, at, exc.created_at)
        raise VersionsError(404, "not_created_yet", detail) from None
    except HistoryCompacted as exc:
        detail = compacted_detail(name, at, exc.earliest)
        raise VersionsError(410, "history_gone", detail) from None
    if version is not None:
        request.state.version_header = str(version.id)
    return state


async def replace_content(request: Request, name: str, state: bytes) -> None:
    """``POST .../update?replace=true`` (``collab import --replace`` over HTTP): the content
    of document ``name`` becomes the content of ``state`` (a whole document's state, Yjs v1),
    written like a restore, after an automatic version of the content before; a document
    that does not exist is created with ``state`` as it is.

    Raises:
        InvalidUpdate: ``state`` is not a Yjs v1 update.
    """
    await _versions(request).replace(name, state, author=request.state.subject)


def with_version_header(request: Request, response: Response) -> Response:
    """``response`` with ``X-Collab-Version`` when :func:`requested_state` answered from a
    version."""
    version = getattr(request.state, "version_header", None)
    if version is not None:
        response.headers["X-Collab-Version"] = version
    return response
