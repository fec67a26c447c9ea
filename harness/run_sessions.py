"""How the sessions of one run combine into its verdict, for `rtmock run`, the pytest plugin's `run()`,
`rtmock proxy` and `rtmock check` of a run's transcripts alike (the judge itself sees one session).

The scenario scripts one session, but a client may open several: a probe (opened and closed without
a word), a spare or a connection it replaced, a transcription or side conversation beside the one
that plays the scenario, a reconnect after it. `RunJudge` holds back, while the run goes on, what
another session may yet make moot; `conclude_sessions` decides at the end: the session that
completed the scenario answers for its steps, and every session answers for the protocol's rules.
"""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from ..mockserver.core.notes import Closed, ScenarioComplete, StepMatched, StepReached, StepSkipped
from ..mockserver.core.records import Direction, Record
from ..mockserver.net.server import SessionInfo
from .judging.findings import Finding, Rule
from .judging.live import JudgedSession, LiveJudge

if TYPE_CHECKING:
    from .runner import RunResult

__all__ = ["NOT_ASKED_AFTER_THE_SCENARIO", "RunJudge", "conclude_recorded_sessions",
           "conclude_sessions", "is_probe", "new_run_id"]


def new_run_id() -> str:
    """An id for one run of one client: its transcripts carry it, so that `rtmock check` judges the
    run's sessions together, as the run did (a probe, a session after the scenario completed)."""
    return f"run_{secrets.token_hex(8)}"


def conclude_recorded_sessions(results: Sequence[RunResult]) -> None:
    """The sessions of one run judged from their transcripts, one result each: combine them as the
    run combined them (`conclude_sessions`: probes set aside, later sessions judged by the rules)."""
    from .runner import RunResult

    combined = RunResult(results[0].scenario, [], sessions=[s for r in results for s in r.sessions])
    combined.sessions.sort(key=lambda s: (s[0].started_at, s[0].number))
    _conclude_probes(combined)
    _conclude_other_sessions(combined)
    _calls_of_other_sessions(combined)
    for result in results:
        ids = {info.id for info, _ in result.sessions}
        result.probes |= ids & combined.probes
        result.notes += [n for n in combined.notes if any(f"({i})" in n for i in ids)]


def is_probe(info: SessionInfo) -> bool:
    """The client opened the session and closed it cleanly itself (1000, 1001, or a close frame
    without a status, 1005, as a browser's or the `ws` package's `close()` sends) without sending
    anything: a connectivity check or a warm-up, as health checks do, not an attempt at the scenario."""
    if not info.ended:
        return False
    closed: Closed | None = None
    for record in info.records:
        if record.direction is Direction.CLIENT:
            return False
        note = record.note
        if isinstance(note, Closed):
            closed = note
    return closed is not None and closed.by == "client" and closed.code in (1000, 1001, 1005)


class RunJudge(LiveJudge):
    """The live judge of one run of one client (`rtmock run`, the pytest plugin's `run()`): a
    session that may be a probe (`is_probe`), or one the client left before the scenario's end
    having broken no rule of the protocol (a connection it replaces), holds back its findings while
    another session is open, or for `probe_patience` seconds after it ended, so that the run does
    not stop on them before the client's real session; `conclude_sessions` decides at the end.
    (`rtmock serve` judges each session alone: there, a probe is judged as any session.)"""

    def __init__(self, *, probe_patience: float = 15.0, **options: Any) -> None:
        super().__init__(**options)
        self.probe_patience = probe_patience
        self._probes: dict[int, float] = {}  # id(JudgedSession) of a probe or a left one -> loop time it ended

    def session_ended(self, session: SessionInfo) -> None:
        judged = self._by_info[id(session)]
        super().session_ended(session)
        findings = judged.findings
        if is_probe(session) or (not judged.complete and findings and all(f.unplayed for f in findings)):
            loop = asyncio.get_running_loop()
            self._probes[id(judged)] = loop.time()
            loop.call_later(self.probe_patience, self.changed.set)  # its findings count from then

    def records(self, session: SessionInfo, records: Sequence[Record]) -> None:
        judge = self._by_info[id(session)].judge
        owed = judge.awaiting_client
        super().records(session, records)
        if judge.awaiting_client != owed:  # `all_complete` may have changed: the waiting run looks again
            self.changed.set()

    def _probe(self, judged: JudgedSession) -> bool:
        return id(judged) in self._probes and not judged.complete

    def _held(self, judged: JudgedSession) -> bool:
        if not self._probe(judged):
            return False
        if any(not self._probe(j) for j in self.sessions):
            return True  # the client's other session decides
        return asyncio.get_running_loop().time() < self._probes[id(judged)] + self.probe_patience

    def _after_the_scenario(self, judged: JudgedSession) -> bool:
        """An earlier session of the run completed the scenario (a client that reconnects after the
        service closed it, or opens another session): the scenario scripts one session, so its steps
        are not asked of this one (`_conclude_other_sessions` decides the same at the end)."""
        for other in self.sessions:
            if other is judged:
                return False
            if other.complete:
                return True
        return False

    def _played_elsewhere(self, judged: JudgedSession) -> bool:
        """Another session of the run completed the scenario, or may yet: a step this one never
        played (`Finding.unplayed`: a spare connection, one the client left and replaced) waits for
        it, and `_conclude_other_sessions` decides at the end."""
        return any(other is not judged and not self._probe(other) and (other.complete or not other.info.ended)
                   for other in self.sessions)

    def _counts(self, judged: JudgedSession, finding: Finding) -> bool:
        if finding.rule in NOT_ASKED_AFTER_THE_SCENARIO and self._after_the_scenario(judged):
            return False
        return not (finding.unplayed and self._played_elsewhere(judged))

    @property
    def findings(self) -> list[Finding]:
        return [f for j in self.sessions if not self._held(j) for f in j.findings if self._counts(j, f)]

    @property
    def all_complete(self) -> bool:
        """Every session asked to play the scenario completed it, and no other session still owes a
        tool round (a second conversation mid-round: stopping the client now would cut it short)."""
        judged = [j for j in self.sessions if not self._probe(j) and not self._after_the_scenario(j)]
        return bool(judged) and all(j.complete for j in judged) and \
            not any(j.judge.awaiting_client for j in self.sessions if not j.info.ended)


#: The findings that say a session did not play the scenario (rather than broke a rule of the
#: protocol): its steps, and what the scenario's model does, which plays the script again to a
#: conversation it was not written for (a tool-less chat after the tool round) and may call a tool
#: the session never declared. Not asked of a session that began after another completed it.
NOT_ASKED_AFTER_THE_SCENARIO = frozenset({Rule.SCENARIO_MISMATCH, Rule.CLIENT_DISCONNECTED, Rule.TOOL_NOT_DECLARED})


def conclude_sessions(judge: LiveJudge, result: RunResult) -> None:
    """Finish every session of the run and combine their verdicts into `result.sessions`: a probe
    (`is_probe`) is not judged when another session of the run completed the scenario; when none
    did, its findings stand, and say which session they are about. A session that began after one
    completed the scenario is judged by the protocol's rules alone."""
    verdicts = judge.finish_all()
    result.sessions = [(j.info, v) for j, v in zip(judge.sessions, verdicts, strict=True)]
    _conclude_probes(result)
    _conclude_other_sessions(result)
    _calls_of_other_sessions(result)
    failed = [(info, v) for info, v in result.sessions if info.id not in result.probes and not v.passed]
    if len(failed) > 1:  # each session's findings name it; say what each of them did, side by side
        result.notes.append(f"{len(failed)} sessions did not pass: " + "; ".join(
            f"session {info.number} ({info.id}): " + (", ".join(f.rule.value for f in v.findings) if v.findings
                                                     else _waiting(info))
            for info, v in failed) + ".")


def _waiting(info: SessionInfo) -> str:
    """What an unfinished session without findings was waiting for when the run ended."""
    reached: dict[int, StepReached] = {}
    for record in info.records:
        note = record.note
        if isinstance(note, StepReached):
            reached[note.step] = note
        elif isinstance(note, StepMatched | StepSkipped):
            reached.pop(note.step, None)
    if not reached:
        return "no finding, the scenario not complete when the run ended"
    step = reached[min(reached)]
    return (f"no finding, still waiting for step {step.step} (expect {step.expect}, line {step.line}) when the run "
            "ended (not judged further)")


def _conclude_probes(result: RunResult) -> None:
    """Set aside the probes of a run where another session completed; else say which session each is."""
    probes = [(info, v) for info, v in result.sessions if not v.complete and is_probe(info)]
    if not probes:
        return
    total = len(result.sessions)
    if any(v.complete for info, v in result.sessions if all(info is not p for p, _ in probes)):
        for info, verdict in probes:
            verdict.findings = []
            result.probes.add(info.id)
            result.notes.append(f"session {info.number} ({info.id}): opened and closed by the client without sending "
                                "anything (a connection check?): not judged; another session completed the scenario.")
    elif total > 1:
        for info, verdict in probes:
            verdict.findings = [dataclasses.replace(f, message=(
                f"{f.message} (session {info.number} of {total}, which the client closed without sending anything; "
                "none of its sessions completed the scenario)")) for f in verdict.findings]


def _conclude_other_sessions(result: RunResult) -> None:
    """When a session completed the scenario, the others are not asked to play it (it scripts one
    session): one begun after it completed (a reconnect) is judged by the protocol's rules alone;
    any other loses only the steps it never played (`Finding.unplayed`: a spare connection, one the
    client left and replaced, a transcription session beside it), and a step it played differently
    still stands. A finding of the protocol's rules stands in every session."""
    completed = next((info for info, verdict in result.sessions if verdict.complete and info.id not in result.probes),
                     None)
    if completed is None:
        return
    done_at = _completed_at(completed)
    for info, verdict in result.sessions:
        if info is completed or info.id in result.probes:
            continue
        later = done_at is not None and datetime.fromisoformat(info.started_at) >= done_at
        kept = [f for f in verdict.findings if not ((later and f.rule in NOT_ASKED_AFTER_THE_SCENARIO) or f.unplayed)]
        if kept == verdict.findings:
            continue
        dropped = verdict.findings
        verdict.findings = kept
        if kept or verdict.complete:  # (a later session that played the script again passes on its own)
            continue
        result.probes.add(info.id)
        what = ("began after an earlier session completed the scenario (a reconnect?); the scenario scripts one "
                "session, so only the protocol's rules judge this one, and it broke none" if later else
                "a transcription session (it plays no responses)" if "intent=transcription" in info.request_path else
                "a conversation without the scenario's tools beside it (a side request?)"
                if any(f.rule is Rule.TOOL_NOT_DECLARED for f in dropped) else
                "left before the scenario's end (a spare connection, or one the client replaced?)")
        result.notes.append(f"session {info.number} ({info.id}): {what}" + (
            "." if later else f", having broken none of the protocol's rules; session {completed.number} completed "
            "the scenario, which scripts one session."))


def _calls_of_other_sessions(result: RunResult) -> None:
    """A wrong-call-id whose call_id is a call of another session of the run: the client answered
    on the wrong connection (a tool worker with a socket of its own, say). Say so: the call_id was
    echoed unchanged, as the rule's usual fix would have it."""
    for info, verdict in result.sessions:
        for at, finding in enumerate(verdict.findings):
            if finding.rule is not Rule.WRONG_CALL_ID or finding.call_name is not None or not finding.seen:
                continue
            call_id = finding.seen.strip("'\"")
            owner = next((other for other, _ in result.sessions if other is not info and any(
                r.direction is Direction.SERVER and r.type == "response.output_item.added"
                and ((r.event or {}).get("item") or {}).get("call_id") == call_id for r in other.records)), None)
            if owner is None:
                continue
            verdict.findings[at] = dataclasses.replace(
                finding, message=f"{finding.message} It is a call of session {owner.number} ({owner.id}): the "
                f"output went to another connection (session {info.number}).",
                hint="Send each function_call_output, and the response.create after it, on the websocket whose "
                     "session made the call: a call_id belongs to its session.")


def _completed_at(info: SessionInfo) -> datetime | None:
    """When the session completed the scenario (wall clock, as `started_at`)."""
    for record in info.records:
        if isinstance(record.note, ScenarioComplete):
            return datetime.fromisoformat(info.started_at) + timedelta(seconds=record.time)
    return None


