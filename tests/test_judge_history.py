"""Two false findings from issue 13: a client that replays history (its own function_call item and
that call's output, both accepted by the server) is not a wrong call id; and under server VAD with
`create_response: false`, the client's response.create after each VAD commit is a new turn's, not
a double trigger."""

from __future__ import annotations

from voice_drive import Drive, scenario, tools_of, user_message

TEXT = {"type": "realtime", "output_modalities": ["text"]}


def test_history_the_client_builds_with_its_own_call_and_output_is_not_a_wrong_call_id() -> None:
    drive = Drive("get_your_info")
    drive.update({**TEXT, "tools": tools_of(drive.scenario)})
    drive.send({"type": "conversation.item.create",
                "item": {"type": "function_call", "call_id": "call_earlier1", "name": "get_your_info",
                         "arguments": '{"query": "name"}'}})
    drive.send({"type": "conversation.item.create",
                "item": {"type": "function_call_output", "call_id": "call_earlier1", "output": '{"name": "Ada"}'}})
    assert drive.server("error") == []  # the server accepted both
    drive.send(user_message("And my favorite food?"))
    drive.send({"type": "response.create"})
    drive.send({"type": "conversation.item.create",
                "item": {"type": "function_call_output", "call_id": drive.calls()[0]["call_id"], "output": "{}"}})
    drive.send({"type": "response.create"})
    assert drive.core.complete
    verdict = drive.finish()
    assert verdict.passed, [str(f) for f in verdict.findings]


def test_an_output_for_a_call_nobody_made_is_still_a_wrong_call_id() -> None:
    drive = Drive("get_your_info")
    drive.update({**TEXT, "tools": tools_of(drive.scenario)})
    drive.send({"type": "conversation.item.create",
                "item": {"type": "function_call_output", "call_id": "call_madeup", "output": "{}"}})
    assert drive.rules() == ["wrong-call-id"]


def test_create_response_false_the_clients_create_after_a_vad_commit_is_a_new_turn() -> None:
    drive = Drive(scenario("""
tools: [{name: get_your_info}]
steps:
  - expect: session.update
  - expect: response.create
  - respond:
      - function_call: {id: info, name: get_your_info, arguments: {query: food}}
  - expect: function_call_output
    call: info
  - expect: response.create
  - respond:
      - text: first answer
  - expect: response.create
  - respond:
      - text: second answer
"""))
    drive.update({**TEXT, "tools": tools_of(drive.scenario),
                  "audio": {"input": {"turn_detection": {"type": "server_vad", "create_response": False}}}})
    drive.speak(0.5)  # server VAD commits the turn, and leaves the response to the client
    drive.send({"type": "response.create"})
    drive.send({"type": "conversation.item.create",
                "item": {"type": "function_call_output", "call_id": drive.calls()[0]["call_id"], "output": "{}"}})
    drive.send({"type": "response.create"})  # the tool round's create
    drive.speak(0.5)  # the next turn: committed by server VAD
    assert drive.notes("rtmock.vad_turn") == []
    drive.send({"type": "response.create"})  # the client's create for it: not a second one for the round
    assert [e["text"] for e in drive.server("response.output_text.done")] == ["first answer", "second answer"]
    assert drive.core.complete
    verdict = drive.finish()
    assert verdict.passed, [str(f) for f in verdict.findings]
