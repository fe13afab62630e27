"""With PostgreSQL, the hub never calls the store on the event loop: every commit, load,
compaction and deletion runs on the database thread (a commit is a network round trip).

The same test on SQLite shows the check can fail: there, small bursts are committed on the
event loop itself (a write into the WAL file), by design.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest
from pycrdt import Doc, Text

from collab.hub import Hub
from collab.integrator import apply_all
from collab.settings import Settings
from collab.stores import DocumentStore
from tests.helpers.stores import STORES, opener


class Watched:
    """A store that records which thread each of its methods is called on."""

    def __init__(self, store: DocumentStore) -> None:
        self.store = store
        self.calls: list[tuple[str, str]] = []

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.store, name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls.append((name, threading.current_thread().name))
            return attr(*args, **kwargs)

        return call


@pytest.mark.parametrize("kind", STORES)
async def test_store_calls_run_on_the_database_thread_only_for_postgres(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    with opener(request, kind, tmp_path) as open_:
        watched = Watched(open_())
        settings = Settings(db=open_.db, room_grace_seconds=0.0, compact_updates=3)
        hub = Hub(watched, settings)  # type: ignore[arg-type]
        await hub.start()
        try:
            doc: Doc[Any] = Doc()
            text = doc.get("text", type=Text)
            for round_ in range(5):
                writes = []
                for i in range(4):  # small bursts: what SQLite commits on the event loop
                    before = doc.get_state()
                    text.insert(len(text), f"{round_}.{i} ")
                    writes.append(hub.write("d", doc.get_update(before), "http"))
                await asyncio.gather(*writes)
            stored = apply_all(Doc(), watched.store.load("d").updates_in_order())  # unwatched
            assert str(stored.get("text", type=Text)) == str(text)
            await hub.delete("d")
        finally:
            await hub.close()
    loop_thread = threading.main_thread().name
    on_loop = [name for name, thread in watched.calls if thread == loop_thread]
    names = {name for name, _ in watched.calls}
    assert {"append", "load", "compact", "delete"} <= names, names
    if kind == "postgres":
        assert on_loop == [], on_loop
    else:
        assert "append" in on_loop  # small commits inline: the check above can fail
