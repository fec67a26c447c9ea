"""The rules read from what the client sends: `Judge`'s reading of client events.

A client event is read once the judge knows whether the session refused it (`Judge._take_pending`).
A function_call_output is checked at once: a call_id of this session, not an item_id, and a known
previous_item_id (R2); a string output (R3); the first for its call (R7); the scenario's `match:`
on it. Once a round has all its outputs it owes a response.create. A response.create is checked
against the rounds in play: one while a response is active (R6), before the round's outputs (R5),
a second for the same input (R6), or one whose input leaves an output out (R5) is a finding; one
after its bound (R8) replaces the missing-response-create already handed out; the scenario's
`match:` on it is checked.

Not here: the rounds' bookkeeping from server events, the notes, the bounds that pass without the
client doing anything (judge.py); which service errors are findings (`_service_errors.py`).

`ClientEventRules` is a mixin of `Judge`, as these rules read and change the judge's rounds and
calls: what it uses of the judge is declared at the top of the class.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from ...mockserver.core.notes import Refused
from ...mockserver.core.records import Record
from ...mockserver.scenario.matching import explain_mismatch
from ._service_errors import client_object
from .findings import RULE_SPECS, Finding, Rule
from .rounds import Call, Round, RoundState, Stimulus

if TYPE_CHECKING:
    from ._service_errors import ServiceErrors
    from .steps import Hearing, StepWatch


class ClientEventRules:
    """Judge's rules over client events (a mixin: see the module's docstring)."""

    if TYPE_CHECKING:  # what the rules use of Judge
        # read: the bound of a round's create when the scenario gives none, the scenario's own steps
        default_within: float
        _steps: StepWatch
        _hearing: Hearing  # what the server VAD heard: counted appends
        # read and changed: the findings, and the calls and rounds they are about
        findings: list[Finding]
        _rounds: dict[str, Round]
        _calls: dict[str, Call]
        _item_to_call: dict[str, Call]
        _history_calls: set[str]  # call_ids of function_call items the client wrote itself
        _active: str | None  # the active response, and the record index of its response.created
        _active_at: int
        _user_input_at: int  # record index of the latest user input (a message item, a committed turn)
        _errors: ServiceErrors
        _explained: set[int]  # client records a specific finding covers
        _last_trigger: Record | None  # the last accepted round trigger, for R6
        _late_watch: Round | None  # the last round judged missing its create (R8: it may still come)
        _replaced: list[Finding]  # findings that replaced one already handed out, since the last feed

        def _add(self, rule: Rule, message: str, hint: str | None, record: Record | None, *,
                 call: Call | None = None, step: int | None = None, line: int | None = None,
                 expected: str | None = None, seen: str | None = None, time: float | None = None,
                 cut_short: bool = False) -> None: ...
        def _open_rounds(self) -> list[Round]: ...

    def _client(self, record: Record, refusal: Refused | None) -> None:
        """A client event, and whether the session refused it (a relayed session's refusals come
        later, as the service's errors)."""
        self._errors.client(record)
        event = record.event
        if event is None:
            # Refused before it was applied (bad JSON, or the schema check): the server's error
            # follows. A refused function_call_output still tells which rule the client broke (R3).
            tried = client_object(record)
            if tried is not None and tried.get("type") == "conversation.item.create":
                self._item_create(record, tried, refusal, accepted=False)
            return
        kind = event.get("type")
        self._steps.client_event(record, event, refusal)
        if kind == "conversation.item.create":
            self._item_create(record, event, refusal, accepted=refusal is None)
        elif kind == "input_audio_buffer.append":
            self._hearing.appends += 1
        elif kind == "input_audio_buffer.commit":
            self._last_trigger = None
        elif kind == "response.create":
            if refusal is not None and refusal.code != "conversation_already_has_active_response":
                return  # refused (an item_reference to no item, say): no answer comes, no round is met; the error says why
            self._response_create(record, event)

    def _item_create(self, record: Record, event: dict[str, Any], refusal: Refused | None, *, accepted: bool) -> None:
        """A conversation.item.create; `accepted` False when the server refused it (`refusal`: the
        session's note, when it gave one)."""
        item = event.get("item") if isinstance(event.get("item"), dict) else {}
        assert isinstance(item, dict)
        previous = event.get("previous_item_id")
        if item.get("type") != "function_call_output":
            if accepted:
                self._last_trigger = None  # new input: a following response.create is a new turn
                if item.get("type") == "message":
                    self._user_input_at = record.index
                    for rnd in self._open_rounds():
                        if rnd.missing and rnd.done_at is not None:
                            rnd.message_item = rnd.message_item or record
            return
        call_id = item.get("call_id")
        call = self._calls.get(call_id) if isinstance(call_id, str) else None
        if refusal is not None and refusal.param == "previous_item_id":
            self._add(Rule.UNKNOWN_PREVIOUS_ITEM,
                      f"The function_call_output in event #{record.index} names previous_item_id {previous!r}, which "
                      "is not an item of this conversation; the server refuses it, so the model never gets the result.",
                      None, record, call=call, expected="an existing item id, 'root', or no previous_item_id", seen=repr(previous))
            self._close_attempt(call)
            return
        if not isinstance(call_id, str):
            return  # a missing or non-string call_id: the server's error names the field
        if call is None and call_id in self._history_calls:
            if accepted:
                self._last_trigger = None  # history the client builds: new input, no round to answer
            return
        if call is None:
            wrong = self._item_to_call.get(call_id) if isinstance(call_id, str) else None
            known = ", ".join(f"{c.name} → {c.call_id}" for c in self._calls.values()) or "none yet"
            if wrong is not None:
                msg = (f"function_call_output uses {call_id!r}, which is the item_id of call {wrong.name}, "
                       f"not its call_id ({wrong.call_id}).")
                hint = "Take `call_id` from the function_call item (or arguments.done event), not `item_id`/`id`."
            else:
                msg = f"function_call_output uses call_id {call_id!r}, which is not a call of this session (calls: {known})."
                hint = None
            self._add(Rule.WRONG_CALL_ID, f"Event #{record.index}: {msg} The server refuses it (invalid_tool_call_id), "
                      "so the model never gets the result.", hint, record, call=wrong,
                      expected="a call_id of this session", seen=repr(call_id))
            self._close_attempt(wrong)
            return
        output = item.get("output")
        if not isinstance(output, str):
            self._add(Rule.OUTPUT_NOT_STRING,
                      f"The output for call {call.name} ({call.call_id}) in event #{record.index} is {_kind(output)}, "
                      "not a string; the service rejects it and the model never sees the result.",
                      None, record, call=call, expected="a string (JSON text is customary)", seen=_clip(json.dumps(output)))
            self._close_attempt(call)
            return
        if not accepted:
            # the refusal is the finding (the error names the field): what the round then lacks, its
            # output and a create after it, is its consequence, not another mistake
            self._close_attempt(call)
            return
        rnd = self._rounds[call.response_id]
        if call.output_index is not None:
            unanswered = [c for c in rnd.calls.values() if c.output_index is None]
            later = [c for r in self._open_rounds() if r is not rnd for c in r.missing] if not unanswered else []
            hint = None
            if unanswered:
                also = (f" Call {unanswered[0].name} ({unanswered[0].call_id}) of the same response has no output "
                        "yet: was this one meant for it?")
            elif later:
                # a call_id kept from an earlier round: the output was most likely meant for the open call
                also = (f" That call belongs to an earlier response; call {later[0].name} ({later[0].call_id}) of "
                        f"response {later[0].response_id} has no output yet: was this one meant for it?")
                hint = ("Take the call_id from the call being answered (its response.function_call_arguments.done "
                        "or function_call item), not one kept from an earlier round.")
            else:
                also = ""
            self._add(Rule.DUPLICATE_OUTPUT,
                      f"Event #{record.index} is a second function_call_output for call {call.name} ({call.call_id}); "
                      f"the first was event #{call.output_index}.{also}",
                      hint, record, call=call, expected="one output per call", seen="two")
            self._close_attempt(call)
            if later:
                self._close_attempt(later[0])  # its missing output and create are this finding's consequences
                self._last_trigger = None  # the create that follows answers it: not a second create for round 1
            return
        call.output_index = record.index
        call.output_event = event
        if not call.arguments_done:
            # the service takes it (the call's item exists from response.output_item.added on), but the
            # tool cannot have had the call's arguments: they were still streaming
            self._add(Rule.OUTPUT_BEFORE_ARGUMENTS,
                      f"The function_call_output for call {call.name} ({call.call_id}) in event #{record.index} came "
                      "before the call's arguments were complete (no response.function_call_arguments.done for it "
                      "yet): the tool ran on partial arguments, or none, and the model gets that result.",
                      None, record, call=call, expected="the output after response.function_call_arguments.done",
                      seen="the output while the arguments were still streaming")
        if (seen := _unserialized(output)) is not None:
            # the service takes any string: the model gets this text, and nothing of the result
            self._add(Rule.OUTPUT_NOT_SERIALIZED,
                      f"The output for call {call.name} ({call.call_id}) in event #{record.index} holds "
                      f"{seen!r}, {_made_by(seen)}, not the tool's result: "
                      "the model gets that text, and nothing of what the tool returned.",
                      None, record, call=call, expected="the tool result serialized (JSON text is customary)",
                      seen=_clip(output))
        self._last_trigger = None  # new input: the round needs its own response.create
        if call.match:
            self._check_output_match(call, record)
        if rnd.missing:
            rnd.step_on(Stimulus.OUTPUT)
        else:
            rnd.outputs_done_at = record.time
            rnd.step_on(Stimulus.LAST_OUTPUT)
            rnd.arm_create(self.default_within)

    def _close_attempt(self, call: Call | None) -> None:
        """A finding explains why an output did not count: close the round it was meant for (when the
        call is unknown, every round still missing an output), so that its consequences — no output,
        a create before it, no create — are not reported on top of their cause."""
        rounds = [self._rounds[call.response_id]] if call is not None else [r for r in self._open_rounds() if r.missing]
        for rnd in rounds:
            rnd.step_on(Stimulus.BAD_OUTPUT)

    def _response_create(self, record: Record, event: dict[str, Any]) -> None:
        response = event.get("response")
        if isinstance(response, dict) and response.get("conversation") == "none":
            # an out-of-band response: it does not answer the conversation, so it triggers no round
            # (a round that then misses its create says this one did not count)
            for owing in self._open_rounds():
                if owing.state is RoundState.OWES_CREATE:
                    owing.out_of_band_create = record
            return
        if self._active is not None:
            rnd = self._rounds.get(self._active)
            calling = rnd is not None and bool(rnd.calls)
            prev = self._last_trigger
            if prev is not None and prev.index < self._active_at and not calling:
                # R6: the active response is the answer the previous create started
                self._add(Rule.DOUBLE_RESPONSE_CREATE,
                          f"Event #{record.index} is a second response.create for the same tool round (the first was "
                          f"event #{prev.index}), sent while the answer that one started ({self._active}) was still "
                          "streaming; the server refused it with conversation_already_has_active_response.",
                          None, record, expected="one response.create per round", seen="two")
                return
            if calling and rnd is not None and not _side_request(event):
                # R6: the service refuses it (conversation_already_has_active_response). A client that
                # sends it again once the response is done loses nothing: the round's bound decides.
                rnd.refused_create = rnd.refused_create or record
                self._explained.add(record.index)
                return
            if _side_request(event):
                hint = ("This create brings its own instructions, input or metadata: if it is a side request (a "
                        "classification, a summary), send it out of band, with response.conversation \"none\": the "
                        "service runs that beside the active response and writes nothing into the conversation. "
                        "Otherwise wait for the active response's response.done.")
            else:
                hint = None
            self._add(Rule.CREATE_WHILE_ACTIVE,
                      f"The response.create in event #{record.index} was sent while response {self._active} was still "
                      "active; the server refused it with conversation_already_has_active_response, so no answer "
                      "follows.", hint, record, call=next(iter(rnd.calls.values())) if rnd and rnd.calls else None,
                      expected="response.create after response.done", seen="response.create during the response")
            return
        open_rounds = self._open_rounds()
        if not open_rounds and self._late_watch is not None:
            self._late_trigger(record)
            return
        if not open_rounds:
            # a create that brings its own instructions or input asks for a new response on purpose
            deliberate = isinstance(response, dict) and bool(response.get("instructions") or response.get("input"))
            if self._last_trigger is not None and not deliberate:
                prev = self._last_trigger
                self._add(Rule.DOUBLE_RESPONSE_CREATE,
                          f"Event #{record.index} is a second response.create for the same tool round (the first was "
                          f"event #{prev.index}), with no new input in between: the model answers twice.",
                          None, record, expected="one response.create per round", seen="two")
            return
        for rnd in open_rounds:
            if rnd.superseded and rnd.done_at is None:
                continue  # this create ended that response (Voice Live): it is no create of its round
            missing = rnd.missing
            names = ", ".join(f"{c.name} ({c.call_id})" for c in missing)
            rule = rnd.step_on(Stimulus.CREATE)
            if rule is None and rnd.state is not RoundState.TRIGGERED:
                continue
            if rule is Rule.CREATE_BEFORE_OUTPUT and len(missing) < len(rnd.calls):
                self._add(Rule.CREATE_BEFORE_OUTPUT,
                          f"The response.create in event #{record.index} came while {names} still had no output: the "
                          "model answers without that result.",
                          "Send response.create once, after the outputs of every call in the response "
                          "(wait for response.done to know them all).",
                          record, call=missing[0], step=rnd.create_step, line=rnd.create_line,
                          expected="all outputs, then response.create", seen=f"{len(missing)} output(s) still missing")
            elif rule is Rule.CREATE_BEFORE_OUTPUT:
                message = rnd.message_item
                self._add(Rule.CREATE_BEFORE_OUTPUT,
                          f"The response.create in event #{record.index} came before any function_call_output for "
                          f"{names}: the model answers without the tool's result." + (
                              f" Event #{message.index} is a message item: if it carries the result, the model "
                              "does not take it as the call's answer." if message is not None else ""),
                          "Send the tool's result as a function_call_output item with the call's call_id (not a "
                          "message), then response.create." if message is not None else None,
                          record, call=missing[0], step=rnd.create_step, line=rnd.create_line,
                          expected="function_call_output, then response.create",
                          seen=f"a message item (event #{message.index}), then response.create" if message is not None
                          else "response.create first")
            else:
                rnd.triggered_by = record.index
                self._last_trigger = record
                self._outputs_in_context(rnd, record, response)
                why = explain_mismatch(event, rnd.create_match) if rnd.create_match else None
                if why is not None:
                    self._add(Rule.SCENARIO_MISMATCH,
                              f"The response.create in event #{record.index} does not match the scenario's step: {why}.",
                              "Make the client send what the step's `match:` asks for (or fix the scenario if it "
                              "expects the wrong thing).", record, call=next(iter(rnd.calls.values())),
                              step=rnd.create_step, line=rnd.create_line, expected=json.dumps(rnd.create_match),
                              seen=why)

    def _outputs_in_context(self, rnd: Round, record: Record, response: Any) -> None:
        """R5: the answer the create asks for sees every output of the round: the conversation's items,
        or, when `response.input` gives it a context of its own ("an empty array clears the context
        for this Response"), the items that lists (inline, or by item_reference)."""
        if isinstance(response, dict) and isinstance(response.get("input"), list):
            given = [i for i in response["input"] if isinstance(i, dict)]
            refs = {i.get("id") for i in given if i.get("type") == "item_reference"}
            inline = {i.get("call_id") for i in given if i.get("type") == "function_call_output"}
            unseen = [c for c in rnd.calls.values() if c.call_id not in inline
                      and (c.output_item_id is None or c.output_item_id not in refs)]
            why = ("its response.input, which replaces the conversation as the model's input for this answer, "
                   "holds neither the output nor a reference to it")
        else:
            unseen = [c for c in rnd.calls.values() if c.output_deleted]
            why = "the output was deleted from the conversation (conversation.item.delete) before it"
        if unseen:
            names = ", ".join(f"{c.name} ({c.call_id})" for c in unseen)
            self._add(Rule.OUTPUT_NOT_IN_CONTEXT,
                      f"The response.create in event #{record.index} asks for the round's answer, but the model does "
                      f"not see the output of {names}: {why}. The model answers without the tool's result.",
                      None, record, call=unseen[0], step=rnd.create_step, line=rnd.create_line,
                      expected="every output of the round in the model's input", seen=f"{len(unseen)} left out")

    def _late_trigger(self, record: Record) -> None:
        """R8: the create came after all, past its bound. Where the session went on (`rtmock serve`, a
        transcript judged later), this replaces the missing-response-create judged at the bound."""
        rnd = self._late_watch
        assert rnd is not None and rnd.missed_at is not None and rnd.create_deadline is not None
        self._late_watch = None
        if rnd.step_on(Stimulus.CREATE) is not Rule.LATE_RESPONSE_CREATE:
            return
        rnd.triggered_by = record.index
        self._last_trigger = record
        missing = self.findings[rnd.missed_at]
        late_by = record.time - rnd.create_deadline
        bound = rnd.create_deadline - rnd.create_from
        late = self.findings[rnd.missed_at] = Finding(
            rule=Rule.LATE_RESPONSE_CREATE,
            message=f"The response.create in event #{record.index} came {late_by:.2f}s after its {bound:g}s bound: "
                    "the user waited that long in silence.",
            hint=RULE_SPECS[Rule.LATE_RESPONSE_CREATE].fix,
            index=record.index, time=record.time, call_name=missing.call_name, call_id=missing.call_id,
            step=missing.step, step_line=missing.step_line, expected=f"response.create within {bound:g}s",
            seen=f"after {bound + late_by:.2f}s")
        self._replaced.append(late)
        self._explained.add(record.index)

    def _check_output_match(self, call: Call, record: Record) -> None:
        """A scenario's `match:` on a call's output is decided once both are known: there is only one
        output per call (a second is a duplicate), so a mismatch is certain at once."""
        if call.step_matched or call.output_event is None or not call.match:
            return
        call.step_matched = True
        why = explain_mismatch(call.output_event, call.match)
        if why is not None:
            self._add(Rule.SCENARIO_MISMATCH,
                      f"The output for call {call.name} ({call.call_id}) in event #{call.output_index} does not match "
                      f"the scenario's step: {why}.",
                      "Check what the tool returns for these arguments (or fix the scenario's `match:` if it expects "
                      "the wrong thing).", None, call=call, step=call.step, line=call.line,
                      expected=json.dumps(call.match), seen=why, time=record.time)


def _side_request(event: dict[str, Any]) -> bool:
    """A response.create that brings its own instructions, input or metadata: likely a side request."""
    response = event.get("response")
    return isinstance(response, dict) and any(response.get(k) for k in ("instructions", "input", "metadata"))


#: What a tool result becomes when it is turned into a string without being serialized: JavaScript's
#: String(value) of an object (also inside a template string; `[object Promise]` for a result not
#: awaited) and Python's default str() of an object, of a coroutine or task not awaited, of a
#: generator, of a function not called. None can be a tool's meant result. (A bare "undefined" can:
#: @openai/agents-realtime sends it for a tool that returns nothing, String(undefined), and the
#: exchange goes on as the service expects.)
_UNSERIALIZED = re.compile(
    r"\[object [A-Z][A-Za-z]*\]|Promise \{ <pending> \}"
    r"|<bound method \S+ of <[^<>\n]*>>"
    r"|<(?:[A-Za-z_][\w.]* object|coroutine object \S+|(?:async_)?generator object \S+|function \S+) at 0x[0-9a-fA-F]+>"
    r"|<(?:Task|Future) (?:pending|finished|cancelled)\b[^\n]*?>(?=$|[^>])")
#: A labelled value, as a template string or an f-string makes it: `Weather: ${result}`, `result={obj}`.
_LABELLED = re.compile(r"\s*[\w .-]{0,40}[:=]\s*")
#: JSON keys whose values are text the tool captured or wrote (a sandbox's stdout, a log, an error
#: message, a code snippet): such text may show an object's repr, and is still the tool's result.
_TEXT_KEYS = re.compile(r"std(?:out|err)|output|logs?|snippet|code|source|repr|text|message|errors?|trace(?:back)?|"
                        r"console|print(?:ed)?|details?|explanation", re.IGNORECASE)


def _unserialized(output: str) -> str | None:
    """The unserialized object `output` holds, if any: as its whole text, as labelled values making
    up the whole text (`Weather: [object Object]`, `a=<A object at 0x…>, b=<B object at 0x…>`), or
    as a whole value inside the JSON it is (`{"result": "[object Object]"}` from
    JSON.stringify({result: String(obj)}), json.dumps(..., default=str)), unless that value is text
    the tool captured (`stdout`, `log`, `error`…). Text that mentions one (an error message that
    quotes it), spans lines or ends in a newline (a sandbox's captured stdout, a log, a traceback)
    is the tool's result."""
    if _UNSERIALIZED.search(output) is None:  # the common case: no such text at all
        return None
    try:
        parsed = json.loads(output)
    except (ValueError, RecursionError):
        parsed = output
    if isinstance(parsed, str):  # plain text, or a JSON string of it
        return _unserialized_text(parsed)
    pending: list[tuple[str | None, Any]] = [(None, parsed)]
    looked = 0
    while pending and looked < 10_000:  # a bounded walk: outputs can be huge or deep
        key, value = pending.pop()
        looked += 1
        if isinstance(value, str):
            # the whole value, as is: captured output ends in a newline (print, console.log)
            if (found := _UNSERIALIZED.fullmatch(value)) is not None and not (key and _TEXT_KEYS.fullmatch(key)):
                return found.group(0)
        elif isinstance(value, dict):
            pending.extend((str(k), v) for k, v in value.items())
        elif isinstance(value, list):
            pending.extend((key, v) for v in value)
    return None


def _unserialized_text(text: str) -> str | None:
    if (whole := _UNSERIALIZED.fullmatch(text.strip())) is not None:
        return whole.group(0)
    if "\n" in text.rstrip(" "):  # captured output, a log, a traceback: the tool's own text
        return None
    found = None
    for segment in re.split(r"[,;|]", text):
        marker = _UNSERIALIZED.search(segment)
        if marker is None:
            if segment.strip():
                return None  # a segment of words: a sentence that mentions one
            continue
        before, after = segment[:marker.start()], segment[marker.end():]
        if not _LABELLED.fullmatch(before) or after.strip(" .!"):
            return None
        found = found or marker.group(0)
    return found  # nothing but labelled values: `Weather: ${w}, Temp: ${t}`


def _made_by(seen: str) -> str:
    """What turned a result into `seen`, for the finding."""
    if seen == "[object Promise]":
        return "JavaScript's string form of a Promise: the tool's result was not awaited"
    if seen.startswith("["):
        return "JavaScript's default string form of an object (String(result), `${result}`, '' + result)"
    if seen.startswith("Promise"):
        return "Node's inspection of a pending Promise: the tool's result was not awaited"
    if seen.startswith(("<coroutine", "<Task", "<Future")):
        return "Python's str() of a coroutine or task: the tool's result was not awaited"
    if seen.startswith("<bound method"):
        return "Python's str() of a method: the tool was not called"
    if seen.startswith(("<generator", "<async_generator")):
        return "Python's str() of a generator: its values were never collected"
    if seen.startswith("<function"):
        return "Python's str() of a function: the tool was not called"
    return "Python's default str() of an object"


def _kind(value: Any) -> str:
    return {dict: "a JSON object", list: "a JSON array", bool: "a boolean", int: "a number", float: "a number",
            type(None): "null"}.get(type(value), type(value).__name__)


def _clip(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
