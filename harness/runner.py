"""`rtmock run`: serve a scenario, run the user's command against it, and judge every session it opens.

The run ends as soon as its verdict is known: at the first finding (the client is stopped at once),
when the client exits, or when the scenario is complete and the client has not exited within a
short grace. The client runs in its own process group, so stopping it stops its children too.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import signal
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from mockserver.errors import UsageError
from mockserver.loader import LoadedScenario
from mockserver.records import Record
from mockserver.server import MockServer, Observer, SessionInfo, client_environment

from .findings import Finding, Rule, SessionVerdict
from .live import LiveJudge

__all__ = ["RunOptions", "RunResult", "client_env", "run_scenario"]


@dataclass(frozen=True, slots=True)
class RunOptions:
    grace: float = 2.0  # after the scenario completes, how long the client may take to exit
    within: float | None = None  # default bound for expects without one (else the scenario's default)
    connect_timeout: float = 15.0  # how long the client may take to open its first session
    timeout: float = 300.0  # the whole run, whatever happens
    transcript_dir: Path | None = None
    seed: int | str | None = None
    tls: bool = True
    stream: Callable[[SessionInfo, Record], None] | None = None  # -v: each record as it happens
    echo_output: bool = False  # pass the client's stdout/stderr through


@dataclass(slots=True)
class RunResult:
    scenario: LoadedScenario
    command: list[str]
    sessions: list[tuple[SessionInfo, SessionVerdict]] = field(default_factory=list)
    run_findings: list[Finding] = field(default_factory=list)
    exit_code: int | None = None
    duration: float = 0.0
    stderr_tail: list[str] = field(default_factory=list)
    verdict_latency: float | None = None  # seconds from the first finding to the end of the run
    internal_errors: list[str] = field(default_factory=list)  # bugs in rtmock: the verdict cannot be trusted

    @property
    def findings(self) -> list[Finding]:
        return [f for _, v in self.sessions for f in v.findings] + self.run_findings

    @property
    def passed(self) -> bool:
        return bool(self.sessions) and not self.findings and all(v.passed for _, v in self.sessions)


def client_env(server: MockServer, base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for a client process: the user's, plus what points clients at the server."""
    env = dict(os.environ if base is None else base)
    env.update(client_environment(server))
    env.setdefault("OPENAI_API_KEY", "rtmock-dummy-key")
    # the websockets library sends even ws://127.0.0.1 through a configured HTTPS_PROXY
    for key in ("NO_PROXY", "no_proxy"):
        hosts = [h for h in env.get(key, "").split(",") if h]
        env[key] = ",".join(dict.fromkeys([*hosts, "127.0.0.1", "localhost", "::1"]))
    return env


class _Stream(Observer):
    def __init__(self, callback: Callable[[SessionInfo, Record], None]) -> None:
        self.callback = callback

    def record(self, session: SessionInfo, record: Record) -> None:
        self.callback(session, record)


async def _pump(stream: asyncio.StreamReader | None, tail: collections.deque[str], echo: bool, sink: object) -> None:
    if stream is None:
        return
    while line := await stream.readline():
        text = line.decode("utf-8", "replace").rstrip("\n")
        tail.append(text)
        if echo:
            print(text, file=sink, flush=True)  # type: ignore[call-overload]


async def _stop(proc: asyncio.subprocess.Process) -> None:
    """SIGTERM the client's process group, then SIGKILL if it lingers."""
    if proc.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        await asyncio.wait_for(proc.wait(), 3.0)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        await proc.wait()


async def run_scenario(scenario: LoadedScenario, command: Sequence[str], options: RunOptions | None = None) -> RunResult:
    opts = options or RunOptions()
    if not command:
        raise UsageError("no command to run: write it after '--', e.g. rtmock run scenario.yaml -- python client.py")
    loop = asyncio.get_running_loop()
    result = RunResult(scenario, list(command))
    judge = LiveJudge(default_within=opts.within)
    record_dir = opts.transcript_dir
    server = MockServer([scenario], record_dir=record_dir, seed=opts.seed, tls=opts.tls)
    server.observers.append(judge)
    if opts.stream is not None:
        server.observers.append(_Stream(opts.stream))
    started = loop.time()
    async with server:
        try:
            proc = await asyncio.create_subprocess_exec(
                *command, env=client_env(server), stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, start_new_session=True)
        except FileNotFoundError:
            raise UsageError(f"command not found: {command[0]}") from None
        except PermissionError:
            raise UsageError(f"command is not executable: {command[0]}") from None
        stderr_tail: collections.deque[str] = collections.deque(maxlen=20)
        stdout_tail: collections.deque[str] = collections.deque(maxlen=20)
        readers = [asyncio.ensure_future(_pump(proc.stderr, stderr_tail, opts.echo_output, sys.stderr)),
                   asyncio.ensure_future(_pump(proc.stdout, stdout_tail, opts.echo_output, sys.stdout))]
        exited = asyncio.ensure_future(proc.wait())
        stopped_by_us = False
        complete_since: float | None = None
        try:
            while True:
                judge.changed.clear()
                now = loop.time()
                if judge.findings:
                    judge.stopping = True
                    await _stop(proc)
                    stopped_by_us = True
                    break
                if exited.done():
                    break
                if judge.all_complete:
                    complete_since = complete_since or now
                    if now - complete_since >= opts.grace:
                        await _stop(proc)
                        stopped_by_us = True
                        break
                if not judge.sessions and now - started >= opts.connect_timeout:
                    result.run_findings.append(Finding(
                        Rule.NO_SESSION, f"The client opened no realtime session within {opts.connect_timeout:g}s.",
                        "Point the client at the server: use RTMOCK_URL or OPENAI_BASE_URL from the environment "
                        "(see `rtmock run --help`), and check it connects to …/realtime with an API key header."))
                    await _stop(proc)
                    stopped_by_us = True
                    break
                if now - started >= opts.timeout:
                    result.run_findings.append(Finding(
                        Rule.SCENARIO_MISMATCH, f"The run did not finish within {opts.timeout:g}s.",
                        "Check the client exits when the conversation is over, or raise --timeout."))
                    await _stop(proc)
                    stopped_by_us = True
                    break
                limits = [started + opts.timeout]
                if not judge.sessions:
                    limits.append(started + opts.connect_timeout)
                if complete_since is not None:
                    limits.append(complete_since + opts.grace)
                changed = asyncio.ensure_future(judge.changed.wait())
                await asyncio.wait({changed, exited}, timeout=max(0.0, min(limits) - loop.time()),
                                   return_when=asyncio.FIRST_COMPLETED)
                changed.cancel()
        finally:
            if proc.returncode is None:
                await _stop(proc)
                stopped_by_us = True
            await asyncio.wait(readers, timeout=2.0)
        # the server notices the client's sockets closing a moment after the process is gone
        deadline = loop.time() + 2.0
        while any(not j.info.ended for j in judge.sessions) and loop.time() < deadline:
            judge.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(judge.changed.wait(), max(0.0, deadline - loop.time()))
        verdicts = judge.finish_all()
        result.sessions = [(j.info, v) for j, v in zip(judge.sessions, verdicts, strict=True)]
        result.internal_errors = list(server.internal_errors)
    result.exit_code = proc.returncode
    result.stderr_tail = list(stderr_tail)
    if proc.returncode not in (0, None) and not stopped_by_us:
        tail = "\n".join(result.stderr_tail[-8:]) or "(no stderr)"
        result.run_findings.append(Finding(
            Rule.CLIENT_CRASHED, f"The client exited with code {proc.returncode}.",
            "Read its last lines of stderr below; a client must survive whatever the model sends.",
            seen=tail))
    result.duration = loop.time() - started
    if judge.first_finding_at is not None:
        result.verdict_latency = loop.time() - judge.first_finding_at
    return result
