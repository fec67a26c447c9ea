"""`rtmock check`: judge saved transcripts with the same rules as a live run, running nothing.

Each file gets its own outcome: a verdict, or the one-line reason it cannot be judged (unreadable,
not a transcript, its scenario missing). A transcript cut short (the server was killed mid-write)
is judged only up to the cut, and says so: its missing end is not the client stopping, so nothing
that was still pending there is charged to the client.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ...mockserver.core.events import Dialect
from ...mockserver.core.records import TranscriptError, read_transcript
from ...mockserver.core.relay_core import PROBLEM_NOTE, passthrough_scenario
from ...mockserver.errors import RtmockError, ScenarioError, UsageError
from ...mockserver.net.server import SessionInfo
from ...mockserver.scenario.loader import LoadedScenario, load_scenario
from ..run_sessions import conclude_recorded_sessions
from ..runner import RunResult
from .judge import Judge

__all__ = ["CheckedResult", "UnjudgedTranscript", "check_each", "check_exit_code", "check_transcripts"]

EXIT_PASS, EXIT_FINDING, EXIT_UNJUDGED = 0, 1, 2


@dataclass(slots=True)
class CheckedResult(RunResult):
    """The verdict on one transcript file, and whether that transcript was whole."""

    transcript: str = ""
    #: One line, `file:line: transcript truncated at line N (…)…`, when the transcript was cut short.
    truncated: str | None = None
    #: What went wrong on the upstream's side of a proxied session (`rtmock proxy`), one line each:
    #: not the client's doing, and what followed it is not a verdict on the client.
    upstream_failures: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:  # a transcript cut short cannot pass: its end was never judged
        if self.truncated is not None or self.upstream_failures:
            return False
        if self.sessions and all(info.id in self.probes for info, _ in self.sessions):
            return not self.findings  # set aside, as its run set it aside: the run's other sessions decide
        return RunResult.passed.fget(self)  # type: ignore[attr-defined,no-any-return]  # (slots: no bare super())


@dataclass(frozen=True, slots=True)
class UnjudgedTranscript:
    """A transcript file that could not be judged at all, and why (one line per problem)."""

    path: str
    error: str


def check_each(paths: Sequence[str], scenario: LoadedScenario | None = None, *,
               default_within: float | None = None) -> list[CheckedResult | UnjudgedTranscript]:
    """One outcome per file, in order: a file that cannot be judged does not hide the others' verdicts.
    Without `scenario`, the path in each transcript's header is used."""
    outcomes: list[CheckedResult | UnjudgedTranscript] = []
    loaded: dict[str, LoadedScenario] = {}
    for number, path in enumerate(paths, start=1):
        try:
            outcomes.append(_check_one(number, path, scenario, loaded, default_within))
        except ScenarioError as exc:
            outcomes.append(UnjudgedTranscript(path, "\n".join(p.one_line() for p in exc.problems)))
        except (TranscriptError, RtmockError) as exc:
            outcomes.append(UnjudgedTranscript(path, str(exc)))
    _together_by_run([o for o in outcomes if isinstance(o, CheckedResult)])
    return outcomes


def _together_by_run(results: Sequence[RunResult]) -> None:
    """The sessions one `rtmock run` recorded (their transcripts name the run) are judged together,
    as the run judged them: a connection check, or a session after the scenario completed, then
    gets the same verdict here as there. Sessions of `rtmock serve` each stand alone, as there."""
    runs: dict[str, list[RunResult]] = {}
    for result in results:
        for info, _ in result.sessions:
            if info.run is not None:
                runs.setdefault(info.run, []).append(result)
    for together in runs.values():
        if len(together) > 1:
            conclude_recorded_sessions(together)


def check_exit_code(outcomes: Sequence[CheckedResult | UnjudgedTranscript]) -> int:
    """0 all passed, 1 a finding about the client, 2 a file that could not be judged whole (an
    error, or a truncated transcript: its verdict is not the whole story)."""
    if any(isinstance(o, UnjudgedTranscript) or o.truncated or o.upstream_failures for o in outcomes):
        return EXIT_UNJUDGED
    if any(o.not_played for o in outcomes if isinstance(o, CheckedResult)):
        return EXIT_UNJUDGED  # the client sent what rtmock does not play: the verdict is not the client's
    return EXIT_PASS if all(isinstance(o, CheckedResult) and o.passed for o in outcomes) else EXIT_FINDING


def check_transcripts(paths: Sequence[str], scenario: LoadedScenario | None = None, *,
                      default_within: float | None = None) -> list[RunResult]:
    """One result per transcript (a `CheckedResult`, which says when it was truncated). The first
    file that cannot be judged raises its `TranscriptError`, `ScenarioError` or `UsageError`; use
    `check_each` to judge the others all the same."""
    results: list[RunResult] = []
    loaded: dict[str, LoadedScenario] = {}
    for number, path in enumerate(paths, start=1):
        results.append(_check_one(number, path, scenario, loaded, default_within))
    _together_by_run(results)
    return results


def _check_one(number: int, path: str, scenario: LoadedScenario | None, loaded: dict[str, LoadedScenario],
               default_within: float | None) -> CheckedResult:
    transcript = read_transcript(path)
    header, records = transcript.header, transcript.records
    chosen = scenario
    if chosen is None and header.extra.get("proxied") and not header.scenario_path:
        chosen = passthrough_scenario(header.scenario_name)  # `rtmock proxy` without a scenario: the rules alone
    if chosen is None:
        source = header.scenario_path
        if not source or not Path(source).is_file():
            raise UsageError(f"{path}: the scenario it was recorded with ({source or 'unknown'}) is not here; "
                             "name it with --scenario FILE")
        chosen = loaded.get(source) or load_scenario(source)
        loaded[source] = chosen
    within = default_within if default_within is not None else chosen.scenario.defaults.within
    judge = Judge(session_id=header.session_id, scenario_name=chosen.name, scenario_path=chosen.path,
                  default_within=within)
    for record in records:
        judge.feed(record)
    # as `rtmock run` does: a session with a finding was stopped by rtmock, so what was still
    # within its bound then is not charged to the client; nor is it when the transcript was cut
    # short: what came after the cut is unknown, not absent
    settle = not judge.findings and not transcript.truncated
    verdict = judge.finish(records[-1].time if records else 0.0, settle_pending=settle)
    run = header.extra.get("run")
    info = SessionInfo(number=number, id=header.session_id, scenario=chosen,
                       dialect=Dialect(header.dialect) if header.dialect in {d.value for d in Dialect} else Dialect.GA,
                       request_path=header.request_path, started_at=header.started_at, records=records,
                       transcript_path=Path(path), ended=True, run=run if isinstance(run, str) else None)
    upstream = [f"upstream {e.get('kind', 'problem')}: {e.get('message', '')}" for e in
                (r.event for r in records if r.type == PROBLEM_NOTE) if e is not None]
    return CheckedResult(chosen, [], sessions=[(info, verdict)], duration=verdict.duration, transcript=path,
                         truncated=transcript.truncation_line(), upstream_failures=upstream)
