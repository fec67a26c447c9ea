"""One realtime session, without I/O: client frames in, server frames and notes out.

`SessionCore` is fed client frames (`receive`) and the passing of time (`advance`); it returns the
`Action`s the I/O layer must carry out (send a frame, close the socket) and reports every record —
each client frame, each server frame, each script note — to its `on_record` callback in the order
they happened. The live server and the tests drive the same core.

The scenario script runs as a generator over the steps. Consecutive `expect` steps form a group,
matched in any order by accepted client events (rejected events never count); a `respond` step
plays a response, answering the `response.create` its group consumed. A `response.create` that no
step awaits still gets a (short, empty) response, as the real model would answer; one that comes
while a response is active gets the service's `conversation_already_has_active_response` error,
unless it is out of band (`conversation: "none"`): that one runs beside it, and meets only a step
whose `match:` names `response.conversation`.

Voice turns (server VAD, `turns.py`) are the server's own response.create; one detected after a
tool round is a new user turn, never the round's create. Speech while a response is active cancels
it (`turn_detected`), as `response.cancel` does (`client_cancelled`): the item in flight goes out
`incomplete`, and the calls of a cancelled response are owed nothing, so the steps awaiting their
outputs are skipped.

Here: `SessionCore` (its interface to the I/O layer, its records and output, the script it runs)
and the actions it returns. Its parts, each in its own module:
- `_client_handling.py`: what each accepted client event does, and the server VAD's turns (a mixin
  of `SessionCore`: it reaches into most of the core);
- `_refusals.py`: which well-formed client events the session's state refuses, in the service's words;
- `_expectations.py`: the accepted client events held for the script, matched to its expect steps;
- `_responses.py`: responses opened, streamed and closed (their objects, calls, usage, rate limits);
- `_user_audio.py`: the user's audio buffered, its turns committed and transcribed.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any

from ..scenario.loader import LoadedScenario
from ..scenario.model import (
    CloseStep,
    ExpectStep,
    PauseStep,
    RespondStep,
    SendStep,
)
from ._client_handling import ClientEventHandling, merge_update
from ._expectations import (
    Expectation,
    Group,
    HeldEvents,
    ToolsInEffect,
    fits,
    may_meet,
    out_of_band,
    out_of_band_awaited,
    tools_in_effect,
)
from ._responses import STATUS_DETAILS, Responses
from ._user_audio import MIN_COMMIT_BYTES as MIN_COMMIT_BYTES  # (tests read it here)
from ._user_audio import UserAudio
from .client_events import Rejection, validate_client_event
from .conversation import ActiveResponse, Conversation
from .events import Dialect, EventFactory, IdSource, encode
from .notes import (
    Closed,
    Note,
    Refused,
    ResponseStarted,
    ResponseUnscripted,
    ScenarioComplete,
    StepMatched,
    StepSkipped,
    step_reached,
)
from .records import Direction, Record
from .streams import OutputStreams

__all__ = ["Action", "Close", "ConnectionRefusal", "Send", "SendRun", "SessionCore"]


@dataclass(slots=True)  # not frozen: frozen dataclasses are slow to build, and one is built per frame
class Send:
    text: str


@dataclass(frozen=True, slots=True)
class Close:
    code: int
    reason: str


@dataclass(slots=True)
class SendRun:
    """Delta frames emitted back to back, in order: the server may hand them to the socket together
    (`coalesce.py`). Each is still its own frame and its own record."""

    texts: list[str]


Action = Send | SendRun | Close


@dataclass(frozen=True, slots=True)
class ConnectionRefusal:
    """The service upgrades some connections only to refuse them: one `error` event, then a close
    (e.g. the retired beta protocol on OpenAI's endpoint)."""

    code: str | None  # the service sends a null code for some (a missing key)
    message: str
    close_code: int

    @property
    def reason(self) -> str:
        """The close reason the service gives: `<error type>.<code>`."""
        return "invalid_request_error" + (f".{self.code}" if self.code else "")


@dataclass(slots=True)
class _Sleep:
    until: float


_Wait = _Sleep | Group


@dataclass(eq=False)
class SessionCore(ClientEventHandling):
    scenario: LoadedScenario
    dialect: Dialect
    on_record: Callable[[Record], None]
    ids: IdSource = field(default_factory=IdSource)
    model: str = "gpt-realtime"
    started: float = 0.0
    refusal: ConnectionRefusal | None = None
    #: a connection with `?intent=transcription`: a transcription session, not a realtime one
    transcription: bool = False
    #: the bound of expect steps that give none (`rtmock run --within`); else the scenario's default.
    #: Each step's effective bound is decided here once and noted; the judge takes it from the note.
    default_within: float | None = None

    def __post_init__(self) -> None:
        self.events = EventFactory(self.dialect, self.ids)
        self.conversation = Conversation()
        self.session = self.events.default_session(self.model, transcription=self.transcription)
        merge_update(self.session, self.scenario.scenario.session)  # a scenario's `session:` merges as an update does
        self.complete = False
        self.closed = False
        self._index = 0
        self._client_index = -1  # the record of the client event being handled (what `_reject` refuses)
        self._now = self.started
        self._out: list[Action] = []
        #: accepted client events the script may still take, by the type of event (`takes`)
        self._held = HeldEvents(self.scenario.scenario.steps)
        self._script: Generator[_Wait, None, None] | None = None
        self._wait: _Wait | None = None
        self._user_audio = UserAudio(self.events, self.ids, self.conversation, self.session, self.dialect,
                                     self.scenario.scenario.steps)
        self._streams = OutputStreams(self.events, self.conversation, self._emit, self._emit_delta)
        self._responses = Responses(self.events, self.ids, self.conversation, self.session, self.dialect)
        self._position = 0  # the step the script is at
        self._playing: ActiveResponse | None = None  # the response the script is streaming

    # ---- the I/O layer's interface ---------------------------------------------------------------

    def start(self, now: float) -> list[Action]:
        """The connection is upgraded: send session.created and run the script to its first wait."""
        self._now = now
        if self.refusal is not None:
            refusal = self.refusal
            self._emit(self.events.error(refusal.code, refusal.message, None, None))
            self._note(Closed("server", refusal.close_code, refusal.reason, refused=refusal.code))
            self._out.append(Close(refusal.close_code, refusal.reason))
            self.closed = True
            return self._flush()
        self._emit(self.events.session_created(self.session))
        self._script = self._run_script()
        self._pump()
        return self._flush()

    def receive(self, text: str, now: float) -> list[Action]:
        """A client text frame (any content: invalid frames are answered, not raised)."""
        self._now = now
        if self.closed:
            return []
        event = validate_client_event(text, self.dialect.value)
        index = self._client_index = self._record(Direction.CLIENT, event if isinstance(event, dict) else None,
                                                  None if isinstance(event, dict) else text)
        if isinstance(event, Rejection):
            self._reject(event)
        else:
            self._handle(event, index)
        self._pump()
        return self._flush()

    def receive_binary(self, data: bytes, now: float) -> list[Action]:
        self._now = now
        if self.closed:
            return []
        self._client_index = self._record(Direction.CLIENT, None, f"(binary frame, {len(data)} bytes)")
        self._reject(Rejection("invalid_json", "Binary frames are not supported. Send each event as a JSON text frame."))
        return self._flush()

    def advance(self, now: float) -> list[Action]:
        """Time passed: resume the script if what it sleeps on is due."""
        self._now = now
        self._pump()
        return self._flush()

    @property
    def next_deadline(self) -> float | None:
        return self._wait.until if isinstance(self._wait, _Sleep) else None

    def client_closed(self, now: float, code: int | None, reason: str = "", *, by: str = "client") -> None:
        """The connection is gone: closed by the client (or lost), or `by="server"` when rtmock itself
        is shutting down."""
        self._now = now
        if not self.closed:
            self.closed = True
            self._note(Closed(by, code, reason, complete=self.complete))

    def note(self, now: float, note: Note) -> None:
        """A note from the I/O layer (e.g. a frame that was too large), in the session's order."""
        self._now = now
        self._note(note)

    def release(self) -> None:
        """The connection is over and its records are delivered: let go of what makes the core a
        reference cycle (a script stopped mid-way is a generator whose frame holds the core; the
        output streams hold its bound methods; the record callback may hold what holds the core),
        so that the session is freed at once by reference counting, with all it holds, not later
        by the cyclic collector. What the session was (`complete`, `session`, ...) stays readable."""
        self.closed = True
        if self._script is not None:
            self._script.close()
        self._script = self._wait = None
        self._streams.detach()
        self.on_record = _after_release

    # ---- records and output ----------------------------------------------------------------------

    def _record(self, direction: Direction, event: dict[str, Any] | None, raw: str | None = None,
                text: str | None = None) -> int:
        index = self._index
        self._index += 1
        self.on_record(Record(index, self._now - self.started, direction, event, raw, text))
        return index

    def _emit(self, event: dict[str, Any]) -> None:
        """Send a server event. It may hold live state (the session, an item, a response): it is
        encoded at once, and the record keeps only the wire text (`Record.event` parses it back),
        so later changes to that state never reach what the record says was sent."""
        text = encode(event)
        index = self._index
        self._index = index + 1
        self.on_record(Record(index, self._now - self.started, Direction.SERVER, None, None, text, kind=event["type"]))
        self._out.append(Send(text))

    def _emit_delta(self, text: str) -> None:
        """`_emit` for a delta, given as its wire text: the hot path, thousands per response,
        joined into runs."""
        index = self._index
        self._index = index + 1
        self.on_record(Record(index, self._now - self.started, Direction.SERVER, None, None, text, True))
        out = self._out
        if out and type(last := out[-1]) is SendRun:
            last.texts.append(text)
        else:
            out.append(SendRun([text]))

    def _note(self, note: Note) -> None:
        index = self._index
        self._index += 1
        self.on_record(Record(index, self._now - self.started, Direction.SCRIPT, note=note))

    def _flush(self) -> list[Action]:
        out, self._out = self._out, []
        return out

    def _reject(self, why: Rejection) -> None:
        """Refuse the client event just recorded: a note says so (the judge reads it, rather than
        working out the session's state again), then the service's error event."""
        self._note(Refused(self._client_index, why.code, why.param, why.not_played))
        self._emit(self.events.error(why.code, why.message, why.param, why.event_id))

    # ---- the script ------------------------------------------------------------------------------

    def _offer(self, index: int, event: dict[str, Any]) -> None:
        """An accepted client event: a candidate for the current (or a later) expect group. Held
        only if a step from the script's position on can take it; a response.create always is,
        as one no group takes is still answered (`_answer_held_creates`)."""
        tools = tools_in_effect(event, self.session) if event["type"] == "response.create" else None
        self._held.hold(index, event, None if self.complete else self._position, tools)
        if isinstance(self._wait, Group):
            self._match(self._wait)

    def _offer_create(self, event: dict[str, Any], index: int) -> bool:
        """True when the script takes this response.create (now or at its next group)."""
        if self._script is None or self.complete:
            return False
        if isinstance(self._wait, Group):
            group = self._wait
            if not any(e.open and may_meet(e, event, group) for e in group.expectations):
                return False
        elif out_of_band(event) and not out_of_band_awaited(self.scenario.scenario.steps, self._position):
            return False  # a side response runs beside whatever the script is doing: answer it now
        self._offer(index, event)
        return True

    def _match(self, group: Group) -> None:
        """Match the held client events to the group's open steps; note each step met."""
        for met, index in self._held.match(group, self._fits):
            self._note(StepMatched(met.step + 1, self.scenario.step_lines[met.step], index))

    #: Whether an event fits an expectation (`_expectations.fits`); an attribute of the core, so
    #: that a test can count the tries (tests/test_flood.py).
    _fits = staticmethod(fits)

    def _skip_cancelled(self, group: Group) -> None:
        """Skip the group's steps that await outputs of cancelled calls (`Group.skip_cancelled`)."""
        for skipped in group.skip_cancelled(self.conversation.cancelled_calls):
            self._note(StepSkipped(skipped.step + 1, self.scenario.step_lines[skipped.step],
                                   skipped.spec.expect, skipped.call_id, "cancelled"))

    def _pump(self) -> None:
        """Resume the script while what it waits for has happened."""
        while self._script is not None and not self.closed:
            wait = self._wait
            if isinstance(wait, _Sleep) and wait.until > self._now:
                return
            if isinstance(wait, Group) and not wait.done:
                return
            try:
                self._wait = next(self._script)
            except StopIteration:
                self._script = None
                self._wait = None
                self.complete = True
                self._note(ScenarioComplete())
                self._answer_held_creates()
                return

    def _answer_held_creates(self) -> None:
        """Creates held while no group was waiting, that the group now reached does not take (or
        that no group will, the script being over), still deserve an answer; unless the script
        ended by closing the connection: nothing goes out after the close frame."""
        if self.closed:
            return
        held = self._held.get("response.create")
        if held is None:
            return
        for c in held.unconsumed():
            if not c.consumed and (self.conversation.active is None or out_of_band(c.event)):
                c.consumed = True
                self._play_unscripted(c.event)
        held.compact()

    def _run_script(self) -> Generator[_Wait, None, None]:
        steps = self.scenario.scenario.steps
        default_within = self.default_within if self.default_within is not None \
            else self.scenario.scenario.defaults.within
        i = 0
        trigger: dict[str, Any] | None = None
        trigger_tools: ToolsInEffect | None = None
        called_tools = False  # the last response played had function calls
        while i < len(steps):
            step = steps[i]
            self._position = i
            if isinstance(step, ExpectStep):
                group = Group([], after_tools=called_tools)
                called_tools = False
                while i < len(steps) and isinstance(steps[i], ExpectStep):
                    spec = steps[i]
                    assert isinstance(spec, ExpectStep)
                    ref = self.scenario.output_calls.get(i)
                    call_id = self._responses.call_id(ref.step, ref.part) if ref else None
                    expectation = Expectation(i, spec, call_id)
                    group.expectations.append(expectation)
                    if call_id is not None and call_id in self.conversation.cancelled_calls:
                        self._skip_cancelled(group)
                        i += 1
                        continue
                    self._note(step_reached(self.scenario, i, call_id, default_within))
                    i += 1
                group.after_tools = group.after_tools or any(
                    e.spec.expect == "function_call_output" and not e.skipped for e in group.expectations)
                self._match(group)
                self._answer_held_creates()
                yield group
                trigger, trigger_tools = group.trigger, group.trigger_tools
            elif isinstance(step, RespondStep):
                yield from self._play_response(i, step, trigger, trigger_tools or tools_in_effect(trigger, self.session))
                # a tool round follows, unless the response was cancelled: its calls are owed nothing
                called_tools = any(call not in self.conversation.cancelled_calls for call in self._responses.calls_of(i, step))
                trigger, trigger_tools = None, None
                i += 1
            elif isinstance(step, PauseStep):
                yield _Sleep(self._now + step.pause)
                i += 1
            elif isinstance(step, SendStep):
                if isinstance(step.send, str):
                    self._record(Direction.SERVER, None, step.send)
                    self._out.append(Send(step.send))
                else:
                    self._emit(dict(step.send))
                i += 1
            elif isinstance(step, CloseStep):
                plan = step.plan
                self._note(Closed("server", plan.code, plan.reason, step=i + 1))
                self._out.append(Close(plan.code, plan.reason))
                self.closed = True
                return  # the script ends with the connection; `_pump` notes it complete

    # ---- responses -------------------------------------------------------------------------------

    def _start_response(self, trigger: dict[str, Any] | None) -> ActiveResponse:
        return self._responses.start(trigger, self._emit)

    def _finish_response(self, active: ActiveResponse, status: str, details: dict[str, Any] | None = None,
                         scripted_usage: Any = None) -> None:
        self._responses.finish(active, status, details, scripted_usage, elapsed=self._now - self.started,
                               emit=self._emit)

    def _cancel(self, active: ActiveResponse, reason: str) -> None:
        """End a response early (`client_cancelled`, or `turn_detected` when the user barges in): the
        item in flight goes out `incomplete`, then response.done `cancelled`. Its function calls,
        finished or not, are owed no output (`conversation.cancelled_calls`)."""
        self._streams.cut_short(active)
        self.conversation.cancelled_calls.update(active.calls)
        self._finish_response(active, "cancelled", {"type": "cancelled", "reason": reason})
        if self._playing is active and isinstance(self._wait, _Sleep):
            # the cancelled response's delta pause or `hold`: the response is over, so is its wait
            self._wait = _Sleep(self._now)
        if isinstance(self._wait, Group):
            self._skip_cancelled(self._wait)

    def _play_unscripted(self, trigger: dict[str, Any]) -> None:
        """A response.create the scenario does not await: answer with an empty completed response."""
        active = self._start_response(trigger)
        self._note(ResponseUnscripted(active.id, active.out_of_band))
        self._finish_response(active, "completed")

    def _play_response(self, step_index: int, step: RespondStep, trigger: dict[str, Any] | None,
                       tools: ToolsInEffect) -> Generator[_Wait, None, None]:
        active = self._start_response(trigger)
        self._playing = active
        try:
            calls = self._responses.plan_calls(active, step_index, step)
            # the tools are noted where the scenario names the ones the client must make available
            declared = tools if self.scenario.scenario.tools else None
            self._note(ResponseStarted(step_index + 1, self.scenario.step_lines[step_index], active.id, calls,
                                       active.out_of_band, declared.names if declared else None,
                                       declared.given_by if declared else None,
                                       declared.allowed if declared else None, declared.choice if declared else None))
            for pause in self._responses.stream(active, step_index, step, self._streams, self._emit):
                yield _Sleep(self._now + pause)
            if not active.cancelled:
                self._finish_response(active, step.status, STATUS_DETAILS.get(step.status), step.usage)
        finally:
            self._playing = None


def _after_release(record: Record) -> None:
    """The record callback of a released session: nothing more is recorded."""
