"""Azure Voice Live: what its dialect adds to the beta-shaped protocol rtmock serves.

Voice Live (`GET …/voice-live/realtime?api-version=…&model=…`, SDK `azure-ai-voicelive`) speaks the
beta event names (`conversation.item.created`, `response.text.delta`, `response.audio.delta`, …)
with Azure's own session object and client events. What differs from beta lives here, each fact with
the file of `azure-ai-voicelive` (or of Azure's REST spec) it follows; docs/voice-live.md is the map.

- the session object of `session.created` (`default_session`);
- the fields of a response object and of a conversation item as Voice Live reports them;
- the client events it accepts: the generated `_voicelive_shapes.py`, which `client_events.py`
  checks frames against like the OpenAI dialects' `_shapes.json` (`with_voice_live`).

Which event to send when is the session's business (`session.py`), how to build it `events.py`'s.
"""

from __future__ import annotations

from typing import Any, Final

from . import _voicelive_shapes
from .jsondata import json_copy

__all__ = ["DIALECT", "UNSCRIPTED", "VAD_TYPES", "cancels_previous", "default_session", "reported_item", "response_fields",
           "with_voice_live"]

DIALECT: Final = "voice-live"

#: `turn_detection.type`s under which the service listens to appended audio itself (models
#: `ServerVad`, `AzureSemanticVad`, `AzureSemanticVadEn`, `AzureSemanticVadMultilingual`). rtmock
#: hears all of them with its energy detector (`vad.py`); Azure's semantic end-of-turn is not modelled.
VAD_TYPES: Final = frozenset({"server_vad", "azure_semantic_vad", "azure_semantic_vad_en",
                              "azure_semantic_vad_multilingual"})


#: Voice Live client events rtmock accepts (their shape is checked) but cannot act on: the session
#: refuses them with `unsupported`, so that a client waiting for the service's answer (an avatar's
#: `session.avatar.connecting`) gets a finding instead of a silent hang. The others of Voice Live's
#: own (`input_audio.clear`, `input_text.delta`/`.done`) are accepted and change nothing.
UNSCRIPTED: Final[dict[str, str]] = {
    "session.avatar.connect": "avatars (WebRTC media)",
    "input_audio.turn.start": "turn-based audio input",
    "input_audio.turn.append": "turn-based audio input",
    "input_audio.turn.end": "turn-based audio input",
    "input_audio.turn.cancel": "turn-based audio input",
}


def default_session(session_id: str, model: str, expires_at: int) -> dict[str, Any]:
    """The session before any session.update, as the service reports it in `session.created`:
    the keys and defaults of Azure's example (azure-rest-api-specs
    `specification/ai/data-plane/VoiceLive/examples/2025-10-01/SessionInitialization.json`).
    `expires_at` is seconds since the epoch (`ResponseSession.expires_at`, format unix-timestamp);
    `object` is in the example though `ResponseSession` does not declare it. Azure's own keys
    (`input_audio_echo_cancellation`, `avatar`, …) appear once a session.update sets them."""
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
        "turn_detection": {"type": "server_vad", "threshold": 0.5, "prefix_padding_ms": 300, "silence_duration_ms": 500},
        "tools": [],
        "tool_choice": "auto",
        "temperature": 0.8,
        "max_response_output_tokens": "inf",
    }


def response_fields(session: dict[str, Any]) -> dict[str, Any]:
    """The session-derived fields of a response object (model `Response`: `voice`, `modalities`,
    `output_audio_format`, `temperature`, `max_output_tokens`): what the session holds when the
    response starts, so an Azure voice set by session.update is the voice the response reports."""
    tokens = session.get("max_response_output_tokens")
    return {
        "modalities": json_copy(session.get("modalities") or ["text", "audio"]),
        "voice": json_copy(session.get("voice") or "alloy"),
        "output_audio_format": session.get("output_audio_format") or "pcm16",
        "temperature": session.get("temperature") if isinstance(session.get("temperature"), int | float) else 0.8,
        "max_output_tokens": tokens if tokens is not None else "inf",
    }


#: The keys of a conversation item as Voice Live reports it (models `ResponseMessageItem`,
#: `ResponseFunctionCallItem`, `ResponseFunctionCallOutputItem`). A function_call_output has no
#: `status` there, unlike OpenAI's beta `ConversationItem`.
_ITEM_KEYS: Final[dict[str, frozenset[str]]] = {
    "message": frozenset({"type", "id", "object", "role", "content", "status"}),
    "function_call": frozenset({"type", "id", "object", "name", "call_id", "arguments", "status"}),
    "function_call_output": frozenset({"type", "id", "object", "call_id", "output"}),
}


def cancels_previous(create: dict[str, Any]) -> bool:
    """Whether a Voice Live response.create ends the active response before it starts:
    `ResponseCreateParams.cancel_previous`, "Whether to cancel any ongoing generation before
    starting this one. Defaults to true." (azure-ai-voicelive)."""
    request = create.get("response")
    return not (isinstance(request, dict) and request.get("cancel_previous") is False)


def reported_item(item: dict[str, Any]) -> dict[str, Any]:
    """A conversation item as the dialect echoes it (`conversation.item.created`, `.retrieved`)."""
    keys = _ITEM_KEYS.get(item.get("type", ""))
    if keys is None:
        copied: dict[str, Any] = json_copy(item)
        return copied
    return {key: json_copy(value) for key, value in item.items() if key in keys}


def with_voice_live(tables: dict[str, Any]) -> dict[str, Any]:
    """`tables` ({"events": {dialect: …}, "defs": …}, the format of `_shapes.json`) with Voice Live's
    client events added (`_voicelive_shapes.py`, generated from the `azure-ai-voicelive` models)."""
    return {**tables,
            "events": {**tables["events"], DIALECT: _voicelive_shapes.EVENTS},
            "defs": {**tables["defs"], **_voicelive_shapes.DEFS}}
