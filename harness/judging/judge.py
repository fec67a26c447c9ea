"""The rules, as a pure component: fed records one at a time, it yields findings as soon as they
are certain, and a verdict at the end. No I/O and no clock of its own: a live session and a saved
transcript are judged by the same code (the caller passes session times to `advance`).

The rules (see ../shared/protocol.md, "What the harness judges"), per function call the server
emitted: R1 an output arrives; R2 with a call_id of this session (and a known previous_item_id);
R3 whose output is a string; R4 a response.create follows the round's outputs; R5 not before any of
them; R6 only one, and not while a response is active; R7 one output per call; R8 within the
scenario's bound; R9 a call of a cancelled response (response.cancel, or a barge-in) is owed
nothing: no output and no create (an output sent anyway is accepted and not a finding). Calls the
client wrote into the conversation itself (history) are answered as it likes; out-of-band responses
(conversation_id null) are never the active response. Plus the scenario's own `expect` steps, from the runner's notes: those that await
a call's output or a round's create bound the rules here; the others are watched by steps.py.

A client event is read with the record after it, or at `settle()`: the session notes a refusal
(`Refused`) right after the event, and a refused event did nothing. A live caller calls `settle()`
once it has fed every record of a moment (all that one client frame or timer produced).

One cause, one finding: a finding about an output (wrong id, not a string, a duplicate) closes the
round it was meant for, so what follows from it (no valid output, a create "before" it) is not
reported on top. A refused client frame is still read for what it tried to do (R3).

Here: `Judge`'s interface, its bookkeeping of calls and rounds from server events, the notes, and
the bounds that pass. Its parts: `_client_rules.py`, the rules read from client events (a mixin of
`Judge`: they change its rounds and calls); `_service_errors.py`, which of the service's errors are
findings and which client event each answers; `rounds.py`, a round's rule table; `steps.py`, the
scenario's other expect steps.
"""

from __future__ import annotations

from ...mockserver.core.notes import (
    Closed,
    PreviousCancelled,
    Refused,
    RelayStarted,
    ResponseStarted,
    ScenarioComplete,
    StepMatched,
    StepReached,
    StepSkipped,
    read_note,
)
from ...mockserver.core.records import Direction, Record
from ._client_rules import ClientEventRules
from ._service_errors import BENIGN_REFUSALS as BENIGN_REFUSALS  # (docs/protocol-notes.md names it here)
from ._service_errors import ServiceErrors
from .findings import RULE_SPECS, Finding, Rule, SessionVerdict
from .rounds import Call, Round, RoundState, Stimulus
from .steps import Hearing, StepWait, StepWatch

__all__ = ["Judge"]


class Judge(ClientEventRules):
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
        self._due: float | None = None  # the earliest bound still running (`next_deadline`)
        self._rounds: dict[str, Round] = {}
        #: the rounds that may still be judged, in `_rounds`' order: what every record's `_expire` and
        #: `next_deadline` look at, so their cost follows the rounds in play, not the session's length
        #: (decided rounds leave it lazily, rounds without calls at their response.done)
        self._undecided: dict[str, Round] = {}
        self._step_calls: dict[int, list[Call]] = {}  # expect step → the calls whose output it awaits
        self._calls: dict[str, Call] = {}
        self._item_to_call: dict[str, Call] = {}
        #: the client record whose meaning waits for the next record: the session notes a refusal
        #: (`Refused`) right after the client event, and a refused event did nothing
        self._pending: Record | None = None
        self._active: str | None = None
        self._active_at = -1  # record index of the active response's response.created
        self._user_input_at = -1  # record index of the latest user input (a message item, a committed turn)
        self._undeclared: set[str] = set()  # tools already reported as not declared (one finding says it)
        self._hearing = Hearing()
        self._steps = StepWatch(self.findings, self._undeclared, self._hearing)
        self._errors = ServiceErrors()  # which errors are findings, and about which client event
        self._explained: set[int] = set()  # client records already covered by a specific finding
        self._last_trigger: Record | None = None  # the last accepted round trigger, for R6
        self._closed_at: int | None = None  # the record index of the rtmock.closed note
        self._late_watch: Round | None = None  # the last round judged missing its create (R8: it may still come)
        self._replaced: list[Finding] = []  # findings that replaced one already handed out, since the last feed
        #: call_ids of function_call items the client put into the conversation itself (history it
        #: replays): the server accepts outputs for them, and no rule asks for one
        self._history_calls: set[str] = set()
        self._side: set[str] = set()  # out-of-band responses (conversation_id null): never the active one
        #: calls of a tool that was not in effect for their response: the real model could not have
        #: made them, so they are owed nothing (their tool-not-declared finding says why)
        self._uncallable: set[str] = set()
        #: the latest response's calls were all uncallable: the create the script then awaits for its
        #: round is owed nothing either
        self._round_uncallable = False
        self._output_items: dict[str, Call] = {}  # the conversation item of each call's output

    # ---- public interface ------------------------------------------------------------------------

    def feed(self, record: Record) -> list[Finding]:
        if self._pending is None:
            return self._feed(record)
        start = len(self.findings)
        self._take_pending(record)
        return self._since(start) + self._feed(record)

    def _take_pending(self, after: Record | None) -> None:
        """Read the client event that waited for the record `after` it (None: time passed, or the
        session ended): refused if `after` is the session's note that says so, else accepted."""
        pending, self._pending = self._pending, None
        assert pending is not None
        note = after.note if after is not None else None
        if isinstance(note, PreviousCancelled) and note.client_index == pending.index:
            self._previous_cancelled(note.response_id)
        self._client(pending, note if isinstance(note, Refused) and note.client_index == pending.index else None)
        self._due = self._earliest_bound()

    def _previous_cancelled(self, response_id: str) -> None:
        """A Voice Live response.create ends the active response before its own (`cancel_previous`):
        the create does not race it. After new user input (the user spoke or wrote meanwhile: a
        barge-in) it does not answer that response's calls either, and its response.done decides the
        rest (cancelled, as the mock sends: its calls are owed nothing, R9; completed, should a real
        service finish it after all: they are owed their outputs). Without new input it is the
        round's create, sent before the outputs (R5): the model answers without them."""
        rnd = self._rounds.get(response_id)
        if rnd is not None and self._user_input_at > self._active_at:
            rnd.superseded = True
        if self._active == response_id:
            self._active = None

    def _feed(self, record: Record) -> list[Finding]:
        if record.is_server_delta:  # thousands per response; no rule depends on one
            self.events += 1
            self.now = max(self.now, record.time)
            return []
        if record.direction is Direction.SERVER and record.type not in _SERVER_EVENTS_READ \
                and (self._due is None or record.time < self._due):
            self.events += 1  # no rule reads it, and no bound falls due: nothing can change
            self.now = max(self.now, record.time)
            return []
        start = len(self.findings)
        if self._due is not None and self._due <= record.time:  # else nothing can be decided yet
            self._expire(record.time)
        self.now = max(self.now, record.time)
        self.events += 1
        if record.direction is Direction.CLIENT:
            self._pending = record  # read with the record after it (see `_take_pending`)
        elif record.direction is Direction.SERVER:
            self._server(record)
        else:
            self._note(record)
        self._due = self._earliest_bound()
        return self._since(start)

    def settle(self) -> list[Finding]:
        """Every record of the session's moment is in: a client event that no refusal note
        followed was accepted. (Without this, the record after it tells.)"""
        if self._pending is None:
            return []
        start = len(self.findings)
        self._take_pending(None)
        return self._since(start)

    @property
    def awaiting_client(self) -> bool:
        """A tool round of this session still waits for the client (an output, or the create after
        them): a run must not end on another session's completion while it does."""
        return any(rnd.earliest() is not None for rnd in self._open_rounds())

    def next_deadline(self) -> float | None:
        """When the next bound comes due (session seconds), if any: call `advance` then."""
        return self._due

    def advance(self, now: float) -> list[Finding]:
        start = len(self.findings)
        if self._pending is not None:
            self._take_pending(None)
        self._expire(now)
        self.now = max(self.now, now)
        self._due = self._earliest_bound()
        return self._since(start)

    def _earliest_bound(self) -> float | None:
        """The earliest bound still running (worked out once per record, after it: every change to a
        bound happens while a record is fed or time advances)."""
        due = self._steps.earliest()
        if self._undecided:
            self._forget_decided()
            for rnd in self._undecided.values():
                if (when := rnd.earliest()) is not None and (due is None or when < due):
                    due = when
        return due

    def _since(self, start: int) -> list[Finding]:
        """The findings made since `findings` had `start` entries, and those that replaced an earlier
        one meanwhile (a late create replaces its missing-response-create): each handed out once."""
        found = self.findings[start:]
        if self._replaced:
            found = self._replaced + found
            self._replaced = []
        return found

    def finish(self, now: float | None = None, *, settle_pending: bool = True) -> SessionVerdict:
        """The session is over: whatever is still awaited will never come. With `settle_pending`
        False (rtmock stopped the client itself, after a finding), what was still within its bound
        is left undecided: its absence is our doing, not the client's."""
        if self._pending is not None:
            self._take_pending(None)
        if now is not None:
            self._expire(now)
            self.now = max(self.now, now)
            self._due = self._earliest_bound()
        if self.closed_by == "server":  # rtmock closed it (a scripted close, or shutting down): not the client's doing
            settle_pending = False
        if not settle_pending:
            return SessionVerdict(self.session_id, self.scenario_name, self.scenario_path, self.complete,
                                  list(self.findings), self.now, self.events)
        self._expire(float("inf"), at=self.now)
        self._due = self._earliest_bound()
        if not self.complete and not self.findings and self.closed_by in ("client", None):
            self._add(Rule.CLIENT_DISCONNECTED if self.closed_by == "client" else Rule.SCENARIO_MISMATCH,
                      "The session ended before the scenario completed." if self.closed_by == "client"
                      else "The scenario did not complete.",
                      None, None, unplayed=True)
        return SessionVerdict(self.session_id, self.scenario_name, self.scenario_path, self.complete,
                              list(self.findings), self.now, self.events)

    # ---- helpers ---------------------------------------------------------------------------------

    def _add(self, rule: Rule, message: str, hint: str | None, record: Record | None, *, call: Call | None = None,
             step: int | None = None, line: int | None = None, expected: str | None = None,
             seen: str | None = None, time: float | None = None, cut_short: bool = False,
             unplayed: bool = False) -> None:
        self.findings.append(Finding(
            rule=rule, message=message, hint=hint or RULE_SPECS[rule].fix, index=record.index if record else None,
            time=record.time if record else (time if time is not None else self.now),
            call_name=call.name if call else None, call_id=call.call_id if call else None,
            step=step, step_line=line, expected=expected, seen=seen, cut_short=cut_short, unplayed=unplayed))
        if record is not None and record.direction is Direction.CLIENT:
            self._explained.add(record.index)

    def _open_rounds(self) -> list[Round]:
        self._forget_decided()
        return [r for r in self._undecided.values() if r.calls]

    def _round(self, rid: str) -> Round:
        rnd = self._rounds.get(rid)
        if rnd is None:
            rnd = self._rounds[rid] = self._undecided[rid] = Round(rid, None, None)
        return rnd

    def _forget_decided(self) -> None:
        if all(rnd.open for rnd in self._undecided.values()):
            return
        self._undecided = {rid: rnd for rid, rnd in self._undecided.items() if rnd.open}

    # ---- server events ---------------------------------------------------------------------------

    def _server(self, record: Record) -> None:
        kind = record.type  # read from the wire text: the frames no rule reads are never parsed
        if kind not in _SERVER_EVENTS_READ:
            return
        if kind == "input_audio_buffer.speech_started":
            self._hearing.speech_started, self._hearing.speech_stopped, self._hearing.appends = record.index, False, 0
            return
        if kind == "input_audio_buffer.speech_stopped":
            self._hearing.speech_stopped = True
            return
        if kind == "session.created":  # once a session
            self._hearing.transcribes_only = ((record.event or {}).get("session") or {}).get("type") == "transcription"
            return
        event = record.event
        if event is None:
            return
        if kind == "response.created":
            response = event["response"]
            if "conversation_id" in response and response["conversation_id"] is None:
                self._side.add(response["id"])  # out of band: it may run beside the active response
            else:
                self._active = response["id"]
                self._active_at = record.index
        elif kind == "response.done":
            rid = event["response"]["id"]
            if self._active == rid:
                self._active = None
            rnd = self._rounds.get(rid)
            if rnd is not None and not rnd.calls:  # a response without calls is no round: nothing to judge
                del self._rounds[rid]
                self._undecided.pop(rid, None)
            elif rnd is not None:
                rnd.done_at = record.time
                for call in rnd.calls.values():
                    call.arguments_done = True  # (a cancelled call's arguments may stop short: they are done too)
                    if call.deadline is None:
                        call.deadline, call.bound = record.time + self.default_within, self.default_within
                # R9: a call of a cancelled response is owed nothing: no output (the call never
                # completed: its arguments may be cut short) and no response.create for the round.
                # The service asks for none; an output sent anyway is accepted, and not a finding.
                cancelled = event["response"].get("status") == "cancelled"
                rnd.step_on(Stimulus.CANCELLED if cancelled else Stimulus.DONE)
                rnd.arm_create(self.default_within)
        elif kind == "response.output_item.added":
            item = event.get("item", {})
            if item.get("type") == "function_call" and item.get("call_id") in self._uncallable:
                self._history_calls.add(item["call_id"])  # owed nothing: the real model could not have made it
            elif item.get("type") == "function_call":
                rid = event["response_id"]
                rnd = self._round(rid)
                call = self._calls.get(item["call_id"]) or Call(item["call_id"], item.get("name", "?"), item["id"], rid)
                rnd.calls[call.call_id] = call
                rnd.step_on(Stimulus.CALL_ADDED)
                self._calls[call.call_id] = call
                self._item_to_call[call.item_id] = call
        elif kind in ("conversation.item.added", "conversation.item.created", "conversation.item.done"):
            item = event.get("item", {})
            if item.get("type") == "function_call" and isinstance(item.get("call_id"), str) \
                    and item["call_id"] not in self._calls:
                self._history_calls.add(item["call_id"])  # the client's own, accepted by the server
            elif item.get("type") == "function_call_output" and isinstance(item.get("id"), str):
                answered = self._calls.get(item.get("call_id") or "")
                if answered is not None and answered.output_item_id is None:
                    answered.output_item_id = item["id"]
                    self._output_items[item["id"]] = answered
        elif kind == "response.function_call_arguments.done":
            if (done := self._calls.get(event.get("call_id") or "")) is not None:
                done.arguments_done = True
        elif kind == "input_audio_buffer.committed":
            self._last_trigger = None  # a user turn (the client's commit or the server VAD's): new input
            self._user_input_at = record.index
        elif kind == "conversation.item.deleted":
            if (deleted := self._output_items.get(event.get("item_id", ""))) is not None:
                deleted.output_deleted = True
        elif kind == "error":
            found = self._errors.finding(record, event.get("error") or {}, self._explained)
            if found is not None:
                self._add(found.rule, found.message, found.hint, found.record, expected=found.expected,
                          seen=found.seen)

    # ---- script notes ----------------------------------------------------------------------------

    def _note(self, record: Record) -> None:
        note = record.note if record.note is not None else read_note(record.event or {})
        if isinstance(note, StepReached):
            self._step_reached(note, record)
        elif isinstance(note, StepSkipped):  # the output of a cancelled call: owed nothing
            self._steps.matched(note.step)
        elif isinstance(note, StepMatched):
            self._steps.matched(note.step)
            for call in self._step_calls.get(note.step, ()):
                if call.step == note.step:
                    call.step_matched = True
        elif isinstance(note, ResponseStarted):
            rnd = self._round(note.response_id)
            rnd.step, rnd.line = note.step, note.line
            self._round_uncallable = False
            if note.tools is not None:
                self._tools_in_effect(note, record)
        elif isinstance(note, Refused):  # the error that follows answers this client event
            self._errors.refused(note)
        elif isinstance(note, ScenarioComplete):
            self.complete = True
        elif isinstance(note, Closed):
            self.closed_by = note.by
            self._closed_at = record.index
        elif isinstance(note, RelayStarted):
            self._errors.relayed()  # the real service behind `rtmock proxy`: its errors come when they come

    def _step_reached(self, note: StepReached, record: Record) -> None:
        """The script waits for a step, with the bound the session decided for it."""
        deadline = record.time + note.within
        if note.expect == "function_call_output" and note.call_id in self._uncallable:
            return  # owed nothing (`_tools_in_effect`)
        call = self._calls.get(note.call_id or "")
        if note.expect == "function_call_output" and call is not None:
            call.deadline, call.bound = deadline, note.within
            call.step, call.line, call.match = note.step, note.line, note.match
            self._step_calls.setdefault(note.step, []).append(call)
            if call.match:
                self._check_output_match(call, record)  # the output may have come before the step
            return
        if note.expect == "response.create" and self._round_uncallable:
            self._round_uncallable = False
            return  # the round of calls the app never got (`_tools_in_effect`)
        if note.expect == "response.create":
            waiting = [r for r in self._open_rounds() if r.create_step is None and r.done_at is not None]
            if waiting:
                rnd = waiting[-1]
                rnd.create_step, rnd.create_line = note.step, note.line
                rnd.create_within, rnd.create_reached = note.within, record.time
                rnd.create_match = note.match
                rnd.arm_create(self.default_within)
                return
        self._steps.reached(StepWait(note.step, note.line, note.expect, deadline, note.match,
                                     tools=list(note.tools or ())))

    def _tools_in_effect(self, note: ResponseStarted, record: Record) -> None:
        """The response calls a tool that was not among those in effect when the client asked for it
        (session.tools then, or the create's own response.tools): the real model could not call it."""
        missing = sorted({c.name for c in note.calls if c.name not in (note.tools or ())} - self._undeclared)
        barred = sorted({c.name for c in note.calls if c.name in (note.tools or ()) and note.tools_allowed is not None
                         and c.name not in note.tools_allowed} - self._undeclared)
        uncallable = {c.call_id for c in note.calls if c.name not in (note.tools or ()) or (
            note.tools_allowed is not None and c.name not in note.tools_allowed)}
        self._uncallable |= uncallable
        self._round_uncallable = bool(note.calls) and len(uncallable) == len(note.calls)
        if barred:  # declared, but the response's tool_choice rules it out
            self._undeclared.update(barred)
            self._add(Rule.TOOL_NOT_DECLARED,
                      f"The scenario's model calls {', '.join(barred)} in response {note.response_id}, but the "
                      f"tool_choice in effect for it was {note.tool_choice}: the real model could not have called "
                      "it, and the app never gets that call.",
                      "Let the model call the tool: tool_choice \"auto\" (the default), \"required\", or that "
                      "function, in session.update or in the response.create's response.", None, step=note.step,
                      line=note.line, expected=f"a tool_choice that allows {', '.join(barred)}",
                      seen=f"tool_choice {note.tool_choice}", time=record.time, unplayed=True)
        if not missing:
            return
        self._undeclared.update(missing)
        tools = ", ".join(note.tools or ()) or "none"
        given = (f"its response.create's response.tools gave {tools}" if note.tools_given_by == "response"
                 else f"the session's tools were {tools} when the client sent its response.create")
        self._add(Rule.TOOL_NOT_DECLARED,
                  f"The scenario's model calls {', '.join(missing)} in response {note.response_id}, but {given}: "
                  "the real model could not have called it, and the app never gets that call.",
                  None, None, step=note.step, line=note.line, expected=f"{', '.join(missing)} among the tools",
                  seen=tools, time=record.time, unplayed=True)

    # ---- deadlines -------------------------------------------------------------------------------

    def _expire(self, now: float, *, at: float | None = None) -> None:
        """Decide everything whose bound is at or before `now`."""
        for rnd in list(self._undecided.values()):
            if at is not None and rnd.refused_create is not None and rnd.done_at is None:
                self._expire_create(rnd, now, at)  # the session ended before the response did
            elif rnd.state in (RoundState.STREAMING, RoundState.OWES_OUTPUTS):
                self._expire_outputs(rnd, now, at)
            elif rnd.state is RoundState.OWES_CREATE:
                self._expire_create(rnd, now, at)
        self._forget_decided()
        self._steps.expire(now, at, self._ended_early)

    def _expire_outputs(self, rnd: Round, now: float, at: float | None) -> None:
        """R1/R8: each call past its bound without an output (the round closes on the first)."""
        overdue = [c for c in rnd.missing if c.deadline is not None and c.deadline <= now]
        if not overdue or rnd.step_on(Stimulus.OUTPUT_DUE) is not Rule.MISSING_OUTPUT:
            return
        for call in overdue:
            assert call.deadline is not None
            early = self._ended_early(call.deadline, at)
            within = f" within {call.bound:g}s" if call.bound is not None else ""
            self._add(Rule.MISSING_OUTPUT,
                      f"No function_call_output for call {call.name} ({call.call_id}){early or within}: the "
                      "model waits for the tool result and the app hangs.",
                      None, None, call=call, step=call.step or rnd.step, line=call.line or rnd.line,
                      expected="a function_call_output", seen="nothing",
                      time=at if early else call.deadline, cut_short=bool(early))

    def _expire_create(self, rnd: Round, now: float, at: float | None) -> None:
        """R4/R8: the round's outputs are in, and its create's bound passed (R6, when the only create
        the client sent came while the round's response was active, and was refused)."""
        deadline = rnd.create_deadline if rnd.done_at is not None else float("inf")
        if deadline is None or deadline > now:
            return
        refused = rnd.refused_create
        rule = rnd.step_on(Stimulus.REFUSED_CREATE_DUE if refused is not None else Stimulus.CREATE_DUE)
        if rule is None:
            return
        early = self._ended_early(deadline, at)
        within = f" within {deadline - rnd.create_from:g}s" if not early else ""
        call = next(iter(rnd.calls.values()))
        step, line, when = rnd.create_step or rnd.step, rnd.create_line or rnd.line, at if early else deadline
        if rule is Rule.CREATE_WHILE_ACTIVE:
            assert refused is not None  # the table makes this finding only for a refused create
            self._add(rule,
                      f"The response.create in event #{refused.index} was sent while response {rnd.response_id}, which "
                      "called the tool, was still active (before its response.done); the server refused it with "
                      "conversation_already_has_active_response, and no response.create followed"
                      f"{early or within + ' of response.done'}: the model stays silent.",
                      "Send response.create after response.done of the calling response (the real service usually "
                      "sends it right after arguments.done, so this race is intermittent there), or send it again "
                      "when the refusal comes.", refused if early else None, call=call,
                      expected="response.create after response.done",
                      seen=f"response.create during the response (event #{refused.index}), refused", step=step,
                      line=line, time=deadline)  # never cut short: the refusal came first, whatever the client did next
        else:
            outs = sorted(c.output_index for c in rnd.calls.values() if c.output_index is not None)
            what = (f"call {call.name} ({call.call_id})" if len(rnd.calls) == 1 else f"the {len(rnd.calls)} calls "
                    + ", ".join(f"{c.name} ({c.call_id})" for c in rnd.calls.values()))
            side = rnd.out_of_band_create
            self._add(rule,
                      f"The client sent the output for {what} (last: event #{outs[-1]}) but no response.create followed"
                      f"{early or within}: the model stays silent and the app hangs (the real service gives no "
                      "error for this)." + (
                          f" The response.create in event #{side.index} does not count: it asked for an out-of-band "
                          "response (response.conversation \"none\"), which runs beside the conversation and does "
                          "not answer the tool round." if side is not None else ""),
                      "Send a response.create without conversation \"none\" for the round (an out-of-band one, for "
                      "a side request, is not it)." if side is not None else None,
                      None, call=call if len(rnd.calls) == 1 else None,
                      expected="response.create after the output(s)",
                      seen=f"only an out-of-band response.create (event #{side.index})" if side is not None else "nothing",
                      step=step, line=line, time=when, cut_short=bool(early))
        rnd.missed_at = len(self.findings) - 1
        if not early:  # R8: should the create still come (rtmock serve, a transcript), it was late
            self._late_watch = rnd

    def _ended_early(self, deadline: float, at: float | None) -> str:
        """When the session ended before a bound: the words that say so (else empty)."""
        if at is None or at >= deadline:
            return ""
        if self.closed_by == "client" and self._closed_at is not None:
            return f" before the client closed the session (event #{self._closed_at})"
        return " before the session ended"


#: The server events the rules read (`_server`); every other frame is only counted.
_SERVER_EVENTS_READ = frozenset({
    "response.created", "response.done", "response.output_item.added", "response.function_call_arguments.done", "conversation.item.added",
    "conversation.item.created", "conversation.item.done", "input_audio_buffer.committed",
    "conversation.item.deleted", "error", "input_audio_buffer.speech_started", "input_audio_buffer.speech_stopped",
    "session.created"})
