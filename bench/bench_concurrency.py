"""Concurrency: one `rtmock serve` process holds N sessions of `get_your_info` at once, played by
a synthetic aiohttp client; every verdict must be PASS.

    python bench/bench_concurrency.py [--sessions 1000]

Reports p50/p99 of the time from a client event to the server's reply (session.update →
session.updated, response.create → response.created, conversation.item.create → its echo), and
the server's memory per session: its RSS with all N sessions open minus its RSS before, over N.
Verdicts are counted from `rtmock serve`'s per-session `ended: PASS` lines.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import SEED, TOOLS, BenchFailed, percentile, raise_fd_limit, rss_kib, save_result, serve


async def one_session(http: aiohttp.ClientSession, url: str, latencies: list[float], opened: asyncio.Event,
                      ready: list[int], total: int) -> None:
    async with asyncio.timeout(120), http.ws_connect(url, headers={"Authorization": "Bearer bench"}) as ws:

        async def until(*kinds: str) -> dict[str, Any]:
            while True:
                msg = await ws.receive()
                if msg.type is not aiohttp.WSMsgType.TEXT:
                    raise ConnectionError(f"the server ended the session: {msg.type.name}")
                event: dict[str, Any] = json.loads(msg.data)
                if event["type"] in kinds:
                    return event

        async def ask(event: dict[str, Any], *reply: str) -> dict[str, Any]:
            sent = time.perf_counter()
            await ws.send_str(json.dumps(event))
            got = await until(*reply)
            latencies.append(time.perf_counter() - sent)
            return got

        await until("session.created")
        await ask({"type": "session.update", "session": {"type": "realtime", "tools": TOOLS}}, "session.updated")
        ready[0] += 1
        if ready[0] == total:
            opened.set()
        await opened.wait()  # all N sessions are open at once here: the server's RSS is measured
        await ask({"type": "response.create"}, "response.created")
        done = await until("response.function_call_arguments.done")
        await until("response.done")
        output = {"type": "function_call_output", "call_id": done["call_id"], "output": '{"food": "pizza"}'}
        # as real clients do: the output and the response.create back to back (waiting for the
        # echo in between would let a loaded client miss the scenario's 3s bound)
        sent = time.perf_counter()
        await ws.send_str(json.dumps({"type": "conversation.item.create", "item": output}))
        await ws.send_str(json.dumps({"type": "response.create"}))
        await until("conversation.item.added")
        latencies.append(time.perf_counter() - sent)
        await until("response.created")
        latencies.append(time.perf_counter() - sent)
        await until("response.done")


async def measure(sessions: int) -> list[tuple[str, str, str]]:
    command = f"python bench/bench_concurrency.py --sessions {sessions}"
    raise_fd_limit(sessions * 2 + 256)
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "serve.log"
        with serve([SEED], stdout_path=log) as (url, proc):
            connector = aiohttp.TCPConnector(limit=0)
            async with aiohttp.ClientSession(connector=connector) as http:
                # warm the server (imports, first-session allocations) before the baseline RSS
                await asyncio.gather(*(one_session(http, url, [], asyncio.Event(), [0], 1) for _ in range(1)))
                before = rss_kib(proc.pid)
                latencies: list[float] = []
                opened, ready = asyncio.Event(), [0]
                started = time.perf_counter()
                tasks = [asyncio.ensure_future(one_session(http, url, latencies, opened, ready, sessions))
                         for _ in range(sessions)]
                async with asyncio.timeout(300):
                    await opened.wait()
                held = rss_kib(proc.pid)
                results = await asyncio.gather(*tasks, return_exceptions=True)
                wall = time.perf_counter() - started
            errors = [r for r in results if isinstance(r, BaseException)]
            if errors:
                raise BenchFailed(f"{len(errors)} of {sessions} client sessions failed; first: {errors[0]!r}")
            expected = sessions + 1
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:  # the server judges each session as its socket closes
                text = log.read_text()
                if len(re.findall(r"ended: (?:PASS|FAIL|ended)", text)) >= expected:
                    break
                await asyncio.sleep(0.1)
            passed = len(re.findall(r"ended: PASS", text))
            if passed != expected:
                failed = [line for line in text.splitlines() if "ended: FAIL" in line or line.startswith("    ")]
                raise BenchFailed(f"{passed} of {expected} sessions passed:\n" + "\n".join(failed[:20]))
    ms = [x * 1000 for x in latencies]
    return [
        ("concurrent sessions, verdicts PASS", f"{sessions} / {passed - 1}", command),
        ("reply latency p50 (ms)", f"{percentile(ms, 0.50):.1f}", command),
        ("reply latency p99 (ms)", f"{percentile(ms, 0.99):.1f}", command),
        ("server memory per session (KiB, RSS delta / N)", f"{(held - before) / sessions:.0f}", command),
        ("wall time for all sessions (s)", f"{wall:.1f}", command),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=1000)
    args = parser.parse_args()
    try:
        rows = asyncio.run(measure(args.sessions))
    except BenchFailed as exc:
        print(f"FAILED: {exc}", flush=True)
        return 1
    save_result("concurrency", rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
