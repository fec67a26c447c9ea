"""The search over fuzz cases: Hypothesis generates and shrinks them in a worker thread, each case
runs on the event loop (`_fuzz_runner.CaseRunner`), and a `CaseSearch` keeps what both sides share
and drives a whole run (`CaseSearch.drive`: baseline, search, replay of the failure). `Search` is
argument fuzzing's (`fuzz.fuzz`), `_stream_fuzz.StreamSearch` stream fuzzing's: they differ only in
what a case is and how it is run and counted."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import random
import threading
import time
from collections.abc import Callable, Coroutine, Hashable, Sequence
from typing import Any, Generic, Protocol, TypeVar

from hypothesis import HealthCheck, Phase, Verbosity, given, seed, settings
from hypothesis import strategies as st

from ...mockserver.errors import UsageError
from ...mockserver.scenario.loader import LoadedScenario
from ._cases import CaseInput, FuzzTarget, case_scenario, fuzz_targets, kind_label
from ._clients import CoroutineClient
from ._result import CaseOutcome, FuzzOptions, FuzzResult, FuzzStatus, SearchResult
from ._runner import CaseRunner
from ._verdict import CaseWatch, charges
from .payloads import any_arguments, delta_chunks

__all__ = ["CaseSearch", "Search", "fuzz_with", "inputs_strategy"]

T = TypeVar("T")
CaseT = TypeVar("CaseT")


class _Outcome(Protocol):
    @property
    def number(self) -> int: ...
    @property
    def passed(self) -> bool: ...
    @property
    def rule(self) -> str | None: ...


OutcomeT = TypeVar("OutcomeT", bound=_Outcome)


# ---- the Hypothesis side --------------------------------------------------------------------------
#
# Only Hypothesis's public interface: an ordinary `@given` test with `settings` and `seed`, run here
# rather than under pytest, and plain exceptions. A failing case raises `_CaseFailed`; Hypothesis
# shrinks it and raises the minimal one again. Ending early (--max-time, Ctrl-C, an rtmock bug) raises
# `_SearchOver` from then on, at once and without running a case: Hypothesis takes it for a failure,
# shrinks it in moments and raises it. What ended the search is read from `Search`, never from the
# kind of exception Hypothesis returns. Known failures are raised again from a cache, so Hypothesis's
# last replay cannot come out differently; whether the failure is flaky is rtmock's own replay.


class _CaseFailed(Exception):
    """Raised from the Hypothesis test for a failing case: Hypothesis shrinks toward smaller ones."""

    def __init__(self, outcome: _Outcome) -> None:
        super().__init__(f"case {outcome.number} failed: {outcome.rule}")
        self.outcome: Any = outcome  # the search's own OutcomeT


class _SearchOver(Exception):
    """Raised from the Hypothesis test once the search must end (see `Search.stopped` and `.bug`)."""


def inputs_strategy(targets: Sequence[FuzzTarget], *, hostile: bool = False) -> st.SearchStrategy[tuple[CaseInput, ...]]:
    payloads = [any_arguments(t.schema, max_chars=t.max_chars, oversized=hostile) for t in targets]

    @st.composite
    def inputs(draw: st.DrawFn) -> tuple[CaseInput, ...]:
        out = []
        for strategy in payloads:
            payload = draw(strategy)
            out.append(CaseInput(payload, tuple(draw(delta_chunks(payload.text)))))
        return tuple(out)

    return inputs()


class LoopBridge:
    """Runs a case's coroutine on the event loop from Hypothesis's thread, giving up when the
    search is cancelled; an exception of rtmock's own is kept in `bug`, not raised in the thread."""

    loop: asyncio.AbstractEventLoop
    cancelled: threading.Event
    stopped: str | None
    bug: BaseException | None

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


class CaseSearch(LoopBridge, Generic[CaseT, OutcomeT]):
    """The state shared by the Hypothesis thread and the event loop, for cases of type `CaseT` (None:
    the scenario as written, the baseline) judged into outcomes of type `OutcomeT`. A subclass says
    what a case is (`strategy`, `key`), how one runs and is counted (`run`), and which case an
    outcome replays (`case_of`)."""

    def __init__(self, result: SearchResult[OutcomeT], runner: CaseRunner, loop: asyncio.AbstractEventLoop) -> None:
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
        self.known_failures: dict[Hashable, OutcomeT] = {}
        self.best: OutcomeT | None = None  # the last failing case: shrinking only keeps smaller ones
        self.minimal: OutcomeT | None = None  # the failure Hypothesis reported

    # ---- what a case is: the subclass's --------------------------------------------------------------

    async def run(self, case: CaseT | None, phase: str, *, fresh: bool = False) -> OutcomeT:
        """Run one case (None: the baseline) on the event loop, count it in the result, return its outcome."""
        raise NotImplementedError

    def strategy(self) -> st.SearchStrategy[CaseT]:
        raise NotImplementedError

    def key(self, case: CaseT) -> Hashable:
        """What makes two cases the same case (Hypothesis replays a failure: it gets the same verdict)."""
        raise NotImplementedError

    def case_of(self, outcome: OutcomeT) -> CaseT | None:
        raise NotImplementedError

    # ---- the search ------------------------------------------------------------------------------------

    def status(self) -> FuzzStatus:
        return FuzzStatus(self.result.cases, self.result.failing_cases, self.phase, time.monotonic() - self.started)

    async def drive(self, progress: Callable[[FuzzStatus], None] | None, interval: float) -> None:
        """The whole run: the baseline case, then (if it passed) the search in a worker thread, then one
        replay of the failure on a fresh client, as its reproducer would be: a pass says it is flaky.
        `progress` gets a status every `interval` seconds and at the end."""
        result, runner = self.result, self.runner
        ticker = asyncio.ensure_future(self._tick(progress, interval)) if progress else None
        try:
            async with runner:
                result.baseline = await self.run(None, "baseline")
                if result.baseline.passed:
                    self.generation_started = time.monotonic()
                    try:
                        await asyncio.to_thread(self.explore, result.seed)
                    except BaseException:
                        self.cancelled.set()
                        raise
                    if self.bug is not None:
                        raise self.bug
                    result.failure = self.minimal or self.best
                    if result.failure is not None and self.stopped is None:
                        replay = await self.run(self.case_of(result.failure), "replay", fresh=True)
                        result.flaky = replay.passed
        finally:
            self.cancelled.set()
            self.phase = "done"
            result.duration = time.monotonic() - self.started
            result.clients_started = runner.started
            if ticker is not None:
                ticker.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await ticker
        if progress is not None:
            progress(self.status())

    async def _tick(self, progress: Callable[[FuzzStatus], None], interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            progress(self.status())

    def test(self, case: CaseT) -> None:
        """The body of the Hypothesis test: one case. Each exception is raised from one line only:
        Hypothesis tells failures apart by where they were raised, and would take one failure raised
        from two places for two failures (then for a flaky one)."""
        outcome = self._case(case)
        if self.stopped is not None or self.bug is not None:
            raise _SearchOver(self.stopped or "rtmock bug")
        if outcome is not None:
            raise _CaseFailed(outcome)

    def _case(self, case: CaseT) -> OutcomeT | None:
        """The failing outcome of this case, or None: it passed, was not tried, or the search ended."""
        if self.cancelled.is_set():
            self.stopped = self.stopped or "cancelled"
        if self.stopped is not None or self.bug is not None:
            return None
        now = time.monotonic()
        key = self.key(case)
        if key in self.known_failures:  # the same case again (Hypothesis's last replay): the same verdict
            return self.known_failures[key]
        if self.first_failure_at is None:
            # at least one generated case, however loaded the machine: a run of the baseline alone tells nothing
            if self.options.max_time is not None and self.result.generated >= 1 \
                    and now - self.generation_started >= self.options.max_time:
                self.stopped = self.result.stopped = "max-time"
                return None
            phase = "generate"
        else:
            phase = "shrink"
            if now >= self._shrink_deadline():
                return None  # out of time: what is known to fail still fails (above), anything else is not tried
        outcome = self._call(self.run(case, phase))
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

        @settings(max_examples=self.options.cases, deadline=None, database=None, derandomize=False,
                  phases=(Phase.generate, Phase.shrink), report_multiple_bugs=False, print_blob=False,
                  suppress_health_check=list(HealthCheck), verbosity=Verbosity.quiet)
        @seed(seed_value)
        @given(self.strategy())
        def fuzz_case(case: CaseT) -> None:
            self.test(case)

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


ResultT = TypeVar("ResultT", bound=SearchResult[Any])


async def fuzz_with(search: Callable[[ResultT, CaseRunner, asyncio.AbstractEventLoop], CaseSearch[Any, Any]],
                    result: Callable[[LoadedScenario, list[FuzzTarget], list[str] | None, int, FuzzOptions], ResultT],
                    scenario: LoadedScenario, client: Sequence[str] | CoroutineClient, options: FuzzOptions | None,
                    *, mode: str, progress: Callable[[FuzzStatus], None] | None, progress_interval: float) -> ResultT:
    """A whole fuzz run of `client` on `scenario` (see `CaseSearch.drive`), in `mode` ("fuzz" or
    "stream"): the options checked, the seed drawn unless given, the result built and filled."""
    opts = options or FuzzOptions()
    opts.check()
    if not callable(client) and not client:
        flag = "" if mode == "fuzz" else f" --{mode}"
        raise UsageError(f"no command to fuzz: write it after '--', e.g. rtmock fuzz{flag} scenario.yaml -- python client.py")
    targets = fuzz_targets(scenario, opts.call, max_output_tokens=opts.max_output_tokens)
    seed_value = opts.seed if opts.seed is not None else random.SystemRandom().randrange(2**32)
    found = result(scenario, targets, None if callable(client) else list(client), seed_value, opts)
    runner = CaseRunner(scenario, client, reuse=opts.reuse, connect_timeout=opts.connect_timeout,
                        seed=f"{mode}{seed_value}", tls=opts.tls)
    await search(found, runner, asyncio.get_running_loop()).drive(progress, progress_interval)
    return found


class Search(CaseSearch[tuple[CaseInput, ...], CaseOutcome]):
    """Argument fuzzing's search: a case is one payload (and its deltas) per fuzzed call."""

    result: FuzzResult

    def strategy(self) -> st.SearchStrategy[tuple[CaseInput, ...]]:
        return inputs_strategy(self.result.targets, hostile=self.options.hostile)

    def key(self, case: tuple[CaseInput, ...]) -> Hashable:
        return tuple(c.key for c in case)

    def case_of(self, outcome: CaseOutcome) -> tuple[CaseInput, ...]:
        return outcome.inputs

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
