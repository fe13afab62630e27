"""A full disk (a real SQLITE_FULL: ``PRAGMA max_page_count`` at the file's size) as a
newcomer's trial met it on a 400 KiB tmpfs: every failed write says the disk is full (HTTP
detail, WebSocket close reason), one traceback is logged for the failures in a row (not one
per failure), and ``/healthz`` answers 503 while commits fail, ``ok`` once one succeeds."""

from __future__ import annotations

import errno
import logging
from pathlib import Path

import httpx
import pytest

from collab import Collab, Settings
from collab.errors import clip_reason
from collab.hub import Hub, thread_commit
from collab.stores import StoreError
from collab.stores.causes import cause
from collab.stores.sqlite import SQLiteStore
from tests.test_connection import close_code, joined, started_hub
from tests.test_http_api import OCTETS, path, text_update


def fill(hub: Hub) -> None:
    """Let the database file grow no more: every commit that needs a page fails SQLITE_FULL."""
    store = hub.store
    assert isinstance(store, SQLiteStore)
    pages = store.db.conn.execute("PRAGMA page_count").fetchone()[0]
    store.db.conn.execute(f"PRAGMA max_page_count={pages}")


def free(hub: Hub) -> None:
    """Room again on the disk."""
    store = hub.store
    assert isinstance(store, SQLiteStore)
    store.db.conn.execute("PRAGMA max_page_count=1073741823")


BIG = "x" * 20_000
"""Text whose update needs pages the full database has not got."""


async def test_a_full_disk_is_named_in_the_error_and_the_close_reason(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, "collab.hub")
    async with started_hub(tmp_path) as hub:
        async with hub.use("d") as room:
            connection, _ = joined(hub, room)
            hub.rooms.slots["d"].peers.add(connection)  # as Hub.join registers it
            fill(hub)
            with pytest.raises(StoreError, match=r"could not be saved: the disk is full \("):
                await hub.write("d", text_update(BIG))
        assert close_code(connection) == 1011
        assert connection._close is not None
        reason = connection._close[1]
        assert "the disk is full" in reason, reason
        assert len(reason.encode()) <= 123
        assert "disk is full" in (hub.committer.storage.failing or "")

        first = [r for r in caplog.records if r.getMessage().startswith("commit failed")]
        assert len(first) == 1 and first[0].exc_info, "the first failure: with its traceback"
        caplog.clear()
        for _ in range(3):
            with pytest.raises(StoreError, match="the disk is full"):
                await hub.write("d", text_update(BIG))
        failed = [r for r in caplog.records if r.getMessage().startswith("commit failed")]
        assert len(failed) == 3
        assert not any(r.exc_info for r in failed), "a traceback for each failure in a row"
        assert "the disk is full" in failed[-1].getMessage()

        free(hub)
        await hub.write("d", text_update("fits"))
        assert hub.committer.storage.failing is None


async def test_healthz_fails_while_commits_fail(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """503 while the last commit failed; ok after a commit succeeds, or (nothing written
    since) once the failure is :data:`FAILING_SECONDS` old."""
    monkeypatch.setattr(thread_commit, "FAILING_SECONDS", 1e9)  # no expiry while it runs
    service = Collab(Settings(db=str(tmp_path / "collab.db"), room_grace_seconds=0.2))
    transport = httpx.ASGITransport(app=service.app)
    async with (
        service.lifespan(),
        httpx.AsyncClient(transport=transport, base_url="http://collab.test") as http,
    ):
        assert (await http.get("/healthz")).status_code == 200
        hub = service.running()
        fill(hub)
        response = await http.post(path("d", "update"), content=text_update(BIG), headers=OCTETS)
        assert response.status_code == 503
        assert response.json()["error"] == "storage_error"
        assert "the disk is full (database or disk is full)" in response.json()["detail"]

        health = await http.get("/healthz")
        assert health.status_code == 503
        assert health.json()["error"] == "storage_failing"
        assert "the disk is full" in health.json()["detail"]

        monkeypatch.setattr(thread_commit, "FAILING_SECONDS", -1.0)  # as if long ago
        assert (await http.get("/healthz")).status_code == 200
        monkeypatch.setattr(thread_commit, "FAILING_SECONDS", 1e9)
        assert (await http.get("/healthz")).status_code == 503

        free(hub)
        response = await http.post(path("d", "update"), content=text_update(BIG), headers=OCTETS)
        assert response.status_code == 200, response.text
        health = await http.get("/healthz")
        assert health.status_code == 200 and health.json()["status"] == "ok"


def test_causes_name_the_os_reason_and_reasons_are_cut_at_a_word() -> None:
    try:
        raise StoreError("commit failed") from OSError(errno.ENOSPC, "No space left on device")
    except StoreError as exc:
        assert cause(exc) == "the disk is full (No space left on device)"
    assert cause(StoreError("plain")) == "plain"
    cut = clip_reason("storage error: " + "word " * 40)
    assert len(cut.encode()) <= 123 and cut.endswith("word…"), cut
    assert clip_reason("short") == "short"


def test_the_outbox_reports_a_failing_database_as_a_store_error(tmp_path: Path) -> None:
    """The change reporter's store calls raised sqlite3's own error on the trial's full disk,
    logged as a bug (a traceback every half second); a StoreError is logged in one line."""
    store = SQLiteStore(tmp_path / "c.db")
    store.append([("d", text_update("hello"))])
    pages = store.db.conn.execute("PRAGMA page_count").fetchone()[0]
    store.db.conn.execute(f"PRAGMA max_page_count={pages}")
    due = store.outbox.due_changes(float("inf"))
    assert due
    changes = [(name, at, "document.changed", {"filler": "x" * 20_000}) for name, at in due]
    with pytest.raises(StoreError, match="report_changes failed: database or disk is full"):
        store.outbox.report_changes(changes)
    store.db.conn.execute("PRAGMA max_page_count=1073741823")
    store.close()


async def test_a_failed_checkpoint_is_one_line_with_its_cause(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failing disk fails every checkpoint (one a second while edits go on): each is one line
    naming the cause, not a traceback."""
    caplog.set_level(logging.ERROR, "collab.hub")

    def full() -> None:
        raise StoreError("checkpoint failed") from OSError(errno.ENOSPC, "No space left")

    async with started_hub(tmp_path) as hub:
        monkeypatch.setattr(hub.store, "checkpoint", full)
        await hub.committer.checkpoints._checkpoint()
        await hub.committer.checkpoints._checkpoint()
    failed = [r for r in caplog.records if r.getMessage().startswith("checkpoint failed")]
    assert len(failed) == 2 and not any(r.exc_info for r in failed)
    assert "the disk is full (No space left on device)" in failed[0].getMessage()
