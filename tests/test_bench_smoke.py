"""The benchmark's machinery, end to end in seconds: tiny load, collab only, no peer installs.

It checks that every scenario produces its figures and the report is written; it never asserts
speed (the benchmark reports speed, tests do not).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.e2e
def test_bench_smoke_run(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    argv = [sys.executable, "-m", "bench.run", "--profile", "smoke", "--servers", "collab"]
    argv += ["--no-install", "--out", str(tmp_path)]
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        argv.append("--no-charts")
    done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-4000:]

    record = json.loads((tmp_path / "latest.json").read_text())
    assert record["machine"]["cores"]
    assert "collab" in record["versions"]
    errors = [
        (scenario, server, r["error"])
        for scenario, by_server in record["rounds_data"].items()
        for server, rounds in by_server.items()
        for r in rounds
        if "error" in r
    ]
    assert not errors, errors
    summary = record["summary"]
    expected = {
        "fanout": ["p50_ms", "p99_ms", "max_ms"],
        "saturation": ["updates_per_s_per_reader", "bytes_per_s_all_readers"],
        "many_rooms": ["cpu_percent", "rss_mib"],
        "ingest": ["ingest_updates_per_s", "ingest_s"],
        "late_join": ["warm_join_ms", "cold_join_ms"],
        "idle": ["kib_per_connection"],
        "observers": ["p50_ms", "p99_ms", "server_cpu_percent", "rss_mib"],
        "presence": ["aw_p50_ms", "aw_p95_ms", "aw_p99_ms", "bytes_sent_per_s"],
        "presence_fast": ["aw_p50_ms", "aw_p95_ms", "aw_p99_ms", "bytes_sent_per_s"],
        "join_storm": ["p50_s", "p99_s", "peak_rss_mib", "cold_p50_s", "cold_peak_rss_mib"],
        "doc_memory": [
            "x_size_1mb",
            "x_size_5mb",
            "x_size_20mb",
            "x_size_active",
            "x_size_idle",
        ],
        "paste_edits": ["server_cpu_s", "p50_ms", "p99_ms", "late_join_ms", "peak_rss_mib"],
    }
    for scenario, keys in expected.items():
        for key in keys:
            figure = summary[scenario]["collab"][key]
            assert figure is not None, (scenario, key)
            assert figure["min"] <= figure["median"] <= figure["max"]
    fanout = record["rounds_data"]["fanout"]["collab"][0]
    assert fanout["missing"] == 0 and fanout["samples"] > 0
    observers = record["rounds_data"]["observers"]["collab"][0]
    assert observers["missing"] == 0 and observers["samples"] > 0
    for scenario in ("presence", "presence_fast"):
        storm = record["rounds_data"][scenario]["collab"][0]
        assert storm["samples"] > 0 and storm["delivered_share"] == 1.0, storm
    joins = record["rounds_data"]["join_storm"]["collab"][0]
    assert joins["joined"] == record["parameters"]["join_storm"]["joiners"]
    paste = record["rounds_data"]["paste_edits"]["collab"][0]
    edits = record["parameters"]["paste_edits"]
    assert paste["missing"] == 0 and paste["samples"] == edits["edits"] * edits["readers"], paste
    assert paste["paste_bytes"] > edits["paste_mb"] * 2**20 and paste["peak_rss_mib"] > 0, paste
    assert "| (a) fan-out latency p99, ms |" in (tmp_path / "summary.md").read_text()
    assert "(f) idle memory per connection" in done.stdout
    assert "(j) memory per open document" in done.stdout
    assert "(k) edits inside a large paste" in done.stdout
    if "--no-charts" not in argv:
        assert (tmp_path / "latency.png").stat().st_size > 0
        assert (tmp_path / "summary.png").stat().st_size > 0
        assert (tmp_path / "field.png").stat().st_size > 0


def test_big_document_copies_are_the_trace_under_other_clients() -> None:
    """Copies of one client's update under other client ids integrate into one document
    holding every copy (the join storm's and memory scenario's documents)."""
    from pycrdt import Doc, Text

    from bench.bigdoc import copies
    from bench.yproto import decode_state_vector

    source: Doc = Doc(client_id=3)
    text = source.get("text", type=Text)
    for i in range(40):
        text.insert(len(text) // 2, f"w{i} ")
        if i % 7 == 6:
            del text[2:5]
    text.insert(len(text), "é🎉")
    base = source.get_update()
    clients = [10_000, 10_001, 2**31]
    doc: Doc = Doc()
    for update in copies(base, clients):
        doc.apply_update(update)
    state = decode_state_vector(doc.get_state())
    assert state == dict.fromkeys(clients, decode_state_vector(source.get_state())[3])
    assert len(str(doc.get("text", type=Text))) == 3 * len(str(text))


@pytest.mark.e2e
def test_bench_smoke_run_of_collab_on_postgres(tmp_path: Path) -> None:
    """The collab+postgres row: its own PostgreSQL server started and removed by the bench,
    figures beside collab's on SQLite."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    argv = [sys.executable, "-m", "bench.run", "--profile", "smoke"]
    argv += ["--servers", "collab,collab+postgres", "--scenarios", "fanout,ingest"]
    argv += ["--no-install", "--no-charts", "--out", str(tmp_path)]
    done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-4000:]
    record = json.loads((tmp_path / "latest.json").read_text())
    assert not record["errors"].get("fanout") and not record["errors"].get("ingest")
    summary = record["summary"]
    for scenario, key in [
        ("fanout", "p99_ms"),
        ("ingest", "ingest_updates_per_s"),
        ("late_join", "cold_join_ms"),
    ]:
        for server in ("collab", "collab+postgres"):
            assert summary[scenario][server][key] is not None, (scenario, server, key)
    header = (tmp_path / "summary.md").read_text().splitlines()[0]
    assert header.startswith("| scenario | collab | collab+postgres |")


def test_update_parser_matches_pycrdt() -> None:
    """The clock ranges the readers rely on agree with pycrdt, merged updates included."""
    from pycrdt import Doc, Text, merge_updates

    from bench.yproto import clock_ranges, decode_state_vector

    doc: Doc = Doc(client_id=7)
    text = doc.get("text", type=Text)
    updates: list[bytes] = []
    doc.observe(lambda event: updates.append(event.update))
    for i, chunk in enumerate(["héllo", " wörld", " 🎉 emoji", "\n", "x" * 300]):
        text.insert(len(text) if i % 2 else 0, chunk)
        if i == 2:
            del text[1:4]
    ends = [clock_ranges(u)[0][2] for u in updates if clock_ranges(u)]
    final = decode_state_vector(doc.get_state())[7]
    assert ends[-1] == final
    merged = merge_updates(*updates[1:])
    ((client, start, end),) = clock_ranges(merged)
    assert (client, start, end) == (7, clock_ranges(updates[1])[0][1], final)


def test_delete_set_parser_matches_pycrdt() -> None:
    """The deleted ranges (k)'s readers name deletions by agree with pycrdt, after structs."""
    from pycrdt import Doc, Text, merge_updates

    from bench.yproto import clock_ranges, delete_set

    doc: Doc = Doc(client_id=300)
    text = doc.get("text", type=Text)
    updates: list[bytes] = []
    doc.observe(lambda event: updates.append(event.update))
    text.insert(0, "hello world, " * 20)  # ASCII: pycrdt's indices are UTF-8 bytes
    del text[200:201]
    with doc.transaction():
        del text[3:9]
        text.insert(1, "🎉")
    assert delete_set(updates[0]) == []
    assert delete_set(updates[1]) == [(300, 200, 1)] and clock_ranges(updates[1]) == []
    assert delete_set(updates[2]) == [(300, 3, 6)] and clock_ranges(updates[2]) == [(300, 260, 262)]
    merged = delete_set(merge_updates(*updates))
    assert sorted(merged) == [(300, 3, 6), (300, 200, 1)]


@pytest.mark.e2e
def test_bench_smoke_run_of_the_floor(tmp_path: Path) -> None:
    """bench/floor.py's relays (bare, and with collab's integrator and SQLite commit) serve
    the fan-out and 300-rooms loads: every update reaches every reader."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    argv = [sys.executable, "-m", "bench.run", "--profile", "smoke", "--scenarios", "a,c"]
    argv += ["--servers", "floor,floor+integrator+sqlite"]
    argv += ["--no-install", "--no-charts", "--out", str(tmp_path)]
    done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-4000:]
    record = json.loads((tmp_path / "latest.json").read_text())
    assert not record["errors"].get("fanout") and not record["errors"].get("many_rooms")
    for server in ("floor", "floor+integrator+sqlite"):
        fanout = record["rounds_data"]["fanout"][server][0]
        assert fanout["missing"] == 0 and fanout["samples"] > 0, fanout
        rooms = record["rounds_data"]["many_rooms"][server][0]
        assert rooms["frames_received"] >= 2 * rooms["updates_sent"] > 0, rooms
