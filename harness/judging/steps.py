"""The scenario's own `expect` steps that no protocol rule covers: a session.update declaring the
scenario's tools, the client's turn, a user message, any client event with a `match:`. The judge
hands each such step here when the script reaches it; a step the script reports matched is done,
and one still waiting at its bound becomes a finding that says what came instead (the closest
client event of that kind and why it did not match). Awaited outputs and the create after a tool
round are the protocol rules' business (judge.py), not this module's.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ...mockserver.core.notes import Refused
from ...mockserver.core.records import Record
from ...mockserver.scenario.matching import explain_mismatch
from ...mockserver.scenario.model import expect_kind
from .findings import RULE_SPECS, Finding, Rule

__all__ = ["Hearing", "StepWait", "StepWatch"]


_WHAT = {"response.create": "a response.create (the client's turn)", "user_message": "a user message item"}
#: What to change when an expected event of this kind never came (else a generic hint).
_MISSING_HINTS = {
    "conversation.item.truncate":
        "When the user cuts in (input_audio_buffer.speech_started while an answer plays), stop playback and send "
        "conversation.item.truncate with the answer's item_id, content_index 0 and the milliseconds played "
        "(audio_end_ms): the conversation then holds only what the user heard.",
}


@dataclass(slots=True)
class Hearing:
    """What the server VAD heard of the client's audio (the judge keeps it from the server's
    input_audio_buffer.speech_started/_stopped): a turn it never ended explains a missing turn."""

    speech_started: int | None = None  # the record of the last speech_started
    speech_stopped: bool = False
    appends: int = 0  # input_audio_buffer.append events since speech started
    transcribes_only: bool = False  # a transcription session (`?intent=transcription`): no model answers


@dataclass(slots=True)
class StepWait:
    step: int
    line: int
    expect: str
    deadline: float
    match: dict[str, Any] | None
    matched: bool = False
    tools: list[str] = field(default_factory=list)  # for session.update: the tools it must declare


class StepWatch:
    def __init__(self, findings: list[Finding], reported_undeclared: set[str], hearing: Hearing) -> None:
        #: where a missed step's finding goes: the judge's own list (a list, not a callback into the
        #: judge, so that the two make no reference cycle and a finished session is freed at once)
        self._findings = findings
        #: the tools a tool-not-declared finding has named (the judge's set): a session.update step
        #: that waits for them says nothing more
        self._reported_undeclared = reported_undeclared
        self._hearing = hearing
        self._waits: list[StepWait] = []
        #: the latest client event per expect kind, and the server's refusal of it if it refused it: to explain a miss
        self._last_of_kind: dict[str, tuple[Record, Refused | None]] = {}
        self.declared_tools: set[str] = set()

    def client_event(self, record: Record, event: dict[str, Any], refusal: Refused | None = None) -> None:
        self._last_of_kind[expect_kind(event)] = (record, refusal)
        if event.get("type") == "session.update":
            tools = (event.get("session") or {}).get("tools")
            if isinstance(tools, list):
                self.declared_tools = {str(t.get("name")) for t in tools if isinstance(t, dict)}

    def reached(self, wait: StepWait) -> None:
        self._waits.append(wait)

    def matched(self, step: int) -> None:
        for wait in self._waits:
            if wait.step == step:
                wait.matched = True
        self._waits = [w for w in self._waits if not w.matched]  # a matched step is never looked at again

    def earliest(self) -> float | None:
        """The earliest bound of a step still awaited."""
        return min((w.deadline for w in self._waits if not w.matched), default=None) if self._waits else None

    def expire(self, now: float, at: float | None, ended_early: Callable[[float, float | None], str]) -> None:
        for wait in self._waits:
            if not wait.matched and wait.deadline <= now:
                wait.matched = True
                early = ended_early(wait.deadline, at)
                self._missed(wait, at if early and at is not None else wait.deadline, early)
        if any(w.matched for w in self._waits):
            self._waits = [w for w in self._waits if not w.matched]

    def _report(self, rule: Rule, message: str, hint: str, step: int, line: int, expected: str, seen: str,
                time: float, cut_short: bool, unplayed: bool = False) -> None:
        self._findings.append(Finding(rule=rule, message=message, hint=hint, time=time, step=step, step_line=line,
                                      expected=expected, seen=seen, cut_short=cut_short, unplayed=unplayed))

    def _missed(self, wait: StepWait, when: float, early: str) -> None:
        closest, refused = self._last_of_kind.get(wait.expect, (None, None))
        why = explain_mismatch(closest.event or {}, wait.match) if closest is not None and wait.match else None
        declared = self.declared_tools
        if wait.expect == "session.update" and why is None:
            if wait.tools and set(wait.tools) <= self._reported_undeclared:
                return  # the tool-not-declared finding said it, when the model called one
            absent = [t for t in wait.tools if t not in declared]
            self._report(
                Rule.SCENARIO_MISMATCH if not declared else Rule.TOOL_NOT_DECLARED,
                f"No session.update declared the scenario's tools{early or ' in time'}." if not declared else
                f"The client's session.update declared {sorted(declared)} but not "
                f"{', '.join(absent) or 'all the scenario tools'}, which the scenario's model will call.",
                RULE_SPECS[Rule.TOOL_NOT_DECLARED].fix, wait.step, wait.line, f"session.update declaring {', '.join(wait.tools) or 'the scenario tools'}",
                "none" if not declared else ", ".join(sorted(declared)), when, bool(early), unplayed=closest is None)
            return
        what = _WHAT.get(wait.expect, wait.expect)
        if closest is not None and refused is not None:
            # the client sent one, and the server refused it: it did nothing (a refusal the judge
            # counts as benign on its own, such as a truncate past the audio's end, still leaves the step unmet)
            code = refused.code + (f", param {refused.param}" if refused.param else "")
            self._report(
                Rule.SCENARIO_MISMATCH,
                f"The scenario waited for {what}; the client sent one, event #{closest.index}, but the server "
                f"refused it ({code}: see the error event after it), so it did nothing.",
                f"Fix what the server's error names in event #{closest.index} and send it again.",
                wait.step, wait.line, what, f"event #{closest.index}, refused: {code}", when, bool(early))
            return
        if closest is not None and why is not None:
            # the client sent one, but not what the step's `match:` asks for: say what differed
            self._report(
                Rule.SCENARIO_MISMATCH,
                f"The scenario waited for {what} matching its step; the closest, event #{closest.index}, does not "
                f"match: {why}.",
                "Make the client send what the step's `match:` asks for (or fix the scenario if it expects the "
                "wrong thing).", wait.step, wait.line, json.dumps(wait.match), f"event #{closest.index}: {why}", when,
                bool(early))
            return
        hearing = self._hearing
        if wait.expect == "response.create" and hearing.transcribes_only:
            self._report(
                Rule.SCENARIO_MISMATCH,
                f"The scenario waited for {what}; this is a transcription session (?intent=transcription): it "
                "transcribes the user's audio and no model answers in it, so it cannot play the scenario.",
                "Open the conversation on RTMOCK_URL as given, without ?intent=transcription: a scenario scripts "
                "a conversation a model answers, and a transcription session has none to play.",
                wait.step, wait.line, what, "a transcription session", when, bool(early), unplayed=True)
            return
        if wait.expect == "response.create" and hearing.speech_started is not None and not hearing.speech_stopped:
            self._report(
                Rule.SCENARIO_MISMATCH,
                f"The scenario waited for the user's turn; the server VAD heard speech start (event "
                f"#{hearing.speech_started}) and never stop, over {hearing.appends} audio append(s) since, so it "
                f"never ended the turn{early or ' in time'}.",
                "Check the audio the client streams: it must be in the session's input format (PCM16 sent on a "
                "G.711 line reads as loud noise, and PCM16 silence as the loudest µ-law), and a turn must end in "
                "silence. Or end the turn yourself: input_audio_buffer.commit and response.create.",
                wait.step, wait.line, "speech that stops (input_audio_buffer.speech_stopped)",
                f"speech started at event #{hearing.speech_started}, never stopped", when, bool(early))
            return
        said = self._last_of_kind.get("user_message") if wait.expect == "response.create" else None
        if said is not None and said[1] is None:
            # a text turn: the service answers it only when asked (server VAD starts a response for audio)
            self._report(
                Rule.SCENARIO_MISMATCH,
                f"The scenario waited for {what}; none came{early or ' in time'}. The client sent a user message "
                f"(event #{said[0].index}) but never asked for the answer.",
                "After a user message item, send response.create: the service answers a text turn only when "
                "asked (only server VAD starts a response on its own, for audio).", wait.step, wait.line, what,
                f"a user message (event #{said[0].index}), then no response.create", when, bool(early))
            return
        self._report(Rule.SCENARIO_MISMATCH, f"The scenario waited for {what}; none came{early or ' in time'}.",
                     _MISSING_HINTS.get(wait.expect, RULE_SPECS[Rule.SCENARIO_MISMATCH].fix),
                     wait.step, wait.line, what, "nothing", when, bool(early), unplayed=True)
