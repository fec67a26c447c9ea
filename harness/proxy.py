"""Judging a client against the real service: `rtmock proxy` and `rtmock run --upstream URL`.

The relay (`mockserver/relay.py`) puts the upstream behind rtmock's socket; this module attaches
the same judge as `rtmock serve` and `rtmock run` (the protocol rules, plus a scenario's
expectations when one is given), runs the client, and says whose fault a failure is: a finding is
the client's (exit 1); an upstream problem (a refused handshake or key, an error about the session,
a close or a lost connection, a model that answered otherwise than the scenario scripts) is not
(exit 2), and findings that came after it are set aside as possible consequences.

The key for the upstream comes from `RTMOCK_UPSTREAM_API_KEY` (or the clients bring their own);
it is never printed, written to a transcript or report, or handed to the client.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..mockserver.loader import LoadedScenario
from ..mockserver.records import Record
from ..mockserver.relay import UPSTREAM_KEY_ENV, RelayedSession, RelayServer
from ..mockserver.relay_core import UpstreamProblem
from ..mockserver.server import Observer, SessionInfo
from .bundled import load_scenarios
from .client_process import ClientProcess
from .findings import Finding, Rule
from .judge import Judge
from .live import JudgedSession, LiveJudge
from .runner import (
    DYING_CLIENT_PATIENCE,
    RunOptions,
    RunResult,
    _error_excerpt,
    client_env,
    no_session_finding,
)

__all__ = ["ProxiedResult", "RelayJudge", "proxied_client_env", "proxy_main", "run_proxied", "run_upstream_main",
           "upstream_key"]

EXIT_PASS, EXIT_FINDING, EXIT_UPSTREAM, EXIT_INTERRUPTED = 0, 1, 2, 130

#: The clients' own credentials: under `rtmock run --upstream` they keep the user's values (which go
#: upstream as they are, unless rtmock has a key of its own), instead of rtmock's dummies.
_CLIENT_KEYS = ("OPENAI_API_KEY", "AZURE_OPENAI_API_KEY", "AZURE_VOICELIVE_API_KEY")


def upstream_key(environ: Mapping[str, str] | None = None) -> str | None:
    """The key rtmock gives the upstream instead of the clients', if the environment names one."""
    value = (os.environ if environ is None else environ).get(UPSTREAM_KEY_ENV, "").strip()
    return value or None


class RelayJudge(LiveJudge):
    """`LiveJudge` for relayed sessions (they have no `SessionCore`: their clock is the relay's)."""

    def session_started(self, session: SessionInfo) -> None:
        if not isinstance(session, RelayedSession):
            super().session_started(session)
            return
        scenario = session.scenario
        within = self.default_within if self.default_within is not None else scenario.scenario.defaults.within
        judge = Judge(session_id=session.id, scenario_name=scenario.name, scenario_path=scenario.path,
                      default_within=within)
        judged = JudgedSession(session, judge, session.started_clock)
        self.sessions.append(judged)
        self._by_info[id(session)] = judged
        self.changed.set()


@dataclass(slots=True)
class ProxiedResult(RunResult):
    """A run against the upstream: a `RunResult`, plus the upstream's problems, which fail it
    without being the client's fault."""

    upstream: str = ""  # redacted
    upstream_problems: list[UpstreamProblem] = field(default_factory=list)
    #: Findings decided at or after the first upstream problem: possibly its consequences, not counted.
    set_aside: list[Finding] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.upstream_problems and super(ProxiedResult, self).passed  # (slots: no bare super())


def proxied_client_env(server: RelayServer, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """What `rtmock run` gives a client, pointing at the relay; the user's own API keys stay as
    they are, and rtmock's upstream key is not passed on."""
    user = dict(os.environ if base is None else base)
    user.pop(UPSTREAM_KEY_ENV, None)
    env = client_env(server, user)
    for key in _CLIENT_KEYS:
        if user.get(key):
            env[key] = user[key]
    env.pop(UPSTREAM_KEY_ENV, None)
    return env


class _Stream(Observer):
    def __init__(self, callback: Callable[[SessionInfo, Record], None]) -> None:
        self.callback = callback

    def record(self, session: SessionInfo, record: Record) -> None:
        self.callback(session, record)


async def run_proxied(upstream: str, command: Sequence[str], scenario: LoadedScenario | None = None,
                      options: RunOptions | None = None, *, key: str | None = None,
                      upstream_ca: str | Path | None = None) -> ProxiedResult:
    """Run `command` against the relay to `upstream` and judge every session it opens, as
    `run_scenario` does against the mock. `key` replaces the client's credentials upstream."""
    opts = options or RunOptions()
    loop = asyncio.get_running_loop()
    judge = RelayJudge(default_within=opts.within)
    server = RelayServer(upstream, scenario, upstream_key=key, upstream_ca=upstream_ca,
                         record_dir=opts.transcript_dir, seed=opts.seed, tls=opts.tls, default_within=opts.within,
                         connect_timeout=min(opts.connect_timeout, 30.0))
    result = ProxiedResult(next(iter(server.scenarios.values())), list(command), upstream=server.upstream_shown)
    server.observers.append(judge)
    if opts.stream is not None:
        server.observers.append(_Stream(opts.stream))
    started = loop.time()
    proc: ClientProcess | None = None
    try:
        async with server:
            proc = ClientProcess(command, proxied_client_env(server), echo=opts.echo_output)
            try:
                await _supervise(proc, judge, opts, result, started, server)
            finally:
                if proc.returncode is None:
                    await proc.stop()
            await judge.sessions_ended(2.0)
            verdicts = judge.finish_all()
            result.sessions = [(j.info, v) for j, v in zip(judge.sessions, verdicts, strict=True)]
            result.internal_errors = list(server.internal_errors)
            result.upstream_problems = list(server.upstream_problems)
    finally:
        if proc is not None and proc.returncode is None:
            await proc.stop()
    assert proc is not None
    await proc.drain()
    result.exit_code = proc.returncode
    result.stderr_tail = list(proc.stderr_tail)
    result.client_stopped = proc.stopped_by_us
    if result.upstream_problems:
        _set_aside_consequences(result)
    elif not result.sessions and not result.run_findings:
        result.run_findings.append(no_session_finding(
            f"exited (code {proc.returncode}) without opening a realtime session", server.refused))
    caused = [f for _, verdict in result.sessions for f in verdict.findings if not f.cut_short]
    if proc.returncode not in (0, None) and not proc.stopped_by_us and not caused and not result.upstream_problems:
        consequences = []
        for index, (info, verdict) in enumerate(result.sessions):
            cut = [f for f in verdict.findings if f.cut_short]
            consequences += [f"{f.rule.value}" + (f" ({f.call_name} {f.call_id})" if f.call_id else "") for f in cut]
            verdict.findings = [f for f in verdict.findings if not f.cut_short]
            result.sessions[index] = (info, verdict)
        result.run_findings.insert(0, Finding(
            Rule.CLIENT_CRASHED, f"The client exited with code {proc.returncode}"
            + (f", leaving its session short: {', '.join(consequences)}." if consequences else "."),
            "Its stderr is shown: fix the crash (a client must survive whatever the model sends).",
            seen=_error_excerpt(result.stderr_tail)))
    result.duration = loop.time() - started
    if judge.first_finding_at is not None:
        result.verdict_latency = loop.time() - judge.first_finding_at
    return result


def _set_aside_consequences(result: ProxiedResult) -> None:
    """Findings decided at or after the upstream's first problem may be its consequences (a client
    that got the upstream's error, or lost its session): they are set aside, not counted."""
    firsts = [_problem_time(info) for info, _ in result.sessions]
    for index, (info, verdict) in enumerate(result.sessions):
        at = firsts[index]
        if at is None:
            continue
        kept = [f for f in verdict.findings if f.time is None or f.time < at]
        result.set_aside.extend(f for f in verdict.findings if f not in kept)
        verdict.findings = kept
        result.sessions[index] = (info, verdict)


def _problem_time(info: SessionInfo) -> float | None:
    for record in info.records:
        if record.event is not None and record.type == "rtmock.upstream.problem":
            return record.time
    return None


async def _supervise(proc: ClientProcess, judge: LiveJudge, opts: RunOptions, result: ProxiedResult,
                     started: float, server: RelayServer) -> None:
    """Wait until the verdict is known (as `rtmock run` does), or the upstream fails; then stop the client."""
    loop = asyncio.get_running_loop()
    exited = asyncio.ensure_future(proc.wait())
    problem = asyncio.ensure_future(server.problem_seen.wait())
    settle = asyncio.ensure_future(judge.settle(started=started, grace=opts.grace, connect_timeout=opts.connect_timeout,
                                                timeout=opts.timeout, exited=exited))
    try:
        done, _ = await asyncio.wait({settle, problem}, return_when=asyncio.FIRST_COMPLETED)
        why = settle.result() if settle in done else "upstream"
        if why == "exited":
            return
        if why == "upstream":
            # the client learns of it too (an error, a close): let it end on its own, briefly
            await asyncio.wait({exited}, timeout=max(0.0, min(opts.grace, started + opts.timeout - loop.time())))
        elif why == "finding":
            judge.stopping = True
            if all(f.cut_short for f in judge.findings) and all(j.info.ended for j in judge.sessions):
                left = started + opts.timeout - loop.time()
                await asyncio.wait({exited}, timeout=max(0.0, min(DYING_CLIENT_PATIENCE, left)))
        elif why == "no-session" and not server.upstream_problems:
            result.run_findings.append(no_session_finding(
                f"opened no realtime session within {opts.connect_timeout:g}s", server.refused))
        elif why == "timeout":
            result.run_findings.append(Finding(
                Rule.SCENARIO_MISMATCH, f"The run did not finish within {opts.timeout:g}s.",
                "Check the client exits when the conversation is over, or raise --timeout."))
        await proc.stop()
    finally:
        for future in (settle, problem, exited):
            if not future.done():
                future.cancel()
        await asyncio.gather(settle, problem, exited, return_exceptions=True)


# ---- the command line ----------------------------------------------------------------------------


def print_upstream_problems(results: Sequence[ProxiedResult], stream: Any = None) -> None:
    out = stream or sys.stderr
    for result in results:
        for problem in result.upstream_problems:
            print(f"rtmock: upstream problem ({problem.kind}): {problem}", file=out)
        if result.upstream_problems and result.set_aside:
            rules = ", ".join(sorted({f.rule.value for f in result.set_aside}))
            print(f"rtmock: {len(result.set_aside)} finding(s) after it are set aside, as its possible consequences "
                  f"({rules})", file=out)
    if any(r.upstream_problems for r in results):
        print("rtmock: the upstream failed, not the client: no verdict on the client (exit 2)", file=out)


def write_proxied_json(results: Sequence[ProxiedResult], path: str | Path) -> None:
    """`--json`: the results as `rtmock run` writes them, plus the upstream and its problems."""
    from .reports import result_json

    data = {"passed": all(r.passed for r in results),
            "results": [{**result_json(r), "upstream": r.upstream,
                         "upstream_problems": [p.to_json() for p in r.upstream_problems],
                         "set_aside": [f.to_json() for f in r.set_aside]} for r in results]}
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8", errors="backslashreplace")
    os.replace(tmp, target)  # whole or not at all, as the other reports


async def run_upstream_main(args: argparse.Namespace) -> int:
    """`rtmock run [SCENARIO...] --upstream URL -- COMMAND`: one run per scenario (or one with none)."""
    from .reports import RunProgress, console_summary, write_html, write_junit

    loaded: list[LoadedScenario | None] = list(load_scenarios(args.scenario)) if args.scenario else [None]
    key = upstream_key()
    stream = None
    if args.verbose:
        def stream(session: SessionInfo, record: Record) -> None:
            print(f"  [{session.number}] {record}", file=sys.stderr, flush=True)
    base = Path(args.transcript) if args.transcript else None
    semaphore = asyncio.Semaphore(max(1, args.jobs))
    progress = RunProgress(len(loaded)) if len(loaded) > 1 else None

    async def one(index: int, scenario: LoadedScenario | None) -> ProxiedResult:
        async with semaphore:
            name = scenario.name if scenario is not None else "upstream"
            tdir = base / f"{index:03d}-{name}" if base else None
            options = RunOptions(grace=args.grace, within=args.within, transcript_dir=tdir, stream=stream,
                                 echo_output=args.verbose, connect_timeout=args.connect_timeout, timeout=args.timeout)
            if progress:
                progress.started(name)
            result = await run_proxied(args.upstream, args.command, scenario, options, key=key,
                                       upstream_ca=args.upstream_ca)
            if progress:
                progress.finished(result)
            return result

    try:
        results = await asyncio.gather(*(one(i, s) for i, s in enumerate(loaded, start=1)))
    finally:
        if progress:
            progress.close()
    try:
        console_summary(results)
        sys.stdout.flush()
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    print_upstream_problems(results)
    if args.json:
        write_proxied_json(results, args.json)
    if args.junit:
        write_junit(results, args.junit)
    if args.html:
        write_html(results, args.html)
    return exit_code(results)


def exit_code(results: Sequence[ProxiedResult]) -> int:
    bugs = [e for r in results for e in r.internal_errors]
    if bugs:
        print(f"rtmock: internal error, a bug in rtmock and not in your client ({bugs[0]}); "
              "the verdict cannot be trusted. Please report it with the transcript.", file=sys.stderr)
        return EXIT_UPSTREAM
    if any(r.upstream_problems for r in results):
        return EXIT_UPSTREAM
    return EXIT_PASS if all(r.passed for r in results) else EXIT_FINDING


async def proxy_main(args: argparse.Namespace) -> int:
    """`rtmock proxy --upstream URL`: relay and judge until Ctrl-C, like `rtmock serve`."""
    from ..mockserver.server import client_environment

    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"rtmock: warning: listening on {args.host}: anyone who can reach it can use this proxy "
              "(and, with a key in the environment, your key)", file=sys.stderr)
    scenario = load_scenarios([args.scenario])[0] if args.scenario else None
    key = upstream_key()
    server = RelayServer(args.upstream, scenario, upstream_key=key, upstream_ca=args.upstream_ca, host=args.host,
                         port=args.port, tls=not args.no_tls, record_dir=args.record, default_within=args.within)
    judge = RelayJudge(default_within=args.within)
    server.observers.append(judge)
    server.observers.append(_ProxyLog(judge))
    server.problem_listeners.append(lambda problem: print(f"rtmock: upstream problem ({problem.kind}): {problem}",
                                                          flush=True))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        what = f" with the expectations of {scenario.path or scenario.name}" if scenario else ""
        print(f"rtmock: proxying {server.ws_url()} to {server.upstream_shown}{what}", flush=True)
        print("  credentials: " + (f"${UPSTREAM_KEY_ENV} replaces the clients' keys" if key else
                                   "each client's own (Authorization / api-key), passed on as sent"))
        print("  point clients at it (bash):")
        for name, value in client_environment(server).items():
            if name in _CLIENT_KEYS and not key:
                continue  # the client brings its real key
            print(f"    export {name}={value}")
        print("  Ctrl-C stops the proxy.", flush=True)
        await stop.wait()
    print("rtmock: stopped", file=sys.stderr)
    return EXIT_INTERRUPTED


class _ProxyLog(Observer):
    """One line per notable event of each relayed session, its verdict, and the upstream's problems."""

    notable = frozenset({"response.create", "conversation.item.create", "session.update", "error", "response.done",
                         "rtmock.scenario.complete", "rtmock.closed", "rtmock.upstream.problem"})

    def __init__(self, judge: LiveJudge) -> None:
        self.judge = judge

    def session_started(self, session: SessionInfo) -> None:
        upstream = session.upstream if isinstance(session, RelayedSession) else "?"
        print(f"[{session.id}] connected: {session.request_path} → {upstream}", flush=True)

    def record(self, session: SessionInfo, record: Record) -> None:
        if not record.delta and record.type in self.notable:
            print(f"[{session.id}] {record}", flush=True)

    def session_ended(self, session: SessionInfo) -> None:
        judged = next((j for j in self.judge.sessions if j.info is session), None)
        verdict = judged.verdict if judged else None
        problems = session.relay.problems if isinstance(session, RelayedSession) and session.relay else []
        if problems:
            state = "UPSTREAM PROBLEM (no verdict on the client): " + "; ".join(str(p) for p in problems)
        elif verdict is None:
            state = "ended"
        elif verdict.passed:
            state = "PASS"
        elif verdict.findings:
            state = "FAIL"
        else:
            state = "incomplete (the scenario did not finish; nothing was found against the client)"
        print(f"[{session.id}] ended: {state}", flush=True)
        for finding in verdict.findings if verdict else []:
            print("    " + str(finding).replace("\n", "\n    "), flush=True)
