"""Serve pycrdt-websocket for scripts/bench: its ``ASGIServer`` on uvicorn.

Runs in its own virtual environment (``bench/peers/pycrdt-venv``). With ``--db``, every room
gets a pycrdt-store ``SQLiteYStore`` in that file: updates are written to it as they arrive
and a room that opens loads what it holds first (the "+sqlite" variant).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib

import uvicorn
from pycrdt.websocket import ASGIServer, WebsocketServer, YRoom


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
