"""What `rtmock fuzz` is asked and what it finds: `FuzzOptions`, each case's `CaseOutcome`, the
progress `FuzzStatus` and the `FuzzResult` every report reads (its base `SearchResult` is stream
fuzzing's `StreamResult`'s too). Running the search is `_fuzz_search.py`'s
and `fuzz.py`'s; the public names are re-exported by `fuzz.py`."""

from __future__ import annotations

import collections
from dataclasses import dataclass, field
from pathlib import Path
from typing import Generic, Protocol, TypeVar

from ...mockserver.errors import UsageError
from ...mockserver.scenario.loader import LoadedScenario
from ..judging.findings import Finding
from ._cases import CaseInput, FuzzTarget, kind_label, replay_command, reproducer_yaml, unjudged_matches
from ._verdict import FrameLimit
from .payloads import DEFAULT_MAX_OUTPUT_TOKENS

__all__ = ["MIN_OUTPUT_TOKENS", "CaseOutcome", "FuzzOptions", "FuzzResult", "FuzzStatus", "SearchResult"]

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


class _Outcome(Protocol):
    @property
    def passed(self) -> bool: ...

    @property
    def rule(self) -> str | None: ...


OutcomeT = TypeVar("OutcomeT", bound=_Outcome)


@dataclass
class SearchResult(Generic[OutcomeT]):
    """What a fuzz run found, argument (`FuzzResult`) or stream (`_stream_fuzz.StreamResult`) fuzzing:
    the counts, the baseline case and the minimal failing one."""

    scenario: LoadedScenario
    targets: list[FuzzTarget]
    command: list[str] | None
    seed: int
    options: FuzzOptions
    cases: int = 0  # cases run after the baseline: generated plus shrinking
    generated: int = 0
    failing_cases: int = 0
    duration: float = 0.0
    baseline: OutcomeT | None = None
    failure: OutcomeT | None = None  # the minimal failing case
    flaky: bool = False  # the minimal case passed when rtmock replayed it
    stopped: str | None = None  # why generation ended before --cases ("max-time")
    clients_started: int = 0
    reproducer: Path | None = None

    @property
    def passed(self) -> bool:
        return self.baseline is not None and self.baseline.passed and self.failure is None

    def __repr__(self) -> str:
        """Short, as an `assert result.passed` shows it (the cases are in `explain()`)."""
        failing = self.failure.rule if self.failure is not None else None
        return (f"<rtmock fuzz {'PASS' if self.passed else 'FAIL'} {self.scenario.name}: {self.cases} case(s)"
                + (f", minimal failure {failing}" if failing else "") + ">")

    @property
    def shrink_cases(self) -> int:
        return self.cases - self.generated

    @property
    def cases_per_second(self) -> float:
        return self.cases / self.duration if self.duration > 0 else 0.0

    def reproducer_text(self, path: str | Path) -> str:
        raise NotImplementedError

    def write_reproducer(self, path: str | Path) -> Path:
        """Write the minimal failing case as a scenario `rtmock run` replays (see `reproducer_text`)."""
        p = Path(path)
        text = self.reproducer_text(p)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text, encoding="utf-8")
        self.reproducer = p
        return p


@dataclass(repr=False)
class FuzzResult(SearchResult[CaseOutcome]):
    #: (call label, payload kind (`kind_label`), "passed" or the rule of the first finding charged to the call) → cases
    table: collections.Counter[tuple[str, str, str]] = field(default_factory=collections.Counter)
    #: steps whose `match:` the cases do not judge (expects of fuzzed calls' outputs): see `unjudged_matches`
    unjudged: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.unjudged = self.unjudged or unjudged_matches(self.scenario, self.targets)

    def unjudged_text(self) -> str | None:
        """One sentence naming the `match:` conditions the cases did not judge, if any."""
        if not self.unjudged:
            return None
        steps = ", ".join(self.scenario.step_label(i) for i in self.unjudged)
        return (f"not judged while fuzzing: the `match:` of {steps}, on the output of a fuzzed call: it depends on "
                "the fuzzed arguments (the baseline case, with the scenario's own arguments, judged it)")

    def reproducer_text(self, path: str | Path) -> str:
        """The reproducer scenario for the minimal failing case (see `write_reproducer`)."""
        from ._report import frame_limit_text

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

    def explain(self) -> str:
        """The console report, as text (for assertion messages)."""
        from ._report import render_report

        return render_report(self, color=False)
