"""A response's life from response.created to response.done, as `SessionCore` plays it.

`Responses` opens a response for a response.create (the active one of the conversation, unless it
is out of band); for a respond step, gives its function calls their call_ids and streams its parts
(`streams.py` makes each item's frames), pausing between deltas; and closes it with a status: the
response object of both events, the tokens it read (cached against the response before) and
wrote, or the counts the scenario scripted, and the session's running total for
rate_limits.updated. It keeps no callback: each call is given the `emit` that sends a server event
(encoded at once, as the event holds live state) and, to stream, the session's `OutputStreams`.

Not here: when a response starts, waits and is cut short (the script, and `SessionCore._cancel`),
and the notes about responses (SessionCore writes every record).
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any

from ..scenario.model import AudioPart, FunctionCallPart, RespondStep, SendPart, TextPart
from . import usage as tokens
from ._expectations import out_of_band
from .audio import output_format
from .conversation import ActiveResponse, Conversation
from .events import Dialect, EventFactory, IdSource, split_text
from .notes import PlannedCall
from .streams import OutputStreams

#: How long a scripted text answer speaks when the response is audio only (seconds per character).
SPEECH_SECONDS_PER_CHAR = 0.06

#: `response.status_details` for a scripted non-completed status. `reason` is a closed set in the
#: official models (openai-agents validates it): an incomplete response ran out of tokens; a failed
#: one carries an `error` instead.
STATUS_DETAILS: dict[str, dict[str, Any]] = {
    "incomplete": {"type": "incomplete", "reason": "max_output_tokens"},
    "failed": {"type": "failed", "error": {"type": "server_error", "code": "rtmock_scenario",
                                           "message": "The scenario scripted this response to fail."}},
}

Emit = Callable[[dict[str, Any]], None]


class Responses:
    """The session's responses: their objects, the calls they make, their streams, their token
    accounting. `session` and `conversation` are the session's own (read as they are then)."""

    __slots__ = ("_call_ids", "_conversation", "_conversation_id", "_dialect", "_events", "_ids", "_inputs",
                 "_last_input", "_session", "_used_tokens")

    def __init__(self, events: EventFactory, ids: IdSource, conversation: Conversation, session: dict[str, Any],
                 dialect: Dialect) -> None:
        self._events, self._ids, self._dialect = events, ids, dialect
        self._conversation, self._session = conversation, session
        self._conversation_id = ids.new("conv")
        self._inputs: dict[str, tuple[tokens.TokenCount, tokens.TokenCount]] = {}  # response → (input, cached)
        self._last_input: tokens.TokenCount | None = None
        self._used_tokens = 0
        self._call_ids: dict[tuple[int, int], str] = {}  # (step, part) → wire call_id

    def start(self, trigger: dict[str, Any] | None, emit: Emit) -> ActiveResponse:
        """Open the response a response.create (`trigger`; None: the script's own) asks for, and
        send its response.created."""
        request = (trigger or {}).get("response")  # `response` may be null
        request = request if isinstance(request, dict) else {}
        active = ActiveResponse(self._ids.new("resp"), metadata=request.get("metadata"),
                                out_of_band=out_of_band(trigger or {}), request=request)
        conv = self._conversation
        if not active.out_of_band:
            conv.active = active
        read = tokens.input_tokens(self._session, conv.items, conv.input_audio_ms, conv.audio_ms,
                                   request.get("instructions"))
        self._inputs[active.id] = (read, tokens.cached(read, self._last_input))
        self._last_input = read
        emit(self._events.response_created(self._response_object(active, "in_progress")))
        return active

    def finish(self, active: ActiveResponse, status: str, details: dict[str, Any] | None, scripted_usage: Any,
               *, elapsed: float, emit: Emit) -> None:
        """Close the response with `status` (nothing, if it was cancelled already): response.done
        with its usage, then rate_limits.updated (`elapsed`: the session's age, seconds)."""
        if active.cancelled:
            return
        active.cancelled = status == "cancelled"
        conv = self._conversation
        if conv.active is active:
            conv.active = None
        if active.out_of_band:  # its items exist in the session, outside the conversation
            conv.side_items.update(str(item.get("id")) for item in active.output)
        used = self._usage(active, scripted_usage)
        emit(self._events.response_done(self._response_object(active, status, details, used)))
        self._used_tokens += int(used["total_tokens"])
        if self._dialect is not Dialect.VOICE_LIVE:  # (Voice Live has no rate_limits.updated event)
            emit(self._events.rate_limits_updated(self._used_tokens, elapsed))

    def plan_calls(self, active: ActiveResponse, step_index: int, step: RespondStep) -> tuple[PlannedCall, ...]:
        """Give the function calls of respond step `step_index` their call_ids (the scenario's, or
        new ones), before any of them streams: the response's calls, as its note lists them."""
        calls = []
        for j, part in enumerate(step.respond):
            if isinstance(part, FunctionCallPart):
                call_id = part.call_id or self._ids.new("call", 16)
                self._call_ids[(step_index, j)] = call_id
                active.calls.append(call_id)
                calls.append(PlannedCall(call_id, part.name, part.id))
        return tuple(calls)

    def call_id(self, step_index: int, part: int) -> str | None:
        """The wire call_id of a respond step's function call, once the step has played."""
        return self._call_ids.get((step_index, part))

    def calls_of(self, step_index: int, step: RespondStep) -> list[str]:
        """The call_ids a played respond step made."""
        return [self._call_ids[(step_index, j)] for j, part in enumerate(step.respond)
                if isinstance(part, FunctionCallPart) and (step_index, j) in self._call_ids]

    def stream(self, active: ActiveResponse, step_index: int, step: RespondStep, streams: OutputStreams,
               emit: Emit) -> Generator[float, None, None]:
        """Stream the parts of respond step `step_index` (its calls planned) into the response, and
        hold it open for the step's `hold`: yields each pause, in seconds, for the caller to wait
        out. Ends at once when the response is cancelled meanwhile; does not finish it."""
        pause = step.delta_interval
        speaks = self.speaks(active)
        fmt = output_format(self._session, self._dialect.beta_shaped)
        output_index = -1
        for j, part in enumerate(step.respond):
            if isinstance(part, SendPart):
                if active.cancelled:
                    return
                # between two items (the loader keeps it there): after one's response.output_item.done and
                # echoes, before the next one's response.output_item.added; never among an item's deltas
                emit(part.send if "event_id" in part.send else
                     {"type": part.send["type"], "event_id": self._ids.new("event"), **part.send})
                continue
            output_index += 1
            item_id = self._ids.new("item")
            if isinstance(part, FunctionCallPart):
                call_id = self._call_ids[(step_index, j)]
                pieces = part.deltas if part.deltas is not None else split_text(part.arguments_text, part.chunks)
                frames = streams.function_call(active, output_index, item_id, call_id, part.name,
                                               part.arguments_text, pieces)
            elif isinstance(part, TextPart) and speaks:
                seconds = min(30.0, max(0.3, len(part.text) * SPEECH_SECONDS_PER_CHAR))
                frames = streams.content(active, output_index, item_id, "audio", part.text, part.chunks, seconds, fmt)
            elif isinstance(part, TextPart):
                frames = streams.content(active, output_index, item_id, "text", part.text, part.chunks, None)
            else:
                assert isinstance(part, AudioPart)
                frames = streams.content(active, output_index, item_id, "audio", part.transcript, part.chunks,
                                         part.duration, fmt)
            for is_delta in frames:
                if active.cancelled:
                    return
                if is_delta and pause > 0:
                    yield pause
                    if _cancelled(active):  # a response.cancel may have come in while we slept
                        return
        if step.hold > 0:
            yield step.hold

    def speaks(self, active: ActiveResponse) -> bool:
        """Whether the response's output has audio (GA: `output_modalities: ["audio"]`, its default;
        beta and Voice Live: `modalities: ["text", "audio"]`, theirs): then a scripted text answer is
        spoken, audio plus its transcript, as the model would."""
        key = "modalities" if self._dialect.beta_shaped else "output_modalities"
        modalities = active.request.get(key) or self._session.get(key) or []
        if self._dialect.beta_shaped:  # beta allows ["text"] or ["text", "audio"] (its default): audio speaks
            return isinstance(modalities, list) and "audio" in modalities
        return isinstance(modalities, list) and "audio" in modalities and "text" not in modalities

    def _response_object(self, active: ActiveResponse, status: str, details: dict[str, Any] | None = None,
                         usage: dict[str, Any] | None = None) -> dict[str, Any]:
        return self._events.response_object(
            active.id, status, active.output if status != "in_progress" else [], active.metadata, usage=usage,
            status_details=details, session=self._session, request=active.request,
            conversation_id=None if active.out_of_band else self._conversation_id)

    def _usage(self, active: ActiveResponse, scripted: Any = None) -> dict[str, Any]:
        """Token counts for a finished response: derived (`usage.py`), or as the scenario set them."""
        read, cached = self._inputs.pop(active.id, (tokens.TokenCount(), tokens.TokenCount()))
        wrote = tokens.output_tokens(active.output, self._conversation.audio_ms)
        counts = {"input_text": read.text, "input_audio": read.audio, "cached_text": cached.text,
                  "cached_audio": cached.audio, "output_text": wrote.text, "output_audio": wrote.audio}
        if isinstance(scripted, dict):
            counts.update({k: int(v) for k, v in scripted.items() if k in counts and isinstance(v, int)})
        return self._events.usage(**counts)


def _cancelled(active: ActiveResponse) -> bool:
    return active.cancelled
