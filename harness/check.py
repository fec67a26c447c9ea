"""`rtmock check`: judge saved transcripts with the same rules as a live run, running nothing."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from mockserver.errors import UsageError
from mockserver.events import Dialect
from mockserver.loader import LoadedScenario, load_scenario
from mockserver.records import load_transcript
from mockserver.relay_core import passthrough_scenario
from mockserver.server import SessionInfo

from .judge import Judge
from .runner import RunResult

__all__ = ["check_transcripts"]


def check_transcripts(paths: Sequence[str], scenario: LoadedScenario | None = None, *,
                      default_within: float | None = None) -> list[RunResult]:
    """One result per transcript. Without `scenario`, the path in each transcript's header is used."""
    results: list[RunResult] = []
    loaded: dict[str, LoadedScenario] = {}
    for number, path in enumerate(paths, start=1):
        header, records = load_transcript(path)
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
        # within its bound then is not charged to the client
        verdict = judge.finish(records[-1].time if records else 0.0, settle_pending=not judge.findings)
        info = SessionInfo(number=number, id=header.session_id, scenario=chosen,
                           dialect=Dialect(header.dialect) if header.dialect in ("ga", "beta") else Dialect.GA,
                           request_path=header.request_path, started_at=header.started_at, records=records,
                           transcript_path=Path(path), ended=True)
        result = RunResult(chosen, [], sessions=[(info, verdict)], duration=verdict.duration)
        results.append(result)
    return results
