"""The text timeline printed under a finding: the events that led to it, one line each."""

from __future__ import annotations

import re
from typing import Any

from rtmock.harness.judging.findings import Finding, Rule
from rtmock.harness.reports.text import event_line, text_timeline
from rtmock.mockserver.core.records import Direction, Record

CALL = "call_0alUJEs97NN2N5zB"
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def records(output: Any = '{"food": "pizza"}', call_id: str = CALL) -> list[Record]:
    """The end of a get_your_info session whose client forgot response.create (as the server records it)."""
    events: list[tuple[float, Direction, dict[str, Any]]] = [
        (0.0006, Direction.SERVER, {"type": "session.created", "event_id": "event_1", "session": {"tools": []}}),
        (0.0412, Direction.CLIENT, {"type": "session.update", "session": {"tools": [{"name": "get_your_info"}]}}),
        (0.0431, Direction.CLIENT, {"type": "response.create"}),
        (0.0432, Direction.SERVER, {"type": "response.created", "event_id": "event_2",
                                    "response": {"id": "resp_X", "status": "in_progress", "output": []}}),
        (0.0432, Direction.SCRIPT, {"type": "rtmock.response.started", "step": 3, "line": 21, "response_id": "resp_X",
                                    "calls": [{"call_id": CALL, "name": "get_your_info", "label": "info"}]}),
        (0.0433, Direction.SERVER, {"type": "response.function_call_arguments.delta", "event_id": "event_3",
                                    "call_id": CALL, "delta": '{"query":'}),
        (0.0434, Direction.SERVER, {"type": "response.function_call_arguments.done", "event_id": "event_4",
                                    "call_id": CALL, "name": "get_your_info", "arguments": '{"query":"favorite food"}'}),
        (0.0436, Direction.SERVER, {"type": "response.done", "event_id": "event_5", "response": {
            "id": "resp_X", "status": "completed",
            "output": [{"type": "function_call", "name": "get_your_info", "call_id": CALL}]}}),
        (0.0436, Direction.SCRIPT, {"type": "rtmock.step.reached", "step": 5, "line": 30, "expect": "response.create",
                                    "within": 3.0, "call_id": None, "call_name": None, "match": None}),
        (0.2874, Direction.CLIENT, {"type": "conversation.item.create",
                                    "item": {"type": "function_call_output", "call_id": call_id, "output": output}}),
        (0.2875, Direction.SERVER, {"type": "conversation.item.done", "event_id": "event_6",
                                    "item": {"type": "function_call_output", "call_id": call_id, "output": output}}),
        (0.2875, Direction.SCRIPT, {"type": "rtmock.step.matched", "step": 4, "line": 27, "client_index": 9}),
        (10.0233, Direction.SCRIPT, {"type": "rtmock.closed", "by": "client", "code": 1000, "reason": ""}),
    ]
    return [Record(i, t, d, e) for i, (t, d, e) in enumerate(events)]


FINDING = Finding(
    rule=Rule.MISSING_RESPONSE_CREATE,
    message=f"The client sent the output for call get_your_info ({CALL}) (event #9) but no response.create followed "
            "within the bound: the model stays silent and the app hangs.",
    hint='After sending all function_call_output items of a response, send {"type": "response.create"}.',
    time=3.0436, call_name="get_your_info", call_id=CALL, step=5, step_line=30,
    expected="response.create after the output(s)", seen="nothing")


def test_timeline_shows_the_events_before_a_finding_and_ends_with_it() -> None:
    text = text_timeline(records(), FINDING, color=False)
    lines = text.splitlines()
    assert lines == [
        "#0       +0.6ms  ←S session.created tools: (none)",
        "#1      +41.2ms  C→ session.update tools: get_your_info",
        "#2      +43.1ms  C→ response.create",
        "#3      +43.2ms  ←S response.created resp_X in_progress",
        "#4      +43.2ms  ·· step 3: response resp_X calls get_your_info (info) (line 21)",
        f"#5      +43.3ms  ←S response.function_call_arguments.delta {CALL} delta='{{\"query\":'",
        f"#6      +43.4ms  ←S response.function_call_arguments.done get_your_info {CALL} "
        "arguments='{\"query\":\"favorite food\"}'",
        f"#7      +43.6ms  ←S response.done resp_X completed → get_your_info {CALL}",
        "#8      +43.6ms  ·· step 5 reached: expect response.create within 3s (line 30)",
        f"#9     +287.4ms  C→ conversation.item.create function_call_output {CALL} output='{{\"food\": \"pizza\"}}'",
        f"#10    +287.5ms  ←S conversation.item.done function_call_output {CALL} output='{{\"food\": \"pizza\"}}'",
        "#11    +287.5ms  ·· step 4 matched by #9 (line 27)",
        f">>    +3043.6ms  ✗ [missing-response-create] {FINDING.message}  (call get_your_info ({CALL}), "
        "line 30 (step 5))",
    ]
    # decided at t=3.04 s: the socket closing at +10 s came later and is not part of the story
    assert "closed" not in text


def test_before_counts_wire_events_and_says_how_many_were_left_out() -> None:
    lines = text_timeline(records(), FINDING, before=3, color=False).splitlines()
    assert lines[0] == "     … 7 earlier event(s)"
    assert [line.split()[0] for line in lines[1:]] == ["#7", "#8", "#9", "#10", "#11", ">>"]  # 3 wire events
    assert len(text_timeline(records(), FINDING, before=0, color=False).splitlines()) == 2


def test_a_finding_decided_at_an_event_stops_the_timeline_there() -> None:
    at_output = Finding(Rule.OUTPUT_NOT_STRING, "The output is not a string.", "Send json.dumps(result).",
                        index=9, time=0.2874, call_name="get_your_info", call_id=CALL)
    lines = text_timeline(records(output={"food": "pizza"}), at_output, color=False).splitlines()
    assert lines[-2].startswith("#9 ") and "output={\"food\": \"pizza\"}" in lines[-2]
    assert lines[-1].startswith(">>") and "event #9" in lines[-1]


def test_colour_only_when_asked() -> None:
    plain = text_timeline(records(), FINDING, color=False)
    coloured = text_timeline(records(), FINDING, color=True)
    assert "\x1b[" not in plain
    assert ANSI.sub("", coloured) == plain
    assert f"\x1b[33m{CALL}\x1b[0m" in coloured  # call ids stand out
    assert "\x1b[1;32mresponse.create\x1b[0m" in coloured  # so does the client's trigger
    assert coloured.splitlines()[-1].startswith("\x1b[1;31m>>")


def test_long_and_hostile_values_are_clipped_and_shown_not_obeyed() -> None:
    hostile = "\x1b[2J\x1b]0;pwned\x07\nline two\u202e" + "A" * 100_000
    text = text_timeline(records(output=hostile, call_id="call_\x1b[31m"), FINDING, color=False)
    assert "\x1b" not in text and "\x07" not in text and "\u202e" not in text
    assert len(text.splitlines()) == 13
    assert max(len(line) for line in text.splitlines()) < 400
    assert "chars)" in text  # says how much was cut
    assert "\\x1b[2J" in text  # the escape is visible as text


def test_event_line_handles_frames_that_are_not_json() -> None:
    raw = Record(3, 1.5, Direction.CLIENT, None, raw="not json {")
    assert event_line(raw) == "#3      +1500.0ms  C→ (not JSON) raw='not json {'"
    # a JSON object the server refused (here: an output that is not a string) says what it was
    refused = Record(3, 1.5, Direction.CLIENT, None, raw='{"type": "conversation.item.create", "item": {"output": {}}}')
    assert event_line(refused).startswith("#3      +1500.0ms  C→ conversation.item.create (refused) raw=")
    error = Record(4, 1.6, Direction.SERVER, {"type": "error", "error": {
        "type": "invalid_request_error", "code": "invalid_tool_call_id",
        "message": "Tool call ID 'call_X' not found in conversation."}})
    assert event_line(error).endswith(
        "←S error invalid_tool_call_id \"Tool call ID 'call_X' not found in conversation.\"")


def test_a_run_of_streamed_audio_shows_as_one_line_and_keeps_the_output_in_view() -> None:
    # a voice client streams microphone audio the whole time: the excerpt must still reach the output
    output = Record(0, 1.0, Direction.CLIENT, {"type": "conversation.item.create", "item": {
        "type": "function_call_output", "call_id": CALL, "output": "{}"}})
    appends = [Record(n, 1.0 + n * 0.02, Direction.CLIENT, {"type": "input_audio_buffer.append", "audio": "AAAA"})
               for n in range(1, 201)]
    finding = Finding(Rule.MISSING_RESPONSE_CREATE, "No response.create.", "Send it.", time=5.0)
    lines = text_timeline([output, *appends], finding, color=False).splitlines()
    assert len(lines) == 3
    assert "conversation.item.create function_call_output" in lines[0]
    assert lines[1].strip() == "… 200 × input_audio_buffer.append (#1–#200, +1020.0ms to +5000.0ms)"


def test_the_sessions_refusal_of_a_client_event_reads_as_one() -> None:
    from rtmock.harness.reports.text import note_parts

    text, line, ref = note_parts({"type": "rtmock.client_event.refused", "client_index": 25, "code": "invalid_type",
                                  "param": "item.output"})
    assert (text, line, ref) == ("client event #25 refused: invalid_type (param item.output)", None, None)
