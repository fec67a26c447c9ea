"""Verdict latency and the fixed cost of `rtmock run`.

    python bench/bench_verdict_latency.py [--runs 9]

1. A client that never sends the final response.create: the time from that step's bound (the
   finding's time, on the session's clock) to the end of `run_scenario` (the verdict is known and
   the client stopped). Target < 100 ms.
2. The wall time of `rtmock run scenarios/get_your_info.yaml -- python bench/client_get_your_info.py`
   minus the same client's own wall time against an already running `rtmock serve`: what rtmock
   adds to a CI step (its start, the server, judging, stopping). Target < 300 ms on 2 cores.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, SEED, BenchFailed, rtmock_command, save_result, serve

from rtmock.harness.judging.findings import Rule
from rtmock.harness.runner import RunOptions, run_scenario
from rtmock.mockserver.scenario.loader import load_scenario

CLIENT = [sys.executable, str(Path(__file__).resolve().parent / "client_get_your_info.py")]


async def verdict_latency(runs: int) -> list[float]:
    scenario = load_scenario(SEED)
    out = []
    for _ in range(runs):
        result = await run_scenario(scenario, [*CLIENT, "--forget-create"], RunOptions(tls=False))
        ended = asyncio.get_running_loop().time()
        if result.internal_errors:
            raise BenchFailed(f"rtmock run had an internal error (a bug in rtmock): {result.internal_errors[0]}")
        finding = next((f for f in result.findings if f.rule is Rule.MISSING_RESPONSE_CREATE), None)
        if finding is None or finding.time is None or not result.sessions:
            raise BenchFailed("the client that forgets its response.create was not found missing it: "
                              + "; ".join(str(f) for f in result.findings[:3]))
        info = result.sessions[0][0]
        if info.core is None:
            raise BenchFailed("the session kept no core: its start time is unknown")
        bound = info.core.started + finding.time
        out.append(ended - bound)
    return out


def wall(command: list[str], env: dict[str, str] | None = None) -> float:
    began = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    took = time.perf_counter() - began
    if done.returncode != 0:
        raise BenchFailed(f"{command} exited {done.returncode}: {done.stdout[-500:]} {done.stderr[-500:]}")
    return took


def run_overhead(runs: int) -> tuple[float, float, float]:
    """Medians of the full run, of the bare client, and of their difference; the two are
    interleaved, pair by pair, so that both see the same machine load."""
    rtmock_run = [*rtmock_command(), "run", str(SEED), "--", *CLIENT]
    full, bare = [], []
    with serve([SEED]) as (url, _proc):
        env = {**os.environ, "RTMOCK_URL": url}
        wall(CLIENT, env)  # warm-up (page cache)
        wall(rtmock_run)
        for _ in range(runs):
            bare.append(wall(CLIENT, env))
            full.append(wall(rtmock_run))
    differences = [f - b for f, b in zip(full, bare, strict=True)]
    return statistics.median(full), statistics.median(bare), statistics.median(differences)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    command = f"python bench/bench_verdict_latency.py --runs {args.runs}"
    try:
        latencies = [x * 1000 for x in asyncio.run(verdict_latency(args.runs))]
        full, bare, overhead = run_overhead(args.runs)
    except (BenchFailed, subprocess.TimeoutExpired) as exc:
        print(f"FAILED: {exc}", flush=True)
        return 1
    save_result("verdict_latency", [
        ("bound → verdict, median / max (ms; target < 100)", f"{statistics.median(latencies):.0f} / {max(latencies):.0f}", command),
        ("`rtmock run` seed scenario, wall (ms, median)", f"{full * 1000:.0f}", command),
        ("bare client against `rtmock serve`, wall (ms, median)", f"{bare * 1000:.0f}", command),
        ("overhead of `rtmock run` (ms, median of paired differences; target < 300)", f"{overhead * 1000:.0f}", command),
    ])
    return 0


if __name__ == "__main__":
    sys.exit(main())
