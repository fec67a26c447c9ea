"""What the harness concludes about a client: findings and per-session verdicts.

A finding is a fact about the client under test, never about rtmock or the scenario author (those
are `ScenarioError`s and bugs). Each carries what a person needs to fix the client without reading
the transcript: the rule, where it was decided (event index and time), the call concerned, the
scenario step, what was expected and what was seen, and what to change.
"""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["RULES", "Finding", "Rule", "SessionVerdict"]


class Rule(enum.StrEnum):
    """Stable rule ids: they appear in reports, JSON and JUnit output; never rename one."""

    MISSING_OUTPUT = "missing-output"  # R1
    WRONG_CALL_ID = "wrong-call-id"  # R2
    UNKNOWN_PREVIOUS_ITEM = "unknown-previous-item"  # R2 (previous_item_id)
    OUTPUT_NOT_STRING = "output-not-string"  # R3
    MISSING_RESPONSE_CREATE = "missing-response-create"  # R4
    CREATE_BEFORE_OUTPUT = "create-before-output"  # R5
    DOUBLE_RESPONSE_CREATE = "double-response-create"  # R6
    CREATE_WHILE_ACTIVE = "create-while-active"  # R6: the server refused it, a response was still active
    DUPLICATE_OUTPUT = "duplicate-output"  # R7
    LATE_RESPONSE_CREATE = "late-response-create"  # R8
    INVALID_CLIENT_EVENT = "invalid-client-event"  # the server answered a client event with an error
    SCENARIO_MISMATCH = "scenario-mismatch"  # a scenario `expect` was not met
    TOOL_NOT_DECLARED = "tool-not-declared"  # session-level: the scenario's tools were not declared
    CLIENT_CRASHED = "client-crashed"  # the client process exited non-zero or was killed
    CLIENT_DISCONNECTED = "client-disconnected"  # the socket closed before the scenario completed
    NO_SESSION = "no-session"  # the client never opened a session
    BETA_RETIRED = "beta-retired"  # the client asked OpenAI for the retired beta protocol


RULES: dict[str, str] = {
    Rule.MISSING_OUTPUT: "R1: every function call gets a function_call_output with its call_id",
    Rule.WRONG_CALL_ID: "R2: the output's call_id is the call_id of a call of this session",
    Rule.UNKNOWN_PREVIOUS_ITEM: "R2: previous_item_id, when given, names an item of the conversation",
    Rule.OUTPUT_NOT_STRING: "R3: function_call_output.output is a string",
    Rule.MISSING_RESPONSE_CREATE: "R4: a response.create follows the outputs of a tool round",
    Rule.CREATE_BEFORE_OUTPUT: "R5: response.create comes after every output of the round",
    Rule.DOUBLE_RESPONSE_CREATE: "R6: one response.create per tool round",
    Rule.CREATE_WHILE_ACTIVE: "R6: no response.create while a response is still active",
    Rule.DUPLICATE_OUTPUT: "R7: one function_call_output per call_id",
    Rule.LATE_RESPONSE_CREATE: "R8: the trigger comes within the scenario's bound",
    Rule.INVALID_CLIENT_EVENT: "every client event is valid (the real service answers an error)",
    Rule.SCENARIO_MISMATCH: "the client does what the scenario expects, within its bounds",
    Rule.TOOL_NOT_DECLARED: "the client declares the scenario's tools in session.update",
    Rule.CLIENT_CRASHED: "the client process exits 0",
    Rule.CLIENT_DISCONNECTED: "the client keeps the session open until the scenario completes",
    Rule.NO_SESSION: "the client opens a realtime session",
    Rule.BETA_RETIRED: "the client speaks GA to OpenAI (the beta protocol is retired there)",
}


@dataclass(frozen=True, slots=True)
class Finding:
    rule: Rule
    message: str  # what happened, in one or two plain sentences
    hint: str  # what to change in the client
    index: int | None = None  # the record (event #n) at which it was decided
    time: float | None = None  # session seconds at which it was decided
    call_name: str | None = None
    call_id: str | None = None
    step: int | None = None  # scenario step number (1-based) and its line in the file
    step_line: int | None = None
    expected: str | None = None
    seen: str | None = None
    #: Decided before its bound because the session ended (the client closed it): when the client
    #: process then turns out to have crashed, the crash is the cause and this its consequence.
    cut_short: bool = False

    def where(self, scenario_path: str | None = None) -> str:
        parts = []
        if self.index is not None:
            parts.append(f"event #{self.index}")
        if self.time is not None:
            parts.append(f"t={self.time * 1000:.0f}ms")
        if self.call_name or self.call_id:
            parts.append(f"call {self.call_name or '?'} ({self.call_id or '?'})")
        if self.step_line is not None:
            parts.append(f"{scenario_path or 'scenario'}:{self.step_line} (step {self.step})")
        return ", ".join(parts)

    def __str__(self) -> str:
        lines = [f"[{self.rule.value}] {self.message}"]
        if self.expected is not None:
            lines.append(f"  expected: {self.expected}")
        if self.seen is not None:
            lines.append(f"  seen:     {self.seen}")
        lines.append(f"  fix:      {self.hint}")
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["rule"] = self.rule.value
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Finding:
        return cls(**{**data, "rule": Rule(data["rule"])})


@dataclass(slots=True)
class SessionVerdict:
    """The judgement of one session: passed when the scenario completed and nothing was found."""

    session_id: str
    scenario_name: str
    scenario_path: str | None
    complete: bool
    findings: list[Finding] = field(default_factory=list)
    duration: float = 0.0
    events: int = 0

    @property
    def passed(self) -> bool:
        return self.complete and not self.findings

    def to_json(self) -> dict[str, Any]:
        return {
            "session": self.session_id,
            "scenario": self.scenario_name,
            "scenario_path": self.scenario_path,
            "passed": self.passed,
            "complete": self.complete,
            "duration": round(self.duration, 6),
            "events": self.events,
            "findings": [f.to_json() for f in self.findings],
        }
