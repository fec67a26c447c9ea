"""Shared pieces of the benchmarks: start `rtmock serve` in a subprocess, a fast synthetic client
for `get_your_info`, percentiles, and the results file. Loopback only; every wait is bounded."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "scenarios" / "get_your_info.yaml"
RESULTS = Path(__file__).resolve().parent / "results.json"

TOOLS = [{"type": "function", "name": "get_your_info", "description": "Look up a fact about the user.",
          "parameters": {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]}}]


class BenchFailed(Exception):
    """A session or run failed, a verdict was not PASS, or a server died or logged an internal error:
    no figure may come of this run. Each benchmark prints FAILED with it and exits 1."""


def raise_fd_limit(wanted: int = 65536) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = min(wanted, hard) if hard != resource.RLIM_INFINITY else wanted
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def rtmock_command() -> list[str]:
    """What the `rtmock` console script runs, with this interpreter (and so this checkout)."""
    return [sys.executable, "-c", "from rtmock.harness.cli import console; console()"]


@contextlib.contextmanager
def serve(scenarios: Sequence[str | Path], *extra: str, stdout_path: Path | None = None) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """`rtmock serve SCENARIO --port 0 --no-tls`; yields (ws URL, process). Its stdout (one line per
    notable event) goes to `stdout_path` and its stderr is read as it comes, so that nothing blocks
    on a full pipe. When the server logged an internal error (a bug in rtmock: no figure may come of
    the run), leaving raises BenchFailed quoting it."""
    out = open(stdout_path or os.devnull, "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen([*rtmock_command(), "serve", *map(str, scenarios), "--port", "0", "--no-tls", *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                            preexec_fn=raise_fd_limit)
    stderr = io.StringIO()
    errors: _Pump | None = None
    try:
        assert proc.stdout is not None and proc.stderr is not None
        first = proc.stdout.readline()  # "rtmock: serving NAME on ws://127.0.0.1:PORT/v1/realtime"
        if " on ws://" not in first:
            raise BenchFailed(f"rtmock serve did not start: {first!r} {proc.stderr.read()}")
        url = first.rsplit(" ", 1)[1].strip()
        _Pump(proc.stdout, out).start()
        errors = _Pump(proc.stderr, stderr)
        errors.start()
        yield url, proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        out.close()
    if errors is not None:
        errors.thread.join(10)  # the pipe is at its end: the server has exited
    if found := internal_errors(stderr.getvalue()):
        raise BenchFailed("rtmock serve logged an internal error (a bug in rtmock): " + " / ".join(found))


def internal_errors(log: str) -> list[str]:
    """The first internal error rtmock logged ("rtmock: internal error in ..."), with the last line
    of its traceback (the exception), or nothing."""
    lines = log.splitlines()
    for at, line in enumerate(lines):
        if line.startswith("rtmock: internal error"):
            quoted = [line]
            for follow in lines[at + 1:at + 40]:
                if follow.startswith(("[", "rtmock: ")):
                    break
                quoted.append(follow)
            return quoted[:1] + quoted[-1:] if len(quoted) > 1 else quoted
    return []


class _Pump:
    def __init__(self, stream: Any, sink: Any) -> None:
        import threading

        self.thread = threading.Thread(target=self._run, args=(stream, sink), daemon=True)

    def start(self) -> None:
        self.thread.start()

    @staticmethod
    def _run(stream: Any, sink: Any) -> None:
        for line in stream:
            with contextlib.suppress(ValueError):
                sink.write(line)
                sink.flush()


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    at = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[at]


async def play_get_your_info(session: aiohttp.ClientSession, url: str, latencies: list[float] | None = None,
                             *, forget_create: bool = False, timeout: float = 60.0) -> None:
    """A correct client of get_your_info (or, with `forget_create`, one that never sends the final
    response.create and waits to be closed). Appends to `latencies` the seconds from each client
    event to the server's first reply to it."""
    async with asyncio.timeout(timeout), session.ws_connect(url, headers={"Authorization": "Bearer bench"},
                                                             max_msg_size=0) as ws:

        async def send_then_wait(event: dict[str, Any], reply: str | tuple[str, ...]) -> dict[str, Any]:
            sent = time.perf_counter()
            await ws.send_str(json.dumps(event))
            got = await until(reply)
            if latencies is not None:
                latencies.append(time.perf_counter() - sent)
            return got

        async def until(kinds: str | tuple[str, ...]) -> dict[str, Any]:
            wanted = (kinds,) if isinstance(kinds, str) else kinds
            while True:
                msg = await ws.receive()
                if msg.type is not aiohttp.WSMsgType.TEXT:
                    raise ConnectionError(f"the server ended the session: {msg.type.name} {msg.data!r}")
                event = json.loads(msg.data)
                if event["type"] in wanted:
                    return dict(event)

        await until("session.created")
        await send_then_wait({"type": "session.update", "session": {"type": "realtime", "tools": TOOLS}}, "session.updated")
        await send_then_wait({"type": "response.create"}, "response.created")
        done = await until("response.function_call_arguments.done")
        await until("response.done")
        output = {"type": "function_call_output", "call_id": done["call_id"], "output": json.dumps({"food": "pizza"})}
        await send_then_wait({"type": "conversation.item.create", "item": output},
                             ("conversation.item.added", "conversation.item.created"))
        if forget_create:
            while (await ws.receive()).type is aiohttp.WSMsgType.TEXT:
                pass  # until the server closes (it never will; the harness stops us at the bound)
            return
        await send_then_wait({"type": "response.create"}, "response.created")
        await until("response.done")


def save_result(name: str, rows: list[tuple[str, str, str]]) -> None:
    """Merge one benchmark's rows (metric, value, command) into bench/results.json."""
    data: dict[str, Any] = {}
    if RESULTS.exists():
        with contextlib.suppress(ValueError):
            data = json.loads(RESULTS.read_text())
    data[name] = [list(r) for r in rows]
    RESULTS.write_text(json.dumps(data, indent=1))
    for metric, value, _ in rows:
        print(f"{name}: {metric}: {value}", flush=True)
