"""Versions in-process (``Collab`` with its lifespan, a real SQLite file, no socket): the
authorize hook's user as author, automatic versions after a quiet period and their retention,
a restore through the hub."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from pycrdt import Doc, Text

from collab import Collab, Settings
from collab.stores.sqlite import Store
from tests.e2e.pyclient import eventually

LONG = 60.0


class User:
    """What Starlette's AuthenticationMiddleware puts in ``scope["user"]``."""

    is_authenticated = True
    display_name = "ann"


def text_update(text: str) -> bytes:
    doc: Doc[Any] = Doc()
    doc.get("text", type=Text).insert(0, text)
    return doc.get_update()


async def test_the_authorize_hooks_user_is_the_author(tmp_path: Path) -> None:
    collab = Collab(
        Settings(db=str(tmp_path / "collab.db")),
        authorize=lambda conn, name: "read" if name.startswith("public/") else "write",
    )

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":  # the host's authentication, before collab
            scope["user"] = User()
        await collab.app(scope, receive, send)

    transport = httpx.ASGITransport(app=app)
    async with (
        collab.lifespan(),
        httpx.AsyncClient(transport=transport, base_url="http://collab.test") as http,
    ):
        assert (
            await http.post(
                "/api/documents/plan/update",
                content=text_update("x"),
                headers={"Content-Type": "application/octet-stream"},
            )
        ).is_success
        saved = await http.post("/api/documents/plan/versions", json={"label": "mine"})
        assert saved.status_code == 201 and saved.json()["author"] == "ann"
        refused = await http.post("/api/documents/public/doc/versions")
        assert refused.status_code == 403 and refused.json()["error"] == "forbidden"


async def test_automatic_versions_follow_quiet_periods_and_are_pruned(tmp_path: Path) -> None:
    """Every session of edits ends in one automatic version; a retention with (nearly) no
    windows keeps the newest automatic version only, and the named one."""
    settings = Settings(
        db=str(tmp_path / "collab.db"),
        version_quiet_seconds=0.05,
        versions_keep_all_hours=0,
        versions_keep_hourly_days=0,
        versions_keep_daily_days=1e-9,
    )
    collab = Collab(settings)
    async with collab.lifespan():
        hub, versions = collab.running(), collab.versions
        assert versions is not None
        writer: Doc[Any] = Doc()
        text = writer.get("text", type=Text)
        for session in range(3):
            for word in ("a", "b", "c"):
                before = writer.get_state()
                text.insert(len(text), word)
                await hub.write("doc", writer.get_update(before), "test")
            await eventually(
                lambda session=session: versions.saved == session + 1, "a version", LONG
            )
            if session == 0:
                await versions.save("doc", label="named")
        listing = await hub.run(lambda: hub.store.list_versions("doc"))
    assert [(v.label, v.automatic) for v in listing] == [(None, True), ("named", False)]
    store = Store(tmp_path / "collab.db")
    found = store.get_version("doc", listing[0].id)
    store.close()
    assert found is not None
    check: Doc[Any] = Doc()
    check.apply_update(found[1])
    assert str(check.get("text", type=Text)) == "abc" * 3


async def test_a_stop_ends_the_editing_session_with_its_version(tmp_path: Path) -> None:
    settings = Settings(db=str(tmp_path / "collab.db"), version_quiet_seconds=3600)
    collab = Collab(settings)
    async with collab.lifespan():
        await collab.running().write("doc", text_update("typed before the stop"), "test")
        assert collab.versions is not None and collab.versions.saved == 0
    store = Store(tmp_path / "collab.db")
    (version,) = store.list_versions("doc")
    store.close()
    assert version.automatic


async def test_save_and_restore_over_postgres(tmp_path: Path, postgres_dsn: str) -> None:
    from collab.stores.postgres import PostgresStore

    collab = Collab(Settings(db=str(tmp_path / "unused.db")), store=PostgresStore(postgres_dsn))
    async with collab.lifespan():
        hub, versions = collab.running(), collab.versions
        assert versions is not None
        await hub.write("doc", text_update("first"), "test")
        first = await versions.save("doc", label="first")
        writer: Doc[Any] = Doc()
        writer.apply_update(await hub.state("doc"))
        before = writer.get_state()
        writer.get("text", type=Text).insert(5, " and more")
        await hub.write("doc", writer.get_update(before), "test")
        done = await versions.restore("doc", first.id)
        check: Doc[Any] = Doc()
        check.apply_update(await hub.state("doc"))
        assert str(check.get("text", type=Text)) == "first"
        saved = await versions.get("doc", done.saved.id)
        check = Doc()
        check.apply_update(saved[1])
        assert str(check.get("text", type=Text)) == "first and more"
