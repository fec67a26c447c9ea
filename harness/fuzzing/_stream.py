"""`rtmock fuzz --stream`: Hypothesis varies what a faithful service may legally do around the
scenario's function calls (`_stream_cases.py`: parallel calls, delta chunking, extra and unknown
events around responses and between a response's items, server errors between responses, pauses, the
status of a text answer), a client answers each
variant, the judge decides with `rtmock run`'s rules, and a failure is shrunk to the smallest
variation and written as a reproducer: the variant scenario itself.

The cases run on argument fuzzing's machinery (`_fuzz_runner.CaseRunner`: one server, reused
clients; `_fuzz_cases.case_scenario`: bounds capped, a passing session closed) and search
(`_fuzz_search.CaseSearch`, for a case that is a whole scenario document rather than payloads).
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from hypothesis import strategies as st

from ...mockserver.scenario.loader import LoadedScenario
from ..judging.findings import Finding
from ..reports.text import shown_finding
from ._cases import case_scenario, replay_command
from ._clients import CoroutineClient
from ._report import _indent, _paint, headline, reproducer_lines, stopped_lines
from ._result import FuzzOptions, FuzzStatus, SearchResult
from ._search import CaseSearch, fuzz_with
from ._stream_cases import StreamCase, stream_case_strategy

__all__ = ["StreamOutcome", "StreamResult", "StreamSearch", "fuzz_stream", "render_stream_report"]


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


@dataclass(repr=False)
class StreamResult(SearchResult[StreamOutcome]):
    #: (variation kind, "passed" or the rule of the first finding) → cases
    table: collections.Counter[tuple[str, str]] = field(default_factory=collections.Counter)

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

    def explain(self) -> str:
        return render_stream_report(self)


class StreamSearch(CaseSearch[StreamCase, StreamOutcome]):
    """Stream fuzzing's search: a case is a variant of the scenario document (`_stream_cases.py`)."""

    result: StreamResult

    def strategy(self) -> st.SearchStrategy[StreamCase]:
        return stream_case_strategy(self.result.scenario, self.result.targets)

    def key(self, case: StreamCase) -> Hashable:
        return case.key

    def case_of(self, outcome: StreamOutcome) -> StreamCase | None:
        return outcome.case

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


async def fuzz_stream(scenario: LoadedScenario, client: Sequence[str] | CoroutineClient,
                      options: FuzzOptions | None = None, *, progress: Callable[[FuzzStatus], None] | None = None,
                      progress_interval: float = 2.0) -> StreamResult:
    """Fuzz how the service streams the scenario's function calls against `client` (a command or a
    coroutine function given the websocket URL): first the scenario as written (the baseline), then
    Hypothesis's variants; a failure is shrunk. Nothing is printed or written."""
    return await fuzz_with(StreamSearch, StreamResult, scenario, client, options, mode="stream", progress=progress,
                           progress_interval=progress_interval)


def render_stream_report(result: StreamResult, *, color: bool = False) -> str:
    name = result.scenario.path or result.scenario.name
    lines = [headline(result, color=color, mode="--stream: "),
             f"  variations around calls {', '.join(map(str, result.targets))}: parallel calls, delta chunking, "
             "rate_limits.updated and unknown event types around responses and between their items, server errors and "
             "pauses between responses, paced deltas, text answers incomplete or failed"]
    lines.extend(stopped_lines(result))
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
        lines.extend(reproducer_lines(result))
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
