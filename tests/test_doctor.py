"""collab doctor: a healthy database passes, damaged ones fail with the reason."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from pycrdt import Doc, Text

from collab.cli import main
from collab.doctor import check, repair
from collab.stores import Store


def make_db(path: Path) -> None:
    doc: Doc[Any] = Doc()
    updates: list[bytes] = []
    doc.observe(lambda event: updates.append(event.update))
    text = doc.get("text", type=Text)
    for i in range(50):
        text.insert(len(text), f"line {i}\n")
    store = Store(path)
    store.append([("notes", u) for u in updates[:30]])
    store.compact("notes")
    store.append([("notes", u) for u in updates[30:]])
    store.close()


def test_healthy_database_passes(tmp_path: Path, capsys: Any) -> None:
    make_db(tmp_path / "c.db")
    assert main(["doctor", "--db", str(tmp_path / "c.db")]) == 0
    out = capsys.readouterr().out
    assert "documents: 1" in out and "no problems found" in out


def test_orphans_and_counter_drift_are_found(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    make_db(path)
    conn = sqlite3.connect(path)
    conn.execute("INSERT INTO updates (name, data, created_at) VALUES ('ghost', x'0000', 0)")
    conn.execute("UPDATE documents SET updates = updates + 5")
    conn.commit()
    conn.close()
    report = check(path)
    assert not report.ok
    assert any("orphaned" in p for p in report.problems)
    assert any("records" in p for p in report.problems)


def test_counters_behind_the_log_are_a_note_not_a_problem(tmp_path: Path) -> None:
    """A live server writes counters at checkpoints; a crash may lose the last ones."""
    path = tmp_path / "c.db"
    make_db(path)
    conn = sqlite3.connect(path)
    conn.execute("UPDATE documents SET updates = updates - 1, size_bytes = size_bytes - 1")
    conn.commit()
    conn.close()
    report = check(path)
    assert report.ok, report.render()
    assert any("counters not written yet" in line for line in report.summary)


def test_undecodable_update_is_found(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    make_db(path)
    conn = sqlite3.connect(path)
    row_id, data = conn.execute("SELECT id, data FROM updates ORDER BY id DESC").fetchone()
    conn.execute("UPDATE updates SET data = ? WHERE id = ?", [b"\xff" * len(data), row_id])
    conn.commit()
    conn.close()
    (problem,) = check(path).problems
    # the document, the row and the command that moves it aside (issue: a newcomer's trial)
    assert problem.startswith(f"document 'notes' cannot be decoded: update row {row_id} ("), problem
    assert "not a valid Yjs v1 update" in problem and "collab doctor --repair" in problem
    assert check(path, decode=False).problems == []


def test_the_repair_the_doctor_suggests_moves_the_row_it_named(tmp_path: Path) -> None:
    path = tmp_path / "my notes" / "c.db"
    path.parent.mkdir()
    make_db(path)
    conn = sqlite3.connect(path)
    row_id = conn.execute("SELECT max(id) FROM updates").fetchone()[0]
    conn.execute("UPDATE updates SET data = x'ff01' WHERE id = ?", [row_id])
    conn.commit()
    conn.close()
    assert f"update row {row_id} " in check(path).render()
    # the command to paste, with the database given (quoted for a shell)
    assert f"stop the server, then `collab doctor --repair --db '{path}'`" in check(path).render()
    report = repair(path)
    assert report.ok and f"row {row_id}: not a valid Yjs v1 update" in report.render()
    assert check(path).ok


def test_repair_of_a_missing_file_creates_nothing(tmp_path: Path) -> None:
    report = repair(tmp_path / "typo.db")
    assert not report.ok and "does not exist" in report.render()
    assert list(tmp_path.iterdir()) == []


def test_damaged_file_fails(tmp_path: Path, capsys: Any) -> None:
    path = tmp_path / "c.db"
    make_db(path)
    data = bytearray(path.read_bytes())
    page = 4096
    for offset in range(page * 2, len(data), 97):  # scribble over pages after the schema
        data[offset] ^= 0x5A
    path.write_bytes(bytes(data))
    assert main(["doctor", "--db", str(path)]) == 1
    assert "PROBLEM" in capsys.readouterr().out


def test_missing_file_fails(tmp_path: Path) -> None:
    assert not check(tmp_path / "none.db").ok


def test_restoring_a_row_that_still_does_not_decode_is_refused(tmp_path: Path, capsys: Any) -> None:
    """As the HTTP route refuses it (400): the row stays quarantined, the command fails."""
    path = tmp_path / "c.db"
    make_db(path)
    conn = sqlite3.connect(path)
    conn.execute("INSERT INTO updates (name, data, created_at) VALUES ('notes', x'0102030405', 0)")
    conn.commit()
    conn.close()
    assert main(["doctor", "--repair", "--db", str(path)]) == 0
    (row_id,) = [row.id for row in _quarantined(path)]
    capsys.readouterr()
    assert main(["doctor", "--repair", "--db", str(path), "--restore", str(row_id)]) == 1
    out = capsys.readouterr().out
    assert f"PROBLEM: quarantined row {row_id} of 'notes' still does not decode" in out, out
    assert f"restored quarantined row {row_id}" not in out and "no problems found" not in out
    assert [row.id for row in _quarantined(path)] == [row_id]
    assert check(path).ok


def test_restoring_a_row_that_decodes_puts_it_back(tmp_path: Path, capsys: Any) -> None:
    path = tmp_path / "c.db"
    make_db(path)
    doc: Doc[Any] = Doc()
    updates: list[bytes] = []
    doc.observe(lambda event: updates.append(event.update))
    doc.get("other", type=Text).insert(0, "kept")
    store = Store(path)
    store.append([("notes", updates[0])])
    row_id = store.db.execute("SELECT max(id) FROM updates").fetchone()[0]
    store.quarantine("notes", {row_id: "moved by hand"}, None)
    store.close()
    (quarantined,) = _quarantined(path)
    assert main(["doctor", "--repair", "--db", str(path), "--restore", str(quarantined.id)]) == 0
    assert f"restored quarantined row {quarantined.id} of 'notes'" in capsys.readouterr().out
    assert _quarantined(path) == [] and check(path).ok


def _quarantined(path: Path) -> list[Any]:
    store = Store(path)
    try:
        return store.quarantined()
    finally:
        store.close()


def test_each_quarantined_row_gives_its_own_reason(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    make_db(path)
    conn = sqlite3.connect(path)
    for data in (b"\x01\x02\x03", b"\xff\xff"):
        conn.execute("INSERT INTO updates (name, data, created_at) VALUES ('notes', ?, 0)", [data])
    conn.commit()
    first, second = [row[0] for row in conn.execute("SELECT id FROM updates ORDER BY id")][-2:]
    conn.close()
    assert repair(path).ok
    rows = _quarantined(path)
    assert [row.reason.split(":")[0] for row in rows] == [f"row {first}", f"row {second}"]
    assert f"row {second}" not in rows[0].reason and f"row {first}" not in rows[1].reason


def test_counts_of_one_are_singular(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    doc: Doc[Any] = Doc()
    updates: list[bytes] = []
    doc.observe(lambda event: updates.append(event.update))
    doc.get("text", type=Text).insert(0, "x")
    store = Store(path)
    store.append([("notes", updates[0])])
    store.db.execute("INSERT INTO updates (name, data, created_at) VALUES ('notes', x'ff', 0)")
    store.close()
    checked = check(path).render()
    assert "log: 2 updates" in checked and "update row 2 (1 byte): " in checked, checked
    repaired = repair(path).render()
    assert "quarantined 1 row of 'notes'" in repaired, repaired
    assert "'notes' update, 1 byte: row 2" in repaired and "1 row in quarantine" in repaired
    assert "log: 1 update," in check(path).render()
