"""Barge-in and voice turns: under server VAD with `interrupt_response` (the default), speech while a
response is active cancels it (response.done `cancelled`, reason `turn_detected`, the item in flight
`incomplete`) and the new turn is answered; a voice turn while a tool runs is a new user turn, never
the round's response.create."""

from __future__ import annotations

from typing import Any

import pytest
from voice_drive import Drive, output, silence, tools_of

from rtmock.harness.judging.findings import Rule
from rtmock.mockserver.core.events import Dialect

PCM_VAD = {"type": "realtime", "output_modalities": ["audio"],
           "audio": {"input": {"turn_detection": {"type": "server_vad"}}}}


def _interrupted(dialect: Dialect = Dialect.GA, session: dict[str, Any] | None = None) -> Drive:
    """The barge_in scenario: the user asks, the long answer streams for a second, the user speaks again."""
    drive = Drive("barge_in", dialect)
    drive.update(session if session is not None else ({"type": "realtime"} if dialect is Dialect.GA else {}))
    drive.speak(0.5)
    assert len(drive.server("response.created")) == 1
    drive.wait(1.0)  # part of the answer has streamed
    drive.speak(0.5)
    return drive


@pytest.mark.parametrize("dialect", list(Dialect))
def test_speech_during_an_answer_cancels_it_and_the_new_turn_is_answered(dialect: Dialect) -> None:
    drive = _interrupted(dialect)
    first, second = drive.server("response.created")[0]["response"], drive.server("response.created")[1]["response"]
    cancelled = drive.server("response.done")[0]["response"]
    assert cancelled["id"] == first["id"] and cancelled["status"] == "cancelled"
    assert cancelled["status_details"] == {"type": "cancelled", "reason": "turn_detected"}
    (item,) = cancelled["output"]
    assert item["status"] == "incomplete" and 0 < len(item["content"][0]["transcript"]) < 60
    kinds = drive.types()
    started = [i for i, k in enumerate(kinds) if k == "input_audio_buffer.speech_started"][1]
    assert kinds[started + 1] == "response.output_item.done"  # the item in flight, then the response
    assert kinds.index("response.done") > started
    assert drive.notes("rtmock.barge_in")[0]["response_id"] == first["id"]
    done = drive.server("response.done")[-1]["response"]
    assert done["id"] == second["id"] and done["status"] == "completed"
    assert drive.core.complete is False  # the scenario then waits for the client's truncate


def test_a_client_that_truncates_what_was_played_passes() -> None:
    drive = _interrupted()
    cancelled = drive.server("response.done")[0]["response"]
    item_id = cancelled["output"][0]["id"]
    drive.send({"type": "conversation.item.truncate", "item_id": item_id, "content_index": 0, "audio_end_ms": 400})
    assert drive.server("conversation.item.truncated")
    assert drive.core.complete
    verdict = drive.finish()
    assert verdict.passed, [str(f) for f in verdict.findings]


def test_a_client_that_keeps_playing_the_interrupted_answer_is_told_at_the_bound() -> None:
    drive = _interrupted()
    drive.wait(4.0)
    assert drive.rules() == ["scenario-mismatch"]
    assert "conversation.item.truncate" in drive.findings[0].message


def test_a_truncate_the_server_refused_is_named_when_the_step_is_missed_not_called_absent() -> None:
    # audio_end_ms in bytes, not milliseconds: past the audio's end, refused (invalid_value), so the
    # truncate did nothing; the miss says so, pointing at the client's event, not "none came"
    drive = _interrupted()
    item_id = drive.server("response.done")[0]["response"]["output"][0]["id"]
    drive.send({"type": "conversation.item.truncate", "item_id": item_id, "content_index": 0, "audio_end_ms": 38880})
    assert drive.server("error")[-1]["error"]["code"] == "invalid_value"
    (finding,) = drive.finish().findings
    truncate = next(r.index for r in drive.records if r.type == "conversation.item.truncate")
    assert finding.rule is Rule.SCENARIO_MISMATCH and "none came" not in finding.message
    assert f"event #{truncate}" in finding.message and "refused it (invalid_value" in finding.message
    assert finding.seen == f"event #{truncate}, refused: invalid_value"


def test_without_interrupt_response_the_answer_plays_on() -> None:
    session = {"type": "realtime", "audio": {"input": {"turn_detection": {"type": "server_vad",
                                                                          "interrupt_response": False}}}}
    drive = _interrupted(session=session)
    assert drive.notes("rtmock.barge_in") == []
    drive.wait(10.0)
    assert next(d["response"]["status"] for d in drive.server("response.done")) == "completed"


def test_an_answer_that_is_already_done_is_not_interrupted() -> None:
    drive = Drive("get_your_info")
    drive.update({**PCM_VAD, "tools": tools_of(drive.scenario)})
    drive.speak(0.5)
    drive.speak(0.5)  # the calling response was done long before: nothing to cancel
    assert [d["response"]["status"] for d in drive.server("response.done")] == ["completed", "completed"]


# ---- a voice turn while a tool runs ------------------------------------------------------------------


def _tool_running() -> tuple[Drive, str]:
    drive = Drive("get_your_info")
    drive.update({**PCM_VAD, "output_modalities": ["text"], "tools": tools_of(drive.scenario)})
    drive.speak(0.5)
    (call,) = drive.calls()
    drive.speak(0.5)  # the user speaks again while the client's tool runs
    return drive, call["call_id"]


def test_a_voice_turn_while_the_tool_runs_is_a_new_turn_not_the_rounds_create() -> None:
    drive, call_id = _tool_running()
    unscripted = drive.notes("rtmock.response.unscripted")
    assert len(unscripted) == 1  # the server answered the user's words at once
    assert drive.server("response.output_text.done") == []  # not with the round's scripted answer
    drive.send(output(call_id))
    assert drive.server("response.output_text.done") == []  # the round still waits for the client's create
    drive.send({"type": "response.create"})
    assert drive.server("response.output_text.done")[0]["text"] == "Your favorite food is pizza."
    verdict = drive.finish()
    assert verdict.passed, [str(f) for f in verdict.findings]


def test_after_a_voice_turn_a_missing_create_is_what_the_timeline_shows() -> None:
    drive, call_id = _tool_running()
    drive.send(output(call_id))
    drive.stream(silence(4.0))
    assert drive.rules() == ["missing-response-create"]
    assert drive.server("response.output_text.done") == []  # and indeed the model said nothing about it


def test_a_turn_during_a_calling_response_cancels_its_calls_which_are_then_owed_nothing() -> None:
    text = """
tools: [{name: lookup}]
steps:
  - expect: session.update
  - expect: response.create
  - respond:
      - function_call: {id: q, name: lookup, arguments: {q: x}}
    hold: 2s
  - expect: function_call_output
    call: q
  - expect: response.create
  - respond:
      - text: answered
"""
    from voice_drive import scenario

    drive = Drive(scenario(text))
    drive.update({**PCM_VAD, "output_modalities": ["text"], "tools": tools_of(drive.scenario)})
    drive.speak(0.5)  # the question: the call streams, its response held for 2 s
    drive.speak(0.5)  # speech within the hold: the calling response is cancelled, the new turn answered
    assert drive.server("response.done")[0]["response"]["status"] == "cancelled"
    assert [n["reason"] for n in drive.notes("rtmock.step.skipped")] == ["cancelled"]
    assert drive.core.complete  # the voice turn met the next response.create: no tool round is left
    drive.wait(10.0)
    verdict = drive.finish()
    assert verdict.passed, [str(f) for f in verdict.findings]
