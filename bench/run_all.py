"""Run every benchmark, each in its own process and bounded in time, then write bench/results.md
(one table: metric, value, the command that reproduces it) and print it.

    python bench/run_all.py [--quick]

`--quick` uses small counts (a smoke run, not figures for the README). A benchmark fails when it exits
non-zero or runs over its time limit (each one exits non-zero when any of its runs fails); its figures,
if it saved any, are left out of the table, it is listed as failed, and run_all exits 1.
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
BENCHMARKS: list[tuple[str, list[str], list[str], int]] = [
    ("bench_streaming.py", [], ["--chunks", "2000", "--rounds", "1"], 600),
    ("bench_concurrency.py", [], ["--sessions", "50"], 600),
    ("bench_verdict_latency.py", [], ["--runs", "2"], 600),
    ("bench_suite_scaling.py", [], ["--runs", "10"], 1800),
    ("bench_fuzz.py", [], ["--cases", "50", "--fresh-cases", "10"], 600),
    ("bench_sessions.py", [], ["--sessions", "30", "--rounds", "1", "--runs", "1"], 900),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    RESULTS_JSON.unlink(missing_ok=True)
    failed = []
    for script, full, quick, limit in BENCHMARKS:
        print(f"== {script}", flush=True)
        before = _saved()
        try:
            done = subprocess.run([sys.executable, str(BENCH / script), *(quick if args.quick else full)],
                                  timeout=limit, cwd=BENCH.parent)
            why = None if done.returncode == 0 else f"exit {done.returncode}"
        except subprocess.TimeoutExpired:
            why = f"over {limit}s"
        if why is not None:
            failed.append(f"{script} ({why})")
            _forget(set(_saved()) - set(before))  # figures from a failed benchmark are not figures
            print(f"== {script}: FAILED ({why})", flush=True)
    data = _saved()
    lines = ["| benchmark | metric | value | command |", "|---|---|---|---|"]
    for name, rows in data.items():
        for metric, value, command in rows:
            lines.append(f"| {name} | {metric} | {value} | `{command}` |")
    if failed:
        lines.append("")
        lines.append("FAILED (no figures from these): " + ", ".join(failed))
    table = "\n".join(lines) + "\n"
    RESULTS_MD.write_text(table)
    print(table)
    return 1 if failed else 0


def _saved() -> dict[str, list[list[str]]]:
    """What the benchmarks saved so far, by benchmark name (see _common.save_result)."""
    try:
        return dict(json.loads(RESULTS_JSON.read_text()))
    except (FileNotFoundError, ValueError):
        return {}


def _forget(names: set[str]) -> None:
    if names:
        data = _saved()
        RESULTS_JSON.write_text(json.dumps({k: v for k, v in data.items() if k not in names}, indent=1))


if __name__ == "__main__":
    sys.exit(main())
