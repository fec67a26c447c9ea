"""Memory of a long-running `rtmock serve`: flat over many sessions, and big frames not kept.

Plays `--sessions` whole get_your_info sessions (20 at a time) against one `rtmock serve`, reading the
server's RSS after each tenth of them; then 20 clients each send two frames of `--big-mb` MB (a
session.update with that much instructions) and leave, and the RSS is read again. Reports the RSS
at the first tenth, at the end, their ratio, and the growth the big frames left behind.

    python bench/bench_memory.py                       # 20,000 sessions, 15 MB frames
    python bench/bench_memory.py --sessions 2000       # quicker

Exits 1, with no figure, when any session fails.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

import aiohttp
from _common import SEED, play_get_your_info, rss_kib, save_result, serve


async def sessions(url: str, count: int, concurrency: int = 20) -> None:
    queue = iter(range(count))
    async with aiohttp.ClientSession() as http:
        async def worker() -> None:
            for _ in queue:
                await play_get_your_info(http, url)
        await asyncio.gather(*(worker() for _ in range(concurrency)))


async def big_frames(url: str, megabytes: float, clients: int = 20) -> None:
    text = "x" * int(megabytes * 1_000_000)
    async with aiohttp.ClientSession() as http:
        async def one() -> None:
            async with http.ws_connect(url, headers={"Authorization": "Bearer bench"}, max_msg_size=0) as ws:
                await ws.receive()  # session.created
                for _ in range(2):
                    await ws.send_str(json.dumps({"type": "session.update",
                                                  "session": {"type": "realtime", "instructions": text}}))
                    while json.loads((await ws.receive()).data)["type"] not in ("session.updated", "error"):
                        pass
        await asyncio.gather(*(one() for _ in range(clients)))


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=20_000)
    parser.add_argument("--big-mb", type=float, default=15.0)
    args = parser.parse_args()
    step = max(1, args.sessions // 10)
    samples: list[tuple[int, int]] = []
    try:
        with serve([SEED], "--log-level", "quiet") as (url, proc):
            for done in range(step, args.sessions + 1, step):
                await sessions(url, step)
                samples.append((done, rss_kib(proc.pid)))
                print(f"  {done:>7,} sessions: RSS {samples[-1][1] / 1024:,.1f} MiB", flush=True)
            before = rss_kib(proc.pid)
            await big_frames(url, args.big_mb)
            await sessions(url, 100)  # let the server settle after the big frames
            after = rss_kib(proc.pid)
    except Exception as exc:  # a failed session, or the server's internal error (BenchFailed): no figure
        print(f"FAILED: {type(exc).__name__}: {exc}", flush=True)
        return 1
    first, last = samples[0][1], samples[-1][1]
    print(f"RSS after {samples[0][0]:,} sessions {first / 1024:,.1f} MiB, after {samples[-1][0]:,} "
          f"{last / 1024:,.1f} MiB: ratio {last / first:.2f}x")
    print(f"40 frames of {args.big_mb:g} MB from 20 clients left {max(0, after - before) / 1024:,.1f} MiB behind")
    save_result("memory", [
        ("serve RSS, last tenth / first tenth of the sessions", f"{last / first:.2f}x ({first // 1024} → {last // 1024} MiB, "
         f"{args.sessions:,} sessions)", "python bench/bench_memory.py"),
        ("RSS left by 40 big frames", f"{max(0, after - before) // 1024} MiB", "python bench/bench_memory.py"),
    ])
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
