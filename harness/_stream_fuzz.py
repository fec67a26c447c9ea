"""`rtmock fuzz --stream`: Hypothesis varies what a faithful service may legally do around the
scenario's function calls (`_stream_cases.py`: parallel calls, delta chunking, extra and unknown
events, server errors between responses, pauses, the status of a text answer), a client answers each
variant, the judge decides with `rtmock run`'s rules, and a failure is shrunk to the smallest
variation and written as a reproducer: the variant scenario itself.

The cases run on argument fuzzing's machinery (`_fuzz_runner.CaseRunner`: one server, reused
clients; `_fuzz_cases.case_scenario`: bounds capped, a passing session closed). The search mirrors
`_fuzz_search.Search` for a case that is a whole scenario document rather than payloads.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from hypothesis import HealthCheck, Phase, Verbosity, given, seed, settings

from ..mockserver.errors import UsageError
from ..mockserver.loader import LoadedScenario
from ._fuzz_cases import FuzzTarget, case_scenario, fuzz_targets, replay_command
from ._fuzz_clients import CoroutineClient
from ._fuzz_report import _indent, _paint
from ._fuzz_result import FuzzOptions, FuzzStatus
from ._fuzz_runner import CaseRunner
from ._fuzz_search import LoopBridge
from ._stream_cases import StreamCase, stream_case_strategy
from .findings import Finding
from .report_text import shown_finding

__all__ = ["StreamOutcome", "StreamResult", "fuzz_stream", "render_stream_report"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class StreamOutcome:
    """One case as run: its variant (None: the scenario as written, the baseline) and the verdict."""

    number: int
    phase: str
    case: StreamCase | None
    findings: tuple[Finding, ...]
    passed: bool
    duration: float
    output_tail: tuple[str, ...] = ()

    @property
    def rule(self) -> str | None:
        if self.passed:
            return None
        return self.findings[0].rule.value if self.findings else "incomplete"


@dataclass
class StreamResult:
    scenario: LoadedScenario
    targets: list[FuzzTarget]
    command: list[str] | None
    seed: int
    options: FuzzOptions
    cases: int = 0
    generated: int = 0
    failing_cases: int = 0
    duration: float = 0.0
    #: (variation kind, "passed" or the rule of the first finding) → cases
    table: collections.Counter[tuple[str, str]] = field(default_factory=collections.Counter)
    baseline: StreamOutcome | None = None
    failure: StreamOutcome | None = None
    flaky: bool = False
    stopped: str | None = None
    clients_started: int = 0
    reproducer: Path | None = None

    @property
    def passed(self) -> bool:
        return self.baseline is not None and self.baseline.passed and self.failure is None

    @property
    def shrink_cases(self) -> int:
        return self.cases - self.generated

    def reproducer_text(self, path: str | Path) -> str:
        """The minimal failing variant, with a header saying what it varies and how to replay it."""
        if self.failure is None or self.failure.case is None:
            raise ValueError("no failing case to reproduce")
        p = Path(path)
        first = self.failure.findings[0] if self.failure.findings else None
        header = [
            f"Reproducer written by `rtmock fuzz --stream` (seed {self.seed}): {self.scenario.path or self.scenario.name}",
            "as a faithful service may also stream it; the minimal variation Hypothesis found:",
            *(f"  {note}" for note in self.failure.case.notes or ("(none: the scenario as written)",)),
            *([f"The client failed with [{first.rule.value}]: {first.message}"] if first else []),
            *(["Flaky: it passed when rtmock replayed it; the failure depends on more than the stream."]
              if self.flaky else []),
            f"Replay: {replay_command(str(p), self.command)}",
        ]
        comment = "".join(f"# {line}".rstrip() + "\n" for text in header for line in text.splitlines())
        name = p.name.removesuffix(".yaml")
        body = self.failure.case.text
        if body.startswith("name: "):
            body = body.split("\n", 1)[1]
        return f"{comment}name: {name}\n{body}"

    def write_reproducer(self, path: str | Path) -> Path:
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(self.reproducer_text(p), encoding="utf-8")
        self.reproducer = p
        return p

    def explain(self) -> str:
        return render_stream_report(self)


class _CaseFailed(Exception):
    def __init__(self, outcome: StreamOutcome) -> None:
        super().__init__(f"case {outcome.number} failed: {outcome.rule}")
        self.outcome = outcome


class _SearchOver(Exception):
    pass


class StreamSearch(LoopBridge):
    """The state shared by the Hypothesis thread and the event loop (as `_fuzz_search.Search`)."""

    def __init__(self, result: StreamResult, runner: CaseRunner, loop: asyncio.AbstractEventLoop) -> None:
        self.result = result
        self.runner = runner
        self.loop = loop
        self.options = result.options
        self.started = time.monotonic()
        self.generation_started = self.started
        self.phase = "baseline"
        self.cancelled = threading.Event()
        self.stopped: str | None = None
        self.bug: BaseException | None = None
        self.numbers = 0
        self.first_failure_at: float | None = None
        self.known_failures: dict[str, StreamOutcome] = {}
        self.best: StreamOutcome | None = None
        self.minimal: StreamOutcome | None = None

    def status(self) -> FuzzStatus:
        return FuzzStatus(self.result.cases, self.result.failing_cases, self.phase, time.monotonic() - self.started)

    async def run(self, case: StreamCase | None, phase: str, *, fresh: bool = False) -> StreamOutcome:
        self.phase = phase
        variant = self.result.scenario if case is None else case.load(name=self.result.scenario.name)
        scenario = case_scenario(variant, [], None, within_cap=self.options.within)
        run = await self.runner.run_case(scenario, fresh=fresh)
        self.numbers += 1
        outcome = StreamOutcome(self.numbers, phase, case, tuple(run.findings), run.passed, run.duration,
                                tuple(run.output_tail) if not run.passed else ())
        if case is not None:
            result = self.result
            result.cases += 1
            result.generated += phase == "generate"
            result.failing_cases += not outcome.passed
            for kind in case.kinds:
                result.table[(kind, outcome.rule or "passed")] += 1
        return outcome

    def test(self, case: StreamCase) -> None:
        outcome = self._case(case)
        if self.stopped is not None or self.bug is not None:
            raise _SearchOver(self.stopped or "rtmock bug")
        if outcome is not None:
            raise _CaseFailed(outcome)

    def _case(self, case: StreamCase) -> StreamOutcome | None:
        if self.cancelled.is_set():
            self.stopped = self.stopped or "cancelled"
        if self.stopped is not None or self.bug is not None:
            return None
        now = time.monotonic()
        if case.key in self.known_failures:
            return self.known_failures[case.key]
        if self.first_failure_at is None:
            if self.options.max_time is not None and now - self.generation_started >= self.options.max_time:
                self.stopped = self.result.stopped = "max-time"
                return None
            phase = "generate"
        else:
            phase = "shrink"
            budget = self.options.shrink_time
            if self.options.max_time is not None:
                budget = min(budget, max(5.0, self.generation_started + self.options.max_time - self.first_failure_at))
            if now >= self.first_failure_at + budget:
                return None
        outcome = self._call(self.run(case, phase))
        if outcome is None or outcome.passed:
            return None
        if self.first_failure_at is None:
            self.first_failure_at = time.monotonic()
        self.known_failures[case.key] = outcome
        self.best = outcome
        return outcome

    def explore(self, seed_value: int) -> None:
        """Run in a worker thread: the Hypothesis search. Sets `minimal`, `stopped`, `bug`."""

        @settings(max_examples=self.options.cases, deadline=None, database=None, derandomize=False,
                  phases=(Phase.generate, Phase.shrink), report_multiple_bugs=False, print_blob=False,
                  suppress_health_check=list(HealthCheck), verbosity=Verbosity.quiet)
        @seed(seed_value)
        @given(stream_case_strategy(self.result.scenario, self.result.targets))
        def stream_case(case: StreamCase) -> None:
            self.test(case)

        try:
            stream_case()
        except _CaseFailed as failed:
            self.minimal = failed.outcome
        except _SearchOver:
            pass
        except Exception:
            if self.best is None and self.stopped is None and self.bug is None:
                raise


async def fuzz_stream(scenario: LoadedScenario, client: Sequence[str] | CoroutineClient,
                      options: FuzzOptions | None = None, *, progress: Callable[[FuzzStatus], None] | None = None,
                      progress_interval: float = 2.0) -> StreamResult:
    """Fuzz how the service streams the scenario's function calls against `client` (a command or a
    coroutine function given the websocket URL): first the scenario as written (the baseline), then
    Hypothesis's variants; a failure is shrunk. Nothing is printed or written."""
    opts = options or FuzzOptions()
    opts.check()
    if not callable(client) and not client:
        raise UsageError("no command to fuzz: write it after '--', e.g. rtmock fuzz --stream scenario.yaml -- python client.py")
    targets = fuzz_targets(scenario, opts.call, max_output_tokens=opts.max_output_tokens)
    seed_value = opts.seed if opts.seed is not None else random.SystemRandom().randrange(2**32)
    result = StreamResult(scenario, targets, None if callable(client) else list(client), seed_value, opts)
    loop = asyncio.get_running_loop()
    runner = CaseRunner(scenario, client, reuse=opts.reuse, connect_timeout=opts.connect_timeout,
                        seed=f"stream{seed_value}", tls=opts.tls)
    search = StreamSearch(result, runner, loop)

    async def tick() -> None:
        assert progress is not None
        while True:
            await asyncio.sleep(progress_interval)
            progress(search.status())

    ticker = asyncio.ensure_future(tick()) if progress else None
    try:
        async with runner:
            result.baseline = await search.run(None, "baseline")
            if result.baseline.passed:
                search.generation_started = time.monotonic()
                try:
                    await asyncio.to_thread(search.explore, seed_value)
                except BaseException:
                    search.cancelled.set()
                    raise
                if search.bug is not None:
                    raise search.bug
                result.failure = search.minimal or search.best
                if result.failure is not None and search.stopped is None:
                    replay = await search.run(result.failure.case, "replay", fresh=True)
                    result.flaky = replay.passed
    finally:
        search.cancelled.set()
        search.phase = "done"
        result.duration = time.monotonic() - search.started
        result.clients_started = runner.started
        if ticker is not None:
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker
    if progress is not None:
        progress(search.status())
    return result


def render_stream_report(result: StreamResult, *, color: bool = False) -> str:
    name = result.scenario.path or result.scenario.name
    status = _paint("PASS", "32;1", color) if result.passed else _paint("FAIL", "31;1", color)
    rate = result.cases / result.duration if result.duration > 0 else 0.0
    lines = [f"{status}  {name}  --stream: {result.cases} cases in {result.duration:.1f}s ({rate:.1f} cases/s), "
             f"seed {result.seed}, {result.clients_started} client(s) started",
             f"  variations around calls {', '.join(map(str, result.targets))}: parallel calls, delta chunking, "
             "rate_limits.updated, unknown event types, server errors and pauses between responses, paced deltas, text answers "
             "incomplete or failed"]
    if result.stopped == "max-time":
        lines.append(f"  stopped generating at --max-time after {result.generated} of {result.options.cases} cases")
    baseline = result.baseline
    if baseline is not None and not baseline.passed:
        lines.append("  The client fails the scenario as written (before any variation): fix that first.")
        lines.extend(_indent(str(shown_finding(f)), "    ") for f in baseline.findings)
        lines.append(f"  See the whole exchange: {replay_command(name, result.command)}")
        return "\n".join(lines)
    failure = result.failure
    if failure is not None and failure.case is not None:
        shrink = f", shrunk by Hypothesis in {result.shrink_cases} more cases" if result.shrink_cases else ""
        lines += ["", f"Minimal failing variation (first failure after {result.generated} generated cases{shrink}):"]
        if result.flaky:
            lines.append(_paint("  flaky: this case failed, then passed when replayed (timing, state from earlier "
                                "cases: try --no-reuse)", "33", color))
        lines.extend(f"  {note}" for note in failure.case.notes or ("(none: the scenario as written)",))
        lines.append("  findings:")
        lines.extend(_indent(str(shown_finding(f)), "    ") for f in failure.findings)
        if not any(f.seen and "\n" in f.seen for f in failure.findings) and failure.output_tail:
            lines.append("  client output (last lines):")
            lines.append(_indent("\n".join(failure.output_tail[-8:]), "    "))
        if result.reproducer is not None:
            lines.append(f"Reproducer: {result.reproducer}")
            lines.append(f"  replay: {replay_command(str(result.reproducer), result.command)}")
    rows: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for (kind, verdict), count in result.table.items():
        rows[kind][verdict] += count
    if rows:
        lines += ["", "Cases by variation (a case counts under each kind it has):",
                  f"  {'variation':<16} {'cases':>6} {'passed':>6}  failed by rule"]
        from ._stream_cases import STREAM_KINDS

        for kind in sorted(rows, key=lambda k: STREAM_KINDS.index(k) if k in STREAM_KINDS else 99):
            counts = rows[kind]
            failed = ", ".join(f"{rule} ×{n}" for rule, n in counts.most_common() if rule != "passed")
            row = f"  {kind:<16} {sum(counts.values()):>6} {counts['passed']:>6}  {failed}".rstrip()
            lines.append(_paint(row, "31", color) if failed else row)
    return "\n".join(lines)
