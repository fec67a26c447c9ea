"""Run every benchmark, each in its own process and bounded in time, then write bench/results.md
(one table: metric, value, the command that reproduces it) and print it.

    python bench/run_all.py [--quick]

`--quick` uses small counts (a smoke run, not figures for the README). A benchmark fails when it exits
non-zero, runs over its time limit or saves no figure (each one exits non-zero when any of its runs
fails); of a failed one only its failure message is shown (its full output is kept in a file named
there). The benchmarks' own output is printed at the end, and only when every one passed: when any
failed, run_all prints no rate at all, but FAILED with the ones that did and why (results.md says the
same), and exits 1.

The profiling tools (profile_core.py, profile_sessions.py) are not benchmarks and are not run here.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
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
    ("bench_fuzz.py", [], ["--cases", "50", "--fresh-cases", "10", "--stream-cases", "10"], 900),
    ("bench_sessions.py", [], ["--sessions", "30", "--rounds", "1", "--runs", "1"], 900),
]

#: lines of a failed benchmark's output shown, from its failure message on
SHOWN_OF_A_FAILURE = 40


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    RESULTS_JSON.unlink(missing_ok=True)
    logs = Path(tempfile.mkdtemp(prefix="rtmock-bench-"))
    failed: list[str] = []
    outputs: list[str] = []
    for script, full, quick, limit in BENCHMARKS:
        print(f"== {script}", flush=True)
        before = _saved()
        log = logs / f"{Path(script).stem}.log"
        began = time.monotonic()
        why = _run(script, quick if args.quick else full, limit, log)
        added = set(_saved()) - set(before)
        if why is None and not added:
            why = "it saved no figure"
        if why is None:
            outputs.append(f"== {script}\n" + log.read_text(errors="replace"))
            print(f"== {script}: ok ({time.monotonic() - began:.0f}s); its output: {log}", flush=True)
            continue
        failed.append(f"{script} ({why})")
        _forget(added)  # figures from a failed benchmark are not figures
        print(_failure_message(log.read_text(errors="replace")), flush=True)
        print(f"== {script}: FAILED ({why}); its full output: {log}", flush=True)
    if failed:
        text = "FAILED: " + ", ".join(failed) + "\n"
        RESULTS_MD.write_text(text)
        print(text, end="", flush=True)
        return 1
    print("".join(outputs), end="", flush=True)
    lines = ["| benchmark | metric | value | command |", "|---|---|---|---|"]
    for name, rows in _saved().items():
        for metric, value, command in rows:
            lines.append(f"| {name} | {metric} | {value} | `{command}` |")
    table = "\n".join(lines) + "\n"
    RESULTS_MD.write_text(table)
    print(table)
    return 0


def _run(script: str, arguments: list[str], limit: int, log: Path) -> str | None:
    """Run one benchmark with its output (stdout and stderr) in `log`; why it failed, or None."""
    with open(log, "w") as out:
        try:
            done = subprocess.run([sys.executable, str(BENCH / script), *arguments], timeout=limit,
                                  cwd=BENCH.parent, stdout=out, stderr=subprocess.STDOUT)
        except subprocess.TimeoutExpired:
            return f"over {limit}s"
    return None if done.returncode == 0 else f"exit {done.returncode}"


def _failure_message(output: str) -> str:
    """What a failed benchmark said about its failure: its output from the first FAILED line or
    traceback on; never the lines before (they may hold figures of the runs that went through)."""
    lines = output.splitlines()
    start = next((at for at, line in enumerate(lines) if line.startswith(("FAILED", "Traceback"))), None)
    if start is None:
        return "(no failure message: its output is not shown, as it may hold figures)"
    shown = lines[start:start + SHOWN_OF_A_FAILURE]
    more = len(lines) - start - len(shown)
    return "\n".join(shown) + (f"\n… ({more} more lines)" if more > 0 else "")


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
