"""One report from several runs of ``scripts/bench`` over different scenarios.

``python -m bench.combine OUT RUN_DIR...``: each run directory holds a ``latest.json``; the
scenarios of the runs must not overlap (say, 5 rounds of the cheap scenarios and 2 of the
expensive ones). Writes ``OUT/latest.json``, ``OUT/summary.md`` and the charts, and prints the
tables, as ``scripts/bench`` would have for one run.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from bench import report
from bench.run import collect_errors


def main(argv: list[str]) -> int:
    out, *runs = (Path(a) for a in argv)
    results: dict[str, dict[str, list[dict]]] = {}
    parameters: dict[str, Any] = {}
    records = []
    for run in runs:
        record = json.loads((run / "latest.json").read_text())
        records.append(record)
        for scenario, by_server in record["rounds_data"].items():
            if scenario in results:
                raise SystemExit(f"scenario {scenario} is in two runs")
            results[scenario] = by_server
        parameters.update(record["parameters"])
    data = report.build_summary(results)
    data["errors"] = collect_errors(results)
    data["rounds"] = results
    data["parameters"] = parameters
    markdown = report.markdown_summary(data)
    if cluster := report.cluster_summary(data):
        markdown += "\n\nCluster (two nodes on one Redis, the clients alternating):\n\n" + cluster
    out.mkdir(parents=True, exist_ok=True)
    combined = {
        "runs": [
            {k: r.get(k) for k in ("started", "finished", "rounds", "profile", "load_average")}
            for r in records
        ],
        "machine": records[0]["machine"],
        "versions": records[0]["versions"],
        "parameters": parameters,
        "summary": data["summary"],
        "ratios": data["ratios"],
        "errors": data["errors"],
        "rounds_data": results,
        "markdown": markdown,
    }
    (out / "latest.json").write_text(json.dumps(combined, indent=1))
    (out / "summary.md").write_text(markdown + "\n")
    charts = report.charts(data, results, out)
    print(report.scenario_tables(data))
    print()
    print(markdown)
    print("".join(f"\nchart: {c}" for c in charts))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
