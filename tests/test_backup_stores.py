"""``collab export`` / ``collab import`` with ``--db`` on both stores: the real editing traces
round-trip between SQLite and PostgreSQL byte for byte, ``--at`` reads history the same way,
an import waits for no server, and a PostgreSQL password never shows."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from pycrdt import Doc, Text

from collab.backup.moments import iso
from collab.stores import DocumentStore
from collab.stores.postgres import PostgresStore
from tests.helpers.postgres import PostgresServer
from tests.helpers.stores import STORES, Opener, database, opener
from tests.helpers.traces import DATA
from tests.test_backup import one_line, run, text_update

TRACES = ["friendsforever_flat", "automerge-paper", "seph-blog1"]
PREFIX = 20_000  # transactions of each trace (the whole of friendsforever_flat)


def trace_updates(name: str) -> tuple[list[bytes], str]:
    """The first :data:`PREFIX` transactions of trace ``name`` as 40 updates of one Yjs
    document (one per slice of transactions), and the text they give (replayed on a plain
    string, as the trace's format says)."""
    with gzip.open(DATA / f"{name}.json.gz", "rt", encoding="utf-8") as f:
        trace = json.load(f)
    txns = trace["txns"][:PREFIX]
    doc: Doc[Any] = Doc()
    text = doc.get("text", type=Text)
    updates: list[bytes] = []
    doc.observe(lambda event: updates.append(event.update))
    expected = trace["startContent"]
    if expected:
        text.insert(0, expected)
    step = len(txns) // 40 + 1
    for start in range(0, len(txns), step):
        with doc.transaction():
            for txn in txns[start : start + step]:
                for position, deleted, inserted in txn["patches"]:
                    if deleted:
                        del text[position : position + deleted]
                    if inserted:
                        text.insert(position, inserted)
                    expected = expected[:position] + inserted + expected[position + deleted :]
    assert str(text) == expected
    return updates, expected


@pytest.fixture(scope="module")
def traces() -> dict[str, tuple[list[bytes], str]]:
    return {name: trace_updates(name) for name in TRACES}


@pytest.fixture(params=STORES)
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def open_store(request: pytest.FixtureRequest, kind: str, tmp_path: Path) -> Iterator[Opener]:
    with opener(request, kind, tmp_path) as open_:
        yield open_


@pytest.mark.parametrize(
    ("source", "target"),
    [("sqlite", "postgres"), ("postgres", "sqlite"), ("postgres", "postgres")],
)
def test_the_real_traces_round_trip_between_the_stores(
    source: str,
    target: str,
    traces: dict[str, tuple[list[bytes], str]],
    request: pytest.FixtureRequest,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Stored with a compaction half-way (and a log after it), exported with --all, imported
    into an empty database of the other kind: the same files come out of it again."""
    with opener(request, source, tmp_path / "source") as open_source:
        store = open_source()
        for name, (updates, _) in traces.items():
            store.append([(name, u) for u in updates[:20]])
            store.compact(name)
            store.append([(name, u) for u in updates[20:]])
        store.close()
        source_db = open_source.db
        out = tmp_path / "backup"
        assert run(capsys, "export", "--all", "--db", source_db, "--out", str(out))[0] == 0
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    if source == "postgres":
        secret = request.getfixturevalue("postgres_server").password
        assert "****" in manifest["source"] and secret not in manifest["source"]
    target_db = database(request, target, tmp_path / "target")
    status, _, err = run(capsys, "import", "--all", str(out), "--db", target_db)
    assert status == 0 and f"imported {len(TRACES)} documents" in err, err
    for name, (_, text) in traces.items():
        status, exported, _ = run(capsys, "export", name, "--db", target_db, "--format", "text")
        assert status == 0 and exported == text
    again = tmp_path / "again"
    assert run(capsys, "export", "--all", "--db", target_db, "--out", str(again))[0] == 0
    for entry in manifest["documents"]:
        assert (again / entry["file"]).read_bytes() == (out / entry["file"]).read_bytes()


def set_times(store: DocumentStore, db: str, times: list[float]) -> None:
    """Date the log rows (in id order) ``times``, and the documents' creation the first."""
    if isinstance(store, PostgresStore):
        with psycopg.connect(db) as conn:
            ids = [r[0] for r in conn.execute("SELECT id FROM updates ORDER BY id")]
            for row_id, when in zip(ids, times, strict=True):
                conn.execute("UPDATE updates SET created_at = %s WHERE id = %s", [when, row_id])
            conn.execute("UPDATE documents SET created_at = %s", [times[0]])
        return
    db = store.db  # type: ignore[attr-defined]
    ids = [r[0] for r in db.execute("SELECT id FROM updates ORDER BY id").fetchall()]
    for row_id, when in zip(ids, times, strict=True):
        db.execute("UPDATE updates SET created_at = ? WHERE id = ?", [when, row_id])
    db.execute("UPDATE documents SET created_at = ?", [times[0]])


def test_export_at_a_moment_reads_the_history_compaction_left(
    open_store: Opener, capsys: pytest.CaptureFixture[str]
) -> None:
    doc: Doc[Any] = Doc()
    text = doc.get("text", type=Text)
    updates: list[bytes] = []
    doc.observe(lambda event: updates.append(event.update))
    for word in ("one ", "two ", "three ", "four"):
        text.insert(len(text), word)
    store = open_store()
    store.append([("d", u) for u in updates])
    set_times(store, open_store.db, [100.0, 200.0, 300.0, 400.0])
    store.close()
    db = open_store.db

    def at(moment: float) -> tuple[int, str, str]:
        return run(capsys, "export", "d", "--db", db, "--format", "text", "--at", str(moment))

    assert at(250)[1] == "one two "
    assert at(400)[1] == "one two three four"
    status, _, err = at(50)
    assert status == 3 and "did not exist yet" in one_line(err)
    store = open_store()
    store.compact("d")  # merges everything: the history before 400 is gone
    store.close()
    status, _, err = at(250)
    assert status == 3 and "was compacted into a snapshot" in one_line(err)
    assert iso(400.0) in err
    assert at(450)[1] == "one two three four"


def test_an_import_is_refused_while_a_server_serves_the_database(
    postgres_dsn: str, postgres_server: PostgresServer, tmp_path: Path, capsys: Any
) -> None:
    update_file = tmp_path / "d.yjs"
    update_file.write_bytes(text_update("x"))
    serving = PostgresStore(postgres_dsn, lock=True)  # what `collab serve` holds
    try:
        status, _, err = run(capsys, "import", "d", str(update_file), "--db", postgres_dsn)
    finally:
        serving.close()
    assert status == 1 and "in use by another collab process" in one_line(err)
    assert postgres_server.password not in err and "****" in err
    assert run(capsys, "import", "d", str(update_file), "--db", postgres_dsn)[0] == 0
    status, out, _ = run(capsys, "export", "d", "--db", postgres_dsn, "--format", "text")
    assert (status, out) == (0, "x")


def test_export_from_an_unreachable_or_empty_postgres_is_one_line_without_the_password(
    postgres_dsn: str, postgres_server: PostgresServer, capsys: Any
) -> None:
    status, _, err = run(capsys, "export", "d", "--db", postgres_dsn)
    assert status == 1 and "not a collab database" in one_line(err)
    unreachable = postgres_dsn.replace(str(postgres_server.port), "1")
    status, _, err = run(capsys, "export", "d", "--db", unreachable)
    assert status == 1 and "cannot open database postgresql://collab:****@" in one_line(err)
    assert postgres_server.password not in err
