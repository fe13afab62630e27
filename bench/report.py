"""Summaries, tables (plain text and Markdown) and charts of a benchmark run."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    higher_is_better: bool
    scale: float = 1.0
    digits: int = 1


METRICS: dict[str, list[Metric]] = {
    "fanout": [
        Metric("p50_ms", "p50 ms", False, digits=2),
        Metric("p99_ms", "p99 ms", False, digits=2),
        Metric("max_ms", "max ms", False, digits=1),
        Metric("server_cpu_percent", "server CPU %", False),
        Metric("server_cpu_max_node_percent", "busiest node CPU %", False),
    ],
    "saturation": [
        Metric("updates_per_s_per_reader", "updates/s per reader", True, digits=0),
        Metric("bytes_per_s_all_readers", "MB/s into all readers", True, 1e-6, 2),
        Metric("server_cpu_percent", "server CPU %", False),
        Metric("server_cpu_max_node_percent", "busiest node CPU %", False),
    ],
    "many_rooms": [
        Metric("cpu_percent", "server CPU %", False),
        Metric("rss_mib", "server RSS MiB", False),
    ],
    "ingest": [
        Metric("ingest_updates_per_s", "updates/s", True, digits=0),
        Metric("ingest_s", "seconds", False, digits=2),
    ],
    "late_join": [
        Metric("warm_join_ms", "warm ms", False, digits=1),
        Metric("cold_join_ms", "cold ms", False, digits=0),
    ],
    "idle": [Metric("kib_per_connection", "KiB per connection", False)],
    "observers": [
        Metric("p50_ms", "p50 ms", False, digits=2),
        Metric("p99_ms", "p99 ms", False, digits=2),
        Metric("max_ms", "max ms", False, digits=1),
        Metric("server_cpu_percent", "server CPU %", False),
        Metric("rss_mib", "server RSS MiB", False),
    ],
    "presence": [
        Metric("aw_p50_ms", "p50 ms", False, digits=2),
        Metric("aw_p95_ms", "p95 ms", False, digits=2),
        Metric("aw_p99_ms", "p99 ms", False, digits=2),
        Metric("server_cpu_percent", "server CPU %", False),
        Metric("bytes_sent_per_s", "MB/s sent", False, 1e-6, 2),
    ],
    "presence_fast": [
        Metric("aw_p50_ms", "p50 ms", False, digits=2),
        Metric("aw_p95_ms", "p95 ms", False, digits=2),
        Metric("aw_p99_ms", "p99 ms", False, digits=2),
        Metric("server_cpu_percent", "server CPU %", False),
        Metric("bytes_sent_per_s", "MB/s sent", False, 1e-6, 2),
    ],
    "join_storm": [
        Metric("p50_s", "warm p50 s", False, digits=2),
        Metric("p99_s", "warm p99 s", False, digits=2),
        Metric("peak_rss_mib", "warm peak RSS MiB", False, digits=0),
        Metric("cold_p50_s", "cold p50 s", False, digits=2),
        Metric("cold_p99_s", "cold p99 s", False, digits=2),
        Metric("cold_peak_rss_mib", "cold peak RSS MiB", False, digits=0),
    ],
    "doc_memory": [
        Metric("x_size_1mb", "1 MB doc: RSS / size", False),
        Metric("x_size_5mb", "5 MB doc: RSS / size", False),
        Metric("x_size_20mb", "20 MB doc: RSS / size", False),
        Metric("mib_20mb", "20 MB doc: MiB", False, digits=0),
        Metric("x_size_active", "all 3 active: RSS / size", False),
        Metric("x_size_idle", "all 3 after idle: RSS / size", False),
    ],
    "paste_edits": [
        Metric("server_cpu_s", "server CPU s (edits)", False, digits=2),
        Metric("p50_ms", "p50 ms", False, digits=2),
        Metric("p99_ms", "p99 ms", False, digits=2),
        Metric("late_join_ms", "late joiner ms", False, digits=0),
        Metric("peak_rss_mib", "peak RSS MiB", False, digits=0),
    ],
}

TITLES = {
    "fanout": "(a) fan-out latency: 1 room, 1 writer at {rate:g} updates/s, {readers} readers",
    "saturation": "(b) saturation: 1 room, {writers} writers at full speed, {readers} readers",
    "many_rooms": "(c) {rooms} rooms x {clients} clients at a low rate: server CPU and RSS",
    "ingest": "(d) ingest of {trace} ({transactions} transactions) by one writer, until a fresh "
    "client has it all",
    "late_join": "(e) late joiner: fresh client until full text, warm and after a restart",
    "idle": "(f) idle memory per connection ({connections} idle connections)",
    "observers": "(g) observers: 1 writer at {rate:g} updates/s, {readers} readers",
    "presence": "(h) presence storm: {clients} clients, each moving its cursor {rate:g} times/s",
    "presence_fast": "(h') presence storm: {clients} clients, each moving its cursor {rate:g} "
    "times/s",
    "join_storm": "(i) join storm: {joiners} fresh clients at once on a {size_mb:g} MB document "
    "({trace} copies), warm and after a restart",
    "doc_memory": "(j) memory per open document: RSS growth / encoded size ({trace} copies)",
    "paste_edits": "(k) edits inside a large paste: {edits:,} one-character edits, one at a "
    "time, inside a {paste_mb:g} MB text pasted at once ({trace}'s text repeated)",
}


def title(scenario: str, parameters: dict[str, Any]) -> str:
    params = parameters.get("ingest" if scenario == "late_join" else scenario, {})
    try:
        return TITLES[scenario].format(**params)
    except (KeyError, IndexError, ValueError):
        return TITLES[scenario].split(":")[0]


PEERS = ["y-websocket", "hocuspocus", "pycrdt-websocket"]
FAMILIES = ["collab", "collab+postgres", *PEERS]
"""The README table's columns: collab on SQLite, collab on PostgreSQL, then the peers."""


def summarize(values: list[float | None]) -> dict[str, Any] | None:
    """Median, min and max of the rounds that produced a value."""
    got = [v for v in values if v is not None]
    if not got:
        return None
    return {"median": statistics.median(got), "min": min(got), "max": max(got), "n": len(got)}


def build_summary(results: dict[str, dict[str, list[dict]]]) -> dict[str, Any]:
    """``{scenario: {server: {metric: summary}}}`` and collab's ratios to each peer."""
    summary: dict[str, Any] = {}
    ratios: dict[str, Any] = {}
    for scenario, by_server in results.items():
        summary[scenario] = {}
        for server, rounds in by_server.items():
            summary[scenario][server] = {
                m.key: summarize([r.get(m.key) for r in rounds]) for m in METRICS[scenario]
            }
        collab = summary[scenario].get("collab")
        if collab is None:
            continue
        ratios[scenario] = {}
        for m in METRICS[scenario]:
            mine = collab.get(m.key)
            if not mine:
                continue
            for server, metrics in summary[scenario].items():
                theirs = metrics.get(m.key)
                if server == "collab" or not theirs or not theirs["median"]:
                    continue
                ratio = mine["median"] / theirs["median"]
                better = ratio > 1 if m.higher_is_better else ratio < 1
                ratios[scenario].setdefault(m.key, {})[server] = {
                    "collab_over_peer": ratio,
                    "collab_better": better,
                }
    return {"summary": summary, "ratios": ratios}


def fmt(value: float | None, metric: Metric) -> str:
    if value is None:
        return "n/a"
    v = value * metric.scale
    if metric.digits == 0:
        return f"{v:,.0f}"
    return f"{v:,.{metric.digits}f}"


def cell(
    s: dict[str, Any] | None, metric: Metric, spread: bool = True, failed: bool = False
) -> str:
    if not s:
        return "failed" if failed else "n/a"
    text = fmt(s["median"], metric)
    if spread and s["n"] > 1:
        text += f" ({fmt(s['min'], metric)}-{fmt(s['max'], metric)})"
    return text


def _x(ratio: float) -> str:
    """A ratio with two significant digits (0.0049x, 0.77x, 2.7x, 13x)."""
    return f"{ratio:.2f}x" if 0.1 <= ratio < 10 else f"{ratio:.2g}x"


def ratio_text(r: dict[str, Any] | None) -> str:
    if not r:
        return "-"
    return f"{_x(r['collab_over_peer'])} {'better' if r['collab_better'] else 'worse'}"


def _table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))
    out = [line, "  ".join("-" * w for w in widths)]
    out += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(out)


def scenario_tables(data: dict[str, Any]) -> str:
    """One text table per scenario: every server's median (min-max), collab's ratio to it."""
    parts = []
    summary, ratios = data["summary"], data["ratios"]
    errors = data.get("errors", {})
    for scenario, by_server in summary.items():
        metrics = METRICS[scenario]
        headers = ["server", *(m.label for m in metrics)]
        headers += [f"collab/peer {m.label}" for m in metrics]
        rows = []
        for server, values in by_server.items():
            bad = failed_metrics(data, scenario, server)
            row = [server, *(cell(values.get(m.key), m, failed=m.key in bad) for m in metrics)]
            for m in metrics:
                r = ratios.get(scenario, {}).get(m.key, {}).get(server)
                row.append("-" if server == "collab" else ratio_text(r))
            rows.append(row)
        parts.append(f"{title(scenario, data.get('parameters', {}))}\n{_table(headers, rows)}")
        for server, messages in errors.get(scenario, {}).items():
            parts.append(f"  note: {server}: " + "; ".join(sorted(set(messages))))
    return "\n\n".join(parts)


def failed_metrics(data: dict[str, Any], scenario: str, server: str) -> set[str]:
    """Figures of ``server`` that no round produced while some round reported an error."""
    rounds = data.get("rounds", {}).get(scenario, {}).get(server, [])
    if not any("error" in r or "cold_error" in r for r in rounds):
        return set()
    return {m.key for m in METRICS[scenario] if all(r.get(m.key) is None for r in rounds)}


def _pick(summary: dict[str, Any], scenario: str, server: str, key: str) -> dict | None:
    return summary.get(scenario, {}).get(server, {}).get(key)


ASIDES = {"bytes_per_s_all_readers", "bytes_sent_per_s"}
"""Figures shown in parentheses beside a row's, without a verdict: bytes delivered say how
much a server kept up, not that fewer is better."""


def _metric(scenario: str, key: str) -> Metric:
    return next(m for m in METRICS[scenario] if m.key == key)


def markdown_summary(data: dict[str, Any]) -> str:
    """The README table: one row per scenario, one column per server family."""
    summary = data["summary"]
    idle = data.get("parameters", {}).get("doc_memory", {}).get("idle", 0)

    def variant(family: str, persistent: bool) -> str:
        if family.startswith("collab"):
            return family
        suffix = {"y-websocket": "+leveldb", "hocuspocus": "+sqlite", "pycrdt-websocket": "+sqlite"}
        return family + (suffix[family] if persistent else "")

    specs = [
        ("(a) fan-out latency p99, ms", "fanout", [("p99_ms", False)]),
        ("(a) fan-out latency p50, ms", "fanout", [("p50_ms", False)]),
        (
            "(b) saturation: updates/s per reader (MB/s into all readers)",
            "saturation",
            [("updates_per_s_per_reader", False), ("bytes_per_s_all_readers", False)],
        ),
        (
            "(b') the same with the peers' persistence on",
            "saturation",
            [("updates_per_s_per_reader", True), ("bytes_per_s_all_readers", True)],
        ),
        (
            "(c) 300 rooms x 3 clients: server CPU % / RSS MiB",
            "many_rooms",
            [("cpu_percent", False), ("rss_mib", False)],
        ),
        (
            "(d) ingest of the trace, updates/s (peers without storage)",
            "ingest",
            [("ingest_updates_per_s", False)],
        ),
        ("(d') ingest, updates/s, peers with storage", "ingest", [("ingest_updates_per_s", True)]),
        (
            "(e) late joiner, full text: warm ms / cold ms (after restart)",
            "late_join",
            [("warm_join_ms", False), ("cold_join_ms", True)],
        ),
        ("(f) idle memory per connection, KiB", "idle", [("kib_per_connection", False)]),
        (
            "(g) 1,500 observers of 1 writer: delivery p50 / p99 ms",
            "observers",
            [("p50_ms", False), ("p99_ms", False)],
        ),
        (
            "(g) 1,500 observers: server CPU % / RSS MiB",
            "observers",
            [("server_cpu_percent", False), ("rss_mib", False)],
        ),
        (
            "(h) presence, 500 clients x 1 Hz: awareness p50 / p95 / p99 ms",
            "presence",
            [("aw_p50_ms", False), ("aw_p95_ms", False), ("aw_p99_ms", False)],
        ),
        (
            "(h) presence, 500 x 1 Hz: server CPU % / MB/s sent",
            "presence",
            [("server_cpu_percent", False), ("bytes_sent_per_s", False)],
        ),
        (
            "(h') presence, 200 clients x 10 Hz: awareness p50 / p95 / p99 ms",
            "presence_fast",
            [("aw_p50_ms", False), ("aw_p95_ms", False), ("aw_p99_ms", False)],
        ),
        (
            "(h') presence, 200 x 10 Hz: server CPU % / MB/s sent",
            "presence_fast",
            [("server_cpu_percent", False), ("bytes_sent_per_s", False)],
        ),
        (
            "(i) join storm, 150 clients on 20 MB, warm: p50 / p99 s / peak RSS MiB",
            "join_storm",
            [("p50_s", True), ("p99_s", True), ("peak_rss_mib", True)],
        ),
        (
            "(i) join storm after a restart (cold): p50 / p99 s / peak RSS MiB",
            "join_storm",
            [("cold_p50_s", True), ("cold_p99_s", True), ("cold_peak_rss_mib", True)],
        ),
        (
            "(j) RSS per open document / its encoded size: 1 / 5 / 20 MB",
            "doc_memory",
            [("x_size_1mb", False), ("x_size_5mb", False), ("x_size_20mb", False)],
        ),
        (
            f"(j) the three documents open: RSS / encoded size, active / after {idle:g} s idle",
            "doc_memory",
            [("x_size_active", False), ("x_size_idle", False)],
        ),
        (
            "(k) 2,000 edits inside a 3 MB paste: server CPU s / delivery p50 / p99 ms",
            "paste_edits",
            [("server_cpu_s", False), ("p50_ms", False), ("p99_ms", False)],
        ),
        (
            "(k') the same, peers with storage",
            "paste_edits",
            [("server_cpu_s", True), ("p50_ms", True), ("p99_ms", True)],
        ),
        (
            "(k) after the edits: late joiner ms / server peak RSS MiB",
            "paste_edits",
            [("late_join_ms", False), ("peak_rss_mib", False)],
        ),
        (
            "(k') the same, peers with storage",
            "paste_edits",
            [("late_join_ms", True), ("peak_rss_mib", True)],
        ),
    ]
    header = "| scenario | " + " | ".join(FAMILIES) + " | collab vs best peer |"
    lines = [header, "|---" * (len(FAMILIES) + 2) + "|"]
    for title, scenario, keys in specs:
        if scenario not in summary:
            continue
        cells = []
        for family in FAMILIES:
            parts = []
            for key, persistent in keys:
                name = variant(family, persistent)
                s = _pick(summary, scenario, name, key)
                bad = key in failed_metrics(data, scenario, name)
                metric = _metric(scenario, key)
                if key in ASIDES:
                    parts.append(f"({cell(s, metric, False, bad)})")
                else:
                    parts.append(cell(s, metric, False, bad))
            cells.append(" / ".join(parts).replace(" / (", " ("))
        # collab against the best peer, on each figure of the row (not the MB/s aside)
        verdicts = []
        for key, persistent in keys:
            if key in ASIDES:
                continue
            metric = _metric(scenario, key)
            mine = _pick(summary, scenario, "collab", key)
            peers = [_pick(summary, scenario, variant(f, persistent), key) for f in PEERS]
            peers = [p for p in peers if p]
            if mine and peers:
                best = (max if metric.higher_is_better else min)(p["median"] for p in peers)
                ratio = mine["median"] / best if best else float("inf")
                wins = ratio >= 1 if metric.higher_is_better else ratio <= 1
                verdicts.append(f"{_x(ratio)} ({'wins' if wins else 'loses'})")
        verdict = " / ".join(verdicts) or "-"
        lines.append(f"| {title} | " + " | ".join(cells) + f" | {verdict} |")
    return "\n".join(lines)


CLUSTER_COLUMNS = [
    ("collab", "collab, 1 process"),
    ("collab-2nodes", "collab, 2 nodes (--redis)"),
    ("collab-4nodes", "collab, 4 nodes (--redis)"),
    ("hocuspocus", "hocuspocus, 1 process"),
    ("hocuspocus-2nodes", "hocuspocus, 2 nodes (extension-redis)"),
    ("hocuspocus-4nodes", "hocuspocus, 4 nodes (extension-redis)"),
]
"""The cluster table's columns: each server alone, and as two and four nodes on one Redis
(a column appears when its server ran)."""

CLUSTER_SIZES = (2, 4)
"""The node counts compared in the cluster table's verdict columns (when both servers ran)."""


def cluster_summary(data: dict[str, Any]) -> str:
    """The README's cluster table (``""`` when no multi-node server ran): collab and
    Hocuspocus as one process and as several nodes sharing a Redis, the clients taking the
    nodes in turn, and collab's nodes against as many of Hocuspocus's."""
    summary = data["summary"]
    ran = {server for by_server in summary.values() for server in by_server}
    nodes = [f"{family}-{n}nodes" for n in CLUSTER_SIZES for family in ("collab", "hocuspocus")]
    if not ran & set(nodes):
        return ""
    columns = [(server, label) for server, label in CLUSTER_COLUMNS if server in ran]
    sizes = [n for n in CLUSTER_SIZES if {f"collab-{n}nodes", f"hocuspocus-{n}nodes"} <= ran]
    specs = [
        ("(a) fan-out latency p50 / p99, ms", "fanout", ["p50_ms", "p99_ms"]),
        (
            "(a) fan-out: server CPU %, all processes / busiest node",
            "fanout",
            ["server_cpu_percent", "server_cpu_max_node_percent"],
        ),
        (
            "(b) saturation: updates/s per reader (MB/s into all readers)",
            "saturation",
            ["updates_per_s_per_reader", "bytes_per_s_all_readers"],
        ),
        (
            "(b) saturation: server CPU %, all processes / busiest node",
            "saturation",
            ["server_cpu_percent", "server_cpu_max_node_percent"],
        ),
        (
            "(c) 300 rooms x 3 clients: server CPU % / RSS MiB",
            "many_rooms",
            ["cpu_percent", "rss_mib"],
        ),
    ]
    header = "| scenario | " + " | ".join(label for _, label in columns)
    verdict_labels = [f"collab vs hocuspocus, {n} nodes" for n in sizes]
    lines = [
        header + "".join(f" | {label}" for label in verdict_labels) + " |",
        "|---" * (len(columns) + len(sizes) + 1) + "|",
    ]
    for title, scenario, keys in specs:
        by_server = summary.get(scenario, {})
        if not any(server in by_server for server in nodes):
            continue
        cells = []
        for server, _ in columns:
            parts = []
            for key in keys:
                metric = _metric(scenario, key)
                s = _pick(summary, scenario, server, key)
                text = cell(s, metric, False, key in failed_metrics(data, scenario, server))
                parts.append(f"({text})" if key in ASIDES else text)
            cells.append(" / ".join(parts).replace(" / (", " ("))
        for n in sizes:
            verdicts = []
            for key in keys:
                if key in ASIDES:
                    continue
                metric = _metric(scenario, key)
                mine = _pick(summary, scenario, f"collab-{n}nodes", key)
                theirs = _pick(summary, scenario, f"hocuspocus-{n}nodes", key)
                if mine and theirs and theirs["median"]:
                    ratio = mine["median"] / theirs["median"]
                    wins = ratio >= 1 if metric.higher_is_better else ratio <= 1
                    verdicts.append(f"{_x(ratio)} ({'wins' if wins else 'loses'})")
            cells.append(" / ".join(verdicts) or "-")
        lines.append(f"| {title} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


# -- charts ------------------------------------------------------------------------------------


def charts(data: dict[str, Any], raw: dict[str, Any], out: Path) -> list[Path]:
    """PNG charts: latency distributions, throughput, and a six-panel summary."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written: list[Path] = []
    summary = data["summary"]
    colors = {
        "collab": "#d62728",
        "collab+postgres": "#ff7f0e",
        "y-websocket": "#1f77b4",
        "y-websocket+leveldb": "#aec7e8",
        "hocuspocus": "#2ca02c",
        "hocuspocus+sqlite": "#98df8a",
        "pycrdt-websocket": "#9467bd",
        "pycrdt-websocket+sqlite": "#c5b0d5",
    }

    fanout = raw.get("fanout", {})
    if fanout:
        fig, ax = plt.subplots(figsize=(8, 4.5))
        for server, rounds in fanout.items():
            values = sorted(v for r in rounds for v in r.get("quantiles_ms", []))
            if not values:
                continue
            last = max(1, len(values) - 1)
            ys = [100 * i / last for i in range(len(values))]
            ax.plot(values, ys, label=server, color=colors.get(server), linewidth=2)
        ax.set_xscale("log")
        ax.set_xlabel("delivery latency, ms (log scale)")
        ax.set_ylabel("percentile of deliveries")
        ax.set_title("(a) fan-out latency: 1 writer at 100 updates/s, 50 readers")
        ax.axhline(99, color="grey", linewidth=0.5, linestyle="--")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
        fig.tight_layout()
        path = out / "latency.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)

    def bars(ax: Any, scenario: str, metric: Metric, title: str, log: bool = False) -> None:
        servers = list(summary.get(scenario, {}))
        meds, lows, highs, names = [], [], [], []
        failed: list[int] = []
        for server in servers:
            s = summary[scenario][server].get(metric.key)
            if not s:
                if metric.key in failed_metrics(data, scenario, server):
                    failed.append(len(names))
                    names.append(server)
                    meds.append(0.0)
                    lows.append(0.0)
                    highs.append(0.0)
                continue
            names.append(server)
            meds.append(s["median"] * metric.scale)
            lows.append((s["median"] - s["min"]) * metric.scale)
            highs.append((s["max"] - s["median"]) * metric.scale)
        ax.bar(
            range(len(names)),
            meds,
            yerr=[lows, highs],
            capsize=3,
            color=[colors.get(n, "grey") for n in names],
        )
        ax.set_xticks(range(len(names)))
        ax.set_xticklabels(names, rotation=30, ha="right", fontsize=8)
        ax.set_title(title, fontsize=10)
        ax.grid(True, axis="y", alpha=0.3)
        for i, v in enumerate(meds):
            if i in failed:
                ax.annotate(
                    "failed",
                    (i, 0.02),
                    xycoords=("data", "axes fraction"),
                    ha="center",
                    fontsize=8,
                    color="black",
                )
            else:
                ax.annotate(
                    f"{v:,.{0 if v >= 100 else 1}f}", (i, v), ha="center", va="bottom", fontsize=7
                )
        positive = [v for v in meds if v > 0]
        if log and positive and min(positive) * 20 < max(positive):
            ax.set_yscale("log")

    if "saturation" in summary or "ingest" in summary:
        fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
        if "saturation" in summary:
            bars(
                axes[0],
                "saturation",
                METRICS["saturation"][0],
                "(b) saturation: updates/s delivered per reader (higher is better)",
            )
        if "ingest" in summary:
            bars(
                axes[1],
                "ingest",
                METRICS["ingest"][0],
                "(d) ingest: updates/s until a fresh client has it all (higher is better)",
            )
        fig.tight_layout()
        path = out / "throughput.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)

    panels = [
        ("fanout", METRICS["fanout"][1], "(a) fan-out p99 latency, ms"),
        ("saturation", METRICS["saturation"][0], "(b) saturation, updates/s per reader"),
        ("many_rooms", METRICS["many_rooms"][0], "(c) 300x3 rooms: server CPU %"),
        ("many_rooms", METRICS["many_rooms"][1], "(c) 300x3 rooms: server RSS MiB"),
        ("ingest", METRICS["ingest"][0], "(d) ingest, updates/s"),
        ("late_join", METRICS["late_join"][0], "(e) late joiner warm, ms"),
        ("late_join", METRICS["late_join"][1], "(e) late joiner cold, ms (log)"),
        ("idle", METRICS["idle"][0], "(f) idle KiB per connection"),
    ]
    panels = [p for p in panels if p[0] in summary]
    if panels:
        cols = 4
        rows = (len(panels) + cols - 1) // cols
        fig, axes = plt.subplots(rows, cols, figsize=(16, 4.2 * rows), squeeze=False)
        for ax, (scenario, metric, title) in zip(axes.flat, panels, strict=False):
            bars(ax, scenario, metric, title, log=metric.key == "cold_join_ms")
        for ax in list(axes.flat)[len(panels) :]:
            ax.axis("off")
        fig.suptitle(
            "collab vs peer servers (median of rounds, whiskers min-max; lower is "
            "better except throughput)",
            fontsize=11,
        )
        fig.tight_layout()
        path = out / "summary.png"
        fig.savefig(path, dpi=100)
        plt.close(fig)
        written.append(path)

    field = [
        ("observers", "p99_ms", "(g) 1,500 observers: p99 ms"),
        ("observers", "server_cpu_percent", "(g) 1,500 observers: server CPU %"),
        ("presence", "aw_p95_ms", "(h) presence 500 x 1 Hz: p95 ms"),
        ("presence", "server_cpu_percent", "(h) presence 500 x 1 Hz: server CPU %"),
        ("presence_fast", "aw_p95_ms", "(h') presence 200 x 10 Hz: p95 ms"),
        ("presence_fast", "server_cpu_percent", "(h') presence 200 x 10 Hz: CPU %"),
        ("join_storm", "p50_s", "(i) join storm warm: p50 s (log)"),
        ("join_storm", "cold_p50_s", "(i) join storm cold: p50 s (log)"),
        ("join_storm", "peak_rss_mib", "(i) join storm warm: peak RSS MiB (log)"),
        ("doc_memory", "x_size_20mb", "(j) 20 MB document: RSS / encoded size"),
        ("doc_memory", "x_size_idle", "(j) 3 open documents after idle: RSS / size"),
        ("paste_edits", "server_cpu_s", "(k) edits in a 3 MB paste: server CPU s"),
        ("paste_edits", "p99_ms", "(k) edits in a 3 MB paste: p99 ms (log)"),
        ("paste_edits", "late_join_ms", "(k) late joiner after them: ms (log)"),
    ]
    field = [p for p in field if p[0] in summary]
    if field:
        cols = 5
        rows = (len(field) + cols - 1) // cols
        fig, axes = plt.subplots(rows, cols, figsize=(20, 4.2 * rows), squeeze=False)
        for ax, (scenario, key, title) in zip(axes.flat, field, strict=False):
            bars(ax, scenario, _metric(scenario, key), title, log="(log)" in title)
        for ax in list(axes.flat)[len(field) :]:
            ax.axis("off")
        fig.suptitle(
            "where servers break: collab vs peer servers (median of rounds, whiskers min-max; "
            "lower is better)",
            fontsize=11,
        )
        fig.tight_layout()
        path = out / "field.png"
        fig.savefig(path, dpi=100)
        plt.close(fig)
        written.append(path)
    return written
