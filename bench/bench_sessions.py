"""Whole sessions, one after another: sessions per second and server CPU per session of `rtmock serve`
(judging every session, as users run it), of `@copilotkit/aimock` (npm: the peer a user would otherwise
pick) and of a bare aiohttp server replaying rtmock's frames, each in its own process, driven by the
same minimal client (this process).

    python bench/bench_sessions.py [--sessions 300] [--rounds 3] [--runs 2]

A session is get_your_info in full: session.created; session.update → session.updated; a user message
and response.create → the call streamed → response.done; its function_call_output and response.create
→ the text answer → response.done; close. The client checks each of them (an `error` event, a missing
or wrong event, an early close or a 10 s timeout fails the session) and every one of rtmock's verdicts
must be PASS: any failure prints FAILED and exits 1, and no rate is printed.

Each run starts the servers afresh and warms each up; a round plays `--sessions` sessions against each
server in turn, the order rotating from round to round so that all see the same machine load. Server
CPU is the server process's user + system time (/proc/<pid>/stat) after its sessions (and rtmock's
verdicts) minus before, over the sessions. Ratios pair servers within a round.

aimock is installed on first use into bench/.node/ (git-ignored) with npm, at a pinned version; without
node (>= 20.15) or npm its column is skipped, and says why.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (
    ROOT,
    SEED,
    TOOLS,
    BenchFailed,
    internal_errors,
    raise_fd_limit,
    rtmock_command,
    save_result,
)

BENCH = Path(__file__).resolve().parent
NODE_DIR = BENCH / ".node"
AIMOCK_VERSION = "1.43.0"
AIMOCK_CLI = NODE_DIR / "node_modules" / "@copilotkit" / "aimock" / "dist" / "cli.js"
AIMOCK_NODE = (20, 15)  # its package.json's engines

SESSION_TIMEOUT = 10.0
ANSWER = "Your favorite food is pizza."  # the seed scenario's text answer; aimock's fixture says the same
SESSION_UPDATE = {"type": "session.update", "session": {"type": "realtime", "output_modalities": ["text"], "tools": TOOLS}}
USER_MESSAGE = {"type": "conversation.item.create", "item": {"type": "message", "role": "user", "content": [
    {"type": "input_text", "text": "What is my favorite food?"}]}}
RESPONSE_CREATE = {"type": "response.create"}

#: aimock's script for the same session: the call while no tool result follows the user's message,
#: then the answer. `--chunk-size 10` streams both in 3 deltas, as the seed scenario does.
AIMOCK_FIXTURES = {"fixtures": [
    {"match": {"userMessage": "favorite food", "hasToolResult": False},
     "response": {"toolCalls": [{"name": "get_your_info", "arguments": {"query": "favorite food"}}]}},
    {"match": {"userMessage": "favorite food", "hasToolResult": True}, "response": {"content": ANSWER}},
]}

#: Replays rtmock's frames: the first batch on connect, then batch k on the client's k-th message.
#: It reads no JSON and checks nothing: the floor of a websocket server in Python.
BARE_SERVER = r"""
import asyncio, json, sys
from aiohttp import WSMsgType, web
batches = json.load(open(sys.argv[1], encoding="utf-8"))
async def handle(request):
    ws = web.WebSocketResponse(max_msg_size=0)
    await ws.prepare(request)
    for frame in batches[0]:
        await ws.send_str(frame)
    replies = iter(batches[1:])
    async for msg in ws:
        if msg.type is WSMsgType.TEXT:
            for frame in next(replies, ()):
                await ws.send_str(frame)
    return ws
async def main():
    app = web.Application()
    app.router.add_get("/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    print(f"ws://127.0.0.1:{port}/v1/realtime?model=gpt-realtime", flush=True)
    await asyncio.Event().wait()
asyncio.run(main())
"""


# ---- the client ------------------------------------------------------------------------------------


async def play_session(http: aiohttp.ClientSession, url: str) -> None:
    """One full get_your_info session; raises BenchFailed with what went wrong."""
    try:
        async with asyncio.timeout(SESSION_TIMEOUT), \
                http.ws_connect(url, headers={"Authorization": "Bearer bench"}, max_msg_size=0) as ws:

            async def until(kind: str) -> dict[str, Any]:
                while True:
                    msg = await ws.receive()
                    if msg.type is not aiohttp.WSMsgType.TEXT:
                        raise BenchFailed(f"the server ended the session while the client waited for {kind}: "
                                          f"{msg.type.name} {msg.data!r} {msg.extra!r}")
                    event: dict[str, Any] = json.loads(msg.data)
                    if event.get("type") == "error":
                        raise BenchFailed(f"error event while the client waited for {kind}: {event.get('error')}")
                    if event.get("type") == kind:
                        return event

            async def send(*events: dict[str, Any]) -> None:
                for event in events:
                    await ws.send_str(json.dumps(event))

            await until("session.created")
            await send(SESSION_UPDATE)
            await until("session.updated")
            await send(USER_MESSAGE, RESPONSE_CREATE)
            call = await until("response.function_call_arguments.done")
            if json.loads(call.get("arguments") or "null") != {"query": "favorite food"}:
                raise BenchFailed(f"unexpected call arguments: {call.get('arguments')!r}")
            done = (await until("response.done"))["response"]
            calls = [item for item in done.get("output", ()) if item.get("type") == "function_call"]
            if done.get("status") != "completed" or [c.get("call_id") for c in calls] != [call["call_id"]] \
                    or calls[0].get("name") != "get_your_info":
                raise BenchFailed(f"unexpected first response.done: {json.dumps(done)[:300]}")
            output = {"type": "function_call_output", "call_id": call["call_id"], "output": '{"food": "pizza"}'}
            await send({"type": "conversation.item.create", "item": output}, RESPONSE_CREATE)
            done = (await until("response.done"))["response"]
            texts = [part.get("text") for item in done.get("output", ()) if item.get("type") == "message"
                     for part in item.get("content", ())]
            if done.get("status") != "completed" or texts != [ANSWER]:
                raise BenchFailed(f"unexpected answer: {json.dumps(done)[:300]}")
    except TimeoutError:
        raise BenchFailed(f"no complete session within {SESSION_TIMEOUT:g}s") from None
    except (aiohttp.ClientError, ConnectionError, ValueError, KeyError, TypeError) as exc:
        raise BenchFailed(f"{type(exc).__name__}: {exc}") from None


async def capture_batches(http: aiohttp.ClientSession, url: str) -> list[list[str]]:
    """rtmock's frames for one session, grouped by the client message they answer (batch 0: on
    connect): the client sends one message at a time and takes what arrives until 0.3 s of quiet."""
    batches: list[list[str]] = []
    async with asyncio.timeout(30), http.ws_connect(url, headers={"Authorization": "Bearer bench"}) as ws:
        frames: asyncio.Queue[str | None] = asyncio.Queue()

        async def read() -> None:
            async for msg in ws:
                if msg.type is aiohttp.WSMsgType.TEXT:
                    frames.put_nowait(msg.data)
            frames.put_nowait(None)

        reader = asyncio.ensure_future(read())

        async def batch() -> list[str]:
            got: list[str] = []
            while True:
                try:
                    frame = await asyncio.wait_for(frames.get(), 0.3)
                except TimeoutError:
                    batches.append(got)
                    return got
                if frame is None:
                    raise BenchFailed(f"rtmock closed the capture session; frames so far: {[*batches, got]}")
                got.append(frame)

        async def ask(event: dict[str, Any]) -> list[str]:
            await ws.send_str(json.dumps(event))
            return await batch()

        await batch()
        for event in (SESSION_UPDATE, USER_MESSAGE, RESPONSE_CREATE):
            replies = await ask(event)
        call_id = next(e["call_id"] for e in map(json.loads, replies) if e["type"] == "response.function_call_arguments.done")
        await ask({"type": "conversation.item.create", "item": {
            "type": "function_call_output", "call_id": call_id, "output": '{"food": "pizza"}'}})
        await ask(RESPONSE_CREATE)
        await ws.close()
        reader.cancel()
    return batches


# ---- the servers -----------------------------------------------------------------------------------


@dataclass(eq=False)
class Server:
    name: str
    proc: subprocess.Popen[bytes]
    url: str
    log: Path
    judged: bool = False  # rtmock: its log holds one verdict per session
    rates: list[float] = field(default_factory=list)
    cpu_ms: list[float] = field(default_factory=list)

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.proc.pid)

    def verdicts(self) -> list[str]:
        return re.findall(r"\] ended: (\S+)", self.log.read_text(errors="replace"))


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, all its threads (Linux's /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime: fields 14, 15


@contextlib.contextmanager
def start(name: str, command: list[str], log: Path, url_pattern: str, *, judged: bool = False) -> Iterator[Server]:
    """Start a server with its output in `log`; its URL is read from there (bounded)."""
    with open(log, "wb") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT, preexec_fn=raise_fd_limit)
    try:
        deadline = time.monotonic() + 60
        while not (found := re.search(url_pattern, log.read_text(errors="replace"))):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise BenchFailed(f"{name} did not start: {log.read_text(errors='replace')[-2000:]}")
            time.sleep(0.05)
        url = found.group(1)
        if url.startswith("http"):
            url = "ws" + url[4:].rstrip("/") + "/v1/realtime?model=gpt-realtime"
        yield Server(name, proc, url, log, judged)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def aimock_available() -> str | None:
    """None when aimock can run (installing it into bench/.node/ if need be), else why it cannot."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None:
        return "node is not installed"
    version = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
    parts = tuple(int(p) for p in re.findall(r"\d+", version)[:2])
    if parts < AIMOCK_NODE:
        return f"node {version} is older than aimock needs (>= {'.'.join(map(str, AIMOCK_NODE))})"
    installed = NODE_DIR / "node_modules" / "@copilotkit" / "aimock" / "package.json"
    if not AIMOCK_CLI.exists() or json.loads(installed.read_text()).get("version") != AIMOCK_VERSION:
        if npm is None:
            return "npm is not installed (needed once, to install @copilotkit/aimock into bench/.node/)"
        NODE_DIR.mkdir(exist_ok=True)
        (NODE_DIR / "package.json").write_text('{"name": "rtmock-bench-peers", "private": true}\n')
        print(f"installing @copilotkit/aimock@{AIMOCK_VERSION} into {NODE_DIR} ...", flush=True)
        done = subprocess.run([npm, "install", "--no-audit", "--no-fund", f"@copilotkit/aimock@{AIMOCK_VERSION}"],
                              cwd=NODE_DIR, capture_output=True, text=True, timeout=600)
        if done.returncode != 0 or not AIMOCK_CLI.exists():
            return f"npm install @copilotkit/aimock@{AIMOCK_VERSION} failed: {(done.stderr or done.stdout)[-500:]}"
    return None


# ---- measuring -------------------------------------------------------------------------------------


async def play(http: aiohttp.ClientSession, server: Server, sessions: int, what: str) -> None:
    for n in range(1, sessions + 1):
        try:
            await play_session(http, server.url)
        except BenchFailed as exc:
            raise BenchFailed(f"{server.name}, {what}, session {n}: {exc}") from None


async def settle(server: Server, expected: int, what: str) -> None:
    """Wait (bounded) until the server has ended every session; for rtmock, until each has its
    verdict, all of which must be PASS. A server that logged an internal error fails the run."""
    deadline = time.monotonic() + 30
    while True:
        if server.proc.poll() is not None:
            raise BenchFailed(f"{server.name} exited ({server.proc.returncode}) during {what}: "
                              f"{server.log.read_text(errors='replace')[-2000:]}")
        if not server.judged:
            await asyncio.sleep(0.1)  # the last close reaches the server
            break
        verdicts = server.verdicts()
        if len(verdicts) >= expected:
            break
        if time.monotonic() > deadline:
            raise BenchFailed(f"rtmock gave {len(verdicts)} verdicts of {expected} sessions after {what}")
        await asyncio.sleep(0.05)
    if errors := internal_errors(server.log.read_text(errors="replace")):
        raise BenchFailed(f"{server.name} logged an internal error (a bug in rtmock) by {what}:\n" + "\n".join(errors))
    if not server.judged:
        return
    if verdicts.count("PASS") != len(verdicts):
        lines, quoting = [], False
        for line in server.log.read_text(errors="replace").splitlines():
            if not line.startswith("    "):  # else the continuation of the line before
                quoting = "] finding: " in line or ("] ended: " in line and "] ended: PASS" not in line)
            if quoting:
                lines.append(line)
        raise BenchFailed(f"{len(verdicts) - verdicts.count('PASS')} of rtmock's verdicts are not PASS after {what}:\n"
                          + "\n".join(lines[:20]))


async def one_run(run: int, args: argparse.Namespace, aimock_skip: str | None, tmp: Path) -> list[Server]:
    with contextlib.ExitStack() as stack:
        rtmock = stack.enter_context(start("rtmock serve", [*rtmock_command(), "serve", str(SEED), "--port", "0",
                                                             "--no-tls"], tmp / f"rtmock-{run}.log",
                                           r" on (ws://\S+)", judged=True))
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
            frames = tmp / "frames.json"
            frames.write_text(json.dumps(await capture_batches(http, rtmock.url)), encoding="utf-8")
            servers = [rtmock]
            if aimock_skip is None:
                fixtures = tmp / "aimock-fixtures.json"
                fixtures.write_text(json.dumps(AIMOCK_FIXTURES))
                servers.append(stack.enter_context(start(
                    "aimock", ["node", str(AIMOCK_CLI), "--port", "0", "--fixtures", str(fixtures), "--chunk-size", "10"],
                    tmp / f"aimock-{run}.log", r"listening on (http://\S+)")))
            servers.append(stack.enter_context(start("bare aiohttp", [sys.executable, "-c", BARE_SERVER, str(frames)],
                                                     tmp / f"bare-{run}.log", r"(ws://\S+)")))
            played = {s.name: 0 for s in servers}
            played[rtmock.name] = 1  # the capture
            for server in servers:  # warm-up: imports, JIT, first allocations
                await play(http, server, args.warmup, f"run {run} warm-up")
                played[server.name] += args.warmup
                await settle(server, played[server.name], f"run {run} warm-up")
            for round_ in range(1, args.rounds + 1):
                turn = (round_ - 1) % len(servers)
                line = []
                for server in servers[turn:] + servers[:turn]:
                    what = f"run {run} round {round_}"
                    cpu_before, client_before = server.cpu_seconds(), _own_cpu()
                    began = time.perf_counter()
                    await play(http, server, args.sessions, what)
                    took = time.perf_counter() - began
                    client_cpu = _own_cpu() - client_before
                    played[server.name] += args.sessions
                    await settle(server, played[server.name], what)
                    server.rates.append(args.sessions / took)
                    server.cpu_ms.append((server.cpu_seconds() - cpu_before) / args.sessions * 1000)
                    line.append(f"{server.name} {server.rates[-1]:.0f}/s, server CPU {server.cpu_ms[-1]:.2f} ms "
                                f"(client {client_cpu / args.sessions * 1000:.2f} ms)")
                print(f"run {run} round {round_}: " + " | ".join(line), flush=True)
    return servers


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _spread(values: list[float], digits: int = 0) -> str:
    return f"{statistics.median(values):.{digits}f} ({min(values):.{digits}f}–{max(values):.{digits}f})"


async def measure(args: argparse.Namespace) -> list[tuple[str, str, str]]:
    command = f"python bench/bench_sessions.py --sessions {args.sessions} --rounds {args.rounds} --runs {args.runs}"
    aimock_skip = aimock_available()
    if aimock_skip:
        print(f"aimock: skipped: {aimock_skip}", flush=True)
    by_name: dict[str, Server] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for run in range(1, args.runs + 1):
            for server in await one_run(run, args, aimock_skip, Path(tmp)):
                kept = by_name.setdefault(server.name, server)
                if kept is not server:
                    kept.rates += server.rates
                    kept.cpu_ms += server.cpu_ms
    rtmock, bare = by_name["rtmock serve"], by_name["bare aiohttp"]
    aimock = by_name.get("aimock")
    each = f"{args.runs} runs × {args.rounds} rounds of {args.sessions}"
    rows = [("rtmock serve (judging every session): sessions/s, median (range) over " + each, _spread(rtmock.rates), command)]
    if aimock is not None:
        rows.append((f"@copilotkit/aimock {AIMOCK_VERSION}: sessions/s", _spread(aimock.rates), command))
    rows.append(("bare aiohttp replaying rtmock's frames: sessions/s", _spread(bare.rates), command))
    if aimock is not None:
        ratios = [r / a for r, a in zip(rtmock.rates, aimock.rates, strict=True)]
        rows.append(("rtmock / aimock sessions/s, paired by round (target ≥ 1.2)", _spread(ratios, 2), command))
    else:
        rows.append(("rtmock / aimock sessions/s", f"skipped: {aimock_skip}", command))
    rows.append(("server CPU per session (ms): rtmock serve", _spread(rtmock.cpu_ms, 2), command))
    if aimock is not None:
        rows.append(("server CPU per session (ms): aimock", _spread(aimock.cpu_ms, 2), command))
    rows.append(("server CPU per session (ms): bare aiohttp", _spread(bare.cpu_ms, 2), command))
    cpu_ratios = [r / b for r, b in zip(rtmock.cpu_ms, bare.cpu_ms, strict=True)]
    rows.append(("rtmock / bare CPU per session, paired by round (target ≤ 1.5)", _spread(cpu_ratios, 2), command))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=300, help="sessions per server per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--runs", type=int, default=2, help="each with fresh server processes")
    parser.add_argument("--warmup", type=int, default=20, help="unmeasured sessions per server per run")
    args = parser.parse_args()
    try:
        rows = asyncio.run(measure(args))
    except BenchFailed as exc:
        print(f"FAILED: {exc}", flush=True)
        return 1
    save_result("sessions", rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
