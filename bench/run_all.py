"""Run every benchmark, each in its own process and bounded in time, then write bench/results.md
(one table: metric, value, the command that reproduces it) and print it.

    python bench/run_all.py [--quick]

`--quick` uses small counts (a smoke run, not figures for the README).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
RESULTS_JSON = BENCH / "results.json"
RESULTS_MD = BENCH / "results.md"

#: (script, full arguments, quick arguments, time limit in seconds)
BENCHMARKS = [
    ("bench_streaming.py", [], ["--chunks", "2000", "--rounds", "1"], 600),
    ("bench_concurrency.py", [], ["--sessions", "50"], 600),
    ("bench_verdict_latency.py", [], ["--runs", "2"], 600),
    ("bench_suite_scaling.py", [], ["--runs", "10"], 1800),
    ("bench_fuzz.py", [], ["--cases", "50", "--fresh-cases", "10"], 600),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    RESULTS_JSON.unlink(missing_ok=True)
    failed = []
    for script, full, quick, limit in BENCHMARKS:
        print(f"== {script}", flush=True)
        try:
            done = subprocess.run([sys.executable, str(BENCH / script), *(quick if args.quick else full)],
                                  timeout=limit, cwd=BENCH.parent)
            if done.returncode != 0:
                failed.append(f"{script} (exit {done.returncode})")
        except subprocess.TimeoutExpired:
            failed.append(f"{script} (over {limit}s)")
    data = json.loads(RESULTS_JSON.read_text()) if RESULTS_JSON.exists() else {}
    lines = ["| benchmark | metric | value | command |", "|---|---|---|---|"]
    for name, rows in data.items():
        for metric, value, command in rows:
            lines.append(f"| {name} | {metric} | {value} | `{command}` |")
    if failed:
        lines.append("")
        lines.append("Failed: " + ", ".join(failed))
    table = "\n".join(lines) + "\n"
    RESULTS_MD.write_text(table)
    print(table)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
