"""Server events for every dialect, built as plain dicts ready to encode.

Shapes follow the official `openai` package's server-event models (GA `openai.types.realtime`,
beta `openai.types.beta.realtime`) and, for Azure Voice Live, the `azure-ai-voicelive` models
(beta-shaped; its own session object: `voicelive.py`); the test suite validates every event the mock
emits against them. Only construction lives here: which event to send when is the session's business.
"""

from __future__ import annotations

import base64
import enum
import json
import os
import random
import string
import time
from collections.abc import Callable, Iterator, Sequence
from json.encoder import c_make_encoder, encode_basestring  # type: ignore[attr-defined]
from typing import Any

from . import voicelive
from .audio import PCM16, AudioFormat, tone

__all__ = ["Dialect", "EventFactory", "IdSource", "encode", "pcm16_tone"]


_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
#: The json module's C encoder with `_ENCODER`'s settings, made once: `json.dumps` and
#: `JSONEncoder.encode` build one on every call, which costs more than encoding a small event.
#: (No check for circular references: events are trees the session builds.)
_C_ENCODER = c_make_encoder(None, _ENCODER.default, encode_basestring, None, ":", ",", False, False, True) \
    if c_make_encoder is not None else None


def encode(event: dict[str, Any]) -> str:
    """The wire text of a server event: compact JSON with UTF-8 text as it is, the same text as
    `json.dumps(event, ensure_ascii=False, separators=(",", ":"))` (any key is escaped as JSON
    needs, as a scenario's `send:` may hold one)."""
    if _C_ENCODER is not None:
        return "".join(_C_ENCODER(event, 0))
    return _ENCODER.encode(event)


class Dialect(enum.StrEnum):
    GA = "ga"
    BETA = "beta"
    #: Azure Voice Live: beta event names and session layout, Azure's session keys and events
    VOICE_LIVE = voicelive.DIALECT

    @property
    def beta_shaped(self) -> bool:
        """Beta's event names (`conversation.item.created`, `response.text.delta`) and flat session."""
        return self is not Dialect.GA


_ALPHABET = string.ascii_letters + string.digits
#: byte → id character: one `randbytes` and one `translate` per id, as ids are drawn for every
#: event on the streaming hot path (`random.choices` cost more than the event's JSON encoding).
#: The modulo draws the first 8 characters 5 times in 256, the others 4: ids need to be unique, not uniform.
_BYTE_TO_CHAR = bytes(ord(_ALPHABET[b % len(_ALPHABET)]) for b in range(256))


class IdSource:
    """Ids in the real service's formats (`event_…`, `resp_…`, `item_…`, `call_…`, `sess_…`).
    With a seed they are the same on every run, so transcripts of a scenario can be diffed."""

    def __init__(self, seed: int | str | None = None) -> None:
        self._random = random.Random(seed if seed is not None else os.urandom(16))

    def new(self, prefix: str, length: int = 22) -> str:
        return f"{prefix}_{self._random.randbytes(length).translate(_BYTE_TO_CHAR).decode('ascii')}"

    def many(self, prefix: str, count: int, length: int = 22) -> list[str]:
        """`count` ids in one draw: the event ids of a stream of deltas."""
        letters = self._random.randbytes(count * length).translate(_BYTE_TO_CHAR).decode("ascii")
        head = prefix + "_"
        return [head + letters[at:at + length] for at in range(0, count * length, length)]


def pcm16_tone(seconds: float, *, rate: int = 24000, hz: float = 440.0) -> bytes:
    """A short sine tone as PCM16 little-endian mono: audio a client can play or count."""
    return tone(seconds, AudioFormat(PCM16.codec, rate), hz=hz)


def split_text(text: str, chunks: int) -> list[str]:
    """`text` in `chunks` nearly equal pieces (fewer when the text is shorter); never empty pieces,
    except one empty piece for empty text so that a delta event is still sent."""
    if not text:
        return [""]
    chunks = max(1, min(chunks, len(text)))
    size, extra = divmod(len(text), chunks)
    out, start = [], 0
    for i in range(chunks):
        end = start + size + (1 if i < extra else 0)
        out.append(text[start:end])
        start = end
    return out


#: Rate limit of the tokens a session may use per minute, as `rate_limits.updated` reports it
#: (observed: the service reports only `tokens`, e.g. limit 40000, remaining 38490, reset 2.265 s).
TOKENS_PER_MINUTE = 40_000


class EventFactory:
    """Builds server events of one dialect; every event gets a fresh server `event_id`.

    An event holds what it is given, not a copy (the session object, an item, a response's output):
    encode it before that state changes again, as the session does (`SessionCore._emit`), and keep
    the text, not the event."""

    def __init__(self, dialect: Dialect, ids: IdSource) -> None:
        self.dialect = dialect
        self.ids = ids

    def _event(self, type_: str, **fields: Any) -> dict[str, Any]:
        return {"type": type_, "event_id": self.ids.new("event"), **fields}

    # ---- session -------------------------------------------------------------------------

    def default_session(self, model: str, *, transcription: bool = False) -> dict[str, Any]:
        """The session object the service reports before any session.update. Beta clients (Azure's
        rtclient) validate it strictly: every key present, with the types the service uses."""
        session_id = self.ids.new("sess")
        expires_at = int(time.time()) + 1800
        if transcription and self.dialect is Dialect.GA:
            # `?intent=transcription` (observed, 2026): a transcription session, with no model and no
            # output or response settings
            return {"type": "transcription", "object": "realtime.transcription_session", "id": session_id,
                    "expires_at": expires_at, "include": None,
                    "audio": {"input": {"format": {"type": "audio/pcm", "rate": 24000}, "transcription": None,
                                        "noise_reduction": None,
                                        "turn_detection": {"type": "server_vad", "threshold": 0.5,
                                                           "prefix_padding_ms": 300, "silence_duration_ms": 200}}}}
        if self.dialect is Dialect.VOICE_LIVE:
            return voicelive.default_session(session_id, model, expires_at)
        if self.dialect is Dialect.BETA:
            return {
                "id": session_id,
                "object": "realtime.session",
                "model": model,
                "expires_at": expires_at,
                "modalities": ["text", "audio"],
                "instructions": "",
                "voice": "alloy",
                "input_audio_format": "pcm16",
                "output_audio_format": "pcm16",
                "input_audio_transcription": None,
                "input_audio_noise_reduction": None,
                "turn_detection": {
                    "type": "server_vad",
                    "threshold": 0.5,
                    "prefix_padding_ms": 300,
                    "silence_duration_ms": 200,
                    "create_response": True,
                    "interrupt_response": True,
                },
                "tools": [],
                "tool_choice": "auto",
                "temperature": 0.8,
                "max_response_output_tokens": "inf",
                "speed": 1.0,
                "tracing": None,
            }
        return {
            "type": "realtime",
            "object": "realtime.session",
            "id": session_id,
            "model": model,
            "output_modalities": ["audio"],
            "instructions": "",
            "tools": [],
            "tool_choice": "auto",
            "max_output_tokens": "inf",
            "tracing": None,
            "truncation": "auto",
            "prompt": None,
            "expires_at": expires_at,
            "include": None,
            "audio": {
                "input": {
                    "format": {"type": "audio/pcm", "rate": 24000},
                    "transcription": None,
                    "noise_reduction": None,
                    "turn_detection": {
                        "type": "server_vad",
                        "threshold": 0.5,
                        "prefix_padding_ms": 300,
                        "silence_duration_ms": 200,
                        "idle_timeout_ms": None,
                        "create_response": True,
                        "interrupt_response": True,
                    },
                },
                "output": {"format": {"type": "audio/pcm", "rate": 24000}, "voice": "alloy", "speed": 1.0},
            },
        }

    def session_created(self, session: dict[str, Any]) -> dict[str, Any]:
        return self._event("session.created", session=session)

    def session_updated(self, session: dict[str, Any]) -> dict[str, Any]:
        return self._event("session.updated", session=session)

    def error(self, code: str | None, message: str, param: str | None, client_event_id: str | None) -> dict[str, Any]:
        return self._event(
            "error",
            error={"type": "invalid_request_error", "code": code, "message": message, "param": param, "event_id": client_event_id},
        )

    # ---- conversation --------------------------------------------------------------------

    def item_added(self, item: dict[str, Any], previous_item_id: str | None) -> list[dict[str, Any]]:
        """The echo of an item entering the conversation: `conversation.item.added` (GA; `.done`
        follows when the item is complete) or `conversation.item.created` (beta, Voice Live)."""
        kind = "conversation.item.created" if self.dialect.beta_shaped else "conversation.item.added"
        return [self._event(kind, previous_item_id=previous_item_id, item=self._reported(item))]

    def _reported(self, item: dict[str, Any]) -> dict[str, Any]:
        """A conversation item as the dialect reports it."""
        return voicelive.reported_item(item) if self.dialect is Dialect.VOICE_LIVE else item

    def item_done(self, item: dict[str, Any], previous_item_id: str | None) -> list[dict[str, Any]]:
        if self.dialect.beta_shaped:
            return []
        return [self._event("conversation.item.done", previous_item_id=previous_item_id, item=item)]

    def item_deleted(self, item_id: str) -> dict[str, Any]:
        return self._event("conversation.item.deleted", item_id=item_id)

    def item_retrieved(self, item: dict[str, Any]) -> dict[str, Any]:
        return self._event("conversation.item.retrieved", item=self._reported(item))

    def item_truncated(self, item_id: str, content_index: int, audio_end_ms: int) -> dict[str, Any]:
        return self._event("conversation.item.truncated", item_id=item_id, content_index=content_index, audio_end_ms=audio_end_ms)

    def audio_committed(self, item_id: str, previous_item_id: str | None) -> dict[str, Any]:
        return self._event("input_audio_buffer.committed", item_id=item_id, previous_item_id=previous_item_id)

    def speech_started(self, audio_start_ms: int, item_id: str) -> dict[str, Any]:
        return self._event("input_audio_buffer.speech_started", audio_start_ms=audio_start_ms, item_id=item_id)

    def speech_stopped(self, audio_end_ms: int, item_id: str) -> dict[str, Any]:
        return self._event("input_audio_buffer.speech_stopped", audio_end_ms=audio_end_ms, item_id=item_id)

    def audio_cleared(self) -> dict[str, Any]:
        return self._event("input_audio_buffer.cleared")

    # ---- responses -----------------------------------------------------------------------

    def response_object(self, response_id: str, status: str, output: list[dict[str, Any]],
                        metadata: Any, *, usage: dict[str, Any] | None, status_details: dict[str, Any] | None = None,
                        session: dict[str, Any] | None = None, request: dict[str, Any] | None = None,
                        conversation_id: str | None = "conv_default") -> dict[str, Any]:
        """`session`: the session the response runs in; `request`: the `response` of the
        response.create that asked for it. The response reports the modalities, voice, audio
        format and token limit it runs with: the request's where it gives them, else the
        session's. `conversation_id` is None for an out-of-band response."""
        body: dict[str, Any] = {
            "object": "realtime.response",
            "id": response_id,
            "status": status,
            "status_details": status_details,
            "output": output,
            "conversation_id": conversation_id,
            "usage": usage,
            "metadata": metadata,
        }
        session, request = session or {}, request or {}
        if self.dialect is Dialect.VOICE_LIVE:
            body.update(voicelive.response_fields({**session, **{k: v for k, v in request.items() if v is not None}}))
        elif self.dialect is Dialect.BETA:
            tokens = _given(request, "max_response_output_tokens", session, "max_response_output_tokens", "inf")
            temperature = _given(request, "temperature", session, "temperature", 0.8)
            body.update(modalities=_given(request, "modalities", session, "modalities", ["text", "audio"]),
                        voice=_given(request, "voice", session, "voice", "alloy"),
                        output_audio_format=_given(request, "output_audio_format", session, "output_audio_format",
                                                   "pcm16"),
                        temperature=float(temperature) if isinstance(temperature, int | float) else 0.8,
                        max_output_tokens=tokens)
        else:
            out = (session.get("audio") or {}).get("output") or {}
            asked = (request.get("audio") or {}).get("output") or {}
            body.update(output_modalities=_given(request, "output_modalities", session,
                                                               "output_modalities", ["audio"]),
                        max_output_tokens=_given(request, "max_output_tokens", session, "max_output_tokens", "inf"),
                        audio={"output": {"format": _given(asked, "format", out, "format",
                                                                          {"type": "audio/pcm", "rate": 24000}),
                                          "voice": _given(asked, "voice", out, "voice", "alloy")}})
        return body

    def usage(self, *, input_text: int, input_audio: int, cached_text: int, cached_audio: int, output_text: int,
              output_audio: int) -> dict[str, Any]:
        """`response.usage` in the dialect's shape. Beta's predates image input: no image or cached
        breakdowns; Voice Live's `TokenUsage` has GA's (image and cached-token details required)."""
        inputs, outputs = input_text + input_audio, output_text + output_audio
        details: dict[str, Any] = {"cached_tokens": cached_text + cached_audio, "text_tokens": input_text,
                                   "audio_tokens": input_audio}
        if self.dialect is not Dialect.BETA:
            details["image_tokens"] = 0
            details["cached_tokens_details"] = {"text_tokens": cached_text, "audio_tokens": cached_audio,
                                                "image_tokens": 0}
        return {"total_tokens": inputs + outputs, "input_tokens": inputs, "output_tokens": outputs,
                "input_token_details": details,
                "output_token_details": {"text_tokens": output_text, "audio_tokens": output_audio}}

    def rate_limits_updated(self, used_tokens: int, elapsed: float) -> dict[str, Any]:
        """The service's `rate_limits.updated` after a response: tokens left of the minute's limit."""
        remaining = max(0, TOKENS_PER_MINUTE - used_tokens)
        reset = round(max(0.0, 60.0 - elapsed % 60.0) * (1 - remaining / TOKENS_PER_MINUTE), 3)
        return self._event("rate_limits.updated", rate_limits=[
            {"name": "tokens", "limit": TOKENS_PER_MINUTE, "remaining": remaining, "reset_seconds": reset}])

    def transcription_deltas(self, item_id: str, pieces: Sequence[str]) -> list[dict[str, Any]]:
        return [self._event("conversation.item.input_audio_transcription.delta", item_id=item_id, content_index=0,
                            delta=piece) for piece in pieces]

    def transcription_completed(self, item_id: str, transcript: str, usage: dict[str, Any] | None) -> dict[str, Any]:
        """`usage` None where the dialect's event has none (Voice Live)."""
        extra = {"usage": usage} if usage is not None and self.dialect is not Dialect.VOICE_LIVE else {}
        return self._event("conversation.item.input_audio_transcription.completed", item_id=item_id, content_index=0,
                           transcript=transcript, **extra)

    def response_created(self, response: dict[str, Any]) -> dict[str, Any]:
        return self._event("response.created", response=response)

    def response_done(self, response: dict[str, Any]) -> dict[str, Any]:
        return self._event("response.done", response=response)

    def output_item_added(self, response_id: str, output_index: int, item: dict[str, Any]) -> dict[str, Any]:
        return self._event("response.output_item.added", response_id=response_id, output_index=output_index, item=item)

    def output_item_done(self, response_id: str, output_index: int, item: dict[str, Any]) -> dict[str, Any]:
        return self._event("response.output_item.done", response_id=response_id, output_index=output_index, item=item)

    def delta_stream(self, type_: str, **shared: Any) -> Callable[[Sequence[str]], Iterator[str]]:
        """A builder for the many deltas of one stream: the wire text per piece. What the deltas
        share is encoded once; the same text as `_event` + `encode` would give, field order
        included (ids are letters and digits, so they need no escaping)."""
        head = '{"type":' + encode_basestring(type_) + ',"event_id":"'
        tail = '",' + "".join(f'"{key}":{_ENCODER.encode(value)},' for key, value in shared.items()) + '"delta":'
        many = self.ids.many

        def build(pieces: Sequence[str]) -> Iterator[str]:
            for event_id, piece in zip(many("event", len(pieces)), pieces, strict=True):
                yield head + event_id + tail + encode_basestring(piece) + "}"

        return build

    def arguments_deltas(self, response_id: str, item_id: str, output_index: int,
                         call_id: str) -> Callable[[Sequence[str]], Iterator[str]]:
        return self.delta_stream("response.function_call_arguments.delta", response_id=response_id, item_id=item_id,
                                 output_index=output_index, call_id=call_id)

    def content_deltas(self, kind: str, response_id: str, item_id: str,
                       output_index: int) -> Callable[[Sequence[str]], Iterator[str]]:
        """`kind` text, audio or transcript: the dialect's delta event of that content."""
        ga, beta = {"text": ("response.output_text.delta", "response.text.delta"),
                    "audio": ("response.output_audio.delta", "response.audio.delta"),
                    "transcript": ("response.output_audio_transcript.delta", "response.audio_transcript.delta")}[kind]
        return self.delta_stream(beta if self.dialect.beta_shaped else ga, response_id=response_id, item_id=item_id,
                                 output_index=output_index, content_index=0)

    def arguments_done(self, response_id: str, item_id: str, output_index: int, call_id: str, name: str,
                       arguments: str) -> dict[str, Any]:
        return self._event("response.function_call_arguments.done", response_id=response_id, item_id=item_id,
                           output_index=output_index, call_id=call_id, name=name, arguments=arguments)

    def content_part(self, done: bool, response_id: str, item_id: str, output_index: int, part: dict[str, Any]) -> dict[str, Any]:
        kind = "response.content_part.done" if done else "response.content_part.added"
        return self._event(kind, response_id=response_id, item_id=item_id, output_index=output_index, content_index=0,
                           part=part)

    def _content_event(self, ga: str, beta: str, response_id: str, item_id: str, output_index: int, **fields: Any) -> dict[str, Any]:
        kind = beta if self.dialect.beta_shaped else ga
        return self._event(kind, response_id=response_id, item_id=item_id, output_index=output_index, content_index=0, **fields)

    def text_done(self, response_id: str, item_id: str, output_index: int, text: str) -> dict[str, Any]:
        return self._content_event("response.output_text.done", "response.text.done", response_id, item_id, output_index, text=text)

    def audio_done(self, response_id: str, item_id: str, output_index: int) -> dict[str, Any]:
        return self._content_event("response.output_audio.done", "response.audio.done", response_id, item_id, output_index)

    def transcript_done(self, response_id: str, item_id: str, output_index: int, transcript: str) -> dict[str, Any]:
        return self._content_event("response.output_audio_transcript.done", "response.audio_transcript.done",
                                   response_id, item_id, output_index, transcript=transcript)

    def content_type(self, kind: str) -> str:
        """The type of an assistant message's content entry: `output_text`/`output_audio` (GA),
        `text`/`audio` (beta, Voice Live)."""
        return kind if self.dialect.beta_shaped else f"output_{kind}"


def _given(primary: dict[str, Any], key: str, fallback: dict[str, Any], fallback_key: str, default: Any) -> Any:
    """`primary[key]`, else `fallback[fallback_key]`, else `default` (a null counts as not given)."""
    value = primary.get(key)
    if value is None:
        value = fallback.get(fallback_key)
    return default if value is None else value


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
