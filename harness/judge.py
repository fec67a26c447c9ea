"""The rules, as a pure component: fed records one at a time, it yields findings as soon as they
are certain, and a verdict at the end. No I/O and no clock of its own: a live session and a saved
transcript are judged by the same code (the caller passes session times to `advance`).

The rules (see ../shared/protocol.md, "What the harness judges"), per function call the server
emitted: R1 an output arrives; R2 with a call_id of this session (and a known previous_item_id);
R3 whose output is a string; R4 a response.create follows the round's outputs; R5 not before any of
them; R6 only one, and not while a response is active; R7 one output per call; R8 within the
scenario's bound. Plus the scenario's own `expect` steps, from the runner's notes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from mockserver.matching import explain_mismatch
from mockserver.records import Direction, Record

from .findings import Finding, Rule, SessionVerdict

__all__ = ["Judge"]


@dataclass(slots=True)
class _Call:
    call_id: str
    name: str
    item_id: str
    response_id: str
    output_index: int | None = None  # record index of the accepted output
    deadline: float | None = None
    step: int | None = None  # the expect step awaiting its output
    line: int | None = None
    match: dict[str, Any] | None = None
    step_matched: bool = False
    output_event: dict[str, Any] | None = None


@dataclass(slots=True)
class _Round:
    """A response that called tools: its calls, and the client's trigger afterwards."""

    response_id: str
    step: int | None
    line: int | None
    calls: dict[str, _Call] = field(default_factory=dict)
    done_at: float | None = None  # response.done
    outputs_done_at: float | None = None  # when its last output arrived
    trigger_deadline: float | None = None
    trigger_step: int | None = None
    trigger_line: int | None = None
    triggered_by: int | None = None
    resolved: bool = False  # judged: triggered, or a finding closed it

    @property
    def missing(self) -> list[_Call]:
        return [c for c in self.calls.values() if c.output_index is None]


@dataclass(slots=True)
class _StepWait:
    step: int
    line: int
    expect: str
    deadline: float
    match: dict[str, Any] | None
    matched: bool = False


class Judge:
    def __init__(self, *, session_id: str = "", scenario_name: str = "", scenario_path: str | None = None,
                 default_within: float = 5.0) -> None:
        self.session_id = session_id
        self.scenario_name = scenario_name
        self.scenario_path = scenario_path
        self.default_within = default_within
        self.findings: list[Finding] = []
        self.complete = False
        self.closed_by: str | None = None
        self.now = 0.0
        self.events = 0
        self._rounds: dict[str, _Round] = {}
        self._calls: dict[str, _Call] = {}
        self._item_to_call: dict[str, _Call] = {}
        self._items: set[str] = set()
        self._active: str | None = None
        self._steps: list[_StepWait] = []
        self._last_client: Record | None = None
        self._explained: set[int] = set()  # client records already covered by a specific finding
        self._last_trigger: Record | None = None  # the last accepted round trigger, for R6
        self._declared_tools: set[str] = set()
        self._pending_step_create: list[_StepWait] = []

    # ---- public interface ------------------------------------------------------------------------

    def feed(self, record: Record) -> list[Finding]:
        start = len(self.findings)
        self._expire(record.time)
        self.now = max(self.now, record.time)
        self.events += 1
        if record.direction is Direction.CLIENT:
            self._client(record)
        elif record.direction is Direction.SERVER:
            self._server(record)
        else:
            self._note(record)
        return self.findings[start:]

    def next_deadline(self) -> float | None:
        times = [w.deadline for w in self._steps if not w.matched]
        for rnd in self._rounds.values():
            if rnd.resolved:
                continue
            times.extend(c.deadline for c in rnd.missing if c.deadline is not None)
            if not rnd.missing and rnd.trigger_deadline is not None:
                times.append(rnd.trigger_deadline)
        return min(times) if times else None

    def advance(self, now: float) -> list[Finding]:
        start = len(self.findings)
        self._expire(now)
        self.now = max(self.now, now)
        return self.findings[start:]

    def finish(self, now: float | None = None, *, settle_pending: bool = True) -> SessionVerdict:
        """The session is over: whatever is still awaited will never come. With `settle_pending`
        False (rtmock stopped the client itself, after a finding), what was still within its bound
        is left undecided: its absence is our doing, not the client's."""
        if now is not None:
            self._expire(now)
            self.now = max(self.now, now)
        if not settle_pending:
            return SessionVerdict(self.session_id, self.scenario_name, self.scenario_path, self.complete,
                                  list(self.findings), self.now, self.events)
        self._expire(float("inf"), at=self.now)
        if not self.complete and not self.findings and self.closed_by in ("client", None):
            self._add(Rule.CLIENT_DISCONNECTED if self.closed_by == "client" else Rule.SCENARIO_MISMATCH,
                      "The session ended before the scenario completed." if self.closed_by == "client"
                      else "The scenario did not complete.",
                      "Keep the websocket open until the conversation is over (the scenario's last step).", None)
        return SessionVerdict(self.session_id, self.scenario_name, self.scenario_path, self.complete,
                              list(self.findings), self.now, self.events)

    # ---- helpers ---------------------------------------------------------------------------------

    def _add(self, rule: Rule, message: str, hint: str, record: Record | None, *, call: _Call | None = None,
             step: int | None = None, line: int | None = None, expected: str | None = None,
             seen: str | None = None, time: float | None = None) -> None:
        self.findings.append(Finding(
            rule=rule, message=message, hint=hint, index=record.index if record else None,
            time=record.time if record else (time if time is not None else self.now),
            call_name=call.name if call else None, call_id=call.call_id if call else None,
            step=step, step_line=line, expected=expected, seen=seen))
        if record is not None and record.direction is Direction.CLIENT:
            self._explained.add(record.index)

    def _open_rounds(self) -> list[_Round]:
        return [r for r in self._rounds.values() if not r.resolved and r.calls]

    # ---- server events ---------------------------------------------------------------------------

    def _server(self, record: Record) -> None:
        event = record.event
        if event is None:
            return
        kind = event.get("type")
        if kind == "response.created":
            self._active = event["response"]["id"]
        elif kind == "response.done":
            rid = event["response"]["id"]
            if self._active == rid:
                self._active = None
            rnd = self._rounds.get(rid)
            if rnd is not None:
                rnd.done_at = record.time
                for call in rnd.calls.values():
                    if call.deadline is None:
                        call.deadline = record.time + self.default_within
                if event["response"].get("status") == "cancelled" and not any(c.output_index for c in rnd.calls.values()):
                    rnd.resolved = True  # a cancelled response's calls need no answer
                self._maybe_arm_trigger(rnd, record.time)
        elif kind == "response.output_item.added":
            item = event.get("item", {})
            self._items.add(item.get("id", ""))
            if item.get("type") == "function_call":
                rid = event["response_id"]
                rnd = self._rounds.setdefault(rid, _Round(rid, None, None))
                call = self._calls.get(item["call_id"]) or _Call(item["call_id"], item.get("name", "?"), item["id"], rid)
                rnd.calls[call.call_id] = call
                self._calls[call.call_id] = call
                self._item_to_call[call.item_id] = call
        elif kind in ("conversation.item.added", "conversation.item.created", "conversation.item.done"):
            self._items.add(event.get("item", {}).get("id", ""))
        elif kind == "input_audio_buffer.committed":
            self._items.add(event.get("item_id", ""))
        elif kind == "conversation.item.deleted":
            self._items.discard(event.get("item_id", ""))
        elif kind == "error":
            self._server_error(record, event.get("error") or {})

    def _server_error(self, record: Record, error: dict[str, Any]) -> None:
        cause = self._last_client
        if cause is None or cause.index in self._explained:
            return
        code, message, param = error.get("code"), error.get("message", ""), error.get("param")
        self._add(Rule.INVALID_CLIENT_EVENT,
                  f"The server refused client event #{cause.index} ({cause.type}): {message}",
                  _INVALID_HINTS.get(str(code), "Send events that follow the realtime API's schema; the error's "
                                     "`param` names the field."),
                  cause, expected=f"a valid {cause.type}" if cause.event else "one JSON object per frame",
                  seen=f"error {code}" + (f" (param {param})" if param else ""))

    # ---- client events ---------------------------------------------------------------------------

    def _client(self, record: Record) -> None:
        self._last_client = record
        event = record.event
        if event is None:
            return
        kind = event.get("type")
        if kind == "session.update":
            tools = (event.get("session") or {}).get("tools")
            if isinstance(tools, list):
                self._declared_tools = {str(t.get("name")) for t in tools if isinstance(t, dict)}
        elif kind == "conversation.item.create":
            self._item_create(record, event)
        elif kind == "input_audio_buffer.commit":
            self._last_trigger = None
        elif kind == "response.create":
            self._response_create(record)

    def _item_create(self, record: Record, event: dict[str, Any]) -> None:
        item = event.get("item") if isinstance(event.get("item"), dict) else {}
        assert isinstance(item, dict)
        previous = event.get("previous_item_id")
        if item.get("type") != "function_call_output":
            self._last_trigger = None  # new input: a following response.create is a new turn
            return
        call_id = item.get("call_id")
        call = self._calls.get(call_id) if isinstance(call_id, str) else None
        if isinstance(previous, str) and previous != "root" and previous not in self._items:
            self._add(Rule.UNKNOWN_PREVIOUS_ITEM,
                      f"function_call_output names previous_item_id {previous!r}, which is not an item of this conversation.",
                      "Omit previous_item_id (the output is appended), or use the id of an item the server reported.",
                      record, call=call, expected="an existing item id, 'root', or no previous_item_id", seen=repr(previous))
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
                hint = "Echo the call_id the server sent in the function call unchanged."
            self._add(Rule.WRONG_CALL_ID, msg, hint, record, call=wrong, expected="a call_id of this session",
                      seen=repr(call_id))
            return
        output = item.get("output")
        if not isinstance(output, str):
            self._add(Rule.OUTPUT_NOT_STRING,
                      f"The output for call {call.name} ({call.call_id}) is {_kind(output)}, not a string; the service "
                      "rejects it and the model never sees the result.",
                      "Serialize the tool result: output=json.dumps(result) (JSON.stringify in JavaScript).",
                      record, call=call, expected="a string (JSON text is customary)", seen=_clip(json.dumps(output)))
            return
        if call.output_index is not None:
            self._add(Rule.DUPLICATE_OUTPUT,
                      f"A second function_call_output for call {call.name} ({call.call_id}); the first was event "
                      f"#{call.output_index}.",
                      "Send exactly one output per call_id (check for handlers registered twice, or retries).",
                      record, call=call, expected="one output per call", seen="two")
            return
        call.output_index = record.index
        call.output_event = event
        rnd = self._rounds[call.response_id]
        if not rnd.missing:
            rnd.outputs_done_at = record.time
            self._maybe_arm_trigger(rnd, record.time)

    def _maybe_arm_trigger(self, rnd: _Round, now: float) -> None:
        if rnd.missing or rnd.done_at is None or rnd.resolved:
            return
        if rnd.trigger_deadline is None:
            rnd.trigger_deadline = max(now, rnd.done_at) + self.default_within

    def _response_create(self, record: Record) -> None:
        if self._active is not None:
            rnd = self._rounds.get(self._active)
            calling = rnd is not None and rnd.calls
            self._add(Rule.CREATE_WHILE_ACTIVE,
                      f"response.create was sent while response {self._active} was still active "
                      + ("(the response that called the tool had not sent response.done yet)" if calling else "")
                      + "; the server refused it with conversation_already_has_active_response.",
                      "Wait for response.done of the calling response before sending response.create (the real "
                      "service usually sends it right after arguments.done, so this race is intermittent there).",
                      record, call=next(iter(rnd.calls.values())) if rnd and rnd.calls else None,
                      expected="response.create after response.done", seen="response.create during the response")
            return
        open_rounds = self._open_rounds()
        if not open_rounds:
            if self._last_trigger is not None:
                prev = self._last_trigger
                self._add(Rule.DOUBLE_RESPONSE_CREATE,
                          f"A second response.create for the same tool round (the first was event #{prev.index}), "
                          "with no new input in between: the model answers twice.",
                          "Send one response.create per tool round, after the last output of that round.",
                          record, expected="one response.create per round", seen="two")
            return
        for rnd in open_rounds:
            missing = rnd.missing
            if missing and rnd.done_at is not None and len(missing) < len(rnd.calls):
                names = ", ".join(f"{c.name} ({c.call_id})" for c in missing)
                self._add(Rule.CREATE_BEFORE_OUTPUT,
                          f"response.create came before the output of {names}: the model answers without that result.",
                          "Send response.create once, after the outputs of every call in the response "
                          "(wait for response.done to know them all).",
                          record, call=missing[0], step=rnd.trigger_step, line=rnd.trigger_line,
                          expected="all outputs, then response.create", seen=f"{len(missing)} output(s) still missing")
                rnd.resolved = True
            elif missing:
                names = ", ".join(f"{c.name} ({c.call_id})" for c in missing)
                self._add(Rule.CREATE_BEFORE_OUTPUT,
                          f"response.create came before any function_call_output for {names}.",
                          "Send the function_call_output for each call first, then response.create.",
                          record, call=missing[0], step=rnd.trigger_step, line=rnd.trigger_line,
                          expected="function_call_output, then response.create", seen="response.create first")
                rnd.resolved = True
            else:
                rnd.triggered_by = record.index
                rnd.resolved = True
                self._last_trigger = record

    # ---- script notes ----------------------------------------------------------------------------

    def _note(self, record: Record) -> None:
        note = record.event or {}
        kind = note.get("type")
        if kind == "rtmock.step.reached":
            within = float(note.get("within") or self.default_within)
            wait = _StepWait(int(note["step"]), int(note["line"]), str(note["expect"]), record.time + within, note.get("match"))
            call = self._calls.get(note.get("call_id") or "")
            if wait.expect == "function_call_output" and call is not None:
                call.deadline = wait.deadline
                call.step, call.line, call.match = wait.step, wait.line, wait.match
                return
            if wait.expect == "response.create":
                waiting = [r for r in self._open_rounds() if r.trigger_step is None and r.done_at is not None]
                if waiting:
                    rnd = waiting[-1]
                    rnd.trigger_step, rnd.trigger_line = wait.step, wait.line
                    rnd.trigger_deadline = wait.deadline
                    return
            self._steps.append(wait)
        elif kind == "rtmock.step.matched":
            step = int(note["step"])
            for w in self._steps:
                if w.step == step:
                    w.matched = True
            for call in self._calls.values():
                if call.step == step:
                    call.step_matched = True
        elif kind == "rtmock.response.started":
            rid = note["response_id"]
            rnd = self._rounds.setdefault(rid, _Round(rid, None, None))
            rnd.step, rnd.line = int(note["step"]), int(note["line"])
        elif kind == "rtmock.scenario.complete":
            self.complete = True
        elif kind == "rtmock.closed":
            self.closed_by = str(note.get("by"))

    # ---- deadlines -------------------------------------------------------------------------------

    def _expire(self, now: float, *, at: float | None = None) -> None:
        """Decide everything whose bound is at or before `now`."""
        for rnd in list(self._rounds.values()):
            if rnd.resolved or not rnd.calls:
                continue
            for call in rnd.missing:
                if call.deadline is not None and call.deadline <= now:
                    when = at if at is not None and at < call.deadline else call.deadline
                    bound = "" if at is not None and at < call.deadline else f" within {call.deadline - (rnd.done_at or 0):.1f}s"
                    self._add(Rule.MISSING_OUTPUT,
                              f"No function_call_output for call {call.name} ({call.call_id}){bound}: the model waits for "
                              "the tool result and the app hangs.",
                              "Handle every function call: run the tool and send conversation.item.create with "
                              "{type: function_call_output, call_id, output: <string>}.",
                              None, call=call, step=call.step or rnd.step, line=call.line or rnd.line,
                              expected="a function_call_output", seen="nothing", time=when)
                    rnd.resolved = True
            if rnd.resolved:
                continue
            if rnd.trigger_deadline is not None and not rnd.missing and rnd.trigger_deadline <= now:
                when = at if at is not None and at < rnd.trigger_deadline else rnd.trigger_deadline
                outs = sorted(c.output_index for c in rnd.calls.values() if c.output_index is not None)
                call = next(iter(rnd.calls.values()))
                self._add(Rule.MISSING_RESPONSE_CREATE,
                          f"The client sent the output for call {call.name} ({call.call_id}) (event #{outs[-1]}) but no "
                          f"response.create followed{'' if at is not None and at < rnd.trigger_deadline else ' within the bound'}: "
                          "the model stays silent and the app hangs (the real service gives no error for this).",
                          "After sending all function_call_output items of a response, send {\"type\": \"response.create\"}.",
                          None, call=call, step=rnd.trigger_step or rnd.step, line=rnd.trigger_line or rnd.line,
                          expected="response.create after the output(s)", seen="nothing", time=when)
                rnd.resolved = True
        for call in self._calls.values():
            if call.step is not None and not call.step_matched and call.output_index is not None and call.match \
                    and call.deadline is not None and call.deadline <= now:
                call.step_matched = True
                self._add(Rule.SCENARIO_MISMATCH,
                          f"The output for call {call.name} ({call.call_id}) does not match the scenario.",
                          "Check what the tool returns for these arguments.", None, call=call, step=call.step,
                          line=call.line, expected=json.dumps(call.match), seen=self._output_mismatch(call),
                          time=min(now, call.deadline))
        for wait in self._steps:
            if not wait.matched and wait.deadline <= now:
                wait.matched = True
                when = at if at is not None and at < wait.deadline else wait.deadline
                self._step_missed(wait, when)

    def _output_mismatch(self, call: _Call) -> str:
        why = explain_mismatch(call.output_event or {}, call.match or {})
        return f"event #{call.output_index}: {why}"

    def _step_missed(self, wait: _StepWait, when: float) -> None:
        if wait.expect == "session.update" and self._declared_tools is not None:
            return self._add(Rule.SCENARIO_MISMATCH if not self._declared_tools else Rule.TOOL_NOT_DECLARED,
                             "No session.update declared the scenario's tools in time." if not self._declared_tools else
                             f"The client's session.update declared {sorted(self._declared_tools)}, not all the scenario's tools.",
                             "Send session.update with session.tools listing every function tool the app uses "
                             "(type: function, name, parameters), before the first response.create.",
                             None, step=wait.step, line=wait.line, expected="session.update with the scenario's tools",
                             seen="none" if not self._declared_tools else ", ".join(sorted(self._declared_tools)), time=when)
        what = {"response.create": "a response.create (the client's turn)", "user_message": "a user message item"}.get(
            wait.expect, wait.expect)
        self._add(Rule.SCENARIO_MISMATCH, f"The scenario waited for {what}; none came" +
                  (" that matched " + json.dumps(wait.match) if wait.match else "") + " in time.",
                  "Make the client send it, or change the scenario's step if it expects the wrong thing.", None,
                  step=wait.step, line=wait.line, expected=what, seen="nothing", time=when)
        return None


_INVALID_HINTS = {
    "invalid_json": "Send each event as one JSON object in a text frame.",
    "unknown_parameter": "Remove the parameter the error names; it is not part of the realtime API (check the dialect: GA vs beta).",
    "missing_required_parameter": "Add the field the error names.",
    "invalid_type": "Send the field the error names with the right JSON type.",
    "invalid_value": "Use one of the values the error lists.",
    "input_audio_buffer_commit_empty": "Append at least 100 ms of audio before input_audio_buffer.commit.",
    "response_cancel_not_active": "Only send response.cancel while a response is in progress.",
}


def _kind(value: Any) -> str:
    return {dict: "a JSON object", list: "a JSON array", bool: "a boolean", int: "a number", float: "a number",
            type(None): "null"}.get(type(value), type(value).__name__)


def _clip(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
