"""Out-of-band responses (`response.create` with `response.conversation: "none"`): the service runs
them beside an active response of the default conversation ("only one response can write to the
default conversation at a time; otherwise responses can run in parallel"), reports
`conversation_id: null` and writes nothing into the conversation."""

from __future__ import annotations

from typing import Any

from voice_drive import Drive, output, tools_of, user_message

TEXT = {"type": "realtime", "output_modalities": ["text"]}
SIDE: dict[str, Any] = {"type": "response.create",
                        "response": {"conversation": "none", "metadata": {"purpose": "classify"},
                                     "instructions": "Classify the user's request in one word.",
                                     "output_modalities": ["text"]}}


def _calling(name: str = "slow_response_done") -> tuple[Drive, str]:
    """The calling response is held active (slow_response_done: 1 s, out_of_band: 1 s)."""
    drive = Drive(name)
    drive.update({**TEXT, "tools": tools_of(drive.scenario)})
    drive.send(user_message("What is my favorite color?"))
    drive.send({"type": "response.create"})
    (call,) = drive.calls()
    return drive, call["call_id"]


def test_a_side_response_runs_while_the_calling_response_is_active() -> None:
    drive, call_id = _calling()
    events = drive.send(SIDE)
    assert [e["type"] for e in events if e["type"] == "error"] == []
    created = [e["response"] for e in events if e["type"] == "response.created"]
    assert len(created) == 1 and created[0]["conversation_id"] is None
    assert created[0]["metadata"] == {"purpose": "classify"}
    first = drive.server("response.created")[0]["response"]
    assert first["conversation_id"] is not None and first["conversation_id"].startswith("conv_")
    drive.send(output(call_id))
    drive.wait(1.0)  # the calling response completes on its own
    drive.send({"type": "response.create"})
    assert drive.core.complete
    drive.wait(10.0)
    verdict = drive.finish()
    assert verdict.passed, [str(f) for f in verdict.findings]


def test_the_same_request_in_the_default_conversation_is_refused_and_judged() -> None:
    drive, _ = _calling()
    side = {"type": "response.create", "response": {**SIDE["response"]}}
    del side["response"]["conversation"]
    (error,) = drive.send(side)
    assert error["error"]["code"] == "conversation_already_has_active_response"
    assert drive.rules() == ["create-while-active"]
    assert 'response.conversation "none"' in drive.findings[0].hint


def test_a_scripted_side_response_writes_nothing_into_the_conversation() -> None:
    drive, call_id = _calling("out_of_band")
    drive.send(SIDE)  # while the calling response is active: answered at once, beside it
    assert len(drive.server("response.created")) == 2
    drive.send(output(call_id))
    drive.wait(1.0)
    drive.send({"type": "response.create"})
    assert drive.server("response.output_text.done")[-1]["text"] == "It is sunny in Paris."
    echoes = len(drive.server("conversation.item.added"))
    events = drive.send({"type": "response.create",
                         "response": {"conversation": "none", "metadata": {"purpose": "summary"},
                                      "instructions": "Summarize the conversation as JSON."}})
    done = next(e["response"] for e in events if e["type"] == "response.done")
    assert done["conversation_id"] is None and done["metadata"] == {"purpose": "summary"}
    (item,) = done["output"]
    assert item["content"][0]["text"] == '{"topic": "weather", "city": "Paris"}'
    assert len(drive.server("conversation.item.added")) == echoes  # not added to the conversation
    (error,) = drive.send({"type": "conversation.item.retrieve", "item_id": item["id"]})
    assert error["error"]["code"] == "item_retrieve_invalid_item_id"
    assert drive.core.complete
    assert drive.finish().findings[0].seen == "error item_retrieve_invalid_item_id"  # (this test's probe)


def test_a_default_create_does_not_meet_a_step_that_asks_for_an_out_of_band_one() -> None:
    drive, call_id = _calling("out_of_band")
    drive.send(output(call_id))
    drive.wait(1.0)
    drive.send({"type": "response.create"})
    events = drive.send({"type": "response.create", "response": {"metadata": {"purpose": "summary"},
                                                                  "instructions": "Summarize the conversation."}})
    assert [e["response"]["conversation_id"] is not None for e in events if e["type"] == "response.done"] == [True]
    assert not drive.core.complete  # answered (unscripted, empty), and the step still waits
    drive.wait(6.0)
    assert drive.rules() == ["scenario-mismatch"] and "response.conversation" in drive.findings[0].message


def test_an_out_of_band_create_does_not_stand_in_for_the_rounds_create() -> None:
    drive, call_id = _calling()
    drive.send(output(call_id))
    drive.wait(1.0)
    drive.send(SIDE)  # a side request after the output: it answers nothing of the round
    assert drive.server("response.output_text.done") == [] and not drive.core.complete
    drive.wait(4.0)
    assert drive.rules() == ["missing-response-create"]


def test_cancel_without_an_id_leaves_a_side_response_alone() -> None:
    drive, _ = _calling()
    drive.send(SIDE)
    drive.send({"type": "response.cancel"})
    statuses = [e["response"]["status"] for e in drive.server("response.done")]
    assert statuses == ["completed", "cancelled"]  # the side response (done at once), then the default one
