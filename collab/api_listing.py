"""``GET /api/documents``: the document listing, paginated with keyset cursors, narrowed to
what the request may read."""

from __future__ import annotations

import base64
import json
from functools import partial
from typing import Any, cast

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from collab.api_common import ApiError, authorizer_of, b64decode, hub_of, json_errors, record_json
from collab.errors import AuthError
from collab.hub import Hub
from collab.sessions.access import Authorizer
from collab.stores import DocumentRecord, SortKey

__all__ = ["MAX_PAGE", "list_documents"]

MAX_PAGE = 1000


@json_errors
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
        value, name = json.loads(b64decode(cursor))
        if not isinstance(name, str) or (sort == "updated_at" and not isinstance(value, float)):
            raise ValueError("cursor does not match the sort order")
    except (ValueError, TypeError) as exc:
        raise ApiError(400, "bad_cursor", "cursor is not one this API returned") from exc
    return value, name


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
