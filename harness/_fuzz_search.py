"""The search over fuzz cases: Hypothesis generates and shrinks them in a worker thread, each case
runs on the event loop (`_fuzz_runner.CaseRunner`), and `Search` keeps what both sides share.
`fuzz.fuzz` starts it."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
from collections.abc import Coroutine, Sequence
from typing import Any, TypeVar

from hypothesis import HealthCheck, Phase, Verbosity, given, seed, settings
from hypothesis import strategies as st

from ._fuzz_cases import CaseInput, FuzzTarget, case_scenario, kind_label
from ._fuzz_result import CaseOutcome, FuzzResult, FuzzStatus
from ._fuzz_runner import CaseRunner
from ._fuzz_verdict import CaseWatch, charges
from .payloads import any_arguments, delta_chunks

__all__ = ["Search", "inputs_strategy"]

T = TypeVar("T")


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

    def __init__(self, outcome: CaseOutcome) -> None:
        super().__init__(f"case {outcome.number} failed: {outcome.rule}")
        self.outcome = outcome


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


class Search(LoopBridge):
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
        @given(inputs_strategy(self.result.targets, hostile=options.hostile))
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
