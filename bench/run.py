"""The orchestrator behind ``scripts/bench``: every server, every scenario, several rounds.

For each round, for each scenario, the servers run one after the other in an order that rotates
every round: start on a free loopback port (fresh storage), run the load generator process
(:mod:`bench.load`) against it, stop it. Results go to ``bench/results/latest.json`` with
tables on the terminal, a Markdown summary and PNG charts.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import procstat, report
from bench.profiles import Profile, get_profile
from bench.servers import ROOT, SERVERS, Running, ServerSpec, install, versions

RESULTS = ROOT / "bench" / "results"

# Which scenarios each server runs (the peers' persistent variants only where storage matters).
CLUSTER = [name for name, spec in SERVERS.items() if spec.workers or spec.nodes]
# collab and Hocuspocus as 2 and 4 nodes
NODES = [name for name, spec in SERVERS.items() if spec.nodes]
# bench/floor.py's bare relays: what a Python server pays for the sockets (when named)
FLOOR = [name for name, spec in SERVERS.items() if spec.family == "floor"]
WHEN_NAMED = CLUSTER + FLOOR

SCENARIOS = {
    "fanout": [
        "collab",
        "collab+postgres",
        "collab-hocuspocus",
        "y-websocket",
        "hocuspocus",
        "pycrdt-websocket",
        *NODES,
        *FLOOR,
    ],
    # the cluster variants (1, 2, 4 collab processes on one port, readers spread over them)
    # run the saturation and 300-rooms loads when asked for: --servers collab,collab-cluster2
    "saturation": list(SERVERS),  # with the -2nodes and -4nodes servers when named
    "many_rooms": ["collab", "y-websocket", "hocuspocus", "pycrdt-websocket", *CLUSTER, *FLOOR],
    "ingest": [s for s in SERVERS if s not in WHEN_NAMED],  # also (e) late joiner
    "idle": ["collab", "y-websocket", "hocuspocus", "pycrdt-websocket"],
    "observers": ["collab", "y-websocket", "hocuspocus", "pycrdt-websocket"],
    "presence": ["collab", "y-websocket", "hocuspocus", "pycrdt-websocket"],
    "presence_fast": ["collab", "y-websocket", "hocuspocus", "pycrdt-websocket"],
    # warm, then cold after a restart: the peers with their storage on
    "join_storm": ["collab", "y-websocket+leveldb", "hocuspocus+sqlite", "pycrdt-websocket+sqlite"],
    "doc_memory": ["collab", "y-websocket", "hocuspocus", "pycrdt-websocket"],
    "paste_edits": [s for s in SERVERS if s not in WHEN_NAMED],  # peers with and without storage
}
ALIASES = {
    "a": "fanout",
    "b": "saturation",
    "c": "many_rooms",
    "rooms": "many_rooms",
    "d": "ingest",
    "e": "ingest",
    "late_join": "ingest",
    "late-join": "ingest",
    "f": "idle",
    "many-rooms": "many_rooms",
    "g": "observers",
    "h": "presence",
    "h'": "presence_fast",
    "h2": "presence_fast",
    "i": "join_storm",
    "join-storm": "join_storm",
    "j": "doc_memory",
    "memory": "doc_memory",
    "k": "paste_edits",
    "paste": "paste_edits",
}


def _log(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def machine() -> dict[str, Any]:
    info: dict[str, Any] = {
        "cpu_model": "?",
        "cores": os.cpu_count(),
        "kernel": platform.release(),
        "python": sys.version.split()[0],
    }
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu_model"] = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                info["ram_gib"] = round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return info


def load_average() -> list[float]:
    try:
        return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]
    except OSError:
        return []


def run_load(server: Running, scenario: str, profile: Profile, workdir: Path) -> dict[str, Any]:
    """Run the load generator process once; its JSON result (or an ``error``)."""
    out = workdir / f"{scenario}.json"
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    argv = [sys.executable, "-m", "bench.load", json.dumps(server.target()), scenario]
    argv += [profile.name, str(out)]
    try:
        subprocess.run(argv, env=env, cwd=ROOT, timeout=profile.deadline + 60, check=False)
    except subprocess.TimeoutExpired:
        return {"error": "the load generator did not finish in time"}
    try:
        result: dict[str, Any] = json.loads(out.read_text())
    except (OSError, ValueError):
        return {"error": "the load generator wrote no result"}
    if server.proc is not None and server.proc.poll() is not None:
        result.setdefault("error", f"the server exited with {server.proc.returncode}")
    return result


def _our_cpu() -> float:
    """CPU seconds of this process and every child it has waited for (servers, load runs)."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def run_one(
    spec: ServerSpec,
    scenario: str,
    profile: Profile,
    workdir: Path,
    logs: Path,
    profile_to: Path | None = None,
) -> dict[str, Any]:
    """Start ``spec`` on fresh storage, run ``scenario`` (ingest: then restart, cold join), stop."""
    workdir.mkdir(parents=True, exist_ok=True)
    server = Running(spec, workdir)
    try:
        server.start()
    except RuntimeError as exc:
        server.close()
        return {"error": str(exc).splitlines()[0]}
    result: dict[str, Any] = {}
    busy0, ours0, wall0 = procstat.machine_busy_seconds(), _our_cpu(), time.monotonic()
    spy = None
    if profile_to is not None and spec.family == "collab":
        from bench import pyspy

        spy = pyspy.attach(server.pid, profile_to)
    try:
        result = run_load(server, scenario, profile, workdir)
        if scenario == "ingest":
            if spec.persistent and "ingest_s" in result:
                result["settle_s"] = wait_idle(server, profile.ingest["settle_timeout"])
                server.stop()
                server.start()
                cold = run_load(server, "cold_join", profile, workdir)
                result["cold_join_ms"] = cold.get("cold_join_ms")
                if "error" in cold:
                    result["cold_error"] = cold["error"]
            elif not spec.persistent:
                result["cold_join_ms"] = None
                result["cold_note"] = "n/a: no persistence"
        if scenario == "join_storm" and spec.persistent and "p50_s" in result:
            result["settle_s"] = wait_idle(server, profile.join_storm["settle_timeout"])
            server.stop()
            server.start()
            cold = run_load(server, "join_storm_cold", profile, workdir)
            for key in ("p50_s", "p99_s", "max_s", "peak_rss_mib"):
                result[f"cold_{key}"] = cold.get(key)  # None when the cold storm failed
            if "error" in cold:
                result["cold_error"] = cold["error"]
        return result
    finally:
        code = server.stop()
        server.close()
        if spy is not None and profile_to is not None:
            from bench import pyspy

            try:
                spy.wait(30)
            except subprocess.TimeoutExpired:
                spy.kill()
            if profile_to.exists():
                summary = profile_to.with_suffix(".top.txt")
                summary.write_text(pyspy.summarize(profile_to))
        if code not in (0, None, -15, 143):
            _log(f"{spec.name} stopped with exit status {code} (log in {logs})")
        logs.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(OSError):
            shutil.copyfile(server.log_path, logs / f"{workdir.name}.log")
        # CPU that neither the server nor the load generator used: other work on the machine
        busy = procstat.machine_busy_seconds() - busy0
        wall = time.monotonic() - wall0
        result["external_cpu_percent"] = max(0.0, (busy - (_our_cpu() - ours0)) / wall * 100)


def wait_idle(server: Running, timeout: float, window: float = 0.5) -> float:
    """Wait until the server used under 2% CPU for ``window`` seconds: storage that writes in
    the background (LevelDB, debounced stores) has caught up. Returns the seconds waited."""
    pids = procstat.descendants(server.pid)
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        c0 = procstat.cpu_seconds(pids)
        time.sleep(window)
        if procstat.cpu_seconds(pids) - c0 < 0.02 * window:
            break
    return round(time.monotonic() - t0, 2)


def split_late_join(results: dict[str, dict[str, list[dict]]]) -> None:
    """(e) is measured within (d)'s server run; give it its own table."""
    if "ingest" not in results:
        return
    late: dict[str, list[dict]] = {}
    for server, rounds in results["ingest"].items():
        late[server] = [
            {
                "warm_join_ms": r.get("warm_join_ms"),
                "cold_join_ms": r.get("cold_join_ms"),
                **({"error": r["cold_error"]} if "cold_error" in r else {}),
                **({"error": r["warm_error"]} if "warm_error" in r else {}),
                **({"error": r["error"]} if "error" in r else {}),
            }
            for r in rounds
        ]
    results["late_join"] = late


def collect_errors(results: dict[str, dict[str, list[dict]]]) -> dict[str, dict[str, list[str]]]:
    errors: dict[str, dict[str, list[str]]] = {}
    for scenario, by_server in results.items():
        for server, rounds in by_server.items():
            for r in rounds:
                for key in ("error", "warning", "cold_error"):
                    if key in r:
                        errors.setdefault(scenario, {}).setdefault(server, []).append(r[key])
    return errors


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="scripts/bench",
        description="Benchmark collab against y-websocket-server, Hocuspocus and "
        "pycrdt-websocket, side by side on this machine.",
    )
    parser.add_argument("--rounds", type=int, help="rounds of every scenario (default 3)")
    parser.add_argument("--quick", action="store_true", help="a short run (1 round, shorter)")
    parser.add_argument(
        "--profile", choices=["full", "quick", "smoke"], help="scenario sizes (default full)"
    )
    parser.add_argument(
        "--servers",
        help="comma-separated servers (default all): " + ", ".join(SERVERS),
    )
    parser.add_argument(
        "--scenarios",
        help="comma-separated scenarios (default all): a/fanout, b/saturation, c/many_rooms, "
        "d/ingest (with e, late joiner), f/idle, g/observers, h/presence, h2/presence_fast, "
        "i/join_storm, j/doc_memory, k/paste_edits",
    )
    parser.add_argument("--out", type=Path, default=RESULTS, help="results folder")
    parser.add_argument("--no-install", action="store_true", help="do not install the peers")
    parser.add_argument("--no-charts", action="store_true", help="skip the PNG charts")
    parser.add_argument(
        "--py-spy",
        action="store_true",
        help="profile collab with py-spy during each scenario (slows it a little): "
        "collapsed stacks and a top list in the results folder",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    profile = get_profile(args.profile or ("quick" if args.quick else "full"))
    rounds = args.rounds or profile.rounds
    chosen = (
        [s.strip() for s in args.servers.split(",")]
        if args.servers
        else [s for s in SERVERS if s not in WHEN_NAMED]  # cluster and floor rows when named
    )
    unknown = [s for s in chosen if s not in SERVERS]
    if unknown:
        _log(f"unknown server(s): {', '.join(unknown)}")
        return 2
    scenarios: list[str] = []
    for name in args.scenarios.split(",") if args.scenarios else list(SCENARIOS):
        name = ALIASES.get(name.strip(), name.strip())
        if name not in SCENARIOS:
            _log(f"unknown scenario: {name}")
            return 2
        if name not in scenarios:
            scenarios.append(name)
    specs = [SERVERS[s] for s in chosen]
    if not args.no_install:
        install(specs)
    if args.py_spy:
        from bench import pyspy

        pyspy.install()
    _log("precomputing updates from the traces (cached in bench/peers/cache)")
    from bench import load

    load.writer_streams(profile)
    load.stream(profile.ingest_trace, client=1, limit=profile.ingest_limit)
    n_small = profile.many_rooms["rooms"] * profile.many_rooms["clients"]
    load.streams(
        profile.small_trace,
        [1000 + i for i in range(n_small)],
        limit=profile.many_rooms["updates_each"],
        fold=True,
    )

    if {"join_storm", "doc_memory"} & set(scenarios):
        from bench import bigdoc

        bigdoc.base_update(profile.ingest_trace, profile.ingest_limit)
    if "paste_edits" in scenarios:
        from bench import paste

        paste.of_profile(profile)

    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(out / "logs", ignore_errors=True)
    scratch = Path(tempfile.mkdtemp(prefix="collab-bench-"))
    started = time.time()
    record: dict[str, Any] = {
        "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "profile": profile.name,
        "rounds": rounds,
        "machine": machine(),
        "versions": versions(specs),
        "load_average": {"start": load_average()},
        "parameters": {
            "fanout": profile.fanout,
            "saturation": profile.saturation,
            "many_rooms": profile.many_rooms,
            "ingest": {
                **profile.ingest,
                "trace": profile.ingest_trace,
                "transactions": f"{profile.ingest_limit:,}" if profile.ingest_limit else "all",
            },
            "idle": profile.idle,
            "observers": profile.observers,
            "presence": profile.presence,
            "presence_fast": profile.presence_fast,
            "join_storm": {**profile.join_storm, "trace": profile.ingest_trace},
            "doc_memory": {**profile.doc_memory, "trace": profile.ingest_trace},
            "paste_edits": {**profile.paste_edits, "trace": profile.ingest_trace},
        },
    }
    results: dict[str, dict[str, list[dict]]] = {}
    try:
        for rnd in range(rounds):
            for scenario in scenarios:
                names = [s for s in SCENARIOS[scenario] if s in chosen]
                if not names:
                    continue
                shift = rnd % len(names)
                for name in names[shift:] + names[:shift]:
                    t0 = time.time()
                    workdir = scratch / f"r{rnd}-{scenario}-{name.replace('+', '-')}"
                    spy_out = None
                    if args.py_spy and SERVERS[name].family == "collab":  # its first node
                        which = "" if name == "collab" else f"-{name.replace('+', '-')}"
                        spy_out = out / f"pyspy-{scenario}{which}-r{rnd + 1}.txt"
                    result = run_one(
                        SERVERS[name], scenario, profile, workdir, out / "logs", spy_out
                    )
                    result["round"] = rnd
                    result["load_average"] = load_average()[0] if load_average() else None
                    results.setdefault(scenario, {}).setdefault(name, []).append(result)
                    brief = {
                        k: (round(v, 2) if isinstance(v, float) else v)
                        for k, v in result.items()
                        if k in {m.key for m in report.METRICS.get(scenario, [])}
                        or k
                        in (
                            "error",
                            "cold_error",
                            "warm_join_ms",
                            "cold_join_ms",
                            "external_cpu_percent",
                        )
                    }
                    _log(
                        f"round {rnd + 1}/{rounds} {scenario:<10} {name:<24} "
                        f"{time.time() - t0:5.1f}s {json.dumps(brief)}"
                    )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    split_late_join(results)
    order = ["fanout", "saturation", "many_rooms", "ingest", "late_join", "idle"]
    order += ["observers", "presence", "presence_fast", "join_storm", "doc_memory"]
    order += ["paste_edits"]
    results = {k: results[k] for k in order if k in results}
    data = report.build_summary(results)
    data["errors"] = collect_errors(results)
    data["rounds"] = results
    data["parameters"] = record["parameters"]
    record.update(
        finished=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        duration_s=round(time.time() - started, 1),
        summary=data["summary"],
        ratios=data["ratios"],
        errors=data["errors"],
        rounds_data=results,
    )
    record["load_average"]["end"] = load_average()
    tables = report.scenario_tables(data)
    markdown = report.markdown_summary(data)
    if cluster := report.cluster_summary(data):
        title = "Cluster (nodes on one Redis, the clients taking the nodes in turn):"
        markdown += f"\n\n{title}\n\n{cluster}"
    record["markdown"] = markdown
    (out / "latest.json").write_text(json.dumps(record, indent=1))
    (out / "summary.md").write_text(markdown + "\n")
    charts: list[Path] = []
    if not args.no_charts:
        try:
            charts = report.charts(data, results, out)
        except ImportError:
            _log("matplotlib is missing: no charts (pip install -e '.[bench]')")
    m = record["machine"]
    print(
        f"\ncollab benchmark, profile {profile.name}, {rounds} round(s), "
        f"{record['duration_s']:.0f} s; {m['cpu_model']}, {m['cores']} cores, "
        f"{m.get('ram_gib', '?')} GiB RAM; load average {record['load_average']}"
    )
    for family, v in record["versions"].items():
        print(f"  {family}: " + ", ".join(f"{k} {val}" for k, val in v.items()))
    print()
    print(tables)
    print("\nMarkdown summary (median of rounds):\n")
    print(markdown)
    print(f"\nresults: {out / 'latest.json'}" + "".join(f"\nchart: {c}" for c in charts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
