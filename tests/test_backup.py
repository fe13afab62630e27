"""Tests for collab.backup (export/import against a database file) and Store's covers_until.

Everything here runs in-process on real SQLite files in ``tmp_path``; the CLI is driven through
``collab.cli.main``. Exports and imports against a running server are in
``tests/e2e/test_export_cli.py``.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import sqlite3
import stat
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pycrdt import (
    Array,
    Doc,
    Map,
    Text,
    XmlElement,
    XmlFragment,
    XmlText,
    merge_updates,
)
from sqlite_utils import Database

from collab import export
from collab.backup import database, files
from collab.backup.errors import BackupError
from collab.backup.fresh import fresh_copy
from collab.backup.moments import iso, parse_moment
from collab.backup.states import clients, same_document
from collab.cli import main
from collab.names import InvalidName, validate_name
from collab.stores.sqlite import Store, migrations
from tests.helpers.traces import DATA

GOLDEN = Path(__file__).parent / "golden"
TIPTAP = (GOLDEN / "tiptap_doc.bin").read_bytes()
YJS_ROOTS = (GOLDEN / "yjs_roots.bin").read_bytes()
TRACE = DATA / "friendsforever_flat.json.gz"


def text_update(text: str, doc: Doc[Any] | None = None) -> bytes:
    doc = doc or Doc()
    doc.get("text", type=Text).insert(0, text)
    return doc.get_update()


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """``collab ARGV`` in-process: (exit status, stdout, stderr)."""
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("collab: ")
    return lines[0]


def set_times(db_path: Path, name: str, times: list[float]) -> None:
    """Give the document's log rows (in id order) these ``created_at`` values, as if they had
    been written then."""
    with sqlite3.connect(db_path) as conn:
        ids = [
            r[0] for r in conn.execute("SELECT id FROM updates WHERE name = ? ORDER BY id", [name])
        ]
        assert len(ids) == len(times)
        conn.executemany(
            "UPDATE updates SET created_at = ? WHERE id = ?", list(zip(times, ids, strict=True))
        )
        conn.execute("UPDATE documents SET created_at = ? WHERE name = ?", [min(times), name])


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "collab.db"


def stored(path: Path, batch: list[tuple[str, bytes]]) -> None:
    """Append ``batch`` to the database at ``path`` and close it again."""
    store = Store(path)
    store.append(batch)
    store.close()


# -- file names, atomic writes, times -----------------------------------------------------------


def test_file_names_are_safe_and_reversible() -> None:
    taken: set[str] = set()
    cases = {
        "team/notes v2": "team%2Fnotes%20v2.yjs",
        "100% done": "100%25%20done.yjs",
        ".hidden": "%2Ehidden.yjs",
        "CON": "%43ON.yjs",
        "nul.txt": "%6Eul.txt.yjs",
        "Grüße": "Gr%C3%BC%C3%9Fe.yjs",
        'a:b*c?<d>|e"f\\g': "a%3Ab%2Ac%3F%3Cd%3E%7Ce%22f%5Cg.yjs",
    }
    for name, expected in cases.items():
        got = files.file_name(name, "yjs", taken)
        assert got == expected
        assert unquote(got.removesuffix(".yjs")) == name


def test_file_names_of_case_twins_and_long_names_get_a_hash() -> None:
    taken = {"manifest.json"}
    assert files.file_name("Notes", "md", taken) == "Notes.md"
    twin = files.file_name("notes", "md", taken)
    assert twin.startswith("notes~") and twin.endswith(".md") and twin.casefold() != "notes.md"
    assert files.file_name("manifest", "json", taken).startswith("manifest~")
    long = files.file_name("é" * 120, "yjs", taken)  # 240 bytes, 720 once encoded
    assert len(long.encode()) <= 255 and "~" in long
    assert len(taken) == 5


@given(st.text(min_size=1, max_size=60))
def test_every_valid_name_has_a_distinct_safe_file(name: str) -> None:
    try:
        validate_name(name)
    except InvalidName:
        return
    taken: set[str] = set()
    got = files.file_name(name, "txt", taken)
    assert "/" not in got and "\\" not in got and not got.startswith(".")
    assert all(ch.isascii() and ch.isprintable() and ch not in ' :*?"<>|' for ch in got)
    assert len(got.encode()) <= 255
    if "~" not in got:
        assert unquote(got.removesuffix(".txt")) == name
    other = files.file_name(name + "x", "txt", taken)
    assert other != got


def test_write_atomic_writes_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "out.md"
    files.write_atomic(target, b"one")
    files.write_atomic(target, b"two")
    assert target.read_bytes() == b"two"
    assert [p.name for p in tmp_path.iterdir()] == ["out.md"]
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~_umask()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_write_atomic_failure_keeps_the_old_file_and_no_part(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "out.md"
    target.write_bytes(b"old")

    def disk_full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(BackupError, match="No space left"):
        files.write_atomic(target, b"new content")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.md"]


def test_write_atomic_errors(tmp_path: Path) -> None:
    with pytest.raises(BackupError, match="No such file or directory"):
        files.write_atomic(tmp_path / "missing" / "x", b"")
    with pytest.raises(BackupError, match="is a directory"):
        files.write_atomic(tmp_path, b"")
    (tmp_path / "file").write_text("")
    with pytest.raises(BackupError, match="Not a directory"):
        files.write_atomic(tmp_path / "file" / "x", b"")


def test_parse_moment() -> None:
    assert parse_moment("1700000000") == 1700000000.0
    assert parse_moment("1700000000.25") == 1700000000.25
    assert parse_moment("2023-11-14T22:13:20Z") == 1700000000.0
    assert parse_moment("2023-11-14T23:13:20+01:00") == 1700000000.0
    assert parse_moment("2023-11-14T22:13:20.500Z") == 1700000000.5
    assert iso(1700000000.5) == "2023-11-14T22:13:20.500Z"
    for bad in ("yesterday", "nan", "2023-13-01", ""):
        with pytest.raises(BackupError) as info:
            parse_moment(bad)
        assert info.value.status == 2


# -- Store.compact records what its snapshot covers ----------------------------------------------


def test_compaction_records_the_newest_update_it_merged(db_path: Path) -> None:
    store = Store(db_path)
    doc: Doc[Any] = Doc()
    text = doc.get("text", type=Text)
    for word in ("a", "b", "c"):
        before = doc.get_state()
        text.insert(len(text), word)
        store.append([("d", doc.get_update(before))])
    set_times(db_path, "d", [100.0, 200.0, 300.0])
    store.compact("d")
    row = store.db.execute("SELECT covers_until, created_at FROM snapshots").fetchone()
    assert row[0] == 300.0 and row[1] > 300.0
    before = doc.get_state()
    text.insert(0, "z")
    store.append([("d", doc.get_update(before))])
    store.db.execute("UPDATE updates SET created_at = 250.0 WHERE name = 'd'")
    store.db.conn.commit()
    store.compact("d")  # an older row than the snapshot's newest: the maximum stays
    assert store.db.execute("SELECT covers_until FROM snapshots").fetchone()[0] == 300.0
    store.close()


# -- export from a database file -----------------------------------------------------------------


def test_export_from_the_database_equals_the_merged_state(
    db_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    more = text_update("more")
    store = Store(db_path)
    store.append([("team/doc", TIPTAP), ("roots", YJS_ROOTS)])
    store.compact("roots")
    store.append([("roots", more)])
    store.close()
    status, out, _ = run(capsys, "export", "team/doc", "--db", str(db_path), "--format", "markdown")
    assert status == 0
    assert out == (GOLDEN / "tiptap_doc.md").read_text(encoding="utf-8")
    out_file = tmp_path / "roots.yjs"
    assert run(capsys, "export", "roots", "--db", str(db_path), "--out", str(out_file))[0] == 0
    assert same_document(out_file.read_bytes(), merge_updates(YJS_ROOTS, more))
    assert "more" in export.to_json(out_file.read_bytes())["text"]


def test_format_follows_the_out_extension(
    db_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stored(db_path, [("d", TIPTAP)])
    for suffix, golden in (("md", "tiptap_doc.md"), ("txt", "tiptap_doc.txt")):
        out = tmp_path / f"d.{suffix}"
        assert run(capsys, "export", "d", "--db", str(db_path), "--out", str(out))[0] == 0
        assert out.read_text(encoding="utf-8") == (GOLDEN / golden).read_text(encoding="utf-8")
    page = tmp_path / "d.html"
    assert run(capsys, "export", "d", "--db", str(db_path), "--out", str(page))[0] == 0
    html = page.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and "<title>Title &amp; &lt;html&gt; *stars*</title>"
    assert (GOLDEN / "tiptap_doc.html").read_text(encoding="utf-8").strip() in html


def test_a_real_editing_trace_exports_as_its_final_text_and_earlier_states(
    db_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """friendsforever_flat, one log row per transaction (26,078), compacted twice on the way;
    ``--at`` rebuilds the text after any transaction the snapshot does not cover."""
    with gzip.open(TRACE, "rt", encoding="utf-8") as f:
        trace = json.load(f)
    txns = trace["txns"]
    store = Store(db_path)
    doc: Doc[Any] = Doc()
    text = doc.get("text", type=Text)
    updates: list[bytes] = []
    doc.observe(lambda event: updates.append(event.update))
    texts_at: dict[int, str] = {}
    for i, txn in enumerate(txns):
        with doc.transaction():
            for position, deleted, inserted in txn["patches"]:
                if deleted:
                    del text[position : position + deleted]
                if inserted:
                    text.insert(position, inserted)
        if i in (4_999, 19_999, 20_000, 25_000):
            texts_at[i] = str(text)
    assert str(text) == trace["endContent"]
    assert len(updates) == len(txns)
    t0 = 1_700_000_000.0  # transaction i was written at t0 + i seconds

    def stamp(first: int) -> None:
        """Date the rows just appended (consecutive ids) as transactions ``first`` on."""
        store.db.execute(
            "UPDATE updates SET created_at = ?1 + ?2 + id - (SELECT min(id) FROM updates"
            " WHERE created_at > ?3) WHERE created_at > ?3",
            [t0, first, t0 + len(txns)],
        )
        store.db.execute("UPDATE documents SET created_at = ? WHERE name = 'story'", [t0])

    for start in range(0, len(updates), 5_000):
        store.append([("story", u) for u in updates[start : start + 5_000]])
        stamp(start)
        if start in (5_000, 15_000):
            store.compact("story")  # merges transactions up to 9,999, then up to 19,999
    oldest = store.db.execute("SELECT min(created_at) FROM updates").fetchone()[0]
    assert oldest == t0 + 20_000
    store.close()

    out = tmp_path / "story.txt"
    assert run(capsys, "export", "story", "--db", str(db_path), "--out", str(out))[0] == 0
    assert out.read_text(encoding="utf-8") == trace["endContent"]

    def at(i: int) -> tuple[int, str, str]:
        return run(
            capsys, "export", "story", "--db", str(db_path), "--format", "text", "--at", str(t0 + i)
        )

    assert at(20_000)[1] == texts_at[20_000]
    assert at(25_000)[1] == texts_at[25_000]
    assert at(19_999)[1] == texts_at[19_999]  # exactly what the snapshot covers
    status, out_text, err = at(4_999)
    assert status == 3 and out_text == ""
    assert "was compacted into a snapshot" in one_line(err)
    assert iso(t0 + 19_999) in err
    status, _, err = at(-10)
    assert status == 3 and "did not exist yet" in one_line(err)


def test_export_keeps_updates_still_waiting_for_a_predecessor(
    db_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc: Doc[Any] = Doc()
    text = doc.get("text", type=Text)
    updates: list[bytes] = []
    doc.observe(lambda event: updates.append(event.update))
    for letter in "abc":
        text.insert(len(text), letter)
    stored(db_path, [("d", updates[0]), ("d", updates[2])])  # "b" never arrived
    out = tmp_path / "d.yjs"
    assert run(capsys, "export", "d", "--db", str(db_path), "--out", str(out))[0] == 0
    restored: Doc[Any] = Doc()
    restored.apply_update(out.read_bytes())
    assert str(restored.get("text", type=Text)) == "a"
    restored.apply_update(updates[1])  # the missing predecessor: "c" integrates too
    assert str(restored.get("text", type=Text)) == "abc"


def test_at_on_a_database_written_before_covers_until_uses_the_snapshot_time(
    db_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = Database(db_path)
    migrations.apply(db, stop_before="m003_snapshot_covers")
    update = text_update("old")
    db.execute("INSERT INTO documents VALUES ('d', 100.0, 300.0, ?, 1)", [len(update) + 2])
    db.execute("INSERT INTO snapshots VALUES ('d', ?, 200.0, 1)", [update])  # merged row 1
    db.execute(
        "INSERT INTO updates (id, name, data, created_at) VALUES (2, 'd', ?, 300.0)",
        [text_update("new ")],
    )
    db.conn.commit()
    db.close()
    status, _, err = run(
        capsys, "export", "d", "--db", str(db_path), "--format", "text", "--at", "150"
    )
    assert status == 3 and iso(200.0) in one_line(err)
    status, out, _ = run(
        capsys, "export", "d", "--db", str(db_path), "--format", "text", "--at", "250"
    )
    assert (status, out) == (0, "old")
    assert run(capsys, "export", "d", "--db", str(db_path), "--format", "text")[1] in (
        "new old",
        "oldnew ",
    )


def test_export_all_from_the_database_writes_files_and_a_manifest(
    db_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = Store(db_path)
    names = ["a/b", "A/b", "manifest", "100%", "日本"]
    store.append([(name, text_update(name)) for name in names])
    store.append([("empty", b"\x00\x00")])
    store.close()
    out = tmp_path / "backup"
    status, _, err = run(capsys, "export", "--all", "--db", str(db_path), "--out", str(out))
    assert status == 0 and "exported 6 documents" in err
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["format"] == "yjs" and manifest["source"] == str(db_path)
    listed = {doc["name"]: doc for doc in manifest["documents"]}
    assert sorted(listed) == sorted([*names, "empty"])
    for name, doc in listed.items():
        data = (out / doc["file"]).read_bytes()
        assert doc["size"] == len(data) and doc["sha256"] == hashlib.sha256(data).hexdigest()
        assert doc["updated_at"].endswith("Z")
        if name != "empty":
            assert export.export(data, "text") == name.encode()
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [doc["file"] for doc in listed.values()] + ["manifest.json"]
    )


def test_export_all_at_a_moment_skips_documents_created_later(
    db_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stored(db_path, [("old", text_update("old")), ("new", text_update("new"))])
    set_times(db_path, "old", [100.0])
    set_times(db_path, "new", [300.0])
    out = tmp_path / "then"
    status, _, err = run(
        capsys, "export", "--all", "--db", str(db_path), "--out", str(out), "--at", "200"
    )
    assert status == 0 and "exported 1 document " in err and "(1 skipped)" in err
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["at"] == iso(200.0)
    assert [d["name"] for d in manifest["documents"]] == ["old"]


def test_export_all_reports_a_document_it_cannot_convert_and_goes_on(
    db_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc: Doc[Any] = Doc()
    doc.get("default", type=Map)["not"] = "a fragment"
    stored(db_path, [("bad", doc.get_update()), ("good", TIPTAP)])
    out = tmp_path / "md"
    status, _, err = run(
        capsys, "export", "--all", "--db", str(db_path), "--out", str(out), "--format", "markdown"
    )
    assert status == 1
    assert "cannot export 'bad' as markdown" in err and "exported 1 document " in err
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert [d["name"] for d in manifest["documents"]] == ["good"]


# -- database errors -----------------------------------------------------------------------------


def test_unreadable_databases_are_one_line_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"not sqlite at all" * 200)
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.close()
    cases = {
        str(tmp_path / "missing.db"): "no database at",
        str(garbage): "file is not a database",
        str(other): "is not a collab database",
        str(tmp_path): "is not a database file",
    }
    for path, message in cases.items():
        status, out, err = run(capsys, "export", "d", "--db", path)
        assert status == 1 and out == ""
        assert message in one_line(err)


def test_unknown_document_in_the_database(
    db_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = Store(db_path)
    store.append([("gone", text_update("x"))])
    store.delete("gone")
    store.close()
    status, _, err = run(capsys, "export", "nope", "--db", str(db_path))
    assert status == 1 and "no document named 'nope'" in one_line(err)
    status, _, err = run(capsys, "export", "gone", "--db", str(db_path))
    assert status == 1 and "(deleted at " in one_line(err)


def test_a_locked_database_is_reported(
    db_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    Store(db_path).close()
    monkeypatch.setattr(database, "LOCK_TIMEOUT", 0.1)
    holder = sqlite3.connect(db_path, isolation_level=None)
    holder.execute("PRAGMA locking_mode=EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")
    try:
        status, _, err = run(capsys, "export", "d", "--db", str(db_path))
    finally:
        holder.execute("COMMIT")
        holder.close()
    assert status == 1 and "is locked" in one_line(err)


def test_reading_is_safe_while_a_writer_has_the_database_open(
    db_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = Store(db_path)  # like a running server: open, in WAL mode, writing
    store.append([("d", text_update("hello"))])
    status, out, _ = run(capsys, "export", "d", "--db", str(db_path), "--format", "text")
    assert (status, out) == (0, "hello")
    store.append([("d", text_update("more "))])
    assert "more" in run(capsys, "export", "d", "--db", str(db_path), "--format", "text")[1]
    store.close()


# -- import into a database file -----------------------------------------------------------------


def test_import_refuses_a_database_in_use(
    db_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    update_file = tmp_path / "d.yjs"
    update_file.write_bytes(text_update("x"))
    store = Store(db_path)
    try:
        status, _, err = run(capsys, "import", "d", str(update_file), "--db", str(db_path))
    finally:
        store.close()
    assert status == 1
    # One message, one piece of advice (not the server's "give this one another --db" too).
    assert one_line(err) == (
        f"collab: database {db_path} is in use by another process: stop it first, or import"
        " over HTTP with --server"
    )
    store = Store(db_path, lock=True)  # what `collab serve` holds
    try:
        status, _, err = run(capsys, "import", "d", str(update_file), "--db", str(db_path))
    finally:
        store.close()
    assert status == 1
    line = one_line(err)
    assert line.startswith(f"collab: database {db_path} is in use by another collab process (pid")
    assert line.endswith("): stop it first, or import over HTTP with --server"), line
    assert line.count("stop it") == 1 and "--db" not in line
    assert run(capsys, "import", "d", str(update_file), "--db", str(db_path))[0] == 0


def test_import_creates_refuses_replaces_and_clears_tombstones(
    db_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    original: Doc[Any] = Doc()
    v1 = text_update("version one", original)
    v1_file = tmp_path / "v1.yjs"
    v1_file.write_bytes(v1)
    db = str(db_path)

    assert run(capsys, "import", "d", str(v1_file), "--db", db)[0] == 0
    status, _, err = run(capsys, "import", "d", str(v1_file), "--db", db)
    assert status == 0 and "nothing to do" in err

    other = tmp_path / "other.yjs"
    other.write_bytes(text_update("something else"))
    status, _, err = run(capsys, "import", "d", str(other), "--db", db)
    assert status == 1 and "already exists" in one_line(err) and "--replace" in err
    assert run(capsys, "import", "d", str(other), "--db", db, "--replace")[0] == 0
    assert run(capsys, "export", "d", "--db", db, "--format", "text")[1] == "something else"
    # the content it replaced is kept as an automatic version
    store = Store(db_path)
    (before,) = store.list_versions("d")
    assert before.automatic and before.label == "before import --replace"
    version = run(
        capsys, "export", "d", "--db", db, "--format", "text", "--version", str(before.id)
    )
    assert version[1] == "version one"
    store.close()

    # deleted: the tombstone refuses the old content unless --replace clears it
    store = Store(db_path)
    assert store.delete("d")
    store.append([("d", b"\x00\x00")])  # recreated, still empty
    store.close()
    store = Store(db_path)
    assert store.load("d").tombstone is not None
    store.close()
    status, _, err = run(capsys, "import", "d", str(other), "--db", db)
    assert status == 1 and "tombstone" in one_line(err)
    status, _, err = run(capsys, "import", "d", str(other), "--db", db, "--replace")
    assert status == 0 and "cleared the tombstone" in err
    store = Store(db_path)
    assert store.load("d").tombstone is None
    assert store.load("d").updates == [other.read_bytes()]  # the file's exact bytes
    store.close()


def test_import_errors_are_one_line(
    db_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    junk = tmp_path / "junk.yjs"
    junk.write_bytes(b"\x00\x05garbage")
    cases = [
        (["import", "d", str(tmp_path / "missing.yjs"), "--db", str(db_path)], 1, "cannot read"),
        (["import", "d", str(junk), "--db", str(db_path)], 1, "is not a Yjs v1 update"),
        (["import", "a//b", str(junk), "--db", str(db_path)], 2, "bad document name"),
        (["import", "d", "--db", str(db_path)], 2, "give a document NAME and a FILE"),
        (["import", "--all", str(tmp_path), "--db", str(db_path)], 1, "manifest.json"),
        (["export", "--db", str(db_path)], 2, "give a document NAME or --all"),
        (["export", "--all", "--db", str(db_path)], 2, "--all needs --out DIR"),
        (["export", "d", "--at", "2020-01-01", "--version", "3"], 2, "not with --all or --at"),
        (["export", "d", "--db", str(db_path), "--at", "someday"], 2, "bad time"),
    ]
    for argv, expected_status, message in cases:
        status, _, err = run(capsys, *argv)
        assert status == expected_status, (argv, err)
        assert message in one_line(err), (argv, err)


def test_import_all_checks_every_file_before_writing_anything(
    db_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "source.db"
    store = Store(source)
    store.append([("a", text_update("a")), ("b", text_update("b")), ("c", TIPTAP)])
    store.close()
    out = tmp_path / "backup"
    assert run(capsys, "export", "--all", "--db", str(source), "--out", str(out))[0] == 0
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    damaged = out / manifest["documents"][1]["file"]
    good = damaged.read_bytes()
    damaged.write_bytes(good[:-1] + b"\x01")
    status, _, err = run(capsys, "import", "--all", str(out), "--db", str(db_path))
    assert status == 1 and "does not match manifest.json" in one_line(err)
    store = Store(db_path)
    assert store.count() == 0
    store.close()
    damaged.write_bytes(good)
    status, _, err = run(capsys, "import", "--all", str(out), "--db", str(db_path))
    assert status == 0 and "imported 3 documents" in err
    # exact bytes: exporting the new database gives the same files
    again = tmp_path / "again"
    assert run(capsys, "export", "--all", "--db", str(db_path), "--out", str(again))[0] == 0
    for doc in manifest["documents"]:
        assert (again / doc["file"]).read_bytes() == (out / doc["file"]).read_bytes()
    # a second import changes nothing; a conflicting one writes nothing
    status, _, err = run(capsys, "import", "--all", str(out), "--db", str(db_path))
    assert status == 0 and "(3 unchanged" in err
    store = Store(db_path)
    store.append([("b", text_update("edited"))])
    store.close()
    status, _, err = run(capsys, "import", "--all", str(out), "--db", str(db_path))
    assert status == 0 and "(3 unchanged" in err  # b already holds everything in the file
    other = Doc()
    store = Store(db_path)
    store.delete("a")
    store.append([("a", text_update("new a", other))])
    store.close()
    status, _, err = run(capsys, "import", "--all", str(out), "--db", str(db_path))
    assert status == 1 and "1 document(s) already exist" in one_line(err) and "'a'" in err
    # --replace makes every document equal to its file: a, and b (which had more edits)
    status, _, err = run(capsys, "import", "--all", str(out), "--db", str(db_path), "--replace")
    assert status == 0 and "(1 unchanged, 2 replaced)" in err
    for name in ("a", "b"):
        assert run(capsys, "export", name, "--db", str(db_path), "--format", "text")[1] == name


def test_import_all_refuses_an_export_in_another_format(
    db_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stored(db_path, [("a", TIPTAP)])
    out = tmp_path / "md"
    run(capsys, "export", "--all", "--db", str(db_path), "--out", str(out), "--format", "markdown")
    status, _, err = run(capsys, "import", "--all", str(out), "--db", str(tmp_path / "new.db"))
    assert status == 1 and "only --format yjs exports" in one_line(err)


# -- a fresh Yjs identity for the same content ---------------------------------------------------


@pytest.mark.parametrize("update", [TIPTAP, YJS_ROOTS], ids=["tiptap", "yjs-roots"])
def test_fresh_copy_has_the_same_content_and_no_shared_history(update: bytes) -> None:
    copy = fresh_copy(update)
    visible = {k: v for k, v in export.to_json(update).items() if v is not None}
    assert export.to_json(copy) == visible  # a root whose items were all deleted holds nothing
    for field, kind in export.root_types(copy).items():
        for fmt in ("markdown", "html", "text") if kind in ("text", "xml") else ():
            assert export.export(copy, fmt, field) == export.export(update, fmt, field)
    assert not clients(copy) & clients(update)
    assert not same_document(copy, update)


def test_fresh_copy_of_nested_types_formatting_and_embeds() -> None:
    doc: Doc[Any] = Doc()
    text = doc.get("text", type=Text)
    text.insert(0, "héllo 😀 ", {"bold": True})
    text.insert(len(text), "world")
    text.insert_embed(len(text), {"image": "x.png"})
    text.insert(len(text), "!")
    meta = doc.get("meta", type=Map)
    meta["nested"] = Map({"list": Array([1, "two", None])})
    meta["notes"] = Text("inner")
    array = doc.get("list", type=Array)
    array.append(Map({"k": "v"}))
    fragment = doc.get("default", type=XmlFragment)
    element = fragment.children.append(XmlElement("heading", {"level": 2}))
    run_ = element.children.append(XmlText())
    run_.insert(0, "Title", {"link": {"href": "https://example.com"}})
    update = doc.get_update()
    copy = fresh_copy(update)
    assert export.to_json(copy) == export.to_json(update)
    copied: Doc[Any] = Doc()
    copied.apply_update(copy)
    assert copied.get("text", type=Text).diff() == text.diff()
