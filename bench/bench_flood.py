"""Flooding: one client floods `rtmock serve` with valid events while a correct client plays
`get_your_info` beside it; and the cost of one audio append at a session's start vs deep into it.

    python bench/bench_flood.py [--flood 50000] [--appends 30000]

1. Fairness: the parallel client's p50/p99 (client event sent → the server's answer to it) with
   the server idle, then while a raw client (a subprocess) sends `--flood` input_audio_buffer.append
   frames as fast as the socket takes them. Target: flood p99 within 5x idle p99.
2. Per-append cost, through `SessionCore` and the `Judge` in this process (no socket): 40 ms
   appends, the median cost of a block of 200 at the start vs after `--appends` (30,000 is 20
   minutes of 40 ms audio). Target: a ratio near 1 (independent of the session's length).

Exits non-zero when a session fails, the flood ends before a parallel session completed beside it,
or the flood client fails.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import SEED, TOOLS, BenchFailed, percentile, play_get_your_info, serve

APPEND = json.dumps({"type": "input_audio_buffer.append", "audio": base64.b64encode(bytes(1920)).decode()})


async def flood(url: str, count: int) -> None:
    """The flooding client (run in its own process): `count` appends, never reading."""
    async with aiohttp.ClientSession() as http, http.ws_connect(url, headers={"Authorization": "Bearer flood"},
                                                                 max_msg_size=0) as ws:
        for _ in range(count):
            await ws.send_str(APPEND)
        await ws.send_str(json.dumps({"type": "session.update", "session": {"type": "realtime"}}))
        while True:  # the answer to the last frame: the server has handled the whole flood
            msg = await ws.receive(timeout=600)
            if msg.type is not aiohttp.WSMsgType.TEXT:
                raise ConnectionError(f"flood: the server ended the session: {msg.type.name}")
            if json.loads(msg.data)["type"] == "session.updated":
                return


async def sessions(url: str, count: int, latencies: list[float], *, stop: asyncio.Future[Any] | None = None) -> int:
    """Play `count` correct sessions in a row (until `stop` is done); returns how many completed."""
    done = 0
    async with aiohttp.ClientSession() as http:
        for _ in range(count):
            if stop is not None and stop.done():
                break
            mine: list[float] = []
            await play_get_your_info(http, url, mine, timeout=30.0)
            if stop is not None and stop.done():
                break  # this one ended after the flood: not measured under it
            latencies.extend(mine)
            done += 1
    return done


async def fairness(flood_count: int) -> tuple[list[float], list[float], int, float]:
    with serve([SEED]) as (url, _proc):
        await sessions(url, 3, [])  # warm-up: imports and first-use caches, not measured
        idle: list[float] = []
        await sessions(url, 60, idle)
        started = time.perf_counter()
        flooder = await asyncio.create_subprocess_exec(sys.executable, __file__, "--flood-client", url,
                                                       "--flood", str(flood_count))
        ended = asyncio.ensure_future(flooder.wait())
        loaded: list[float] = []
        completed = await sessions(url, 10_000, loaded, stop=ended)
        code = await asyncio.wait_for(ended, 600)
        took = time.perf_counter() - started
        if code != 0:
            raise BenchFailed(f"the flood client failed (exit {code})")
        return idle, loaded, completed, took


def append_cost(appends: int, block: int = 200, blocks: int = 5) -> tuple[float, float]:
    """Median seconds per append over `blocks` blocks at the start, and after `appends` appends."""
    from rtmock.harness.judging.judge import Judge
    from rtmock.mockserver.core.events import Dialect, IdSource
    from rtmock.mockserver.core.records import Record
    from rtmock.mockserver.core.session import SessionCore
    from rtmock.mockserver.scenario.loader import load_scenario

    judge = Judge(default_within=5.0)
    moment: list[Record] = []  # the records of one core call, judged together as LiveJudge.records does
    core = SessionCore(load_scenario(SEED), Dialect.GA, moment.append, ids=IdSource(1))

    def judged(actions: object) -> None:
        for record in moment:
            judge.feed(record)
        judge.settle()
        moment.clear()

    judged(core.start(0.0))
    judged(core.receive(json.dumps({"type": "session.update", "session": {"type": "realtime", "tools": TOOLS}}), 0.0))
    now = 0.0

    def timed() -> float:
        nonlocal now
        costs = []
        for _ in range(blocks):
            t = time.perf_counter()
            for _ in range(block):
                now += 0.04
                judged(core.receive(APPEND, now))
            costs.append((time.perf_counter() - t) / block)
        return statistics.median(costs)

    first = timed()
    for _ in range(appends):
        now += 0.04
        judged(core.receive(APPEND, now))
    return first, timed()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--flood", type=int, default=50_000)
    parser.add_argument("--appends", type=int, default=30_000)
    parser.add_argument("--flood-client", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.flood_client:
        asyncio.run(flood(args.flood_client, args.flood))
        return 0
    first, last = append_cost(args.appends)  # first: no server process competes for the CPU
    try:
        idle, loaded, completed, took = asyncio.run(fairness(args.flood))
    except (BenchFailed, aiohttp.ClientError, ConnectionError, TimeoutError) as exc:  # a session failed: no figure
        print(f"FAILED: {type(exc).__name__}: {exc}", flush=True)
        return 1
    if not completed:
        print(f"FAILED: no parallel session completed during the flood ({took:.1f}s)")
        return 1
    idle50, idle99 = percentile(idle, 0.5) * 1000, percentile(idle, 0.99) * 1000
    load50, load99 = percentile(loaded, 0.5) * 1000, percentile(loaded, 0.99) * 1000
    print(f"flood of {args.flood} appends took {took:.1f}s; {completed} parallel sessions completed beside it")
    print(f"parallel client idle:  p50 {idle50:.2f} ms  p99 {idle99:.2f} ms  ({len(idle)} events)")
    print(f"parallel client flood: p50 {load50:.2f} ms  p99 {load99:.2f} ms  ({len(loaded)} events)")
    print(f"ratio flood/idle: p50 {load50 / idle50:.2f}x  p99 {load99 / idle99:.2f}x  (target p99 <= 5x)")
    print(f"per append: start {first * 1000:.3f} ms, after {args.appends} appends {last * 1000:.3f} ms, "
          f"ratio {last / first:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
