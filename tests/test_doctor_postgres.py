"""collab doctor on a PostgreSQL database: healthy passes, damage is found, the password and
an unreachable server are reported plainly."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from pycrdt import Doc, Text

from collab.cli import main
from collab.stores.postgres import PostgresStore
from collab.stores.postgres_doctor import inspect
from collab.stores.postgres_schema import SCHEMA_VERSION
from tests.helpers.postgres import PostgresServer, free_port


def make_db(dsn: str) -> None:
    doc: Doc[Any] = Doc()
    updates: list[bytes] = []
    doc.observe(lambda event: updates.append(event.update))
    text = doc.get("text", type=Text)
    for i in range(50):
        text.insert(len(text), f"line {i}\n")
    store = PostgresStore(dsn)
    store.append([("notes", u) for u in updates[:30]])
    store.compact("notes")
    store.append([("notes", u) for u in updates[30:]])
    store.close()


def test_a_healthy_database_passes_and_its_password_never_shows(
    postgres_dsn: str, postgres_server: PostgresServer
) -> None:
    make_db(postgres_dsn)
    summary, problems = inspect(postgres_dsn)
    assert problems == []
    assert "documents: 1" in summary and "snapshots: 1" in "\n".join(summary)
    assert "log: 20 updates" in "\n".join(summary)
    assert postgres_server.password not in "\n".join(summary)
    assert summary[0].startswith("database: postgresql://collab:****@127.0.0.1")


def test_orphans_counter_drift_and_undecodable_documents_are_found(postgres_dsn: str) -> None:
    make_db(postgres_dsn)
    with psycopg.connect(postgres_dsn) as conn:
        conn.execute("INSERT INTO updates (name, data, created_at) VALUES ('ghost', '\\x0000', 0)")
        conn.execute("UPDATE documents SET updates = updates - 1")
        conn.execute("INSERT INTO updates (name, data, created_at) VALUES ('notes', '\\xff01', 0)")
    _, problems = inspect(postgres_dsn)
    assert any("1 orphaned row in updates" in p for p in problems), problems
    assert any("records 19 updates" in p and "has 21" in p for p in problems), problems
    assert any("'notes' cannot be decoded" in p for p in problems), problems
    _, quick = inspect(postgres_dsn, decode=False)
    assert not any("decoded" in p for p in quick)


def test_a_database_collab_never_wrote_is_missing_its_tables(postgres_dsn: str) -> None:
    summary, problems = inspect(postgres_dsn)
    assert f"schema version: 0 (this release: {SCHEMA_VERSION})" in summary
    assert problems == ["missing tables: documents, snapshots, tombstones, updates"]


def test_an_unreachable_server_is_a_problem_without_the_password() -> None:
    _, problems = inspect(f"postgresql://u:topsecret9@127.0.0.1:{free_port()}/x")
    assert len(problems) == 1 and problems[0].startswith("cannot read postgresql://u:****@")
    assert "topsecret9" not in problems[0]


def test_collab_doctor_reads_the_database_from_collab_db(
    postgres_dsn: str,
    postgres_server: PostgresServer,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    make_db(postgres_dsn)
    monkeypatch.setenv("COLLAB_DB", postgres_dsn)
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert "documents: 1" in out and "no problems found" in out
    assert postgres_server.password not in out and "postgresql://collab:****@" in out
    assert main(["doctor", "--db", postgres_dsn.replace(postgres_server.password, "bad")]) == 1
    out = capsys.readouterr().out
    assert "PROBLEM: cannot read" in out and "password authentication failed" in out


def test_an_undecodable_row_is_named_and_the_suggested_repair_moves_it(
    postgres_dsn: str, capsys: pytest.CaptureFixture[str]
) -> None:
    make_db(postgres_dsn)
    with psycopg.connect(postgres_dsn) as conn:
        row = conn.execute("SELECT max(id) FROM updates").fetchone()
        assert row is not None
        conn.execute(  # the same size: the counters still agree
            "UPDATE updates SET data = decode(repeat('ff', length(data)), 'hex') WHERE id = %s",
            [row[0]],
        )
    _, problems = inspect(postgres_dsn)
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"document 'notes' cannot be decoded: update row {row[0]} (")
    assert "collab doctor --repair --db 'postgresql://collab:****@127.0.0.1" in problems[0]
    assert "(your password in place of ****)" in problems[0]
    assert main(["doctor", "--repair", "--db", postgres_dsn]) == 0  # not an SQLite file
    assert f"row {row[0]}: not a valid Yjs v1 update" in capsys.readouterr().out
    assert inspect(postgres_dsn)[1] == []


def test_restoring_a_row_that_still_does_not_decode_is_refused(
    postgres_dsn: str, capsys: pytest.CaptureFixture[str]
) -> None:
    make_db(postgres_dsn)
    with psycopg.connect(postgres_dsn) as conn:
        conn.execute(
            "INSERT INTO updates (name, data, created_at) VALUES ('notes', '\\x0102030405', 0)"
        )
    assert main(["doctor", "--repair", "--db", postgres_dsn]) == 0
    store = PostgresStore(postgres_dsn)
    (row,) = store.quarantined()
    store.close()
    capsys.readouterr()
    assert main(["doctor", "--repair", "--db", postgres_dsn, "--restore", str(row.id)]) == 1
    out = capsys.readouterr().out
    assert f"PROBLEM: quarantined row {row.id} of 'notes' still does not decode" in out, out
    store = PostgresStore(postgres_dsn)
    assert [r.id for r in store.quarantined()] == [row.id]
    store.close()
    assert inspect(postgres_dsn)[1] == []


def test_each_quarantined_row_gives_its_own_reason(postgres_dsn: str) -> None:
    make_db(postgres_dsn)
    with psycopg.connect(postgres_dsn) as conn:
        for data in ("\\x010203", "\\xffff"):
            conn.execute(
                "INSERT INTO updates (name, data, created_at) VALUES ('notes', %s, 0)", [data]
            )
        first, second = [r[0] for r in conn.execute("SELECT id FROM updates ORDER BY id")][-2:]
    assert main(["doctor", "--repair", "--db", postgres_dsn]) == 0
    store = PostgresStore(postgres_dsn)
    rows = store.quarantined()
    store.close()
    assert [row.reason.split(":")[0] for row in rows] == [f"row {first}", f"row {second}"]
