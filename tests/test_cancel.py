"""response.cancel as the service carries it out: the item in flight goes out `incomplete` (with what
was streamed of it), then response.done `cancelled`. A call of a cancelled response is owed nothing
(R9): no output, no response.create for its round; the step awaiting its output is skipped, so a
client that cancels and starts a new turn is answered and passes."""

from __future__ import annotations

import json

import pytest
from voice_drive import Drive, output, scenario, tools_of, user_message

from rtmock.mockserver.core.events import Dialect

TEXT = {"type": "realtime", "output_modalities": ["text"]}


def _cancelling(dialect: Dialect = Dialect.GA) -> tuple[Drive, dict[str, object]]:
    """cancel_function_call: the user asks, the call's arguments stream, the client cancels after 0.6 s."""
    drive = Drive("cancel_function_call", dialect)
    drive.update({**(TEXT if dialect is Dialect.GA else {"modalities": ["text"]}), "tools": tools_of(drive.scenario)})
    drive.send(user_message("Book a table for four at Chez Panisse."))
    drive.send({"type": "response.create"})
    drive.wait(0.6)
    events = drive.send({"type": "response.cancel"})
    return drive, {"events": events}


@pytest.mark.parametrize("dialect", list(Dialect))
def test_cancel_sends_the_call_in_flight_incomplete_with_its_arguments_so_far(dialect: Dialect) -> None:
    drive, sent = _cancelling(dialect)
    events = sent["events"]
    assert isinstance(events, list)
    kinds = [e["type"] for e in events]
    assert kinds[0] == "response.output_item.done" and "response.done" in kinds
    item = events[0]["item"]
    assert item["type"] == "function_call" and item["status"] == "incomplete"
    streamed = "".join(e["delta"] for e in drive.server("response.function_call_arguments.delta"))
    assert item["arguments"] == streamed and 0 < len(streamed) < len('{"restaurant":"Chez Panisse","people":4}')
    done = drive.server("response.done")[0]["response"]
    assert done["status"] == "cancelled" and done["status_details"]["reason"] == "client_cancelled"
    assert done["output"] == [item]
    assert drive.server("response.function_call_arguments.done") == []  # the call never completed


def test_a_cancelled_text_answer_keeps_the_text_streamed_so_far() -> None:
    drive = Drive(scenario("steps:\n  - expect: response.create\n  - respond:\n      - text: {text: abcdef, chunks: 6}\n"
                           "    delta_interval: 100ms\n"))
    drive.update(TEXT)
    drive.send({"type": "response.create"})
    drive.wait(0.25)
    drive.send({"type": "response.cancel"})
    (done,) = drive.server("response.output_item.done")
    assert done["item"]["status"] == "incomplete" and done["item"]["content"] == [{"type": "output_text", "text": "abc"}]


def test_a_client_that_cancels_and_starts_a_new_turn_is_answered_and_passes() -> None:
    drive, _ = _cancelling()
    (skipped,) = drive.notes("rtmock.step.skipped")
    assert skipped["reason"] == "cancelled" and skipped["expect"] == "function_call_output"
    drive.send(user_message("Never mind."))
    drive.send({"type": "response.create"})
    assert drive.server("response.output_text.done")[0]["text"].startswith("Okay, I have not booked")
    assert drive.core.complete
    drive.wait(10.0)
    verdict = drive.finish()
    assert verdict.passed, [str(f) for f in verdict.findings]


def test_an_output_for_the_cancelled_call_is_accepted_and_not_a_finding() -> None:
    drive, _ = _cancelling()
    (call,) = [e["item"] for e in drive.server("response.output_item.done")]
    drive.send(output(call["call_id"], json.dumps({"status": "cancelled by the user"})))
    assert drive.server("error") == []
    drive.send({"type": "response.create"})
    assert drive.core.complete
    drive.wait(10.0)
    assert drive.finish().passed


def test_a_client_that_cancels_and_does_nothing_more_is_told_the_turn_never_came() -> None:
    drive, _ = _cancelling()
    assert drive.wait(10.0) and drive.rules() == ["scenario-mismatch"]
    assert "response.create" in drive.findings[0].message


def test_cancelling_parallel_calls_after_answering_one_owes_nothing_for_either() -> None:
    text = """
tools: [{name: get_weather}]
steps:
  - expect: response.create
  - respond:
      - function_call: {id: paris, name: get_weather, arguments: {city: Paris}}
      - function_call: {id: tokyo, name: get_weather, arguments: {city: Tokyo}}
    hold: 2s
  - expect: function_call_output
    call: paris
  - expect: function_call_output
    call: tokyo
  - expect: response.create
  - respond:
      - text: done
"""
    drive = Drive(scenario(text))
    drive.update({**TEXT, "tools": tools_of(drive.scenario)})
    drive.send({"type": "response.create"})
    paris = drive.calls()[0]["call_id"]
    drive.send(output(paris))  # answered while the response is still active
    drive.send({"type": "response.cancel"})
    assert [n["step"] for n in drive.notes("rtmock.step.skipped")] == [3, 4]
    drive.send({"type": "response.create"})
    assert drive.core.complete
    drive.wait(10.0)
    verdict = drive.finish()
    assert verdict.passed, [str(f) for f in verdict.findings]
