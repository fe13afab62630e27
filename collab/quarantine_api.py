"""HTTP routes of a document's quarantine (stored rows that no longer decode), for admins.

``GET /api/documents/{name}/quarantine`` lists them; ``POST .../quarantine?restore=ID`` writes
one back through :meth:`~collab.hub.Hub.write` (checked like any update: refused 400 when it
still does not decode, and it stays quarantined), ``POST .../quarantine?drop=ID`` deletes it.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from collab.errors import CollabError
from collab.hub import Hub

__all__ = ["get_quarantine", "post_quarantine"]


class QuarantineError(CollabError):
    """A bad quarantine request: no such row (404) or a malformed id (400)."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(detail)
        self.http_status = status  # type: ignore[misc]
        self.code = code  # type: ignore[misc]


def _hub(request: Request) -> Hub:
    hub: Hub = request.app.state.collab.running()
    return hub


async def get_quarantine(request: Request) -> Response:
    """``GET /api/documents/{name}/quarantine``: the document's quarantined rows."""
    hub, name = _hub(request), request.state.name
    rows = await hub.run(hub.store.quarantined, name)
    listed = [
        {
            "id": row.id,
            "kind": row.kind,
            "size_bytes": row.size,
            "reason": row.reason,
            "quarantined_at": row.quarantined_at,
        }
        for row in rows
    ]
    return JSONResponse({"name": name, "quarantined": listed})


async def post_quarantine(request: Request) -> Response:
    """``POST /api/documents/{name}/quarantine?restore=ID`` or ``?drop=ID``."""
    hub, name = _hub(request), request.state.name
    params = request.query_params
    verb = "restore" if "restore" in params else "drop" if "drop" in params else None
    if verb is None or not params[verb].isdigit():
        raise QuarantineError(400, "bad_request", "give ?restore=ID or ?drop=ID")
    wanted = int(params[verb])
    rows = {row.id: row for row in await hub.run(hub.store.quarantined, name)}
    if wanted not in rows:
        raise QuarantineError(404, "not_found", f"no quarantined row {wanted} of {name!r}")
    if verb == "restore":
        data = await hub.run(hub.store.quarantined_data, wanted)
        await hub.write(name, data, "http")  # refused like any bad update: stays quarantined
    await hub.run(lambda: hub.store.release(wanted, restore=False))
    return JSONResponse({"name": name, verb: wanted})
