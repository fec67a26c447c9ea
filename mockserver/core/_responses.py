"""A response's life from response.created to response.done, as `SessionCore` plays it.

`Responses` opens a response for a response.create (the active one of the conversation, unless it
is out of band), and closes it with a status: the response object of both events, the tokens it
read (cached against the response before) and wrote, or the counts the scenario scripted, and the
session's running total for rate_limits.updated. It keeps no callback: each call is given the
`emit` that sends a server event (encoded at once, as the event holds live state).

Not here: what streams between the two events (`streams.py`, driven by the script in
session.py), when a response is cut short, and the notes about responses (SessionCore).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import usage as tokens
from ._expectations import out_of_band
from .conversation import ActiveResponse, Conversation
from .events import Dialect, EventFactory, IdSource

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
    """The session's responses: their objects and token accounting. `session` and `conversation`
    are the session's own (read when a response starts and ends, as they are then)."""

    __slots__ = ("_conversation", "_conversation_id", "_dialect", "_events", "_ids", "_inputs", "_last_input",
                 "_session", "_used_tokens")

    def __init__(self, events: EventFactory, ids: IdSource, conversation: Conversation, session: dict[str, Any],
                 dialect: Dialect) -> None:
        self._events, self._ids, self._dialect = events, ids, dialect
        self._conversation, self._session = conversation, session
        self._conversation_id = ids.new("conv")
        self._inputs: dict[str, tuple[tokens.TokenCount, tokens.TokenCount]] = {}  # response → (input, cached)
        self._last_input: tokens.TokenCount | None = None
        self._used_tokens = 0

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

    def speaks(self, active: ActiveResponse) -> bool:
        """Whether the response answers in audio only (the GA default `output_modalities: ["audio"]`):
        then a scripted text answer is spoken, audio plus its transcript, as the model would."""
        key = "modalities" if self._dialect.beta_shaped else "output_modalities"
        modalities = active.request.get(key) or self._session.get(key) or []
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
