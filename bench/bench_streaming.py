"""Streaming: how fast the mock delivers `response.function_call_arguments.delta` events, as a
ratio to a bare aiohttp websocket server sending the very same pre-encoded frames, in the same run.

    python bench/bench_streaming.py [--chunks 20000] [--rounds 5]

The mock is `rtmock serve` (judge and session log attached, as users run it); the baseline is a
minimal aiohttp server in its own process that replays the frames the client received from the
mock. One client measures both: the time from its `response.create` to `…arguments.done`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, BenchFailed, save_result, serve

DELTA = "response.function_call_arguments.delta"

SCENARIO = """\
name: streaming_bench
tools:
  - name: bulk
    parameters: {{type: object, properties: {{data: {{type: string}}}}}}
steps:
  - expect: response.create
    within: 30s
  - respond:
      - function_call:
          name: bulk
          arguments: {{data: "{data}"}}
          chunks: {chunks}
"""

BARE_SERVER = r"""
import asyncio, sys
from aiohttp import web
frames = open(sys.argv[1], encoding="utf-8").read().split("\n")[:-1]
async def handle(request):
    ws = web.WebSocketResponse(max_msg_size=0)
    await ws.prepare(request)
    await ws.send_str(frames[0])
    async for msg in ws:
        break  # the client's response.create
    for frame in frames[1:]:
        await ws.send_str(frame)
    async for msg in ws:
        pass
    return ws
async def main():
    app = web.Application()
    app.router.add_get("/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    print(f"ws://127.0.0.1:{port}/v1/realtime", flush=True)
    await asyncio.Event().wait()
asyncio.run(main())
"""


async def stream_once(url: str, *, keep: list[str] | None = None) -> tuple[int, float]:
    """Ask for the response; return (delta count, seconds from sending response.create to
    arguments.done: the mock's frame generation counts, as it delays the client)."""
    async with aiohttp.ClientSession() as http, asyncio.timeout(120), \
            http.ws_connect(url, headers={"Authorization": "Bearer bench"}, max_msg_size=0) as ws:
        first = await ws.receive_str()
        if keep is not None:
            keep.append(first)
        began = time.perf_counter()
        await ws.send_str(json.dumps({"type": "response.create"}))
        count = 0
        while True:
            text = await ws.receive_str()
            if keep is not None:
                keep.append(text)
            kind = json.loads(text)["type"] if count == 0 or DELTA not in text[:60] else DELTA
            if kind == DELTA:
                count += 1
            elif kind == "response.function_call_arguments.done":
                return count, time.perf_counter() - began


async def measure(chunks: int, rounds: int) -> list[tuple[str, str, str]]:
    command = f"python bench/bench_streaming.py --chunks {chunks} --rounds {rounds}"
    with tempfile.TemporaryDirectory() as tmp:
        scenario = Path(tmp) / "streaming_bench.yaml"
        scenario.write_text(SCENARIO.format(data="x" * (chunks * 4), chunks=chunks))
        frames_file = Path(tmp) / "frames.txt"
        mock_times: list[float] = []
        bare_times: list[float] = []
        with serve([scenario]) as (url, _proc):
            frames: list[str] = []
            count, _ = await stream_once(url, keep=frames)  # warm-up, and the frames for the baseline
            if count != chunks:
                raise BenchFailed(f"expected {chunks} deltas from the mock, got {count}")
            frames_file.write_text("".join(f + "\n" for f in frames), encoding="utf-8")
            bare = subprocess.Popen([sys.executable, "-c", BARE_SERVER, str(frames_file)], stdout=subprocess.PIPE,
                                    text=True, cwd=ROOT)
            try:
                assert bare.stdout is not None
                bare_url = bare.stdout.readline().strip()
                await stream_once(bare_url)  # warm-up
                for _ in range(rounds):  # interleaved, so both see the same machine load
                    for name, target, times in (("the mock", url, mock_times), ("the bare server", bare_url, bare_times)):
                        n, seconds = await stream_once(target)
                        if n != chunks:
                            raise BenchFailed(f"expected {chunks} deltas from {name}, got {n}")
                        times.append(seconds)
            finally:
                bare.terminate()
                bare.wait(10)
    mock_rate = chunks / min(mock_times)
    bare_rate = chunks / min(bare_times)
    return [
        ("mock delta rate (events/s, best of rounds)", f"{mock_rate:,.0f}", command),
        ("bare aiohttp delta rate (events/s)", f"{bare_rate:,.0f}", command),
        ("ratio mock / bare (target ≥ 0.7)", f"{mock_rate / bare_rate:.2f}", command),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--chunks", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    try:
        rows = asyncio.run(measure(args.chunks, args.rounds))
    except (BenchFailed, aiohttp.ClientError, ConnectionError, TimeoutError) as exc:
        print(f"FAILED: {type(exc).__name__}: {exc}", flush=True)
        return 1
    save_result("streaming", rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
