"""Host applications that embed collab, as a user would: a FastAPI app and a plain Starlette
app, each mounting ``Collab(...).app`` at ``/collab`` with its own ``authorize`` and
``on_change``. The tests run them under plain uvicorn (``uvicorn --factory
tests.e2e.embedded_apps:fastapi_app``), never ``collab serve``.

Configured by the environment: ``EMBED_DB`` (the SQLite file) and ``EMBED_EVENTS`` (a file
the ``on_change`` hook appends one JSON line to per committed update: the document, the
origin, the update in hex, and whether the store already held it when the hook ran).

Access: the ``user`` query parameter (or ``X-User`` header) names a role: ``reader`` may
read, ``writer`` may write, ``boss`` is admin; anyone else, and everyone but ``boss`` on
documents under ``private/``, is refused. ``on_change`` raises for the document ``boom``
(after recording it): the room must go on working.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

from collab import Collab, Settings

ROLES = {"reader": "read", "writer": "write", "boss": "admin"}


def authorize(conn: Any, name: str) -> str | None:
    """The host's access rule (see the module docstring)."""
    user = conn.query_params.get("user") or conn.headers.get("x-user")
    if name.startswith("private/") and user != "boss":
        return None
    return ROLES.get(user or "")


def make_collab() -> Collab:
    """A Collab on ``EMBED_DB`` whose ``on_change`` records to ``EMBED_EVENTS``."""
    events = Path(os.environ["EMBED_EVENTS"])
    settings = Settings(db=os.environ["EMBED_DB"], room_grace_seconds=0.2)

    async def on_change(name: str, update: bytes, origin: str) -> None:
        hub = collab.running()
        stored = await hub.run(hub.store.load, name)
        held = update in stored.updates or update == stored.snapshot
        line = {"name": name, "origin": origin, "update": update.hex(), "stored": held}
        with events.open("a") as out:
            out.write(json.dumps(line) + "\n")
        if name == "boom":
            raise RuntimeError("the host's on_change failed")

    collab = Collab(settings, authorize=authorize, on_change=on_change)
    return collab


def fastapi_app() -> FastAPI:
    """FastAPI, with a route of its own beside collab mounted at ``/collab``."""
    collab = make_collab()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with collab.lifespan():
            yield

    app = FastAPI(lifespan=lifespan)

    @app.get("/hello")
    async def hello() -> dict[str, str]:
        return {"host": "fastapi"}

    app.mount("/collab", collab.app)
    return app


def starlette_app() -> Starlette:
    """Plain Starlette, with a route of its own beside collab mounted at ``/collab``."""
    collab = make_collab()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with collab.lifespan():
            yield

    async def hello(request: Any) -> JSONResponse:
        return JSONResponse({"host": "starlette"})

    return Starlette(
        routes=[Route("/hello", hello), Mount("/collab", collab.app)], lifespan=lifespan
    )
