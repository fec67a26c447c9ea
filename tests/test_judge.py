"""The rules at the pure level: a `SessionCore` plays a scenario to scripted client frames and every
record it makes feeds a `Judge`. Times are explicit (`advance`, `finish`): no socket, no clock, no
waiting. Each rule has a failing and a passing case; the correct client passes in every real style."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest

from rtmock.harness.judging.check import check_transcripts
from rtmock.harness.judging.findings import Finding, Rule, SessionVerdict
from rtmock.harness.judging.judge import Judge
from rtmock.mockserver.core.events import Dialect, IdSource
from rtmock.mockserver.core.notes import Refused
from rtmock.mockserver.core.records import Direction, Record, TranscriptHeader, dump_record
from rtmock.mockserver.core.session import SessionCore
from rtmock.mockserver.scenario.loader import LoadedScenario, load_scenario, load_scenario_text

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"
STEP = 0.01  # seconds between two client frames, unless a test says otherwise

TOOLS = [
    {"type": "function", "name": name, "description": "a tool", "parameters": {"type": "object", "properties": {}}}
    for name in ("get_your_info", "get_weather")
]
USER_MESSAGE = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "What is up?"}]}


class Session:
    """A scenario played by `SessionCore` to a scripted client, judged record by record."""

    def __init__(self, scenario: str | LoadedScenario, *, dialect: Dialect = Dialect.GA) -> None:
        self.scenario = scenario if isinstance(scenario, LoadedScenario) else load_scenario(SCENARIOS / f"{scenario}.yaml")
        self.dialect = dialect
        self.records: list[Record] = []
        self.findings: list[Finding] = []
        self.judge = Judge(session_id="sess_test", scenario_name=self.scenario.name, scenario_path=self.scenario.path,
                           default_within=self.scenario.scenario.defaults.within)
        self.core = SessionCore(self.scenario, dialect, self._record, ids=IdSource(4))
        self.now = 0.0
        self.core.start(0.0)

    def _record(self, record: Record) -> None:
        self.records.append(record)
        self.findings += self.judge.feed(record)

    # ---- the client's side -----------------------------------------------------------------------

    def send(self, event: dict[str, Any] | str, *, at: float | None = None) -> None:
        self.advance(self.now + STEP if at is None else at)
        self.core.receive(event if isinstance(event, str) else json.dumps(event), self.now)
        self.findings += self.judge.settle()  # every record of this moment is in, as the server delivers them

    def advance(self, until: float) -> list[Finding]:
        """Let time pass up to `until`: the script's sleeps (held responses) wake in order, then the judge."""
        start = len(self.findings)
        while (due := self.core.next_deadline) is not None and due <= until:
            self.now = max(self.now, due)
            self.core.advance(self.now)
        self.now = max(self.now, until)
        self.findings += self.judge.advance(self.now)
        return self.findings[start:]

    def close(self) -> None:
        self.core.client_closed(self.now + STEP, 1000)
        self.now += STEP

    def finish(self) -> SessionVerdict:
        return self.judge.finish(self.now)

    # ---- what the client saw ---------------------------------------------------------------------

    def server(self, kind: str) -> list[dict[str, Any]]:
        return [r.event for r in self.records if r.direction is Direction.SERVER and r.event and r.event["type"] == kind]

    def calls(self) -> list[dict[str, Any]]:
        """The function call items, as a client reads them from response.output_item.done."""
        return [e["item"] for e in self.server("response.output_item.done") if e["item"]["type"] == "function_call"]

    def reached(self, expect: str) -> list[Record]:
        return [r for r in self.records if r.direction is Direction.SCRIPT and r.event
                and r.event["type"] == "rtmock.step.reached" and r.event["expect"] == expect]

    @property
    def rules(self) -> list[str]:
        return [f.rule.value for f in self.findings]


# ---- a scripted client ---------------------------------------------------------------------------


def declare(s: Session, tools: list[dict[str, Any]] | None = None) -> None:
    session: dict[str, Any] = {"tools": TOOLS + [{"type": "function", "name": t.name} for t in s.scenario.scenario.tools
                                                 if t.name not in ("get_your_info", "get_weather")]}
    if tools is not None:
        session["tools"] = tools
    if s.dialect is Dialect.GA:
        session["type"] = "realtime"
    s.send({"type": "session.update", "session": session})


def user_turn(s: Session) -> None:
    s.send({"type": "conversation.item.create", "item": USER_MESSAGE})
    s.send({"type": "response.create"})


def start(scenario: str | LoadedScenario, *, dialect: Dialect = Dialect.GA) -> Session:
    s = Session(scenario, dialect=dialect)
    declare(s)
    user_turn(s)
    return s


def output(s: Session, call: dict[str, Any] | str, result: Any = '{"status": "ok"}', *, at: float | None = None,
           **fields: Any) -> None:
    call_id = call if isinstance(call, str) else call["call_id"]
    item = {"type": "function_call_output", "call_id": call_id, "output": result, **fields.pop("item", {})}
    s.send({"type": "conversation.item.create", "item": item, **fields}, at=at)


def create(s: Session, *, at: float | None = None, **event: Any) -> None:
    s.send({"type": "response.create", **event}, at=at)


def one(findings: list[Finding]) -> Finding:
    assert len(findings) == 1, [str(f) for f in findings]
    return findings[0]


def assert_passes(s: Session) -> None:
    s.advance(s.now + 10)  # every bound passes: nothing may be pending
    due = s.judge.next_deadline()
    assert due is None or due > s.now, "a bound in the past would make the live judge's timer spin"
    verdict = s.finish()
    assert verdict.findings == [], "\n".join(str(f) for f in verdict.findings)
    assert verdict.passed


HELD_ANSWER = """
name: held_answer
tools:
  - {name: get_your_info, parameters: {type: object}}
steps:
  - expect: session.update
  - expect: response.create
  - respond:
      - function_call: {id: info, name: get_your_info, arguments: {query: food}}
  - expect: function_call_output
    call: info
  - expect: response.create
    within: 3s
  - respond:
      - text: {text: Your favorite food is pizza., chunks: 4}
    delta_interval: 100ms          # the answer streams for 0.4 s: a second create lands in it
"""

MATCHED = """
name: matched
tools:
  - {name: get_your_info, parameters: {type: object}}
steps:
  - expect: session.update
  - expect: response.create
  - respond:
      - function_call: {id: info, name: get_your_info, arguments: {query: food}}
  - expect: function_call_output
    call: info
    within: 5s
    match:
      item.output: {json_contains: {status: ok}}
  - expect: response.create
    within: 3s
    match:
      response.instructions: {regex: pizza}
  - respond:
      - text: Your favorite food is pizza.
"""

FIRST_TURN_MATCHED = """
name: first_turn_matched
tools:
  - {name: get_your_info, parameters: {type: object}}
steps:
  - expect: session.update
  - expect: response.create
    within: 2s
    match:
      response.metadata.topic: food
  - respond:
      - text: Hello.
"""


def inline(text: str) -> LoadedScenario:
    return load_scenario_text(text, default_name="inline")


# ---- R1 missing-output -----------------------------------------------------------------------------


def test_missing_output_is_reported_at_its_bound() -> None:
    s = start("get_your_info")
    (reached,) = s.reached("function_call_output")
    bound = reached.time + 5.0
    assert s.judge.next_deadline() == pytest.approx(bound)
    assert s.advance(bound - 1e-6) == []
    finding = one(s.advance(bound))
    assert finding.rule is Rule.MISSING_OUTPUT
    assert finding.call_id == s.calls()[0]["call_id"]
    assert finding.time == pytest.approx(bound)
    assert "within 5s" in finding.message and "get_your_info" in finding.message


def test_every_parallel_call_needs_an_output() -> None:
    s = start("parallel_calls")
    paris, tokyo = s.calls()
    output(s, paris)
    create(s)  # the create is judged first: it came before Tokyo's output
    assert one(s.findings).rule is Rule.CREATE_BEFORE_OUTPUT
    assert s.findings[0].call_id == tokyo["call_id"]


def test_an_answered_call_has_no_missing_output() -> None:
    s = start("get_your_info")
    output(s, s.calls()[0])
    create(s)
    assert_passes(s)


def test_no_bound_is_left_once_the_answer_is_done() -> None:
    # a text answer is a response without calls: it has no trigger to wait for (a stale bound here
    # made the live judge's timer fire again and again until the session ended)
    s = start("get_your_info")
    output(s, s.calls()[0])
    create(s)
    assert s.core.complete
    assert s.judge.next_deadline() is None


def test_a_client_that_closes_with_a_call_unanswered_is_told_which_call() -> None:
    s = start("get_your_info")
    s.close()
    verdict = s.finish()
    finding = one(verdict.findings)
    assert finding.rule is Rule.MISSING_OUTPUT
    assert "before the client closed the session (event #" in finding.message


# ---- R2 wrong-call-id, unknown-previous-item ---------------------------------------------------------


@pytest.mark.parametrize("wrong", ["item_id", "made_up"])
def test_wrong_call_id_is_one_finding_at_the_output(wrong: str) -> None:
    s = start("get_your_info")
    (call,) = s.calls()
    call_id = call["id"] if wrong == "item_id" else "call_madeUp123"
    output(s, call_id)
    create(s)  # the consequence (a create with no valid output) is not reported again
    s.advance(s.now + 10)
    finding = one(s.finish().findings)
    assert finding.rule is Rule.WRONG_CALL_ID
    assert finding.seen == repr(call_id)
    assert f"Event #{finding.index}" in finding.message
    if wrong == "item_id":
        assert "item_id of call get_your_info" in finding.message and call["call_id"] in finding.message
        assert finding.call_id == call["call_id"]
    else:
        assert "not a call of this session" in finding.message and call["call_id"] in finding.message


def test_another_calls_id_is_a_duplicate_output_that_points_at_the_unanswered_call() -> None:
    s = start("parallel_calls")
    paris, tokyo = s.calls()
    output(s, paris)
    output(s, paris)  # meant for Tokyo
    create(s)
    s.advance(s.now + 10)
    finding = one(s.finish().findings)
    assert finding.rule is Rule.DUPLICATE_OUTPUT
    assert finding.call_id == paris["call_id"]
    assert tokyo["call_id"] in finding.message and "meant for it" in finding.message


def test_unknown_previous_item_id() -> None:
    s = start("get_your_info")
    output(s, s.calls()[0], previous_item_id="item_doesNotExist")
    create(s)
    s.advance(s.now + 10)
    finding = one(s.finish().findings)
    assert finding.rule is Rule.UNKNOWN_PREVIOUS_ITEM
    assert "'item_doesNotExist'" in finding.message


@pytest.mark.parametrize("previous", ["root", "call_item", "user_item", "last_item"])
def test_known_previous_item_ids_pass(previous: str) -> None:
    s = Session("get_your_info")
    declare(s)
    s.send({"type": "conversation.item.create", "item": {**USER_MESSAGE, "id": "item_clientUser1"}})
    create(s)
    (call,) = s.calls()
    previous_id = {"root": "root", "call_item": call["id"], "user_item": "item_clientUser1",
                   "last_item": s.server("conversation.item.done")[-1]["item"]["id"]}[previous]
    output(s, call, previous_item_id=previous_id)
    create(s)
    assert_passes(s)


# ---- R3 output-not-string ----------------------------------------------------------------------------


def answered_with(result: Any) -> tuple[Session, dict[str, Any], Finding]:
    """get_your_info's call answered with `result` and a create: the session, the call, the one finding."""
    s = start("get_your_info")
    (call,) = s.calls()
    output(s, call, result)
    create(s)
    s.advance(s.now + 10)
    return s, call, one(s.finish().findings)


@pytest.mark.parametrize("result", [{"status": "ok"}, 42, ["a"], None, True])
def test_output_that_is_not_a_string(result: Any) -> None:
    s, call, finding = answered_with(result)  # not also invalid-client-event or create-before-output
    assert finding.rule is Rule.OUTPUT_NOT_STRING
    assert finding.call_id == call["call_id"]
    assert "json.dumps" in finding.hint
    assert s.server("error"), "the server refuses it, as the real service does"


@pytest.mark.parametrize("result", ['{"status": "ok"}', "", "plain text", "42"])
def test_any_string_output_passes(result: str) -> None:
    s = start("get_your_info")
    output(s, s.calls()[0], result)
    create(s)
    assert_passes(s)


# ---- R4 missing-response-create, R8 its bound ----------------------------------------------------------


@pytest.mark.parametrize("scenario", ["get_your_info", "parallel_calls", "multi_round"])
def test_a_client_that_configures_every_response_itself_and_sends_no_session_update_passes(scenario: str) -> None:
    # the service requires no session.update: tools (and instructions) may come with each response.create
    s = Session(scenario)
    per_response = {"response": {"tools": TOOLS + [{"type": "function", "name": t.name} for t in
                                                   s.scenario.scenario.tools], "output_modalities": ["text"]}}
    s.send({"type": "conversation.item.create", "item": USER_MESSAGE})
    create(s, **per_response)
    answered: set[str] = set()
    while len(answered) < len(s.calls()):
        for call in s.calls():
            if call["call_id"] not in answered:
                answered.add(call["call_id"])
                output(s, call)
        create(s, **per_response)
    assert s.core.complete
    assert_passes(s)


def test_a_client_that_declares_its_tools_nowhere_still_misses_the_session_update_step() -> None:
    s = Session("get_your_info")
    user_turn(s)
    s.advance(s.now + 10)
    assert [f.rule for f in s.finish().findings][:1] == [Rule.SCENARIO_MISMATCH]


@pytest.mark.parametrize(("session_choice", "response_choice", "barred"), [
    ("none", None, True),
    ({"type": "function", "name": "get_weather"}, None, True),  # forced to another tool
    (None, "none", True),
    ("none", "auto", False),  # the response's own choice overrides the session's
    ("required", None, False),
    ({"type": "function", "name": "get_your_info"}, None, False),
    ("auto", None, False),
    ({"type": "mcp", "server_label": "crm"}, None, True),  # forces a tool on a remote MCP server
])
def test_a_tool_choice_that_rules_out_the_scripted_call_is_tool_not_declared(
        session_choice: Any, response_choice: Any, barred: bool) -> None:
    s = Session("get_your_info")
    session: dict[str, Any] = {"type": "realtime", "tools": TOOLS}
    if session_choice is not None:
        session["tool_choice"] = session_choice
    s.send({"type": "session.update", "session": session})
    s.send({"type": "conversation.item.create", "item": USER_MESSAGE})
    create(s, **({"response": {"tool_choice": response_choice}} if response_choice is not None else {}))
    (call,) = s.calls()
    output(s, call)
    create(s)
    s.advance(s.now + 10)
    findings = s.finish().findings
    if not barred:
        assert findings == [], [str(f) for f in findings]
        return
    finding = one(findings)
    assert finding.rule is Rule.TOOL_NOT_DECLARED and "tool_choice in effect" in finding.message
    assert finding.seen.startswith("tool_choice ") and "auto" in finding.hint


@pytest.mark.parametrize(("dialect", "event"), [
    (Dialect.BETA, {"type": "transcription_session.update", "session": {"input_audio_format": "pcm16",
                                                                        "input_audio_transcription": {"model": "whisper-1"}}}),
    (Dialect.VOICE_LIVE, {"type": "session.avatar.connect", "client_sdp": "v=0"}),
])
def test_a_valid_event_rtmock_does_not_play_is_its_limit_not_an_invalid_client_event(
        dialect: Dialect, event: dict[str, Any]) -> None:
    s = Session("get_your_info", dialect=dialect)
    s.send(event)
    finding = s.findings[0]
    assert finding.rule is Rule.NOT_PLAYED_BY_RTMOCK, [str(f) for f in s.findings]
    assert "is valid, but rtmock does not play" in finding.message
    assert "not a mistake in your client" in finding.message and "--upstream" in finding.hint


@pytest.mark.parametrize(("choice", "barred"), [("get_weather", True), ("get_your_info", False), ("required", False)])
def test_a_beta_tool_choice_names_the_function_it_forces(choice: str, barred: bool) -> None:
    # beta types tool_choice as a string: "auto, none, required, or specify a function"
    s = Session("get_your_info", dialect=Dialect.BETA)
    s.send({"type": "session.update", "session": {"tools": TOOLS, "tool_choice": choice, "modalities": ["text"]}})
    user_turn(s)
    (call,) = s.calls()
    output(s, call)
    create(s)
    s.advance(s.now + 10)
    assert [f.rule for f in s.finish().findings] == ([Rule.TOOL_NOT_DECLARED] if barred else [])


def test_missing_response_create_is_reported_exactly_at_its_bound() -> None:
    s = start("get_your_info")
    (call,) = s.calls()
    output(s, call)
    bound = s.now + 3.0  # the step after the call, `within: 3s`, counts from the output
    assert s.judge.next_deadline() == pytest.approx(bound)
    assert s.advance(bound - 1e-6) == []
    finding = one(s.advance(bound))
    assert finding.rule is Rule.MISSING_RESPONSE_CREATE
    assert finding.time == pytest.approx(bound)
    assert finding.call_id == call["call_id"] and finding.step_line is not None
    assert "within 3s" in finding.message and "response.create" in finding.hint
    assert s.judge.next_deadline() is None


def test_missing_response_create_for_parallel_calls_names_the_round() -> None:
    s = start("parallel_calls")
    for call in s.calls():
        output(s, call)
    finding = one(s.advance(s.now + 5.0))
    assert finding.rule is Rule.MISSING_RESPONSE_CREATE
    assert "the 2 calls" in finding.message


def test_an_out_of_band_create_in_place_of_the_rounds_create_is_named_in_the_missing_create() -> None:
    s = start("get_your_info")
    (call,) = s.calls()
    output(s, call)
    create(s, response={"conversation": "none"})  # out of band: it does not answer the round
    side = next(r.index for r in reversed(s.records) if r.type == "response.create")
    finding = one(s.advance(s.now + 5.0))
    assert finding.rule is Rule.MISSING_RESPONSE_CREATE
    assert f"event #{side} does not count" in finding.message and "out-of-band" in finding.message
    assert finding.seen == f"only an out-of-band response.create (event #{side})"
    assert "conversation" in finding.hint


def test_a_result_sent_as_a_message_item_is_named_in_the_create_before_output() -> None:
    s = start("get_your_info")
    (call,) = s.calls()
    s.send({"type": "conversation.item.create", "item": {"type": "message", "role": "user", "content": [
        {"type": "input_text", "text": '{"food": "pizza"}'}]}})
    message = next(r.index for r in reversed(s.records) if r.type == "conversation.item.create")
    create(s)
    finding = s.findings[-1]
    assert finding.rule is Rule.CREATE_BEFORE_OUTPUT and finding.call_id == call["call_id"]
    assert f"Event #{message} is a message item" in finding.message
    assert "function_call_output item with the call's call_id (not a message)" in finding.hint


def test_a_slow_tool_does_not_eat_into_the_create_bound() -> None:
    # the output comes 4 s after the call (its own step allows 5 s); the create's 3 s run from there
    s = start("get_your_info")
    reached = s.reached("response.create")[-1].time
    output(s, s.calls()[0], at=reached + 4.0)
    create(s, at=reached + 4.5)
    assert_passes(s)


def test_a_create_just_before_the_bound_is_in_time() -> None:
    s = start("get_your_info")
    output(s, s.calls()[0])
    bound = s.reached("response.create")[-1].time + 3.0
    create(s, at=bound - 1e-3)
    assert_passes(s)


def test_a_create_after_the_bound_is_judged_missing_at_the_bound_then_late() -> None:
    # the verdict comes at the bound (what `rtmock run` acts on); where the session goes on and the
    # create comes after all (rtmock serve, a transcript), that finding becomes late-response-create
    s = start("get_your_info")
    output(s, s.calls()[0])
    bound = s.now + 3.0
    assert [f.rule for f in s.advance(bound)] == [Rule.MISSING_RESPONSE_CREATE]
    create(s, at=bound + 0.5)
    late = one(s.finish().findings)
    assert late.rule is Rule.LATE_RESPONSE_CREATE
    assert late.time == pytest.approx(bound + 0.5) and "0.50s after its 3s bound" in late.message
    assert late.call_id == s.calls()[0]["call_id"]
    # a live consumer (the serve log, the plugin) was handed the missing create at the bound: it is
    # handed the late create that replaces it too, not left with a finding the verdict no longer holds
    assert [f.rule for f in s.findings] == [Rule.MISSING_RESPONSE_CREATE, Rule.LATE_RESPONSE_CREATE]
    assert s.findings[-1] is late


def test_each_round_state_answers_a_create_and_only_a_missed_create_is_made_late() -> None:
    # the rule table: a create is decided in every state that still waits for the client, and the
    # one finding a decided round can still make is R8's late create
    from rtmock.harness.judging.rounds import OPEN, ROUND_RULES, RoundState, Stimulus

    assert all((state, Stimulus.CREATE) in ROUND_RULES for state in OPEN)
    decided = [(pair, after) for pair, after in ROUND_RULES.items() if pair[0] not in OPEN]
    assert decided == [((RoundState.MISSED_CREATE, Stimulus.CREATE), (RoundState.TRIGGERED, Rule.LATE_RESPONSE_CREATE))]


# ---- R5 create-before-output ------------------------------------------------------------------------


def test_create_before_the_only_output() -> None:
    s = start("get_your_info")
    (call,) = s.calls()
    create(s)
    output(s, call)
    finding = one(s.findings)
    assert finding.rule is Rule.CREATE_BEFORE_OUTPUT
    assert finding.call_id == call["call_id"] and f"event #{finding.index}" in finding.message


def test_create_between_two_parallel_outputs() -> None:
    s = start("parallel_calls")
    paris, tokyo = s.calls()
    output(s, paris)
    create(s)
    output(s, tokyo)
    create(s)
    finding = one(s.findings)
    assert finding.rule is Rule.CREATE_BEFORE_OUTPUT
    assert finding.call_id == tokyo["call_id"] and "without that result" in finding.message


@pytest.mark.parametrize("order", ["paris_first", "tokyo_first"])
def test_parallel_outputs_in_either_order_then_one_create_pass(order: str) -> None:
    s = start("parallel_calls")
    calls = s.calls()
    for call in calls if order == "paris_first" else reversed(calls):
        output(s, call)
    create(s)
    assert_passes(s)


# ---- R6 double-response-create, create-while-active ------------------------------------------------------


def test_double_response_create_after_the_answer() -> None:
    s = start("get_your_info")
    output(s, s.calls()[0])
    create(s)
    create(s)
    finding = one(s.findings)
    assert finding.rule is Rule.DOUBLE_RESPONSE_CREATE
    assert "no new input" in finding.message


def test_double_response_create_while_the_answer_streams_is_a_double_not_a_race() -> None:
    s = start(inline(HELD_ANSWER))
    output(s, s.calls()[0])
    create(s)
    create(s)  # the answer the first create started is still streaming
    finding = one(s.findings)
    assert finding.rule is Rule.DOUBLE_RESPONSE_CREATE
    assert "still streaming" in finding.message
    assert s.server("error")[-1]["error"]["code"] == "conversation_already_has_active_response"


def test_one_create_per_round_over_two_rounds_passes() -> None:
    s = start("multi_round")
    output(s, s.calls()[0])
    create(s)
    output(s, s.calls()[1])
    create(s)
    assert_passes(s)


def test_an_output_reusing_the_previous_rounds_call_id_is_one_finding_pointing_at_the_open_call() -> None:
    s = start("multi_round")
    first = s.calls()[0]
    output(s, first)
    create(s)
    second = s.calls()[1]
    output(s, first)  # the call_id kept from round 1
    create(s)
    s.advance(s.now + 10)
    finding = one(s.finish().findings)  # not also create-before-output and missing-output for round 2
    assert finding.rule is Rule.DUPLICATE_OUTPUT and finding.call_id == first["call_id"]
    assert f"call get_orders ({second['call_id']})" in finding.message and "earlier response" in finding.message
    assert "not one kept from an earlier round" in finding.hint


def test_create_while_an_answer_plays_points_at_cancel_not_at_tools() -> None:
    # barge-in: the user talks over a spoken answer and the client asks for a new response
    s = Session(load_scenario_text("steps:\n  - expect: response.create\n  - respond:\n      - audio: hello there\n"
                                   "    hold: 2s\n  - expect: response.create\n", path="barge.yaml"))
    s.send({"type": "response.create"})
    s.send({"type": "response.create"}, at=0.5)  # the answer is still active
    finding = one(s.findings)
    assert finding.rule is Rule.CREATE_WHILE_ACTIVE
    assert "response.cancel" in finding.hint and "calling response" not in finding.hint


@pytest.mark.parametrize(("dialect", "request_", "replaced"), [
    (Dialect.VOICE_LIVE, {}, True),  # cancel_previous defaults to true on Voice Live
    (Dialect.VOICE_LIVE, {"response": {"cancel_previous": True}}, True),
    (Dialect.VOICE_LIVE, {"response": {"cancel_previous": False}}, False),
    (Dialect.BETA, {}, False),
    (Dialect.GA, {}, False),
])
def test_a_voice_live_create_ends_the_active_response_where_others_are_refused(
        dialect: Dialect, request_: dict[str, Any], replaced: bool) -> None:
    s = Session(load_scenario_text("steps:\n  - expect: response.create\n  - respond:\n      - audio: hello there\n"
                                   "    hold: 2s\n  - expect: response.create\n  - respond:\n      - text: again\n",
                                   path="barge.yaml"), dialect=dialect)
    s.send({"type": "response.create"})
    first = s.server("response.created")[0]["response"]["id"]
    s.send({"type": "response.create", **request_}, at=0.5)  # the answer is still active
    if not replaced:
        assert one(s.findings).rule is Rule.CREATE_WHILE_ACTIVE
        return
    done = s.server("response.done")[0]["response"]
    assert done["id"] == first and done["status"] == "cancelled"
    assert len(s.server("response.created")) == 2 and s.core.complete
    assert_passes(s)


def test_a_voice_live_create_that_ends_a_calling_response_without_new_input_is_create_before_output() -> None:
    # the call is complete, the response held open; the client's create (cancel_previous) ends it
    # before any output: the model answers without the result, as with the round's create sent early
    s = Session("slow_response_done", dialect=Dialect.VOICE_LIVE)
    declare(s)
    user_turn(s)
    (call,) = s.calls()
    create(s, at=s.now + 0.2)
    assert s.server("response.done")[0]["response"]["status"] == "cancelled"
    finding = one(s.findings)
    assert finding.rule is Rule.CREATE_BEFORE_OUTPUT and finding.call_id == call["call_id"]


def test_a_voice_live_create_after_new_user_input_ends_a_calling_response_which_is_then_owed_nothing() -> None:
    # a barge-in: the user says something new while the call's response is still open
    s = Session("slow_response_done", dialect=Dialect.VOICE_LIVE)
    declare(s)
    user_turn(s)
    s.send({"type": "conversation.item.create", "item": USER_MESSAGE}, at=s.now + 0.1)
    create(s)
    assert s.server("response.done")[0]["response"]["status"] == "cancelled"
    assert_passes(s)


def test_create_while_the_calling_response_is_active_and_never_again_is_judged_at_the_bound() -> None:
    s = start("slow_response_done")  # response.done comes 1 s after the call
    (call,) = s.calls()
    output(s, call)  # allowed while the response is active
    create(s)  # refused: the response is still active
    refused_at = s.records[-3].index  # the create, the session's note that it refused it, the service's error
    assert s.records[-3].type == "response.create" and s.records[-2].note == Refused(
        refused_at, "conversation_already_has_active_response")
    assert s.server("error")[-1]["error"]["code"] == "conversation_already_has_active_response"
    assert not s.findings  # a client may still send it again once the response is done
    s.advance(s.now + 1.0)
    done_at = s.records[[r.type for r in s.records].index("response.done")].time
    bound = s.reached("response.create")[-1].time + 3.0
    assert not s.advance(bound - 1e-3)
    finding = one(s.advance(bound))
    assert finding.rule is Rule.CREATE_WHILE_ACTIVE and finding.time == pytest.approx(bound) and bound > done_at
    assert finding.call_id == call["call_id"] and f"event #{refused_at}" in finding.message
    assert "before its response.done" in finding.message and "send it again" in finding.hint


def test_a_client_that_quits_on_the_refusal_of_its_early_create_is_charged_with_the_early_create() -> None:
    s = start("slow_response_done")
    output(s, s.calls()[0])
    create(s)
    refused = s.records[-3]
    assert refused.type == "response.create" and isinstance(s.records[-2].note, Refused)
    s.close()  # before the calling response's response.done
    finding = one(s.finish().findings)
    assert finding.rule is Rule.CREATE_WHILE_ACTIVE and finding.index == refused.index
    assert not finding.cut_short  # the refusal came first: a crash that follows is its consequence
    assert "before the client closed the session" in finding.message


def test_a_refused_create_sent_again_after_response_done_passes() -> None:
    # the service refuses a create while the calling response is active; a client that handles the
    # refusal and sends it again after response.done loses nothing (the answer follows)
    s = start("slow_response_done")
    output(s, s.calls()[0])
    create(s)
    assert s.server("error")[-1]["error"]["code"] == "conversation_already_has_active_response"
    s.advance(s.now + 1.0)
    assert s.server("response.done")
    create(s)
    assert_passes(s)


def test_create_after_the_held_response_done_passes() -> None:
    s = start("slow_response_done")
    output(s, s.calls()[0])
    s.advance(s.now + 1.0)
    assert s.server("response.done")
    create(s)
    assert_passes(s)


# ---- R7 duplicate-output ------------------------------------------------------------------------


def test_duplicate_output_for_one_call() -> None:
    s = start("get_your_info")
    (call,) = s.calls()
    output(s, call)
    output(s, call, '{"again": true}')
    finding = one(s.findings)
    assert finding.rule is Rule.DUPLICATE_OUTPUT
    assert finding.call_id == call["call_id"] and "meant for" not in finding.message


# ---- invalid-client-event ----------------------------------------------------------------------------


@pytest.mark.parametrize(("frame", "code"), [
    ({"type": "response.make"}, "invalid_value"),
    ("{not json", "invalid_json"),
    ({"type": "response.create", "response": {"speed_of_light": 1}}, "unknown_parameter"),
    ({"type": "conversation.item.create"}, "missing_required_parameter"),
])
def test_invalid_client_event(frame: dict[str, Any] | str, code: str) -> None:
    s = Session("get_your_info")
    declare(s)
    s.send(frame)
    sent = [r for r in s.records if r.direction is Direction.CLIENT][-1]
    finding = one(s.findings)
    assert finding.rule is Rule.INVALID_CLIENT_EVENT
    assert finding.index == sent.index and f"client event #{sent.index}" in finding.message
    assert finding.seen is not None and code in finding.seen
    if isinstance(frame, dict):
        assert f"({frame['type']})" in finding.message, "the event's own type, although the server refused it"


@pytest.mark.parametrize("extra", [{"role": "tool"}, {"name": "get_your_info"}])
def test_a_refused_output_is_one_finding_not_also_a_create_before_it(extra: dict[str, Any]) -> None:
    # the client did send the output first: the server refused it, and that refusal is the mistake
    s = start("get_your_info")
    (call,) = s.calls()
    s.send({"type": "conversation.item.create", "item": {
        "type": "function_call_output", "call_id": call["call_id"], "output": "pizza", **extra}})
    create(s)
    assert [f.rule for f in s.finish().findings] == [Rule.INVALID_CLIENT_EVENT]


@pytest.mark.parametrize(("dialect", "session", "says"), [
    (Dialect.BETA, {"type": "realtime", "modalities": ["text"]}, "/openai/v1/realtime"),  # Azure's preview path
    (Dialect.GA, {"type": "realtime", "modalities": ["text"]}, "session.output_modalities"),
    (Dialect.GA, {"type": "realtime", "input_audio_format": "pcm16"}, "session.audio.input.format")])
def test_a_session_update_of_the_other_dialect_says_where_each_is_spoken(
        dialect: Dialect, session: dict[str, Any], says: str) -> None:
    s = Session("get_your_info", dialect=dialect)
    s.send({"type": "session.update", "session": session})
    finding = one(s.findings)
    assert finding.rule is Rule.INVALID_CLIENT_EVENT and says in finding.hint


def test_a_server_error_the_scenario_sends_is_not_the_clients_fault() -> None:
    s = start("server_closes")  # sends a server_error event, then closes with 1011
    output(s, s.calls()[0])
    create(s)
    s.advance(s.now + 1.0)
    assert s.server("error")
    assert_passes(s)


def test_a_create_with_instructions_and_metadata_is_valid() -> None:
    s = start("get_your_info")
    output(s, s.calls()[0])
    create(s, response={"instructions": "Answer briefly.", "metadata": {"topic": "food"}})
    assert_passes(s)


# ---- scenario-mismatch -------------------------------------------------------------------------


def test_an_output_that_does_not_match_is_reported_at_once_saying_what_differs() -> None:
    s = start(inline(MATCHED))
    (call,) = s.calls()
    output(s, call, '{"status": "error"}')
    finding = one(s.findings)  # decided at the output, not at the bound
    assert finding.rule is Rule.SCENARIO_MISMATCH
    assert finding.call_id == call["call_id"]
    assert "item.output is" in finding.message and 'does not contain {"status": "ok"}' in finding.message


def test_an_output_nested_100000_deep_is_a_mismatch_not_a_recursion_error() -> None:
    s = start(inline(MATCHED))
    (call,) = s.calls()
    output(s, call, "[" * 100_000 + "]" * 100_000)
    finding = one(s.findings)
    assert finding.rule is Rule.SCENARIO_MISMATCH and "nests too deeply to read" in finding.message


def test_an_output_sent_before_its_step_is_reached_is_matched_when_it_is() -> None:
    held = MATCHED.replace("arguments: {query: food}}\n", "arguments: {query: food}}\n    hold: 1s\n")
    assert held != MATCHED
    s = start(inline(held))
    (call,) = s.calls()
    output(s, call, '{"status": "error"}')  # while the response is held: the step is not reached yet
    assert s.findings == [] and not s.reached("function_call_output")
    s.advance(s.now + 1.0)
    finding = one(s.findings)
    assert finding.rule is Rule.SCENARIO_MISMATCH and finding.call_id == call["call_id"]


def test_a_trigger_that_does_not_match_says_what_differs() -> None:
    s = start(inline(MATCHED))
    output(s, s.calls()[0])
    create(s, response={"instructions": "Say something."})
    finding = one(s.findings)
    assert finding.rule is Rule.SCENARIO_MISMATCH
    assert "response.instructions is" in finding.message and "/pizza/" in finding.message


def test_matching_output_and_trigger_pass() -> None:
    s = start(inline(MATCHED))
    output(s, s.calls()[0], '{"status": "ok", "food": "pizza"}')
    create(s, response={"instructions": "Mention the pizza."})
    assert_passes(s)


def test_a_turn_that_does_not_match_is_explained_at_its_bound() -> None:
    s = Session(inline(FIRST_TURN_MATCHED))
    declare(s)
    create(s, response={"metadata": {"topic": "weather"}})
    (reached,) = s.reached("response.create")
    finding = one(s.advance(reached.time + 2.0))
    assert finding.rule is Rule.SCENARIO_MISMATCH
    assert "the closest, event #" in finding.message
    assert 'response.metadata.topic is "weather", not "food"' in finding.message


def test_a_matching_turn_passes() -> None:
    s = Session(inline(FIRST_TURN_MATCHED))
    declare(s)
    create(s, response={"metadata": {"topic": "food"}})
    assert_passes(s)


def test_no_session_update_at_all() -> None:
    s = Session("get_your_info")
    user_turn(s)
    finding = one(s.advance(5.0))
    assert finding.rule is Rule.SCENARIO_MISMATCH and "No session.update" in finding.message


# ---- tool-not-declared ----------------------------------------------------------------------------


def test_a_response_calling_a_tool_the_session_never_declared_is_flagged_when_it_starts() -> None:
    s = Session("get_your_info")
    declare(s, tools=[TOOLS[1]])  # only get_weather
    user_turn(s)  # the response starts at once: the scenario's model calls get_your_info
    finding = one(s.findings)
    assert finding.rule is Rule.TOOL_NOT_DECLARED and finding.time < 0.5  # not at the step's 5 s bound
    assert "calls get_your_info" in finding.message and "session's tools were get_weather" in finding.message
    assert finding.step == 3  # the respond step whose call the real model could not have made


def test_a_call_the_real_model_could_not_have_made_is_owed_nothing_beyond_its_finding() -> None:
    # the app never gets that call: no missing output, no missing create on top of the one finding
    s = Session("get_your_info")
    s.send({"type": "session.update", "session": {"type": "realtime", "instructions": "Help."}})
    user_turn(s)
    assert [f.rule for f in s.finish().findings] == [Rule.TOOL_NOT_DECLARED]


def test_tools_given_per_response_pass() -> None:
    # "parameters set on response.create override the Session's configuration for this Response only"
    s = Session("get_your_info")
    s.send({"type": "session.update", "session": {"type": "realtime", "instructions": "Help."}})
    s.send({"type": "conversation.item.create", "item": USER_MESSAGE})
    create(s, response={"tools": TOOLS})
    output(s, s.calls()[0])
    create(s, response={"tools": TOOLS})
    assert_passes(s)


def test_a_create_sent_before_the_session_update_asks_for_a_response_without_tools() -> None:
    # the service acts on events in order: the create's response has no tools yet, whatever the
    # session.update after it declares (the mock still plays it once the scenario's update came)
    s = Session("get_your_info")
    s.send({"type": "conversation.item.create", "item": USER_MESSAGE})
    create(s)
    declare(s)
    finding = one(s.findings)
    assert finding.rule is Rule.TOOL_NOT_DECLARED and "session's tools were none" in finding.message


def test_tools_cleared_before_the_next_round_are_flagged() -> None:
    s = start("multi_round")
    output(s, s.calls()[0])
    s.send({"type": "session.update", "session": {"type": "realtime", "tools": []}})  # "pass an empty array"
    create(s)
    finding = one(s.findings)
    assert finding.rule is Rule.TOOL_NOT_DECLARED and "calls get_orders" in finding.message


def test_a_round_create_with_an_empty_tool_list_is_flagged() -> None:
    s = start("multi_round")
    output(s, s.calls()[0])
    create(s, response={"tools": []})
    finding = one(s.findings)
    assert finding.rule is Rule.TOOL_NOT_DECLARED and "response.tools gave none" in finding.message


def test_tools_declared_in_a_second_session_update_pass() -> None:
    s = Session("get_your_info")
    s.send({"type": "session.update", "session": {"type": "realtime", "instructions": "Be brief."}})
    declare(s)
    user_turn(s)
    output(s, s.calls()[0])
    create(s)
    assert_passes(s)


# ---- client-disconnected ----------------------------------------------------------------------------


def test_client_disconnected_mid_answer() -> None:
    s = start(inline(HELD_ANSWER))
    output(s, s.calls()[0])
    create(s)
    s.close()  # the answer is still streaming: the scenario is not complete
    finding = one(s.finish().findings)
    assert finding.rule is Rule.CLIENT_DISCONNECTED


def test_closing_after_the_scenario_completed_passes() -> None:
    s = start("get_your_info")
    output(s, s.calls()[0])
    create(s)
    s.close()
    assert_passes(s)


# ---- zero false positives: a correct client in every real style ---------------------------------------

# When the client answers, relative to the calling response (the held scenario keeps it active 1 s):
#   arguments_done  output at once, while the response is active; response.create after response.done
#   output_item_done  the same moment on the wire (openai-agents, livekit)
#   response_done   output and create both after response.done (clients that collect calls first)
STYLES = ["arguments_done", "response_done"]
PREVIOUS = [None, "root", "call_item"]
RESPONSES: list[dict[str, Any] | None] = [None, {}, {"instructions": "Answer in one sentence.", "metadata": {"k": "v"}}]


def _style_id(case: tuple[str, str | None, bool, dict[str, Any] | None]) -> str:
    style, previous, client_id, response = case
    shape = "no-response" if response is None else "empty-response" if not response else "instructions+metadata"
    return f"{style}-previous={previous}-{'client' if client_id else 'server'}-item-id-{shape}"


STYLE_CASES = list(itertools.product(STYLES, PREVIOUS, [False, True], RESPONSES))


@pytest.mark.parametrize("dialect", [Dialect.GA, Dialect.BETA], ids=["ga", "beta"])
@pytest.mark.parametrize(("style", "previous", "client_id", "response"), STYLE_CASES,
                         ids=[_style_id(c) for c in STYLE_CASES])
def test_a_correct_client_passes_in_every_style(dialect: Dialect, style: str, previous: str | None,
                                                client_id: bool, response: dict[str, Any] | None) -> None:
    s = start("slow_response_done", dialect=dialect)
    (call,) = s.calls()
    if style == "response_done":
        s.advance(s.now + 1.0)
        assert s.server("response.done")
    fields: dict[str, Any] = {}
    if previous is not None:
        fields["previous_item_id"] = call["id"] if previous == "call_item" else previous
    if client_id:
        fields["item"] = {"id": "item_fromTheClient1"}
    output(s, call, **fields)
    if style == "arguments_done":
        s.advance(s.now + 1.0)  # the create waits for response.done
    if response is None:
        create(s)
    else:
        create(s, response=response)
    assert_passes(s)


@pytest.mark.parametrize("dialect", [Dialect.GA, Dialect.BETA], ids=["ga", "beta"])
@pytest.mark.parametrize("scenario", ["get_your_info", "parallel_calls", "multi_round", "malformed_arguments",
                                      "audio_answer", "slow_response_done"])
def test_a_correct_client_passes_every_bundled_scenario(dialect: Dialect, scenario: str) -> None:
    s = start(scenario, dialect=dialect)
    answered: set[str] = set()
    for _ in range(3):  # as many rounds as the scenario plays
        calls = [c for c in s.calls() if c["call_id"] not in answered]
        if not calls:
            break
        for call in calls:
            output(s, call, json.dumps({"city": "?", "ok": True}))
            answered.add(call["call_id"])
        s.advance(s.now + 1.0)  # after response.done, even when held
        create(s)
    assert s.core.complete
    assert_passes(s)


def test_the_openai_agents_order_passes() -> None:
    # two session.updates (the second with the tools), the tool answered on output_item.done while
    # the response is active, and response.create held until the calling response's response.done
    s = Session("slow_response_done")
    s.send({"type": "session.update", "session": {"type": "realtime", "output_modalities": ["audio"]}})
    s.send({"type": "session.update", "session": {"type": "realtime", "tools": TOOLS, "tool_choice": "auto"}})
    user_turn(s)
    (call,) = s.calls()
    output(s, call)
    done_at = s.core.next_deadline  # the end of the hold
    assert done_at is not None
    s.advance(done_at)
    assert s.server("response.done")
    create(s, at=done_at + 0.005)
    assert_passes(s)


# ---- a saved transcript is judged like the live session ----------------------------------------------


def _bug_missing_create(s: Session) -> None:
    output(s, s.calls()[0])


def _bug_wrong_call_id(s: Session) -> None:
    output(s, s.calls()[0]["id"])
    create(s)


def _bug_create_while_active(s: Session) -> None:
    output(s, s.calls()[0])
    create(s)


def _correct(s: Session) -> None:
    output(s, s.calls()[0])
    s.advance(s.now + 1.0)
    create(s)


@pytest.mark.parametrize("client", [_bug_missing_create, _bug_wrong_call_id, _bug_create_while_active, _correct],
                         ids=lambda f: f.__name__.strip("_"))
def test_check_of_a_transcript_gives_the_live_findings(client: Any, tmp_path: Path) -> None:
    s = start("slow_response_done")
    client(s)
    # live: rtmock judges at each bound, and on a finding stops the client at once
    while not s.findings and (due := s.judge.next_deadline()) is not None:
        s.advance(due)
    if not s.findings:
        s.advance(s.now + 0.5)
    s.close()
    live = s.judge.finish(s.now, settle_pending=not s.findings)

    path = tmp_path / "session.jsonl"
    header = TranscriptHeader("sess_test", s.scenario.name, s.scenario.path, s.dialect.value, "/v1/realtime", "now")
    path.write_text(json.dumps(header.to_json()) + "\n" + "".join(dump_record(r) for r in s.records))
    ((_, checked),) = check_transcripts([str(path)])[0].sessions

    assert [f.to_json() for f in checked.findings] == [f.to_json() for f in live.findings]
    assert checked.passed == live.passed == (client is _correct)


def test_a_session_rtmock_closes_does_not_charge_the_client_with_what_was_pending() -> None:
    s = start("get_your_info")
    output(s, s.calls()[0])
    s.core.client_closed(s.now + 0.1, 1001, "server stopped", by="server")  # the judge sees the note
    assert s.records[-1].event == {"type": "rtmock.closed", "by": "server", "code": 1001, "reason": "server stopped",
                                   "complete": False}
    assert s.finish().findings == []


def test_a_create_with_its_own_instructions_after_the_answer_is_not_a_double_trigger() -> None:
    s = start("get_your_info")
    output(s, s.calls()[0])
    create(s)
    create(s, response={"instructions": "Now say goodbye."})
    assert_passes(s)


def test_a_bare_second_create_after_the_answer_is_a_double_trigger() -> None:
    s = start("get_your_info")
    output(s, s.calls()[0])
    create(s)
    create(s)
    assert s.rules == [Rule.DOUBLE_RESPONSE_CREATE.value]


# ---- bounds: decided once, by the session ----------------------------------------------------------


NO_OWN_BOUNDS = """
name: no_own_bounds
tools:
  - {name: get_your_info, parameters: {type: object}}
steps:
  - expect: session.update
  - expect: response.create
  - respond:
      - function_call: {id: info, name: get_your_info, arguments: {query: food}}
  - expect: function_call_output
    call: info
  - expect: response.create
  - respond:
      - text: ok
"""


def test_the_runs_within_bounds_the_expect_steps_that_give_none_and_the_message_says_it() -> None:
    scenario = inline(NO_OWN_BOUNDS)
    s = Session(scenario)
    s.core = SessionCore(scenario, Dialect.GA, s._record, ids=IdSource(4), default_within=1.0)
    s.core.start(0.0)
    declare(s)
    user_turn(s)
    assert s.advance(s.now + 0.9) == []
    finding = one(s.advance(s.now + 0.2))
    assert finding.rule is Rule.MISSING_OUTPUT and "within 1s" in finding.message


def test_within_0s_is_a_bound_of_zero_not_the_default() -> None:
    s = start(inline(NO_OWN_BOUNDS.replace("    call: info\n", "    call: info\n    within: 0s\n")))
    s.advance(s.now + 0.001)
    finding = one(s.findings)
    assert finding.rule is Rule.MISSING_OUTPUT and "within 0s" in finding.message


# ---- R5 output-not-in-context ------------------------------------------------------------------------


def _output_item_id(s: Session, call_id: str) -> str:
    return next(e["item"]["id"] for e in s.server("conversation.item.added")
                if e["item"]["type"] == "function_call_output" and e["item"]["call_id"] == call_id)


def test_a_round_create_whose_input_clears_the_context_is_flagged() -> None:
    # "An empty array `[]` will clear the context for this Response": the model never sees the output
    s = start("get_your_info")
    output(s, s.calls()[0])
    create(s, response={"input": []})
    finding = one(s.findings)
    assert finding.rule is Rule.OUTPUT_NOT_IN_CONTEXT and "response.input" in finding.message


def test_a_round_create_whose_own_context_references_every_output_passes() -> None:
    s = start("parallel_calls")
    calls = s.calls()
    for call in calls:
        output(s, call)
    create(s, response={"input": [{"type": "item_reference", "id": _output_item_id(s, c["call_id"])} for c in calls]})
    assert_passes(s)


def test_a_round_create_whose_inline_context_leaves_one_output_out_is_flagged() -> None:
    s = start("parallel_calls")
    first, second = s.calls()
    output(s, first)
    output(s, second)
    inline = {"type": "function_call_output", "call_id": first["call_id"], "output": "{}"}
    create(s, response={"input": [inline]})
    finding = one(s.findings)
    assert finding.rule is Rule.OUTPUT_NOT_IN_CONTEXT and finding.call_id == second["call_id"]


def test_an_output_deleted_before_the_round_create_is_flagged() -> None:
    s = start("get_your_info")
    (call,) = s.calls()
    output(s, call)
    s.send({"type": "conversation.item.delete", "item_id": _output_item_id(s, call["call_id"])})
    create(s)
    finding = one(s.findings)
    assert finding.rule is Rule.OUTPUT_NOT_IN_CONTEXT and "deleted" in finding.message


PACED_CALL = """
name: paced_call
tools:
  - {name: get_your_info, parameters: {type: object}}
steps:
  - expect: session.update
  - expect: response.create
  - respond:
      - function_call: {id: info, name: get_your_info, arguments: {query: favorite food}, chunks: 4}
    delta_interval: 100ms          # the arguments stream for 0.4 s
  - expect: function_call_output
    call: info
  - expect: response.create
  - respond:
      - text: Pizza.
"""


def _streaming_call(s: Session) -> dict[str, Any]:
    (added,) = [e["item"] for e in s.server("response.output_item.added") if e["item"]["type"] == "function_call"]
    assert not s.server("response.function_call_arguments.done")  # still streaming
    return added


def test_an_output_sent_while_the_arguments_still_stream_is_output_before_arguments() -> None:
    # the client answers on response.output_item.added: its tool had no arguments to run on
    s = start(inline(PACED_CALL))
    output(s, _streaming_call(s))
    finding = one(s.findings)
    assert finding.rule is Rule.OUTPUT_BEFORE_ARGUMENTS and "partial arguments" in finding.message
    s.advance(s.now + 1)
    create(s)
    assert [f.rule for f in s.finish().findings] == [Rule.OUTPUT_BEFORE_ARGUMENTS]  # the round itself is answered


def test_arguments_done_comes_with_the_last_delta_so_a_client_that_assembled_them_passes() -> None:
    # as the service streams: no pause between the last delta and arguments.done
    s = start(inline(PACED_CALL))
    call = _streaming_call(s)
    while len(s.server("response.function_call_arguments.delta")) < 4:
        s.advance(s.now + 0.01)
    assert s.server("response.function_call_arguments.done")
    output(s, call)  # on the last delta, its arguments parsed whole
    s.advance(s.now + 1)
    create(s)
    assert_passes(s)


PACED_CALLS = """
name: paced_calls
tools:
  - {name: get_your_info, parameters: {type: object}}
  - {name: get_weather, parameters: {type: object}}
steps:
  - expect: session.update
  - expect: response.create
  - respond:
      - function_call: {id: info, name: get_your_info, arguments: {query: favorite food}, chunks: 2}
      - function_call: {id: weather, name: get_weather, arguments: {city: Paris}, chunks: 2}
    delta_interval: 100ms
  - expect: function_call_output
    call: info
  - expect: function_call_output
    call: weather
  - expect: response.create
  - respond:
      - text: Pizza, and sun.
"""


def test_an_output_sent_on_its_arguments_done_while_another_call_streams_passes() -> None:
    s = start(inline(PACED_CALLS))
    while not s.server("response.function_call_arguments.done"):
        s.advance(s.now + 0.01)
    assert not s.server("response.done")  # the second call still streams
    first = s.server("response.function_call_arguments.done")[0]
    output(s, first["call_id"])
    while not s.server("response.done"):
        s.advance(s.now + 0.01)
    for call in s.calls()[1:]:
        output(s, call)
    create(s)
    assert_passes(s)


# ---- R3 output-not-serialized ------------------------------------------------------------------------


@pytest.mark.parametrize("result", ["[object Object]", "Weather: [object Object]",
                                    "<app.tools.Forecast object at 0x7f3a2c1d0e50>",
                                    '"[object Object]"',  # JSON.stringify(String(result)): quoted, still no result
                                    '"<app.tools.Forecast object at 0x7f3a2c1d0e50>"',
                                    '{"result":"[object Object]"}',  # JSON.stringify({result: String(value)})
                                    '["[object Object]","[object Object]"]',  # results.map(String)
                                    # json.dumps({"result": obj}, default=str)
                                    '{"result": "<__main__.UserInfo object at 0x7f76a1b2c3d0>"}'])
def test_an_object_turned_into_a_string_unserialized_is_one_finding_and_the_round_goes_on(result: str) -> None:
    _, call, finding = answered_with(result)  # the round itself is answered: no missing create on top
    assert finding.rule is Rule.OUTPUT_NOT_SERIALIZED and finding.call_id == call["call_id"]
    assert finding.seen == result and "default str" in finding.message
    assert "JSON.stringify" in finding.hint and "json.dumps" in finding.hint


@pytest.mark.parametrize(("result", "made_by"), [
    ("<coroutine object get_your_info at 0x7f3a2c1d9e50>", "not awaited"),  # str(tool()) of an async tool
    ("[object Promise]", "not awaited"),  # String(tool()) of an async function
    ("Result: [object Promise]", "not awaited"),
    ("<Task pending name='Task-3' coro=<get_info() running at /app/tools.py:12>>", "not awaited"),
    ("<generator object lookup at 0x7f00aa>", "never collected"),
    ("<function get_your_info at 0x7f00aa>", "not called"),
    ("result=<app.Forecast object at 0x7f00aa>", "default str"),
    ("Weather: [object Object], Temp: [object Object]", "JavaScript's default"),
    ("Promise { <pending> }", "not awaited"),  # Node's util.inspect of an async tool's result
    ("<bound method Tools.get_your_info of <app.Tools object at 0x7f00aa>>", "not called")])
def test_a_result_not_awaited_collected_or_called_is_named_for_what_made_it(result: str, made_by: str) -> None:
    _, _, finding = answered_with(result)
    assert finding.rule is Rule.OUTPUT_NOT_SERIALIZED and made_by in finding.message


@pytest.mark.parametrize("result", ['{"status": "[object]"}', "undefined behaviour in C", "None", "{'food': 'pizza'}",
                                    "", "the object is what String(obj) was given",
                                    # serialized results whose values hold the text (a sandbox's stdout, a log)
                                    '{"ok": true, "stdout": "console.log(obj) printed: [object Object]\\n"}',
                                    '{"stdout": "p = <__main__.Point object at 0x7fe18b787490>\\n"}', '"undefined"',
                                    '{"stdout": "<__main__.Point object at 0x7fe18b787490>\\n"}',  # print(Point())
                                    # what @openai/agents-realtime sends for a tool that returns nothing
                                    "undefined",
                                    # text that quotes one: an error message, a session of an interpreter
                                    "Error: expected str, got <__main__.Result object at 0x7f8e2c3b1d90>",
                                    'SyntaxError: "[object Object]" is not valid JSON',
                                    ">>> p = Point(1, 2)\n>>> print(p)\n<__main__.Point object at 0x7f3a2c1d90>\n",
                                    "cannot serialize <app.Result object at 0x7f00>",
                                    # one-line error messages and sentences that quote one
                                    "Error: tool returned [object Promise]; did you forget await?",
                                    "[object Object] is what String({}) returns.",
                                    "The weather is [object Object] today",
                                    # text the tool captured, in a JSON field that says so
                                    '{"stdout": "<__main__.Foo object at 0x7f3a2c1b9e40>", "exit_code": 0}',
                                    '{"snippet": "<function main at 0x7f00>", "explanation": "its entry point"}'])
def test_results_that_merely_resemble_an_unserialized_object_pass(result: str) -> None:
    s = start("get_your_info")
    (call,) = s.calls()
    output(s, call, result)
    create(s)
    assert_passes(s)


def test_a_user_message_never_followed_by_a_create_says_the_text_turn_needs_one() -> None:
    s = Session("get_your_info")
    declare(s)
    s.send({"type": "conversation.item.create", "item": USER_MESSAGE})
    finding = one(s.advance(10))
    assert finding.rule is Rule.SCENARIO_MISMATCH and "never asked for the answer" in finding.message
    assert "send response.create" in finding.hint and "a user message (event #" in (finding.seen or "")
