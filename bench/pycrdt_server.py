"""Serve pycrdt-websocket for scripts/bench: its ``ASGIServer`` on uvicorn.

Runs in its own virtual environment (``bench/peers/pycrdt-venv``). With ``--db``, every room
gets a pycrdt-store ``SQLiteYStore`` in that file: updates are written to it as they arrive
and a room that opens loads what it holds first (the "+sqlite" variant). One patch: a send to a
client that already disconnected is dropped instead of crashing the server (see below).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib

import uvicorn
from pycrdt.websocket import ASGIServer, WebsocketServer, YRoom, asgi_server

_send = asgi_server.ASGIWebsocket.send


async def _send_or_drop(self: asgi_server.ASGIWebsocket, message: bytes) -> None:
    """Drop a message to a client that already went away.

    Unpatched, a broadcast to a client that has just disconnected raises uvicorn's
    ``ClientDisconnected`` inside the room's task group, which ends the room and then the whole
    server (measured: the saturation and ingest scenarios killed it). The client's own receive
    loop still ends its connection as usual.
    """
    with contextlib.suppress(Exception):
        await _send(self, message)


asgi_server.ASGIWebsocket.send = _send_or_drop  # type: ignore[method-assign]


class StoredWebsocketServer(WebsocketServer):
    """A WebsocketServer whose rooms persist to one SQLite file through pycrdt-store."""

    def __init__(self, db_path: str, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.db_path = db_path

    async def get_room(self, name: str) -> YRoom:
        if name not in self.rooms:
            from pycrdt.store import SQLiteYStore, YDocNotFound

            store = SQLiteYStore(path=name, log=self.log)
            store.db_path = self.db_path
            room = YRoom(ready=False, ystore=store, log=self.log)
            self.rooms[name] = room
            await self.start_room(room)
            async with store.start_lock:
                if not store.started.is_set():
                    assert self._task_group is not None
                    await self._task_group.start(store.start)
            with contextlib.suppress(YDocNotFound):
                await store.apply_updates(room.ydoc)
            room.ready = True
        return await super().get_room(name)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--db", default="")
    args = parser.parse_args()
    websocket_server = StoredWebsocketServer(args.db) if args.db else WebsocketServer()
    app = ASGIServer(websocket_server)
    config = uvicorn.Config(
        app, host=args.host, port=args.port, log_level="warning", timeout_graceful_shutdown=5
    )
    server = uvicorn.Server(config)
    async with websocket_server:
        await server.serve()


if __name__ == "__main__":
    asyncio.run(main())
