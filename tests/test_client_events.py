"""Client events are judged as the service judges them: strictly by the official shapes, nulls in
optional fields allowed, the mistakes of a beta-to-GA migration refused with the service's codes."""

from __future__ import annotations

import json
from typing import Any

import pytest
from test_judge import Session, assert_passes, create, declare, output, start, user_turn

from rtmock.harness.judging.findings import Rule
from rtmock.mockserver.core.client_events import Rejection, validate_client_event


def refusal(event: dict[str, Any] | str, dialect: str = "ga") -> Rejection:
    verdict = validate_client_event(event if isinstance(event, str) else json.dumps(event), dialect)
    assert isinstance(verdict, Rejection), f"accepted: {event}"
    return verdict


def accepted(event: dict[str, Any], dialect: str = "ga") -> None:
    verdict = validate_client_event(json.dumps(event), dialect)
    assert not isinstance(verdict, Rejection), verdict


@pytest.mark.parametrize("event", [
    # livekit-agents' generate_reply(), on every reply
    {"type": "response.create", "response": {"instructions": None, "metadata": {"client_event_id": "e1"}}},
    {"type": "response.create", "event_id": None, "response": {"tool_choice": "auto", "tools": None}},
    {"type": "conversation.item.create", "previous_item_id": None,
     "item": {"type": "function_call_output", "call_id": "call_1", "output": "{}", "id": None}},
    {"type": "session.update", "session": {"type": "realtime", "instructions": None, "tracing": None,
                                           "audio": {"input": {"noise_reduction": None, "turn_detection": None}}}},
])
def test_null_in_an_optional_field_reads_as_absent(event: dict[str, Any]) -> None:
    accepted(event)


@pytest.mark.parametrize(("session", "code", "param"), [
    ({"tools": []}, "missing_required_parameter", "session.type"),
    ({"type": "session"}, "invalid_value", "session.type"),
    ({"type": "realtime", "turn_detection": {"type": "server_vad"}}, "unknown_parameter", "session.turn_detection"),
    ({"type": "realtime", "input_audio_format": "pcm16"}, "unknown_parameter", "session.input_audio_format"),
    ({"type": "realtime", "modalities": ["text"]}, "unknown_parameter", "session.modalities"),
    ({"type": "realtime", "output_modalities": ["audio", "text"]}, "invalid_value", "session.output_modalities"),
    ({"type": "realtime", "audio": {"input": "pcm16"}}, "invalid_type", "session.audio.input"),
    ({"type": "realtime", "audio": {"input": {"format": {"type": "audio/wav"}}}}, "invalid_value",
     "session.audio.input.format.type"),
    ({"type": "realtime", "audio": {"input": {"turn_detection": {"type": "server_vad", "threshold": "high"}}}},
     "invalid_type", "session.audio.input.turn_detection.threshold"),
    ({"type": "realtime", "tools": [{"type": "function", "name": "f", "meta": 1}]}, "unknown_parameter",
     "session.tools[0].meta"),
])
def test_ga_session_update_mistakes_get_the_services_error(session: dict[str, Any], code: str, param: str) -> None:
    found = refusal({"type": "session.update", "event_id": "e7", "session": session})
    assert (found.code, found.param, found.event_id) == (code, param, "e7"), found


@pytest.mark.parametrize(("item", "code", "param"), [
    ({"type": "message", "role": "user"}, "missing_required_parameter", "item.content"),
    ({"type": "message", "role": "user", "content": [{"type": "text", "text": "hi"}]}, "invalid_value",
     "item.content[0].type"),
    ({"type": "message", "role": "bot", "content": []}, "invalid_value", "item.role"),
    ({"type": "function_call_output", "call_id": "call_1", "output": {"ok": True}}, "invalid_type", "item.output"),
    ({"type": "function_call_output", "call_id": "call 1!", "output": "{}"}, "invalid_value", "item.call_id"),
    ({"type": "widget"}, "invalid_value", "item.type"),
])
def test_ga_item_mistakes_get_the_services_error(item: dict[str, Any], code: str, param: str) -> None:
    found = refusal({"type": "conversation.item.create", "item": item})
    assert (found.code, found.param) == (code, param), found


def test_a_beta_session_keeps_its_own_shape() -> None:
    accepted({"type": "session.update", "session": {"modalities": ["text"], "input_audio_format": "g711_ulaw",
                                                    "turn_detection": None, "temperature": 0.7}}, "beta")
    found = refusal({"type": "session.update", "session": {"input_audio_format": "wav"}}, "beta")
    assert (found.code, found.param) == ("invalid_value", "session.input_audio_format")
    assert "'pcm16', 'g711_ulaw', and 'g711_alaw'" in found.message
    assert refusal({"type": "conversation.item.create", "item": {}}, "beta").param == "item.type"


@pytest.mark.parametrize("text", ['{"type": "response.create", "x": NaN}', '{"type": "response.create", "x": -Infinity}'])
def test_nan_and_infinity_are_not_json(text: str) -> None:
    found = refusal(text)
    assert found.code == "invalid_json" and "NaN or Infinity" in found.message


def test_a_lone_surrogate_is_not_text() -> None:
    # what JavaScript's JSON.stringify writes for a string cut inside an emoji
    found = refusal('{"type": "conversation.item.create", "item": {"type": "function_call_output", '
                    '"call_id": "call_1", "output": "\\ud83d"}}')
    assert found.code == "invalid_json" and "surrogate" in found.message
    accepted(json.loads('{"type": "response.create", "response": {"instructions": "\\ud83d\\ude00"}}'))


# ---- what the judge makes of them ----------------------------------------------------------------


def test_a_refused_ga_session_update_says_its_tools_were_never_declared() -> None:
    s = Session("get_your_info")
    s.send({"type": "session.update", "session": {"tools": [{"type": "function", "name": "get_your_info"}],
                                                  "turn_detection": None}})
    finding = s.findings[0]
    assert finding.rule is Rule.INVALID_CLIENT_EVENT
    assert "Missing required parameter: 'session.type'" in finding.message
    assert "The whole session.update was refused" in finding.message and "never declared" in finding.message


def test_a_defensive_response_cancel_with_nothing_active_is_not_a_finding() -> None:
    s = start("get_your_info")
    s.send({"type": "response.cancel"})  # barge-in code cancels before it knows whether anything plays
    assert s.server("error")[-1]["error"]["code"] == "response_cancel_not_active"
    call = s.calls()[0]
    output(s, call)
    s.send({"type": "response.cancel"})
    create(s)
    assert_passes(s)


def test_a_livekit_style_reply_with_null_instructions_passes() -> None:
    s = Session("get_your_info")
    declare(s)
    user_turn(s)
    call = s.calls()[0]
    output(s, call, previous_item_id=None)
    create(s, response={"instructions": None, "metadata": {"client_event_id": "e9"}})
    assert s.server("response.created")[-1]["response"]["metadata"] == {"client_event_id": "e9"}
    assert_passes(s)


def test_a_beta_client_on_openais_endpoint_is_refused_with_the_retirement_error_and_judged_so() -> None:
    from test_judge import SCENARIOS

    from rtmock.harness.judging.judge import Judge
    from rtmock.mockserver.core.events import Dialect, IdSource
    from rtmock.mockserver.core.records import Record
    from rtmock.mockserver.core.session import Close, ConnectionRefusal, SessionCore
    from rtmock.mockserver.scenario.loader import load_scenario

    judge = Judge(session_id="sess_beta", scenario_name="get_your_info")
    records: list[Record] = []
    core = SessionCore(load_scenario(SCENARIOS / "get_your_info.yaml"), Dialect.BETA, records.append,
                       ids=IdSource(1), refusal=ConnectionRefusal("beta_api_shape_disabled", "retired", 4000))
    actions = core.start(0.0)
    assert [r.type for r in records if r.event] == ["error", "rtmock.closed"]
    assert actions[-1] == Close(4000, "invalid_request_error.beta_api_shape_disabled") and core.closed
    findings = [f for r in records for f in judge.feed(r)]
    assert [f.rule for f in findings] == [Rule.BETA_RETIRED]
    assert "OpenAI-Beta: realtime=v1" in findings[0].hint and "Azure's preview path" in findings[0].hint


# ---- items: retrieve, delete, truncate -----------------------------------------------------------


def audio_answer() -> Session:
    s = start("audio_answer")
    output(s, s.calls()[0])
    create(s)
    return s


def test_unknown_items_get_the_services_codes_and_texts() -> None:
    s = start("get_your_info")
    for kind, code, text in [
        ("retrieve", "item_retrieve_invalid_item_id", "Error retrieving item: the item with id 'item_x' does not exist."),
        ("delete", "item_delete_invalid_item_id", "Error deleting item: the item with id 'item_x' does not exist."),
        ("truncate", "item_truncate_invalid_item_id", "Item with item_id not found: item_x"),
    ]:
        extra = {"content_index": 0, "audio_end_ms": 10} if kind == "truncate" else {}
        s.send({"type": f"conversation.item.{kind}", "item_id": "item_x", "event_id": f"e_{kind}", **extra})
        error = s.server("error")[-1]["error"]
        assert (error["code"], error["message"], error["event_id"]) == (code, text, f"e_{kind}")
    assert [f.rule for f in s.findings] == [Rule.INVALID_CLIENT_EVENT] * 2, "a truncate racing a removal is benign"


def test_only_assistant_audio_is_truncated_and_not_past_its_end() -> None:
    s = audio_answer()
    audio_item = next(e["item"]["id"] for e in s.server("response.output_item.done") if e["item"]["type"] == "message")
    user_item = next(e["item"]["id"] for e in s.server("conversation.item.added") if e["item"].get("role") == "user")
    s.send({"type": "conversation.item.truncate", "item_id": audio_item, "content_index": 0, "audio_end_ms": 9000})
    assert s.server("error")[-1]["error"]["message"] == "Audio content of 500ms is already shorter than 9000ms"
    s.send({"type": "conversation.item.truncate", "item_id": audio_item, "content_index": 0, "audio_end_ms": 200})
    assert s.server("conversation.item.truncated")[-1]["audio_end_ms"] == 200
    s.send({"type": "conversation.item.truncate", "item_id": audio_item, "content_index": 0, "audio_end_ms": 300})
    assert "already shorter than 300ms" in s.server("error")[-1]["error"]["message"], "truncated audio stays short"
    assert s.findings == [], "a truncate past the end is a playback-clock race, not a bug"
    s.send({"type": "conversation.item.truncate", "item_id": user_item, "content_index": 0, "audio_end_ms": 0})
    error = s.server("error")[-1]["error"]
    assert (error["code"], error["message"]) == ("unsupported_content_type", "Only model output audio messages can be truncated")
    assert [f.rule for f in s.findings] == [Rule.INVALID_CLIENT_EVENT]


def test_a_nested_session_object_of_the_wrong_type_is_refused_and_later_audio_still_works() -> None:
    s = Session("get_your_info")
    s.send({"type": "session.update", "session": {"type": "realtime", "audio": {"input": "pcm16"}}})
    assert s.server("error")[-1]["error"]["param"] == "session.audio.input"
    s.send({"type": "input_audio_buffer.append", "audio": "AAAA"})  # raised AttributeError in the core before
    assert s.server("error")[-1]["error"]["param"] == "session.audio.input", "the append was accepted"


# ---- ?intent=transcription ------------------------------------------------------------------------


def test_a_transcription_connection_gets_a_transcription_session_and_keeps_its_type() -> None:
    from test_event_shapes import shape_problems
    from test_judge import SCENARIOS

    from rtmock.mockserver.core.events import Dialect, IdSource
    from rtmock.mockserver.core.session import SessionCore
    from rtmock.mockserver.scenario.loader import load_scenario

    records: list[Any] = []
    core = SessionCore(load_scenario(SCENARIOS / "get_your_info.yaml"), Dialect.GA, records.append, ids=IdSource(2),
                       transcription=True)
    core.start(0.0)
    created = records[0].event
    assert created["session"]["type"] == "transcription"
    assert created["session"]["object"] == "realtime.transcription_session" and "model" not in created["session"]
    assert shape_problems(created, Dialect.GA) == []
    core.receive(json.dumps({"type": "session.update", "session": {"type": "realtime"}}), 0.1)
    error = records[-1].event["error"]
    assert (error["code"], error["param"]) == ("invalid_value", "session.type")
    assert error["message"] == "Passing a realtime session update event to a transcription session is not allowed."


def test_a_transcription_update_on_a_realtime_session_is_refused_as_observed() -> None:
    s = Session("get_your_info")
    s.send({"type": "session.update", "session": {"type": "transcription"}})
    assert s.server("error")[-1]["error"]["message"] == (
        "Passing a transcription session update event to a realtime session is not allowed.")


# ---- response.input: item references --------------------------------------------------------------


def test_response_input_may_reference_items_as_the_official_sdk_sends_them() -> None:
    """GA `send()` takes `ResponseCreateEventWithReferencesParam`: `response.input` holds items and
    `item_reference`s. A wrong reference is refused naming what the one definition allows."""
    accepted({"type": "response.create", "response": {"input": [
        {"type": "item_reference", "id": "item_1"},
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "And now?"}]}]}})
    accepted({"type": "response.create", "response": {"input": [{"type": "item_reference", "id": "item_1"}]}}, "beta")
    missing = refusal({"type": "response.create", "response": {"input": [{"type": "item_reference"}]}})
    assert (missing.code, missing.param) == ("missing_required_parameter", "response.input[0].id")
    misspelt = refusal({"type": "response.create", "response": {"input": [{"type": "item_ref", "id": "item_1"}]}})
    assert misspelt.param == "response.input[0].type" and "'item_reference'" in misspelt.message
    extra = refusal({"type": "response.create", "response": {"input": [{"type": "item_reference", "id": "i", "x": 1}]}})
    assert (extra.code, extra.param) == ("unknown_parameter", "response.input[0].x")


def test_a_follow_up_built_from_references_to_the_round_passes() -> None:
    s = start("get_your_info")
    call = s.calls()[0]
    output(s, call, item={"id": "out_1"})
    user = next(e["item"]["id"] for e in s.server("conversation.item.added") if e["item"].get("role") == "user")
    create(s, response={"input": [{"type": "item_reference", "id": i} for i in (user, call["id"], "out_1")]})
    assert s.server("error") == []
    assert s.server("response.done")[-1]["response"]["status"] == "completed"
    assert_passes(s)


def test_a_reference_to_an_item_that_does_not_exist_is_refused() -> None:
    s = start("get_your_info")
    call = s.calls()[0]
    output(s, call)
    s.send({"type": "conversation.item.delete", "item_id": call["id"]})
    create(s, event_id="e_ref", response={"input": [{"type": "item_reference", "id": "item_nowhere"}]})
    error = s.server("error")[-1]["error"]
    assert (error["code"], error["param"], error["event_id"]) == ("invalid_value", "response.input[0].id", "e_ref")
    assert "item_nowhere" in error["message"]
    create(s, response={"input": [{"type": "item_reference", "id": call["id"]}]})
    assert s.server("error")[-1]["error"]["param"] == "response.input[0].id", "a deleted item exists no more"
    assert [f.rule for f in s.findings] == [Rule.INVALID_CLIENT_EVENT], "one finding for the same mistake"


def test_an_out_of_band_responses_items_can_be_referenced() -> None:
    """Its items are not in the conversation but exist in the session ("references to items that
    previously appeared in the session", openai `RealtimeResponseCreateParamsWithReferencesParam`)."""
    s = start("out_of_band")
    output(s, s.calls()[0])
    s.advance(s.now + 2)  # the scripted hold of the first response
    create(s)
    create(s, response={"conversation": "none", "metadata": {"purpose": "summary"}, "output_modalities": ["text"]})
    side = [e["response"] for e in s.server("response.done") if e["response"].get("conversation_id") is None]
    summary = side[-1]["output"][0]["id"]
    create(s, response={"conversation": "none", "input": [{"type": "item_reference", "id": summary}]})
    assert s.server("error") == []
    assert s.findings == []


# ---- client-chosen item ids -----------------------------------------------------------------------


def test_an_item_id_given_twice_is_appended_again_as_the_service_does() -> None:
    """The service was seen to append a second item with the same id (docs/protocol-notes.md); a
    client that names its outputs after the tool does this on parallel calls of one tool."""
    s = start("parallel_calls")
    first, second = s.calls()
    output(s, first, item={"id": "out_get_weather"})
    output(s, second, item={"id": "out_get_weather"})
    assert s.server("error") == []
    added = [e for e in s.server("conversation.item.added") if e["item"]["id"] == "out_get_weather"]
    assert [e["item"]["call_id"] for e in added] == [first["call_id"], second["call_id"]]
    assert added[1]["previous_item_id"] == "out_get_weather", "appended after the first"
    s.send({"type": "conversation.item.retrieve", "item_id": "out_get_weather"})
    assert s.server("conversation.item.retrieved")[-1]["item"]["call_id"] == second["call_id"]
    create(s)
    assert_passes(s)
