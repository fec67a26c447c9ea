"""Fuzzing throughput: cases per second of `rtmock fuzz` on get_your_info against
examples/fuzz_robust_client.py (every case passes, so every case is generated, run and judged).

    python bench/bench_fuzz.py [--cases 200] [--fresh-cases 30] [--stream-cases 150]

Measured in the same run, so the ratios hold on any machine:
- reuse: the client loops on RTMOCK_FUZZ=1 and one process plays every case (the default);
- no reuse (`--no-reuse`): a fresh process per case, spares started ahead so spawns overlap;
- in-process: a coroutine client, no process at all (the harness's own ceiling);
- Hypothesis alone: how fast the payload strategy generates cases with no client (its ceiling);
- spawn: the wall time of `python -c "import aiohttp, asyncio, json"` (what a fresh process costs).
The rate excludes the first, baseline case (the first client start).

Stream fuzzing (`rtmock fuzz --stream`) of the official clients written correctly, in-process
(tests/test_fuzz_stream_clients.py): the `openai` SDK's GA realtime client and an openai-agents
realtime session, each on get_your_info and parallel_calls, `--stream-cases` each. Every case must
pass (a failure is a false alarm, and stops the bench). A stream case takes the pauses and paced
deltas it draws (up to 0.25 s each), so its rate is that of the service's timing, not of rtmock.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import statistics
import subprocess
import sys
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from _common import SEED, TOOLS, BenchFailed, save_result

from rtmock.harness.fuzzing._cases import FUZZ_DONE_REASON, fuzz_targets
from rtmock.harness.fuzzing._search import inputs_strategy
from rtmock.harness.fuzzing._stream import StreamResult
from rtmock.harness.fuzzing.fuzz import FuzzOptions, FuzzResult, fuzz
from rtmock.mockserver.scenario.loader import load_scenario

ROOT = Path(__file__).resolve().parent.parent
ROBUST = [sys.executable, str(ROOT / "examples" / "fuzz_robust_client.py")]
sys.path.insert(0, str(ROOT / "tests"))


def passing(result: FuzzResult | StreamResult, what: str) -> None:
    """Every case must pass: a failure is a false alarm (or a broken client), and no rate."""
    if not result.passed:
        raise BenchFailed(f"{what}: not every case passed:\n{result.explain()}")


def rate(result: FuzzResult) -> float:
    """Cases per second after the baseline case (which includes the first client's start)."""
    baseline = result.baseline.duration if result.baseline else 0.0
    return result.cases / max(1e-9, result.duration - baseline)


async def in_process_client(url: str) -> None:
    async with aiohttp.ClientSession() as http:
        while True:
            async with http.ws_connect(url, headers={"Authorization": "Bearer bench"}, max_msg_size=0) as ws:
                await ws.send_json({"type": "session.update", "session": {"type": "realtime", "tools": TOOLS}})
                answered = False
                while True:
                    message = await ws.receive()
                    if message.type is not aiohttp.WSMsgType.TEXT:
                        break
                    event = json.loads(message.data)
                    if event["type"] == "session.updated":
                        await ws.send_json({"type": "response.create"})
                    elif event["type"] == "response.function_call_arguments.done":
                        await ws.send_json({"type": "conversation.item.create", "item": {
                            "type": "function_call_output", "call_id": event["call_id"], "output": "{}"}})
                        answered = True
                    elif event["type"] == "response.done" and answered:
                        await ws.send_json({"type": "response.create"})
                        answered = False
            if message.extra == FUZZ_DONE_REASON:
                return


async def stream_rows(cases: int) -> list[tuple[str, str, str]]:
    """Stream fuzzing of the official clients: `cases` per client and scenario, all passing."""
    from test_fuzz_stream_clients import agents_client, sdk_client

    from rtmock.harness.fuzzing._stream import fuzz_stream

    # openai-agents logs an error for each event type it cannot validate (the unknown ones the cases
    # add), then ignores the event, as a client must: quiet here, the verdict is what counts
    logging.getLogger("openai.agents").setLevel(logging.CRITICAL)
    rows = []
    for label, client in (("openai SDK (GA realtime)", sdk_client), ("openai-agents realtime", agents_client)):
        passed = 0
        seconds = 0.0
        for name in ("get_your_info", "parallel_calls"):
            result = await fuzz_stream(load_scenario(ROOT / "scenarios" / f"{name}.yaml"), client,
                                       FuzzOptions(cases=cases, seed=1, tls=False))
            passing(result, f"stream fuzzing, {label}, {name}")
            passed += result.cases
            seconds += result.duration - (result.baseline.duration if result.baseline else 0.0)
        rows.append((f"stream cases passed, {label}, get_your_info + parallel_calls",
                     f"{passed} of {passed}, {passed / seconds:.1f} cases/s", "python bench/bench_fuzz.py"))
    return rows


def generation_rate(cases: int) -> float:
    from hypothesis import HealthCheck, given, seed, settings

    strategy = inputs_strategy(fuzz_targets(load_scenario(SEED)))

    @settings(max_examples=cases, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @seed(1)
    @given(strategy)
    def draw(_: object) -> None:
        pass

    started = time.perf_counter()
    draw()
    return cases / (time.perf_counter() - started)


def spawn_seconds(runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import aiohttp, asyncio, json"], check=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", type=int, default=200)
    parser.add_argument("--fresh-cases", type=int, default=30, help="cases for the process-per-case mode")
    parser.add_argument("--stream-cases", type=int, default=150,
                        help="stream cases per official client and scenario (0: none)")
    args = parser.parse_args()
    scenario = load_scenario(SEED)
    try:
        reuse = await fuzz(scenario, ROBUST, FuzzOptions(cases=args.cases, seed=1))
        passing(reuse, "client reused")
        fresh = await fuzz(scenario, ROBUST, FuzzOptions(cases=args.fresh_cases, seed=1, reuse=False))
        passing(fresh, "a fresh process per case")
        in_process = await fuzz(scenario, in_process_client, FuzzOptions(cases=args.cases, seed=1))
        passing(in_process, "in-process client")
        generation = generation_rate(args.cases)
        spawn = spawn_seconds()
        stream = await stream_rows(args.stream_cases) if args.stream_cases else []
    except (BenchFailed, subprocess.CalledProcessError) as exc:
        print(f"FAILED: {exc}", flush=True)
        return 1
    command = "python bench/bench_fuzz.py"
    cli = "rtmock fuzz scenarios/get_your_info.yaml --cases 200 --seed 1"
    save_result("fuzz", [
        ("cases/s, client reused (RTMOCK_FUZZ=1 loop)", f"{rate(reuse):.1f} ({reuse.clients_started} process)",
         f"{cli} -- python examples/fuzz_robust_client.py"),
        ("cases/s, a fresh process per case", f"{rate(fresh):.1f} ({fresh.clients_started} processes)",
         f"{cli} --no-reuse -- python examples/fuzz_robust_client.py"),
        ("cases/s, in-process coroutine client", f"{rate(in_process):.1f}", command),
        ("cases/s, Hypothesis generation alone", f"{generation:.1f}", command),
        ("reuse vs fresh process", f"×{rate(reuse) / rate(fresh):.1f}", command),
        ("python start with aiohttp imported (median of 5)", f"{spawn * 1000:.0f} ms", command),
        *stream,
    ])
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
