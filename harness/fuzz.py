"""`rtmock fuzz`: Hypothesis generates function-call arguments, a client answers each case, the
judge decides, and a failing case is shrunk to a minimal payload and written as a reproducer.

    rtmock fuzz scenarios/get_your_info.yaml --cases 200 --seed 1 -- python my_client.py

A *case* is the scenario with each fuzzed call's `arguments` replaced by a generated payload
(`payloads.any_arguments` for the tool's schema), streamed in generated delta chunks
(`payloads.delta_chunks`). It fails when the client crashes, disconnects, sends an invalid event,
or does not answer with a string `function_call_output` (right call_id) and then `response.create`
within the scenario's bounds: the rules of `rtmock run`, judged per case and composed as `rtmock run`
composes them (`_fuzz_verdict.py`), so that a reproducer replays to the verdict its case had. The
`match:` of an expect on a fuzzed call's output is judged by the baseline case only.

By default the payloads are what the service could send: a response's arguments are bounded by the
model's output tokens (`FuzzOptions.max_output_tokens`: 4,096 for gpt-realtime, 32,000 for
gpt-realtime-2), at an estimated 4 characters a token: 16,384 characters by default, shared by the
calls of one response. `hostile` adds payloads past that (a megabyte string, 100 000 levels of
nesting), and reports mark the failures on them.

Hypothesis drives the search in a worker thread (an ordinary `@given` test, run here rather than
under pytest, through its public interface only); each example runs one case on the event loop and
raises on a failing verdict, so Hypothesis stops generating and shrinks it. `--seed` fixes the
cases. How clients are run and reused is `_fuzz_runner.py`; case scenarios and reproducers are
`_fuzz_cases.py`; the console, JSON and JUnit output is `_fuzz_report.py`; the command line,
`_fuzz_cli.py`.

From a test: `result = fuzz_client("scenarios/x.yaml", ["python", "client.py"], cases=50, seed=1)`
(or a coroutine function taking the websocket URL), then `assert result.passed, result.explain()`.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import random
import threading
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from hypothesis import HealthCheck, Phase, Verbosity, given, seed, settings
from hypothesis import strategies as st

from mockserver.errors import UsageError
from mockserver.loader import LoadedScenario, load_scenario

from ._fuzz_cases import (
    CaseInput,
    FuzzTarget,
    case_scenario,
    fuzz_targets,
    kind_label,
    replay_command,
    reproducer_yaml,
    unjudged_matches,
)
from ._fuzz_clients import CoroutineClient
from ._fuzz_runner import CaseRunner
from ._fuzz_verdict import CaseWatch, FrameLimit, charges
from .findings import Finding
from .payloads import DEFAULT_MAX_OUTPUT_TOKENS, any_arguments, delta_chunks

__all__ = [
    "CaseInput", "CaseOutcome", "FuzzOptions", "FuzzResult", "FuzzStatus", "add_fuzz_arguments", "fuzz",
    "fuzz_client", "fuzz_client_async", "fuzz_main", "parse_fuzz_args",
]  # fmt: skip

T = TypeVar("T")

MIN_OUTPUT_TOKENS = 16  # a response too small for any useful arguments is not worth fuzzing


@dataclass(frozen=True, kw_only=True)
class FuzzOptions:
    cases: int = 100  # examples Hypothesis generates (shrinking a failure runs more)
    seed: int | None = None  # None: a random seed, reported so the run can be replayed
    max_time: float | None = None  # stop generating after this many seconds
    call: str | None = None  # fuzz only this call (id label, call_id or tool name)
    reuse: bool = True  # keep a client that reconnects after a passing case (RTMOCK_FUZZ=1)
    within: float | None = None  # cap every bound of the scenario during fuzzing (seconds)
    connect_timeout: float = 15.0
    shrink_time: float = 30.0  # how long shrinking a failure may take
    tls: bool = True
    #: What the service could send: a response's arguments are bounded by the model's output tokens
    #: (4,096 for gpt-realtime, 32,000 for gpt-realtime-2, or the session's `max_output_tokens`), at
    #: ~4 characters a token (`payloads.CHARS_PER_TOKEN`). Payloads stay within it unless `hostile`.
    max_output_tokens: int = DEFAULT_MAX_OUTPUT_TOKENS
    hostile: bool = False  # also payloads past that bound (1 MB strings, 100 000 levels of nesting)

    def check(self) -> None:
        if self.cases < 1:
            raise UsageError(f"--cases must be at least 1, not {self.cases}")
        if self.max_output_tokens < MIN_OUTPUT_TOKENS:
            raise UsageError(f"--max-output-tokens must be at least {MIN_OUTPUT_TOKENS}, not {self.max_output_tokens}")
        for name, value in (("--max-time", self.max_time), ("--within", self.within)):
            if value is not None and value <= 0:
                raise UsageError(f"{name} must be a positive number of seconds, not {value:g}")


@dataclass(frozen=True, slots=True)
class CaseOutcome:
    """One case as run: its inputs (one per fuzzed call; none for the baseline) and the verdict."""

    number: int
    phase: str  # "baseline", "generate" or "shrink"
    inputs: tuple[CaseInput, ...]
    findings: tuple[Finding, ...]
    passed: bool
    duration: float
    output_tail: tuple[str, ...] = ()
    frame_limit: FrameLimit | None = None  # the client's websocket library refused a frame as too big

    @property
    def rule(self) -> str | None:
        """What went wrong first, as a stable rule id (None when it passed)."""
        if self.passed:
            return None
        return self.findings[0].rule.value if self.findings else "incomplete"


@dataclass(frozen=True, slots=True)
class FuzzStatus:
    """A progress snapshot."""

    cases: int
    failing: int
    phase: str  # "baseline", "generate", "shrink" or "done"
    elapsed: float

    @property
    def rate(self) -> float:
        return self.cases / self.elapsed if self.elapsed > 0 else 0.0


@dataclass
class FuzzResult:
    scenario: LoadedScenario
    targets: list[FuzzTarget]
    command: list[str] | None
    seed: int
    options: FuzzOptions
    cases: int = 0  # cases run after the baseline: generated plus shrinking
    generated: int = 0
    failing_cases: int = 0
    duration: float = 0.0
    #: (call label, payload kind (`kind_label`), "passed" or the rule of the first finding charged to the call) → cases
    table: collections.Counter[tuple[str, str, str]] = field(default_factory=collections.Counter)
    baseline: CaseOutcome | None = None
    failure: CaseOutcome | None = None  # the minimal failing case
    flaky: bool = False  # the minimal case passed when Hypothesis replayed it
    stopped: str | None = None  # why generation ended before --cases ("max-time")
    clients_started: int = 0
    reproducer: Path | None = None
    #: steps whose `match:` the cases do not judge (expects of fuzzed calls' outputs): see `unjudged_matches`
    unjudged: list[int] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.baseline is not None and self.baseline.passed and self.failure is None

    @property
    def shrink_cases(self) -> int:
        return self.cases - self.generated

    @property
    def cases_per_second(self) -> float:
        return self.cases / self.duration if self.duration > 0 else 0.0

    def unjudged_text(self) -> str | None:
        """One sentence naming the `match:` conditions the cases did not judge, if any."""
        if not self.unjudged:
            return None
        steps = ", ".join(self.scenario.step_label(i) for i in self.unjudged)
        return (f"not judged while fuzzing: the `match:` of {steps}, on the output of a fuzzed call: it depends on "
                "the fuzzed arguments (the baseline case, with the scenario's own arguments, judged it)")

    def reproducer_text(self, path: str | Path) -> str:
        """The reproducer scenario for the minimal failing case (see `write_reproducer`)."""
        from ._fuzz_report import frame_limit_text

        if self.failure is None:
            raise ValueError("no failing case to reproduce")
        p = Path(path)
        source = self.scenario.path or self.scenario.name
        first = self.failure.findings[0] if self.failure.findings else None
        header = [
            f"Reproducer written by `rtmock fuzz` (seed {self.seed}): {source} with the arguments of",
            "the fuzzed call(s) replaced by the minimal failing payload Hypothesis found, sent in exactly",
            "these argument deltas. Commit it as a regression test; the original's comments are not kept.",
            *(f"  {t}: {kind_label(t, c)}: {c.payload.note}" for t, c in zip(self.targets, self.failure.inputs, strict=True)),
            *([f"The client failed with [{first.rule.value}]: {first.message}"] if first else []),
            *([f"Why: {frame_limit_text(self, self.failure)}"] if self.failure.frame_limit is not None else []),
            *(["Flaky: it passed when rtmock replayed it; the failure depends on more than the payload."]
              if self.flaky else []),
            *([f"{self.unjudged_text()}; it is left out here."] if self.unjudged else []),
            f"Replay: {replay_command(str(p), self.command)}",
        ]
        return reproducer_yaml(self.scenario, self.targets, self.failure.inputs, name=p.name.removesuffix(".yaml"),
                               header=header)

    def write_reproducer(self, path: str | Path) -> Path:
        p = Path(path)
        text = self.reproducer_text(p)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text, encoding="utf-8")
        self.reproducer = p
        return p

    def explain(self) -> str:
        """The console report, as text (for assertion messages)."""
        from ._fuzz_report import render_report

        return render_report(self, color=False)


# ---- the Hypothesis side --------------------------------------------------------------------------
#
# Only Hypothesis's public interface: an ordinary `@given` test with `settings` and `seed`, run here
# rather than under pytest, and plain exceptions. A failing case raises `_CaseFailed`; Hypothesis
# shrinks it and raises the minimal one again. Ending early (--max-time, Ctrl-C, an rtmock bug) raises
# `_SearchOver` from then on, at once and without running a case: Hypothesis takes it for a failure,
# shrinks it in moments and raises it. What ended the search is read from `_Search`, never from the
# kind of exception Hypothesis returns. Known failures are raised again from a cache, so Hypothesis's
# last replay cannot come out differently; whether the failure is flaky is rtmock's own replay.


class _CaseFailed(Exception):
    """Raised from the Hypothesis test for a failing case: Hypothesis shrinks toward smaller ones."""

    def __init__(self, outcome: CaseOutcome) -> None:
        super().__init__(f"case {outcome.number} failed: {outcome.rule}")
        self.outcome = outcome


class _SearchOver(Exception):
    """Raised from the Hypothesis test once the search must end (see `_Search.stopped` and `.bug`)."""


def _inputs_strategy(targets: Sequence[FuzzTarget], *, hostile: bool = False) -> st.SearchStrategy[tuple[CaseInput, ...]]:
    payloads = [any_arguments(t.schema, max_chars=t.max_chars, oversized=hostile) for t in targets]

    @st.composite
    def inputs(draw: st.DrawFn) -> tuple[CaseInput, ...]:
        out = []
        for strategy in payloads:
            payload = draw(strategy)
            out.append(CaseInput(payload, tuple(draw(delta_chunks(payload.text)))))
        return tuple(out)

    return inputs()


class _Search:
    """The state shared by the Hypothesis thread and the event loop."""

    def __init__(self, result: FuzzResult, runner: CaseRunner, loop: asyncio.AbstractEventLoop) -> None:
        self.result = result
        self.runner = runner
        self.loop = loop
        self.options = result.options
        self.started = time.monotonic()
        self.generation_started = self.started  # reset once the baseline has run: --max-time counts from there
        self.phase = "baseline"
        self.cancelled = threading.Event()
        self.stopped: str | None = None  # why the search ended early: "max-time" or "cancelled"
        self.bug: BaseException | None = None  # an exception of rtmock's own inside a case: re-raised as is
        self.numbers = 0
        self.first_failure_at: float | None = None
        self.known_failures: dict[tuple[tuple[str, str, tuple[str, ...]], ...], CaseOutcome] = {}
        self.best: CaseOutcome | None = None  # the last failing case: shrinking only keeps smaller ones
        self.minimal: CaseOutcome | None = None  # the failure Hypothesis reported

    def status(self) -> FuzzStatus:
        return FuzzStatus(self.result.cases, self.result.failing_cases, self.phase, time.monotonic() - self.started)

    async def run(self, inputs: tuple[CaseInput, ...] | None, phase: str, *, fresh: bool = False) -> CaseOutcome:
        self.phase = phase
        scenario = case_scenario(self.result.scenario, self.result.targets, inputs, within_cap=self.options.within)
        run = await self.runner.run_case(scenario, fresh=fresh)
        self.numbers += 1
        outcome = CaseOutcome(self.numbers, phase, inputs or (), tuple(run.findings), run.passed, run.duration,
                              tuple(run.output_tail) if not run.passed else (), run.frame_limit)
        if inputs is not None:
            result = self.result
            result.cases += 1
            result.generated += phase == "generate"
            result.failing_cases += not outcome.passed
            places = [(t.ref.step, t.ref.part) for t in result.targets]
            charged = charges(run.findings, run.watch or CaseWatch({}), places, passed=run.passed)
            for target, case, charge in zip(result.targets, inputs, charged, strict=True):
                if charge is not None:  # None: never reached, another call's payload stopped the client
                    result.table[(target.label, kind_label(target, case), charge)] += 1
        return outcome

    def _call(self, coro: Coroutine[Any, Any, T]) -> T | None:
        """Run `coro` on the event loop and wait for it; None when the search ended meanwhile."""
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        while True:
            try:
                return future.result(0.25)
            except concurrent.futures.TimeoutError:
                if self.cancelled.is_set():
                    future.cancel()
                    self.stopped = self.stopped or "cancelled"
                    return None
            except concurrent.futures.CancelledError:
                self.stopped = self.stopped or "cancelled"
                return None
            except Exception as exc:
                self.bug = exc
                return None

    def test(self, inputs: tuple[CaseInput, ...]) -> None:
        """The body of the Hypothesis test: one case. Each exception is raised from one line only:
        Hypothesis tells failures apart by where they were raised, and would take one failure raised
        from two places for two failures (then for a flaky one)."""
        outcome = self._case(inputs)
        if self.stopped is not None or self.bug is not None:
            raise _SearchOver(self.stopped or "rtmock bug")
        if outcome is not None:
            raise _CaseFailed(outcome)

    def _case(self, inputs: tuple[CaseInput, ...]) -> CaseOutcome | None:
        """The failing outcome of this case, or None: it passed, was not tried, or the search ended."""
        if self.cancelled.is_set():
            self.stopped = self.stopped or "cancelled"
        if self.stopped is not None or self.bug is not None:
            return None
        now = time.monotonic()
        key = tuple(case.key for case in inputs)
        if key in self.known_failures:  # the same case again (Hypothesis's last replay): the same verdict
            return self.known_failures[key]
        if self.first_failure_at is None:
            if self.options.max_time is not None and now - self.generation_started >= self.options.max_time:
                self.stopped = self.result.stopped = "max-time"
                return None
            phase = "generate"
        else:
            phase = "shrink"
            if now >= self._shrink_deadline():
                return None  # out of time: what is known to fail still fails (above), anything else is not tried
        outcome = self._call(self.run(inputs, phase))
        if outcome is None or outcome.passed:
            return None
        if self.first_failure_at is None:
            self.first_failure_at = time.monotonic()
        self.known_failures[key] = outcome
        self.best = outcome
        return outcome

    def _shrink_deadline(self) -> float:
        assert self.first_failure_at is not None
        budget = self.options.shrink_time
        if self.options.max_time is not None:
            left = self.generation_started + self.options.max_time - self.first_failure_at
            budget = min(budget, max(5.0, left))
        return self.first_failure_at + budget

    def explore(self, seed_value: int) -> None:
        """Run in a worker thread: the Hypothesis search over cases. Sets `minimal`, `stopped`, `bug`."""
        options = self.options

        @settings(max_examples=options.cases, deadline=None, database=None, derandomize=False,
                  phases=(Phase.generate, Phase.shrink), report_multiple_bugs=False, print_blob=False,
                  suppress_health_check=list(HealthCheck), verbosity=Verbosity.quiet)
        @seed(seed_value)
        @given(_inputs_strategy(self.result.targets, hostile=options.hostile))
        def fuzz_case(inputs: tuple[CaseInput, ...]) -> None:
            self.test(inputs)

        try:
            fuzz_case()
        except _CaseFailed as failed:
            self.minimal = failed.outcome
        except _SearchOver:
            pass
        except Exception:
            # Not one of ours as raised (a future Hypothesis may wrap it): what we saw decides. An error
            # of Hypothesis's own, with no failure and no stop to explain it, is an rtmock bug.
            if self.best is None and self.stopped is None and self.bug is None:
                raise


# ---- the public entry points ----------------------------------------------------------------------


async def fuzz(scenario: LoadedScenario, client: Sequence[str] | CoroutineClient, options: FuzzOptions | None = None,
               *, progress: Callable[[FuzzStatus], None] | None = None, progress_interval: float = 2.0) -> FuzzResult:
    """Fuzz the arguments of the scenario's function calls against `client`: a command (each case's
    process gets the server in its environment, as with `rtmock run`) or a coroutine function given
    the websocket URL. First the scenario's own arguments (the baseline: a client that fails those is
    not fuzzed), then Hypothesis's cases; a failure is shrunk. Nothing is printed or written."""
    opts = options or FuzzOptions()
    opts.check()
    if not callable(client) and not client:
        raise UsageError("no command to fuzz: write it after '--', e.g. rtmock fuzz scenario.yaml -- python client.py")
    targets = fuzz_targets(scenario, opts.call, max_output_tokens=opts.max_output_tokens)
    seed_value = opts.seed if opts.seed is not None else random.SystemRandom().randrange(2**32)
    result = FuzzResult(scenario, targets, None if callable(client) else list(client), seed_value, opts)
    result.unjudged = unjudged_matches(scenario, targets)
    loop = asyncio.get_running_loop()
    runner = CaseRunner(scenario, client, reuse=opts.reuse, connect_timeout=opts.connect_timeout,
                        seed=f"fuzz{seed_value}", tls=opts.tls)
    search = _Search(result, runner, loop)
    ticker = asyncio.ensure_future(_tick(search, progress, progress_interval)) if progress else None
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
                    # Replayed once on a fresh client, as the reproducer would be: a pass says it is flaky.
                    replay = await search.run(result.failure.inputs, "replay", fresh=True)
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


async def _tick(search: _Search, progress: Callable[[FuzzStatus], None], interval: float) -> None:
    while True:
        await asyncio.sleep(interval)
        progress(search.status())


async def fuzz_client_async(scenario: str | Path | LoadedScenario, client: Sequence[str] | CoroutineClient, *,
                            cases: int = 100, seed: int | None = None, **options: Any) -> FuzzResult:
    loaded = scenario if isinstance(scenario, LoadedScenario) else load_scenario(scenario)
    return await fuzz(loaded, client, FuzzOptions(cases=cases, seed=seed, **options))


def fuzz_client(scenario: str | Path | LoadedScenario, client: Sequence[str] | CoroutineClient, *,
                cases: int = 100, seed: int | None = None, **options: Any) -> FuzzResult:
    """Fuzz a client from a test, in a few lines; works in sync and async tests alike (the fuzz runs
    on an event loop of its own, in-process coroutine clients included):

        def test_client_survives_bad_arguments():
            result = fuzz_client("scenarios/get_your_info.yaml", [sys.executable, "client.py"], cases=50, seed=1)
            assert result.passed, result.explain()

    `client` is a command list, or a coroutine function taking the websocket URL (it must send an
    `Authorization: Bearer <anything>` header). Options: those of `FuzzOptions`. To keep a reproducer
    of a failure: `result.write_reproducer(path)`. Note that Hypothesis seeds the global `random`
    module for every case, so an in-process client drawing from it sees the same numbers each case.
    """
    coro = fuzz_client_async(scenario, client, cases=cases, seed=seed, **options)
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="rtmock-fuzz") as pool:
        return pool.submit(asyncio.run, coro).result()


# ---- the command line: `_fuzz_cli.py` (imported last: it uses the names above) -----------------------

from ._fuzz_cli import add_fuzz_arguments, fuzz_main, parse_fuzz_args  # noqa: E402
