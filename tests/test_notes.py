"""The session's decisions reach the judge as typed notes: written once by the session, read back
(live or from a transcript) field by field, never re-derived from untyped dicts."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from rtmock.harness.judging.check import UnjudgedTranscript, check_each
from rtmock.harness.judging.judge import Judge
from rtmock.mockserver.core.events import Dialect
from rtmock.mockserver.core.notes import (
    BargeIn,
    Closed,
    FaultNotInjected,
    FrameTooLarge,
    InternalError,
    OtherNote,
    PlannedCall,
    RelayStarted,
    ResponseStarted,
    ResponseUnscripted,
    ScenarioComplete,
    SendTimeout,
    StepMatched,
    StepReached,
    StepSkipped,
    VadTurn,
    read_note,
    step_reached,
)
from rtmock.mockserver.core.records import Direction, Record, TranscriptHeader, dump_header, dump_record
from rtmock.mockserver.core.session import SessionCore
from rtmock.mockserver.scenario.loader import load_scenario_text

ROOT = Path(__file__).resolve().parent.parent
SCENARIO = ROOT / "scenarios" / "get_your_info.yaml"

EVERY_KIND = [
    StepReached(2, 14, "session.update", 5.0, tools=("get_your_info",)),
    StepReached(5, 30, "function_call_output", 1.5, "call_1", "get_your_info", {"output": {"json_contains": {}}}),
    StepMatched(2, 14, 3),
    StepSkipped(5, 30, "function_call_output", "call_1", "cancelled"),
    ScenarioComplete(),
    ResponseStarted(4, 20, "resp_1", (PlannedCall("call_1", "get_your_info", "info"), PlannedCall("call_2", "f"))),
    ResponseStarted(4, 20, "resp_2", (), out_of_band=True),
    ResponseUnscripted("resp_3", False),
    BargeIn(7, "resp_1", 1200),
    VadTurn(8, 2300),
    VadTurn(response_id="resp_4"),
    Closed("client", 1000, "", complete=False),
    Closed("server", 4000, "refused", refused="missing_model"),
    Closed("server", 1000, "bye", step=9),
    Closed("client", None, "gone", complete=True, upstream=True),
    RelayStarted("wss://example.test/v1/realtime"),
    FaultNotInjected(3, 12, "relayed"),
    InternalError("ValueError: x"),
    SendTimeout(10.0, "not reading"),
    FrameTooLarge(16_777_216, "too big"),
]


@pytest.mark.parametrize("note", EVERY_KIND, ids=lambda n: type(n).__name__)
def test_every_note_survives_a_transcript_line(note: Any) -> None:
    line = dump_record(Record(4, 0.5, Direction.SCRIPT, note.to_event(), note=note))
    read = Record.from_json(json.loads(line))
    assert read.note == note and read.event == note.to_event()


def test_a_note_of_an_unknown_kind_is_kept_as_it_was() -> None:
    event = {"type": "rtmock.upstream.problem", "kind": "timeout", "message": "slow"}
    assert read_note(event) == OtherNote("rtmock.upstream.problem", {"kind": "timeout", "message": "slow"})


@pytest.mark.parametrize(("event", "says"), [
    ({"type": "rtmock.step.reached", "step": 1, "line": 2, "expect": "response.create", "within": "5s"},
     "note rtmock.step.reached: 'within' is '5s', not a number"),
    ({"type": "rtmock.step.matched", "line": 2, "client_index": 3}, "note rtmock.step.matched: 'step' is missing"),
    ({"type": "rtmock.step.matched", "step": True, "line": 2, "client_index": 3},
     "note rtmock.step.matched: 'step' is True, not an integer"),
    ({"type": "rtmock.response.started", "step": 1, "line": 1, "response_id": "r", "calls": [{"name": "f"}]},
     "note rtmock.response.started: 'calls.call_id' is missing"),
])
def test_a_malformed_note_is_refused_naming_its_field(event: dict[str, Any], says: str) -> None:
    with pytest.raises(ValueError, match="^" + says.replace("(", r"\(").replace(")", r"\)") + "$"):
        read_note(event)


def test_a_transcript_with_a_malformed_note_is_an_error_naming_its_line_not_a_traceback(tmp_path: Path) -> None:
    # before typed notes, the judge ran float(note["within"]) on it and `rtmock check` raised ValueError
    header = TranscriptHeader("sess_1", "get_your_info", None, "ga", "/v1/realtime", "now")
    bad = {"type": "rtmock.step.reached", "step": 1, "line": 4, "expect": "session.update", "within": "soon"}
    path = tmp_path / "t.jsonl"
    path.write_text(dump_header(header) + dump_record(Record(0, 0.0, Direction.SCRIPT, bad)), encoding="utf-8")
    (outcome,) = check_each([str(path)])
    assert isinstance(outcome, UnjudgedTranscript)
    assert outcome.error == f"{path}:2: note rtmock.step.reached: 'within' is 'soon', not a number"


def test_the_session_hands_the_judge_typed_notes_with_the_bound_it_decided() -> None:
    text = SCENARIO.read_text(encoding="utf-8").replace("    within: 5s\n  - expect: response.create", "  - expect: response.create", 1)
    loaded = load_scenario_text(text, path="no_bound_on_step_1.yaml")
    records: list[Record] = []
    core = SessionCore(loaded, Dialect.GA, records.append, default_within=0.75)
    core.start(0.0)
    notes = [r.note for r in records if r.direction is Direction.SCRIPT]
    assert notes and all(dataclasses.is_dataclass(n) for n in notes)
    reached = [n for n in notes if isinstance(n, StepReached)]
    assert reached == [step_reached(loaded, n.step - 1, None, 0.75) for n in reached]
    assert [n.within for n in reached] == [0.75, 5.0]  # step 1 gives no bound: --within's; step 2 its own
    # the judge bounds the steps by it, not by its own default
    judge = Judge(default_within=99.0)
    for record in records:
        judge.feed(record)
    assert judge.next_deadline() == pytest.approx(0.75)
