"""One realtime session, without I/O: client frames in, server frames and notes out.

`SessionCore` is fed client frames (`receive`) and the passing of time (`advance`); it returns the
`Action`s the I/O layer must carry out (send a frame, close the socket) and reports every record —
each client frame, each server frame, each script note — to its `on_record` callback in the order
they happened. The live server and the tests drive the same core.

The scenario script runs as a generator over the steps. Consecutive `expect` steps form a group,
matched in any order by accepted client events (rejected events never count); a `respond` step
plays a response, answering the `response.create` its group consumed. A `response.create` that no
step awaits still gets a (short, empty) response, as the real model would answer; one that comes
while a response is active gets the service's `conversation_already_has_active_response` error.
"""

from __future__ import annotations

import base64
import binascii
import copy
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any

from .client_events import Rejection, validate_client_event
from .conversation import ActiveResponse, Conversation
from .events import Dialect, EventFactory, IdSource, encode, split_text
from .loader import LoadedScenario
from .matching import matches
from .records import Direction, Record
from .scenario import (
    AudioPart,
    CloseStep,
    ExpectStep,
    FunctionCallPart,
    PauseStep,
    RespondStep,
    SendStep,
    TextPart,
)
from .streams import OutputStreams
from .vad import VoiceActivity
from .voicelive import UNSCRIPTED as VOICE_LIVE_UNSCRIPTED
from .voicelive import VAD_TYPES as VOICE_LIVE_VAD_TYPES

__all__ = ["Action", "Close", "ConnectionRefusal", "Send", "SendRun", "SessionCore"]

#: Audio shorter than this cannot be committed (the service's rule: 100 ms of 24 kHz PCM16).
MIN_COMMIT_BYTES = 4800


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


@dataclass(slots=True)
class _Expectation:
    step: int
    spec: ExpectStep
    call_id: str | None  # for function_call_output: the call's wire call_id
    matched_by: int | None = None  # record index of the client event that met it


@dataclass(slots=True)
class _Group:
    expectations: list[_Expectation]
    trigger: dict[str, Any] | None = None  # the response.create this group consumed

    @property
    def done(self) -> bool:
        return all(e.matched_by is not None for e in self.expectations)


@dataclass(slots=True)
class _Candidate:
    index: int
    event: dict[str, Any]
    consumed: bool = False


_Wait = _Sleep | _Group


@dataclass(eq=False)
class SessionCore:
    scenario: LoadedScenario
    dialect: Dialect
    on_record: Callable[[Record], None]
    ids: IdSource = field(default_factory=IdSource)
    model: str = "gpt-realtime"
    started: float = 0.0
    refusal: ConnectionRefusal | None = None
    #: the bound of expect steps that give none (`rtmock run --within`); else the scenario's default.
    #: Each step's effective bound is decided here once and noted; the judge takes it from the note.
    default_within: float | None = None

    def __post_init__(self) -> None:
        self.events = EventFactory(self.dialect, self.ids)
        self.conversation = Conversation()
        self.session = self.events.default_session(self.model)
        _merge(self.session, self.scenario.scenario.session)  # a scenario's `session:` merges as an update does
        self.complete = False
        self.closed = False
        self._index = 0
        self._now = self.started
        self._out: list[Action] = []
        self._candidates: list[_Candidate] = []
        self._script: Generator[_Wait, None, None] | None = None
        self._wait: _Wait | None = None
        self._call_ids: dict[tuple[int, int], str] = {}  # (step, part) → wire call_id
        self._vad = VoiceActivity()
        self._streams = OutputStreams(self.events, self.conversation, self._emit, self._emit_delta)
        self._speech_item: str | None = None  # the item id announced by speech_started

    # ---- the I/O layer's interface ---------------------------------------------------------------

    def start(self, now: float) -> list[Action]:
        """The connection is upgraded: send session.created and run the script to its first wait."""
        self._now = now
        if self.refusal is not None:
            refusal = self.refusal
            self._emit(self.events.error(refusal.code, refusal.message, None, None))
            self._note("rtmock.closed", by="server", code=refusal.close_code, reason=refusal.reason,
                       refused=refusal.code)
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
        index = self._record(Direction.CLIENT, event if isinstance(event, dict) else None,
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
        self._record(Direction.CLIENT, None, f"(binary frame, {len(data)} bytes)")
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
            self._note("rtmock.closed", by=by, code=code, reason=reason, complete=self.complete)

    def note(self, now: float, kind: str, **fields: Any) -> None:
        """A note from the I/O layer (e.g. a frame that was too large), in the session's order."""
        self._now = now
        self._note(kind, **fields)

    # ---- records and output ----------------------------------------------------------------------

    def _record(self, direction: Direction, event: dict[str, Any] | None, raw: str | None = None,
                text: str | None = None) -> int:
        index = self._index
        self._index += 1
        self.on_record(Record(index, self._now - self.started, direction, event, raw, text))
        return index

    def _emit(self, event: dict[str, Any]) -> None:
        text = encode(event)
        self._record(Direction.SERVER, event, text=text)
        self._out.append(Send(text))

    def _emit_delta(self, event: dict[str, Any], text: str) -> None:
        """`_emit` for a delta, the hot path: thousands per response, joined into runs."""
        index = self._index
        self._index = index + 1
        self.on_record(Record(index, self._now - self.started, Direction.SERVER, event, None, text, True))
        out = self._out
        if out and type(last := out[-1]) is SendRun:
            last.texts.append(text)
        else:
            out.append(SendRun([text]))

    def _note(self, kind: str, **fields: Any) -> None:
        self._record(Direction.SCRIPT, {"type": kind, **fields})

    def _flush(self) -> list[Action]:
        out, self._out = self._out, []
        return out

    def _reject(self, why: Rejection) -> None:
        self._emit(self.events.error(why.code, why.message, why.param, why.event_id))

    # ---- client events ---------------------------------------------------------------------------

    def _handle(self, event: dict[str, Any], index: int) -> None:
        kind = event["type"]
        event_id = event.get("event_id")
        conv = self.conversation
        if kind == "session.update":
            _merge(self.session, event["session"])
            self._emit(self.events.session_updated(self.session))
        elif kind == "conversation.item.create":
            if not self._create_item(event, event_id):
                return
        elif kind == "response.create":
            if conv.active is not None:
                self._reject(Rejection(
                    "conversation_already_has_active_response",
                    f"Conversation already has an active response in progress: {conv.active.id}. "
                    "Wait until the response is finished before creating a new one.",
                    None, event_id))
                return
            if not self._offer_create(event, index):
                self._play_unscripted(event)
            return
        elif kind == "response.cancel":
            wanted = event.get("response_id")
            if conv.active is None or (wanted and wanted != conv.active.id):
                self._reject(Rejection("response_cancel_not_active", "Cancellation failed: no active response found.", None, event_id))
                return
            self._finish_response(conv.active, "cancelled", {"type": "cancelled", "reason": "client_cancelled"})
            if isinstance(self._wait, _Sleep):
                # the cancelled response's delta pause or `hold`: the response is over, so is its wait
                self._wait = _Sleep(self._now)
        elif kind == "input_audio_buffer.append":
            try:
                audio = base64.b64decode(event["audio"], validate=True)
            except (binascii.Error, ValueError):
                self._reject(Rejection("invalid_value", "Invalid value for 'audio': expected base64-encoded audio.", "audio", event_id))
                return
            conv.audio_bytes += len(audio)
            self._offer(index, event)
            self._listen(audio, index)
            return
        elif kind == "input_audio_buffer.commit":
            if conv.audio_bytes < MIN_COMMIT_BYTES:
                ms = conv.audio_bytes / 48
                self._reject(Rejection(
                    "input_audio_buffer_commit_empty",
                    f"Error committing input audio buffer: buffer too small. Expected at least 100ms of audio, "
                    f"but buffer only has {ms:.2f}ms of audio.", None, event_id))
                return
            self._commit_audio(self.ids.new("item"))
        elif kind == "input_audio_buffer.clear":
            conv.audio_bytes = 0
            self._vad.clear()
            self._speech_item = None
            self._emit(self.events.audio_cleared())
        elif kind in ("conversation.item.retrieve", "conversation.item.delete", "conversation.item.truncate"):
            if (refused := self._item_refusal(event)) is not None:
                self._reject(refused)
                return
            item_id = event["item_id"]
            if kind == "conversation.item.retrieve":
                self._emit(self.events.item_retrieved(conv.items[item_id]))
            elif kind == "conversation.item.delete":
                conv.delete(item_id)
                self._emit(self.events.item_deleted(item_id))
            else:
                conv.audio_ms[item_id] = event["audio_end_ms"]
                self._emit(self.events.item_truncated(item_id, event["content_index"], event["audio_end_ms"]))
        elif kind == "transcription_session.update":
            self._reject(Rejection("unsupported", "rtmock does not script transcription sessions.", "type", event_id))
            return
        elif kind in VOICE_LIVE_UNSCRIPTED:
            self._reject(Rejection("unsupported", f"rtmock does not script {VOICE_LIVE_UNSCRIPTED[kind]} ({kind}).",
                                   "type", event_id))
            return
        self._offer(index, event)

    def _item_refusal(self, event: dict[str, Any]) -> Rejection | None:
        """Why the service refuses a retrieve, delete or truncate (codes and texts as observed:
        docs/protocol-notes.md); None when it carries it out."""
        kind, item_id, event_id = event["type"], event["item_id"], event.get("event_id")
        item = self.conversation.items.get(item_id)
        if item is None:
            verb = kind.rsplit(".", 1)[1]
            if verb == "truncate":
                return Rejection("item_truncate_invalid_item_id", f"Item with item_id not found: {item_id}", None, event_id)
            doing = {"retrieve": "retrieving", "delete": "deleting"}[verb]
            return Rejection(f"item_{verb}_invalid_item_id",
                             f"Error {doing} item: the item with id '{item_id}' does not exist.", None, event_id)
        if kind != "conversation.item.truncate":
            return None
        # "Only assistant message items can be truncated"; "If the audio_end_ms is greater than the
        # actual audio duration, the server will respond with an error" (openai ConversationItemTruncateEvent)
        audio_ms = self.conversation.audio_ms.get(item_id)
        if item.get("role") != "assistant" or audio_ms is None:
            return Rejection("unsupported_content_type", "Only model output audio messages can be truncated",
                             None, event_id)
        if event["content_index"] != 0:
            return Rejection("invalid_value", f"Invalid value: {event['content_index']}. The item has one content "
                             "part: content_index must be 0.", "content_index", event_id)
        if event["audio_end_ms"] > audio_ms:
            return Rejection("invalid_value", f"Audio content of {audio_ms}ms is already shorter than "
                             f"{event['audio_end_ms']}ms", None, event_id)
        return None

    # ---- server VAD ------------------------------------------------------------------------------

    def _turn_detection(self) -> dict[str, Any] | None:
        """The session's turn detection, where its dialect keeps it (None: the client commits turns)."""
        if self.dialect.beta_shaped:
            found = self.session.get("turn_detection")
            pcm = self.session.get("input_audio_format", "pcm16") == "pcm16"
        else:
            audio_in = (self.session.get("audio") or {}).get("input") or {}
            found = audio_in.get("turn_detection")
            pcm = ((audio_in.get("format") or {}).get("type") or "audio/pcm") == "audio/pcm"
        listening = VOICE_LIVE_VAD_TYPES if self.dialect is Dialect.VOICE_LIVE else ("server_vad", "semantic_vad")
        if not isinstance(found, dict) or found.get("type") not in listening or not pcm:
            return None  # (G.711 audio is counted, not listened to)
        return found

    def _listen(self, audio: bytes, index: int) -> None:
        """Appended audio under server VAD: speech, then enough silence, is a user turn the server
        commits and (with `create_response`) answers without a client response.create."""
        detection = self._turn_detection()
        if detection is None:
            return
        silence = detection.get("silence_duration_ms")
        # defaults: 200 ms (OpenAI's server_vad), 500 ms (semantic_vad; every Voice Live type)
        quick = detection["type"] == "server_vad" and self.dialect is not Dialect.VOICE_LIVE
        self._vad.silence_ms = int(silence) if isinstance(silence, int) else (200 if quick else 500)
        for edge in self._vad.feed(audio):
            if edge.started:
                self._speech_item = self.ids.new("item")
                self._emit(self.events.speech_started(edge.audio_ms, self._speech_item))
                continue
            item_id = self._speech_item or self.ids.new("item")
            self._speech_item = None
            self._emit(self.events.speech_stopped(edge.audio_ms, item_id))
            self._commit_audio(item_id)
            if detection.get("create_response", True) and self.conversation.active is None:
                turn = {"type": "response.create", "rtmock": "server_vad"}  # the service's own create
                self._note("rtmock.vad_turn", client_index=index, audio_end_ms=edge.audio_ms)
                if not self._offer_create(turn, index):
                    self._play_unscripted(turn)

    def _commit_audio(self, item_id: str) -> None:
        conv = self.conversation
        item: dict[str, Any] = {"id": item_id, "object": "realtime.item", "type": "message", "status": "completed",
                                "role": "user", "content": [{"type": "input_audio", "transcript": None}]}
        previous = conv.add(item)
        conv.audio_bytes = 0
        self._emit(self.events.audio_committed(item["id"], previous))
        for echo in self.events.item_added(item, previous) + self.events.item_done(item, previous):
            self._emit(echo)

    def _create_item(self, event: dict[str, Any], event_id: str | None) -> bool:
        conv = self.conversation
        item = copy.deepcopy(event["item"])
        previous = event.get("previous_item_id")
        if previous is not None and not conv.knows(previous):
            self._reject(Rejection("invalid_value", f"Invalid value: '{previous}'. previous_item_id does not name an item "
                                   "of this conversation.", "previous_item_id", event_id))
            return False
        if "id" in item and item["id"] in conv.items:
            self._reject(Rejection("invalid_value", f"Item with id '{item['id']}' already exists.", "item.id", event_id))
            return False
        if item["type"] == "function_call_output" and item["call_id"] not in conv.calls:
            self._reject(Rejection("invalid_tool_call_id", f"Tool call ID '{item['call_id']}' not found in conversation.",
                                   "item.call_id", event_id))
            return False
        item.setdefault("id", self.ids.new("item"))
        item.setdefault("object", "realtime.item")
        item["status"] = "completed"
        if item["type"] == "message":
            item.setdefault("content", [])
        after = conv.add(item, previous)
        for echo in self.events.item_added(item, after) + self.events.item_done(item, after):
            self._emit(echo)
        return True

    # ---- the script ------------------------------------------------------------------------------

    def _offer(self, index: int, event: dict[str, Any]) -> None:
        """An accepted client event: a candidate for the current (or a later) expect group."""
        self._candidates.append(_Candidate(index, event))
        if isinstance(self._wait, _Group):
            self._match(self._wait)

    def _offer_create(self, event: dict[str, Any], index: int) -> bool:
        """True when the script takes this response.create (now or at its next group)."""
        if self._script is None or self.complete:
            return False
        if isinstance(self._wait, _Group):
            wants = any(e.spec.expect == "response.create" and e.matched_by is None for e in self._wait.expectations)
            if not wants:
                return False
        self._offer(index, event)
        return True

    def _match(self, group: _Group) -> None:
        for expectation in group.expectations:
            if expectation.matched_by is not None:
                continue
            for candidate in self._candidates:
                if not candidate.consumed and self._fits(expectation, candidate.event):
                    candidate.consumed = True
                    expectation.matched_by = candidate.index
                    if candidate.event["type"] == "response.create":
                        group.trigger = candidate.event
                    self._note("rtmock.step.matched", step=expectation.step + 1,
                               line=self.scenario.step_lines[expectation.step], client_index=candidate.index)
                    break

    def _fits(self, expectation: _Expectation, event: dict[str, Any]) -> bool:
        kind, spec = event["type"], expectation.spec
        if spec.expect == "function_call_output":
            item = event.get("item", {})
            ok = kind == "conversation.item.create" and item.get("type") == "function_call_output" \
                and item.get("call_id") == expectation.call_id
        elif spec.expect == "user_message":
            item = event.get("item", {})
            ok = kind == "conversation.item.create" and item.get("type") == "message" and item.get("role") == "user"
        elif spec.expect == "session.update":
            declared = {t.get("name") for t in self.session.get("tools") or [] if isinstance(t, dict)}
            ok = kind == "session.update" and all(t.name in declared for t in self.scenario.scenario.tools)
        else:
            ok = kind == spec.expect
        return ok and matches(event, spec.match)

    def _pump(self) -> None:
        """Resume the script while what it waits for has happened."""
        while self._script is not None and not self.closed:
            wait = self._wait
            if isinstance(wait, _Sleep) and wait.until > self._now:
                return
            if isinstance(wait, _Group) and not wait.done:
                return
            try:
                self._wait = next(self._script)
            except StopIteration:
                self._script = None
                self._wait = None
                self.complete = True
                self._note("rtmock.scenario.complete")
                self._answer_held_creates()
                return

    def _answer_held_creates(self) -> None:
        """Creates held while no group was waiting, that the group now reached does not take (or
        that no group will, the script being over), still deserve an answer; unless the script
        ended by closing the connection: nothing goes out after the close frame."""
        if self.closed:
            return
        for c in self._candidates:
            if not c.consumed and c.event["type"] == "response.create" and self.conversation.active is None:
                c.consumed = True
                self._play_unscripted(c.event)

    def _run_script(self) -> Generator[_Wait, None, None]:
        steps = self.scenario.scenario.steps
        default_within = self.default_within if self.default_within is not None \
            else self.scenario.scenario.defaults.within
        i = 0
        trigger: dict[str, Any] | None = None
        while i < len(steps):
            step = steps[i]
            if isinstance(step, ExpectStep):
                group = _Group([])
                while i < len(steps) and isinstance(steps[i], ExpectStep):
                    spec = steps[i]
                    assert isinstance(spec, ExpectStep)
                    ref = self.scenario.output_calls.get(i)
                    call_id = self._call_ids.get((ref.step, ref.part)) if ref else None
                    group.expectations.append(_Expectation(i, spec, call_id))
                    self._note("rtmock.step.reached", step=i + 1, line=self.scenario.step_lines[i], expect=spec.expect,
                               within=spec.within if spec.within is not None else default_within,
                               call_id=call_id, call_name=ref.spec.name if ref else None,
                               match=spec.match or None,
                               **({"tools": [t.name for t in self.scenario.scenario.tools]}
                                  if spec.expect == "session.update" else {}))
                    i += 1
                self._match(group)
                self._answer_held_creates()
                yield group
                trigger = group.trigger
            elif isinstance(step, RespondStep):
                yield from self._play_response(i, step, trigger)
                trigger = None
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
                self._note("rtmock.closed", by="server", code=plan.code, reason=plan.reason, step=i + 1)
                self._out.append(Close(plan.code, plan.reason))
                self.closed = True
                return  # the script ends with the connection; `_pump` notes it complete

    # ---- responses -------------------------------------------------------------------------------

    def _start_response(self, trigger: dict[str, Any] | None) -> ActiveResponse:
        metadata = ((trigger or {}).get("response") or {}).get("metadata")  # `response` may be null
        active = ActiveResponse(self.ids.new("resp"), metadata=metadata)
        self.conversation.active = active
        self._emit(self.events.response_created(self.events.response_object(active.id, "in_progress", [], metadata,
                                                                            usage=False, session=self.session)))
        return active

    def _finish_response(self, active: ActiveResponse, status: str, details: dict[str, Any] | None = None) -> None:
        if active.cancelled:
            return
        active.cancelled = status == "cancelled"
        self.conversation.active = None
        self._emit(self.events.response_done(
            self.events.response_object(active.id, status, active.output, active.metadata, usage=True, status_details=details,
                                        session=self.session)))

    def _play_unscripted(self, trigger: dict[str, Any]) -> None:
        """A response.create the scenario does not await: answer with an empty completed response."""
        active = self._start_response(trigger)
        self._note("rtmock.response.unscripted", response_id=active.id)
        self._finish_response(active, "completed")

    def _play_response(self, step_index: int, step: RespondStep, trigger: dict[str, Any] | None) -> Generator[_Wait, None, None]:
        active = self._start_response(trigger)
        calls = []
        for j, part in enumerate(step.respond):
            if isinstance(part, FunctionCallPart):
                call_id = part.call_id or self.ids.new("call", 16)
                self._call_ids[(step_index, j)] = call_id
                calls.append({"call_id": call_id, "name": part.name, "label": part.id})
        self._note("rtmock.response.started", step=step_index + 1, line=self.scenario.step_lines[step_index],
                   response_id=active.id, calls=calls)
        pause = step.delta_interval
        for output_index, part in enumerate(step.respond):
            item_id = self.ids.new("item")
            if isinstance(part, FunctionCallPart):
                call_id = self._call_ids[(step_index, output_index)]
                pieces = part.deltas if part.deltas is not None else split_text(part.arguments_text, part.chunks)
                frames = self._streams.function_call(active, output_index, item_id, call_id, part.name,
                                                     part.arguments_text, pieces)
            elif isinstance(part, TextPart):
                frames = self._streams.content(active, output_index, item_id, "text", part.text, part.chunks, None)
            else:
                assert isinstance(part, AudioPart)
                frames = self._streams.content(active, output_index, item_id, "audio", part.transcript, part.chunks,
                                               part.duration)
            for is_delta in frames:
                if active.cancelled:
                    return
                if is_delta and pause > 0:
                    yield _Sleep(self._now + pause)
                    if _cancelled(active):  # a response.cancel may have come in while we slept
                        return
        if step.hold > 0:
            yield _Sleep(self._now + step.hold)
        if not active.cancelled:
            details = _STATUS_DETAILS.get(step.status)
            self._finish_response(active, step.status, details)

#: `response.status_details` for a scripted non-completed status. `reason` is a closed set in the
#: official models (openai-agents validates it): an incomplete response ran out of tokens; a failed
#: one carries an `error` instead.
_STATUS_DETAILS: dict[str, dict[str, Any]] = {
    "incomplete": {"type": "incomplete", "reason": "max_output_tokens"},
    "failed": {"type": "failed", "error": {"type": "server_error", "code": "rtmock_scenario",
                                           "message": "The scenario scripted this response to fail."}},
}


def _merge(target: dict[str, Any], update: dict[str, Any]) -> None:
    """session.update semantics: given keys replace, nested objects merge, absent keys stay
    (a later update without `tools` keeps the declared tools). An object of another `type` (a
    turn detection, an Azure voice) replaces the old one: its keys do not carry over."""
    for key, value in update.items():
        old = target.get(key)
        if isinstance(value, dict) and isinstance(old, dict) and value.get("type", old.get("type")) == old.get("type"):
            _merge(target[key], value)
        else:
            target[key] = copy.deepcopy(value)


def _cancelled(active: ActiveResponse) -> bool:
    return active.cancelled
