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

__all__ = ["RULES", "RULE_SPECS", "Finding", "Rule", "RuleSpec", "SessionVerdict"]


class Rule(enum.StrEnum):
    """Stable rule ids: they appear in reports, JSON and JUnit output; never rename one."""

    MISSING_OUTPUT = "missing-output"  # R1
    OUTPUT_BEFORE_ARGUMENTS = "output-before-arguments"  # R1: the output answers the call once its arguments are complete
    WRONG_CALL_ID = "wrong-call-id"  # R2
    UNKNOWN_PREVIOUS_ITEM = "unknown-previous-item"  # R2 (previous_item_id)
    OUTPUT_NOT_STRING = "output-not-string"  # R3
    OUTPUT_NOT_SERIALIZED = "output-not-serialized"  # R3: a string, but an object's default string form
    MISSING_RESPONSE_CREATE = "missing-response-create"  # R4
    CREATE_BEFORE_OUTPUT = "create-before-output"  # R5
    OUTPUT_NOT_IN_CONTEXT = "output-not-in-context"  # R5: the round's create leaves an output out of the model's input
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
    NOT_PLAYED_BY_RTMOCK = "not-played-by-rtmock"  # a valid event rtmock cannot act on: its limit, not the client's


@dataclass(frozen=True, slots=True)
class RuleSpec:
    """What a rule asks of the client (`summary`, shown in reports) and what to change when it is
    broken (`fix`: a finding's hint, unless the finding knows something more specific)."""

    summary: str
    fix: str


#: Every rule, in one place: each finding of a rule takes its fix from here unless it knows better.
RULE_SPECS: dict[Rule, RuleSpec] = {
    Rule.MISSING_OUTPUT: RuleSpec(
        "R1: every function call gets a function_call_output with its call_id",
        "Handle every function call: run the tool and send conversation.item.create with "
        "{type: function_call_output, call_id, output: <string>}."),
    Rule.OUTPUT_BEFORE_ARGUMENTS: RuleSpec(
        "R1: a call's output comes once its arguments are complete (response.function_call_arguments.done)",
        "Run the tool when the call's arguments are complete: on response.function_call_arguments.done (or "
        "response.output_item.done, or response.done), not on response.output_item.added, whose arguments are "
        "still empty, nor on the deltas."),
    Rule.WRONG_CALL_ID: RuleSpec(
        "R2: the output's call_id is the call_id of a call of this session",
        "Echo the call_id the server sent in the function call unchanged."),
    Rule.UNKNOWN_PREVIOUS_ITEM: RuleSpec(
        "R2: previous_item_id, when given, names an item of the conversation",
        "Omit previous_item_id (the output is appended), or use the id of an item the server reported."),
    Rule.OUTPUT_NOT_STRING: RuleSpec(
        "R3: function_call_output.output is a string",
        "Serialize the tool result: output=json.dumps(result) (JSON.stringify in JavaScript)."),
    Rule.OUTPUT_NOT_SERIALIZED: RuleSpec(
        "R3: the output is the tool result serialized, not the default string form of an object",
        "Serialize the tool result: JSON.stringify(result) in JavaScript (String(result) and `${result}` "
        "give \"[object Object]\"), json.dumps(result) in Python (json.dumps(dataclasses.asdict(result)) "
        "for a dataclass; str() of an object gives \"<... object at 0x...>\")."),
    Rule.MISSING_RESPONSE_CREATE: RuleSpec(
        "R4: a response.create follows the outputs of a tool round",
        "After sending all function_call_output items of a response, send {\"type\": \"response.create\"}."),
    Rule.CREATE_BEFORE_OUTPUT: RuleSpec(
        "R5: response.create comes after every output of the round",
        "Send the function_call_output for each call first, then response.create."),
    Rule.OUTPUT_NOT_IN_CONTEXT: RuleSpec(
        "R5: the model's input for the round's answer holds every output of the round",
        "Leave the outputs in the conversation and send a plain response.create; or, when response.input "
        "gives the answer its own context, include each output (an item_reference to it, or the item itself)."),
    Rule.DOUBLE_RESPONSE_CREATE: RuleSpec(
        "R6: one response.create per tool round",
        "Send one response.create per tool round, after the last output of that round."),
    Rule.CREATE_WHILE_ACTIVE: RuleSpec(
        "R6: no response.create while a response is still active",
        "Wait for the active response's response.done before sending response.create, or send "
        "response.cancel first to interrupt it (barge-in). With server VAD (create_response on), the "
        "server starts the response to a voice turn itself: do not send response.create for it."),
    Rule.DUPLICATE_OUTPUT: RuleSpec(
        "R7: one function_call_output per call_id",
        "Send exactly one output per call, each with that call's own call_id (check for handlers "
        "registered twice, retries, or a call_id reused across parallel calls)."),
    Rule.LATE_RESPONSE_CREATE: RuleSpec(
        "R8: the trigger comes within the scenario's bound",
        "Send response.create right after the last function_call_output of the round, not after other work "
        "(or raise the step's `within` if the delay is intended)."),
    Rule.INVALID_CLIENT_EVENT: RuleSpec(
        "every client event is valid (the real service answers an error)",
        "Send events that follow the realtime API's schema; the error's `param` names the field."),
    Rule.NOT_PLAYED_BY_RTMOCK: RuleSpec(
        "rtmock plays every event the client sends (a limit of rtmock, not a rule of the service)",
        "This part of your client cannot be tested against rtmock: test it against the real service it is "
        "for (`rtmock run --upstream URL`: Azure, for its beta and Voice Live features), or keep it out of the "
        "run. What rtmock plays: README.md, docs/voice-live.md."),
    Rule.SCENARIO_MISMATCH: RuleSpec(
        "the client does what the scenario expects, within its bounds",
        "Make the client send what the step asks for (or fix the scenario if it expects the wrong thing)."),
    Rule.TOOL_NOT_DECLARED: RuleSpec(
        "the client declares the scenario's tools in session.update",
        "Make every function tool the app uses available to the model: list it (type: function, name, "
        "parameters) in session.update's session.tools before the response.create, or in that create's "
        "response.tools."),
    Rule.CLIENT_CRASHED: RuleSpec(
        "the client process exits 0",
        "Fix the crash its output shows: a client must survive whatever the model sends, and answer every "
        "call (with an output describing the error when the arguments are bad)."),
    Rule.CLIENT_DISCONNECTED: RuleSpec(
        "the client keeps the session open until the scenario completes",
        "Keep the websocket open until the conversation is over (the scenario's last step)."),
    Rule.NO_SESSION: RuleSpec(
        "the client opens a realtime session",
        "Point the client at the server: use RTMOCK_URL or OPENAI_BASE_URL from the environment "
        "(see `rtmock run --help`), and check it connects to …/realtime with an API key header."),
    Rule.BETA_RETIRED: RuleSpec(
        "the client speaks GA to OpenAI (the beta protocol is retired there)",
        "OpenAI no longer serves the beta realtime protocol: drop the 'OpenAI-Beta: realtime=v1' header (or the "
        "'openai-beta.realtime-v1' subprotocol) and speak GA: session.update with session.type 'realtime' and "
        "output_modalities/audio.input/audio.output; conversation.item.added/.done; response.output_text.delta "
        "and response.output_audio.delta. Azure's preview path (/openai/realtime?api-version=…) still serves beta."),
}

#: Each rule's summary (reports list the rules a run broke with it).
RULES: dict[str, str] = {rule: spec.summary for rule, spec in RULE_SPECS.items()}


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
    #: About a part of the scenario the session never played: a step of which nothing came (not
    #: something else instead), or a call of a tool it never made available. When another session
    #: of the run completed the scenario, the client played it there, and this one was a spare, a
    #: connection it left, or a side conversation without the tools (`run_sessions.conclude_sessions`).
    #: Only findings of `run_sessions.NOT_ASKED_AFTER_THE_SCENARIO` rules are made unplayed.
    unplayed: bool = False

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
