"""Issue 19 item 9: one stored row the current code cannot decode no longer makes its whole
document unavailable: what decodes loads, the rest is quarantined (never deleted silently),
listed, dropped or restored by ``collab doctor --repair`` and by the document's admins."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from pycrdt import Doc, Text
from sqlite_utils import Database

from collab.stores import Store
from tests.e2e.conftest import Server
from tests.e2e.pyclient import PyClient

pytestmark = pytest.mark.e2e

BAD = bytes.fromhex("0101070011010474657874015800")
"""An update of content kind 17 (written by another tool): Yjs throws on it."""


def seeded(path: Path) -> list[bytes]:
    """A database whose document ``d`` holds "good", a bad row, then " more"."""
    doc: Doc[Any] = Doc()
    updates: list[bytes] = []
    doc.observe(lambda event: updates.append(event.update))
    text = doc.get("text", type=Text)
    text.insert(0, "good")
    store = Store(path)
    store.append([("d", updates[0])])
    store.db.execute(
        "INSERT INTO updates (name, data, created_at) VALUES ('d', ?, 0)", [BAD]
    )  # as another tool would
    text.insert(4, " more")
    store.append([("d", updates[1])])
    store.close()
    return updates


async def test_a_document_with_an_undecodable_row_loads_and_quarantines_it(
    server_factory: Any, tmp_path: Path
) -> None:
    seeded(tmp_path / "q.db")
    server: Server = server_factory(db_path=tmp_path / "q.db")
    async with PyClient(server.ws_url, "d") as client:
        assert str(client.text()) == "good more"
        assert client.close_code is None
    async with httpx.AsyncClient(base_url=server.http_url) as http:
        listed = (await http.get("/api/documents/d/quarantine")).json()["quarantined"]
        assert [(row["kind"], row["size_bytes"]) for row in listed] == [("update", len(BAD))]
        assert "unknown content kind 17" in listed[0]["reason"]
        row = listed[0]["id"]
        restored = await http.post(f"/api/documents/d/quarantine?restore={row}")
        assert restored.status_code == 400 and restored.json()["error"] == "invalid_update"
        assert len((await http.get("/api/documents/d/quarantine")).json()["quarantined"]) == 1
        dropped = await http.post(f"/api/documents/d/quarantine?drop={row}")
        assert dropped.status_code == 200, dropped.text
        assert (await http.get("/api/documents/d/quarantine")).json()["quarantined"] == []
        assert (await http.get("/api/documents/d/content")).json() == {"text": "good more"}


async def test_each_quarantined_row_is_listed_with_its_own_reason(
    server_factory: Any, tmp_path: Path
) -> None:
    seeded(tmp_path / "q.db")
    store = Store(tmp_path / "q.db")
    store.db.execute("INSERT INTO updates (name, data, created_at) VALUES ('d', x'ff02', 0)")
    ids = [row[0] for row in store.db.execute("SELECT id FROM updates ORDER BY id")]
    store.close()
    bad = [ids[1], ids[3]]  # BAD, then the row just written
    server: Server = server_factory(db_path=tmp_path / "q.db")
    async with httpx.AsyncClient(base_url=server.http_url) as http:
        assert (await http.get("/api/documents/d/content")).json() == {"text": "good more"}
        listed = (await http.get("/api/documents/d/quarantine")).json()["quarantined"]
    reasons = [row["reason"] for row in listed]
    assert [reason.split(":")[0] for reason in reasons] == [f"row {bad[0]}", f"row {bad[1]}"]
    assert "content kind 17" in reasons[0] and "content kind 17" not in reasons[1], reasons


def doctor(db: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "collab", "doctor", "--db", str(db), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_doctor_repair_quarantines_lists_restores_and_drops(tmp_path: Path) -> None:
    path = tmp_path / "q.db"
    seeded(path)
    checked = doctor(path)
    assert checked.returncode == 1 and "cannot be decoded" in checked.stdout
    repaired = doctor(path, "--repair")
    assert repaired.returncode == 0, repaired.stdout + repaired.stderr
    assert "quarantined 1 row of 'd'" in repaired.stdout
    assert "1 row in quarantine" in repaired.stdout
    assert doctor(path).returncode == 0, "the document decodes now"
    row_id = Database(path).execute("SELECT id FROM quarantine").fetchone()[0]
    restored = doctor(path, "--repair", "--restore", str(row_id))
    # refused as the HTTP route refuses it: it still does not decode, it stays quarantined
    assert restored.returncode == 1, restored.stdout + restored.stderr
    assert f"PROBLEM: quarantined row {row_id} of 'd' still does not decode" in restored.stdout
    assert "1 row in quarantine" in restored.stdout
    assert doctor(path).returncode == 0, "the document still decodes"
    dropped = doctor(path, "--repair", "--drop", str(row_id))
    assert "0 rows in quarantine" in dropped.stdout
    assert doctor(path, "--repair", "--drop", "999").returncode == 1
