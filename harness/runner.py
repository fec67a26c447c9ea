"""`rtmock run`: serve a scenario, run the user's command against it, and judge every session it opens.

The run ends as soon as its verdict is known: at the first finding (the client is stopped at once),
when the client exits, or when the scenario is complete and the client has not exited within a
short grace. The client runs in its own process group, so stopping it stops its children too.

The run's verdict is made from its sessions' verdicts (combined in `run_sessions.py`: a probe, a
spare, a reconnect) and the client's end, here, for `rtmock run` and the pytest plugin's `run()`
alike: an error exit is a crash unless the service failed the session on purpose (`charge_client`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..mockserver.core.notes import Closed
from ..mockserver.core.records import Direction, Record
from ..mockserver.net.server import MockServer, Observer, SessionInfo
from ..mockserver.scenario.loader import LoadedScenario
from ..mockserver.scenario.model import SendStep
from .client_process import ClientProcess, Crash, PreparedRun, client_env_for
from .judging.findings import Finding, Rule, SessionVerdict
from .judging.live import LiveJudge
from .reports.text import clip
from .run_sessions import RunJudge, conclude_sessions, new_run_id

__all__ = ["RunOptions", "RunResult", "charge_client", "client_env", "judge_client", "no_session_finding",
           "run_scenario", "supervise"]

#: How long a client that closed its session with calls unanswered may take to exit on its own.
#: A `websockets`-library client that raised in a handler takes up to its close timeout (10 s): it
#: stops reading once 16 messages wait unread, and then cannot see the server's close frame.
DYING_CLIENT_PATIENCE = 11.0


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
    recording_errors: list[str] = field(default_factory=list)  # transcripts that could not be written
    client_stopped: bool = False  # rtmock stopped the client (after the verdict, or at a bound)
    #: What the verdict took into account without a finding, one line each (a probe session not
    #: judged; an error exit after the service failed on purpose, which is no crash)
    notes: list[str] = field(default_factory=list)
    probes: set[str] = field(default_factory=set)  # ids of the sessions not judged: probes (see `is_probe`)

    @property
    def findings(self) -> list[Finding]:
        return [f for _, v in self.sessions for f in v.findings] + self.run_findings

    @property
    def not_played(self) -> bool:
        """The client sent a valid event rtmock does not play (`not-played-by-rtmock`): the verdict is
        not the client's to have (`rtmock run` and `rtmock check` exit 2)."""
        return any(f.rule is Rule.NOT_PLAYED_BY_RTMOCK for f in self.findings)

    @property
    def passed(self) -> bool:
        judged = [v for info, v in self.sessions if info.id not in self.probes]
        return bool(judged) and not self.findings and all(v.passed for v in judged)

    @property
    def upstream_failed(self) -> bool:
        """The service behind rtmock failed (only through the relay: `proxy.ProxiedResult`)."""
        return False

    def take_from(self, server: MockServer) -> None:
        """Keep what `server` holds that the verdict needs: its own bugs and lost transcripts
        (called once the sessions are judged, before the server closes)."""
        self.internal_errors = list(server.internal_errors)
        self.recording_errors = list(server.recording_errors)


def client_env(server: MockServer, base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for a client process: the user's, plus what points clients at the server."""
    ca = server.certificates.ca_file if server.certificates is not None and server.tls else None
    return client_env_for(server.host, server.port, ca, base)


class _Stream(Observer):
    def __init__(self, callback: Callable[[SessionInfo, Record], None]) -> None:
        self.callback = callback

    def record(self, session: SessionInfo, record: Record) -> None:
        self.callback(session, record)


async def run_scenario(scenario: LoadedScenario, command: Sequence[str], options: RunOptions | None = None,
                       *, prepared: PreparedRun | None = None) -> RunResult:
    """Judge `command` against `scenario`. With `prepared`, the client is already running against
    the prepared socket (see `client_process.prepare_run`); it is stopped whatever happens."""
    opts = options or RunOptions()
    server = MockServer([scenario], record_dir=opts.transcript_dir, seed=opts.seed, tls=opts.tls,
                        default_within=opts.within, run=new_run_id(),
                        host=prepared.host if prepared else "127.0.0.1", sock=prepared.sock if prepared else None)
    result = RunResult(scenario, list(command))
    await judge_client(server, RunJudge(default_within=opts.within, probe_patience=opts.connect_timeout), result, opts,
                       env=client_env, process=prepared.process if prepared else None)
    return result


async def judge_client(server: MockServer, judge: LiveJudge, result: RunResult, opts: RunOptions, *,
                       env: Callable[[Any], dict[str, str]], process: ClientProcess | None = None,
                       upstream_failed: asyncio.Event | None = None) -> None:
    """Serve with `server` (not started yet), run `result.command` against it (unless `process`
    already runs) with the environment `env(server)`, and fill `result` with the verdict: the
    sessions' and the run's findings, the client's exit and the server's own troubles.

    `rtmock run` and `rtmock run --upstream` (`proxy.run_proxied`) differ only in whom a failure
    may be charged to: through the relay, `upstream_failed` (set at the upstream's first problem)
    ends the wait for a verdict at once; and when `result.upstream_failed`, neither a missing
    session nor the client's crash is charged to the client (the upstream's failure may be their
    cause)."""
    loop = asyncio.get_running_loop()
    server.observers.append(judge)
    if opts.stream is not None:
        server.observers.append(_Stream(opts.stream))
    started = loop.time()
    proc = process
    try:
        async with server:
            if proc is None:
                proc = ClientProcess(result.command, env(server), echo=opts.echo_output)
            exited = asyncio.ensure_future(proc.wait())
            try:
                await supervise(judge, result, exited=exited, stop=proc.stop, started=started, grace=opts.grace,
                                connect_timeout=opts.connect_timeout, timeout=opts.timeout, refused=server.refused,
                                timeout_fix="Check the client exits when the conversation is over, or raise --timeout.",
                                upstream_failed=upstream_failed)
            finally:  # stop the client before the server goes (also when we are interrupted)
                if not exited.done():
                    exited.cancel()
                await asyncio.gather(exited, return_exceptions=True)
                if proc.returncode is None:
                    await proc.stop()
            await judge.sessions_ended(2.0)  # the server notices the sockets close a moment after the process
            conclude_sessions(judge, result)
            result.take_from(server)
    finally:
        if proc is not None:
            await proc.stop()  # also what an exited client left running in its process group
    assert proc is not None
    await proc.drain()
    result.exit_code = proc.returncode
    result.stderr_tail = list(proc.stderr_tail)
    result.client_stopped = proc.stopped_by_us
    if not result.upstream_failed:
        charge_client(result, proc.crash(), f"exited (code {proc.returncode}) without opening a realtime session",
                      server.refused)
    result.duration = loop.time() - started
    if judge.first_finding_at is not None:
        result.verdict_latency = loop.time() - judge.first_finding_at


async def supervise(judge: LiveJudge, result: RunResult, *, exited: asyncio.Future[Any],
                    stop: Callable[[], Awaitable[None]], started: float, grace: float, connect_timeout: float,
                    timeout: float, refused: list[str], connect_to: str = "", timeout_fix: str,
                    upstream_failed: asyncio.Event | None = None) -> None:
    """Wait until the verdict is known (or the upstream fails), add the run's own findings (no
    session, the run's timeout) to `result`, and stop the client unless it has `exited` (`rtmock
    run` and the pytest plugin's `run()` alike). `connect_to` names where the client should have
    connected; `timeout_fix` says what to do when the run's `timeout` ran out."""
    loop = asyncio.get_running_loop()
    problem = asyncio.ensure_future((upstream_failed or asyncio.Event()).wait())
    settle = asyncio.ensure_future(judge.settle(started=started, grace=grace, connect_timeout=connect_timeout,
                                                timeout=timeout, exited=exited))
    try:
        done, _ = await asyncio.wait({settle, problem}, return_when=asyncio.FIRST_COMPLETED)
        why = settle.result() if settle in done else "upstream"
        if why == "upstream":
            # the client learns of it too (an error, a close): let it end on its own, briefly
            await asyncio.wait({exited}, timeout=max(0.0, min(grace, started + timeout - loop.time())))
        elif why == "finding":
            judge.stopping = True
            if all(f.cut_short for f in judge.findings) and all(j.info.ended for j in judge.sessions):
                # All that was found is what the client's closing left undone: it may be crashing.
                # Let it finish on its own, so that its exit code and traceback, the cause, are not lost.
                left = started + timeout - loop.time()
                await asyncio.wait({exited}, timeout=max(0.0, min(DYING_CLIENT_PATIENCE, left)))
        elif why == "no-session" and not (upstream_failed is not None and upstream_failed.is_set()):
            result.run_findings.append(no_session_finding(
                f"opened no realtime session within {connect_timeout:g}s" + (f" (connect to {connect_to})" if connect_to else ""),
                refused))
        elif why == "timeout":
            result.run_findings.append(Finding(
                Rule.SCENARIO_MISMATCH, f"The run did not finish within {timeout:g}s.",
                timeout_fix))
        if not exited.done():
            await stop()
    finally:
        for future in (settle, problem):
            if not future.done():
                future.cancel()
        await asyncio.gather(settle, problem, return_exceptions=True)


def charge_client(result: RunResult, crash: Crash | None, never_connected: str, refused: list[str]) -> None:
    """What the client's own end says (`rtmock run` and the pytest plugin alike): it opened no
    session (`never_connected` says what it did instead), or it crashed. After the service failed
    on purpose (the scenario's `close:`, or its error event the client ended its session on), an
    error exit is how a client reports that failure: a note, not a crash."""
    if not result.sessions and not result.run_findings:
        result.run_findings.append(no_session_finding(never_connected, refused))
    if crash is None or any(not f.cut_short for _, verdict in result.sessions for f in verdict.findings):
        # (a client that exits non-zero after a finding of its own, e.g. on the server's error event,
        # exits because of that finding: the finding is the verdict)
        return
    fault = _server_fault(result.sessions)
    if fault is not None and crash.signal is None:
        result.notes.append(f"The client {crash.what} after {fault}: it reported the service's failure, "
                            "which is not a crash.")
        return
    # What its sessions lacked because it died is a consequence: say so within the crash finding.
    consequences = []
    for _, verdict in result.sessions:
        cut = [f for f in verdict.findings if f.cut_short]
        consequences += [f"{f.rule.value}" + (f" ({f.call_name} {f.call_id})" if f.call_id else "") for f in cut]
        verdict.findings = [f for f in verdict.findings if not f.cut_short]
    last = _last_call(result.sessions)
    result.run_findings.insert(0, Finding(
        Rule.CLIENT_CRASHED, f"The client {crash.what}"
        + (f", leaving its session short: {', '.join(consequences)}." if consequences else ".")
        + (f" The last call it was sent: {last[0]} with arguments {clip(last[2], 200)!r}." if last else ""),
        _crash_fix(crash, connected=bool(result.sessions)), seen=crash.seen, call_name=last[0] if last else None,
        call_id=last[1] if last else None))


def _crash_fix(crash: Crash, *, connected: bool = True) -> str:
    """What to do about a crash, by its cause."""
    if not connected and crash.signal is None and crash.traceback:
        return ("Its traceback is shown: it failed before it opened a session (a syntax error, a module not "
                "installed, a variable not set, a connection it could not make).")
    if not connected and crash.signal is None:
        return ("It exited before it opened a session, and its stderr is shown: a command that did not start your "
                "client (a file or module that is not there, the wrong interpreter), or a connection it could not "
                "make (see no-session).")
    if crash.signal is not None:
        return ("rtmock did not send that signal: look for a native crash (SIGSEGV, SIGABRT) or for what killed it "
                "(a memory limit, a watchdog); its stderr is shown.")
    if crash.traceback:
        return "Its traceback is shown: fix the crash (a client must survive whatever the model sends)."
    return ("It reported a failure without a traceback (its stderr is shown) although the service did not fail: "
            "find what it took for one and let it go on.")


def _server_fault(sessions: list[tuple[SessionInfo, SessionVerdict]]) -> str | None:
    """How the scenario made the service fail the client's last session, if it did: its scripted
    `close:`, or a scripted error event after which the client sent nothing more."""
    if not sessions:
        return None
    info = sessions[-1][0]
    scripted = [step.send for step in info.scenario.scenario.steps
                if isinstance(step, SendStep) and isinstance(step.send, dict) and step.send.get("type") == "error"]
    error: Record | None = None
    for record in info.records:
        note = record.note
        if isinstance(note, Closed) and note.by == "server" and note.step is not None:
            return f"the scenario's close of session {info.number} (code {note.code}, step {note.step})"
        if record.direction is Direction.CLIENT:
            error = None
        elif record.direction is Direction.SERVER and scripted and not record.delta and record.event in scripted:
            error = record
    if error is not None and info.ended:
        return f"the scenario's error event in session {info.number} (event #{error.index})"
    return None

def no_session_finding(what: str, refused: list[str]) -> Finding:
    """The client never got a session: say what the server refused, the quickest hint."""
    return Finding(Rule.NO_SESSION, f"The client {what}.",
                   "Point the client at the server: use RTMOCK_URL or OPENAI_BASE_URL from the environment "
                   "(see `rtmock run --help`), and check it connects to …/realtime with an API key header.",
                   seen=("the server refused: " + "; ".join(refused[:5])) if refused else "no request reached the server")


def _last_call(sessions: list[tuple[SessionInfo, SessionVerdict]]) -> tuple[str, str, str] | None:
    """(name, call_id, arguments) of the last function call the server sent the client, if any:
    what a crash most likely choked on."""
    for info, _ in reversed(sessions):
        for record in reversed(info.records):
            event = record.event
            if record.direction is Direction.SERVER and event and event.get("type") == "response.function_call_arguments.done":
                return str(event.get("name", "?")), str(event.get("call_id", "?")), str(event.get("arguments", ""))
    return None
