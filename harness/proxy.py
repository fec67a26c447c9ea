"""Judging a client against the real service: `rtmock proxy` and `rtmock run --upstream URL`.

The relay (`mockserver/net/relay.py`) puts the upstream behind rtmock's socket; this module attaches
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
import os
import signal
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..mockserver.core.records import Record
from ..mockserver.core.relay_core import UpstreamProblem
from ..mockserver.net.relay import UPSTREAM_KEY_ENV, RelayedSession, RelayServer
from ..mockserver.net.server import MockServer, Observer, SessionInfo
from ..mockserver.scenario.loader import LoadedScenario
from .bounds import scaled_within
from .bundled import load_scenarios
from .judging.findings import Finding
from .judging.judge import Judge
from .judging.live import JudgedSession, LiveJudge
from .run_sessions import RunJudge, new_run_id
from .runner import RunOptions, RunResult, client_env, judge_client

__all__ = ["ProxiedResult", "RelayJudge", "print_upstream_problems", "proxied_client_env", "proxy_main", "run_proxied",
           "upstream_key", "write_proxied_json"]

EXIT_INTERRUPTED = 130

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


class _RelayRunJudge(RelayJudge, RunJudge):
    """The judge of one `rtmock run --upstream`: relayed sessions, combined as `rtmock run` combines
    its own (a probe session is not judged when another completed the scenario)."""


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

    @property
    def upstream_failed(self) -> bool:
        return bool(self.upstream_problems)

    def take_from(self, server: MockServer) -> None:
        super(ProxiedResult, self).take_from(server)
        assert isinstance(server, RelayServer)
        self.upstream_problems = list(server.upstream_problems)


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


async def run_proxied(upstream: str, command: Sequence[str], scenario: LoadedScenario | None = None,
                      options: RunOptions | None = None, *, key: str | None = None,
                      upstream_ca: str | Path | None = None) -> ProxiedResult:
    """Run `command` against the relay to `upstream` and judge every session it opens, as
    `run_scenario` does against the mock. `key` replaces the client's credentials upstream."""
    opts = options or RunOptions()
    server = RelayServer(upstream, scenario, upstream_key=key, upstream_ca=upstream_ca,
                         record_dir=opts.transcript_dir, seed=opts.seed, tls=opts.tls, default_within=opts.within,
                         connect_timeout=min(opts.connect_timeout, 30.0), run=new_run_id())
    result = ProxiedResult(next(iter(server.scenarios.values())), list(command), upstream=server.upstream_shown)
    await judge_client(server, _RelayRunJudge(default_within=opts.within, probe_patience=opts.connect_timeout),
                       result, opts, env=proxied_client_env, upstream_failed=server.problem_seen)
    if result.upstream_problems:
        _set_aside_consequences(result)
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
    from .reports.summary import result_json, write_json

    write_json(results, path, describe=lambda r: {
        **result_json(r), "upstream": r.upstream, "upstream_problems": [p.to_json() for p in r.upstream_problems],
        "set_aside": [f.to_json() for f in r.set_aside]})


async def proxy_main(args: argparse.Namespace) -> int:
    """`rtmock proxy --upstream URL`: relay and judge until Ctrl-C, like `rtmock serve`."""
    from ..mockserver.net.server import client_environment

    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"rtmock: warning: listening on {args.host}: anyone who can reach it can use this proxy "
              "(and, with a key in the environment, your key)", file=sys.stderr)
    scenario = load_scenarios([args.scenario], scale_bounds=args.scale_bounds)[0] if args.scenario else None
    within = scaled_within(args.within, args.scale_bounds, scenario=scenario is not None)
    key = upstream_key()
    server = RelayServer(args.upstream, scenario, upstream_key=key, upstream_ca=args.upstream_ca, host=args.host,
                         port=args.port, tls=not args.no_tls, record_dir=args.record, default_within=within)
    judge = RelayJudge(default_within=within)
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
