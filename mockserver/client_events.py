"""Validation of client events, the way the real service judges them.

`validate_client_event(text, dialect)` takes a frame's text and returns the event object or a
`Rejection`: the code, message and `param` of the `error` event the real service would send. Field
names and types follow the official `openai` package's client-event params (`openai.types.realtime`
for GA, `openai.types.beta.realtime` for beta); tests check these tables against them. Checks that
need conversation state (unknown call_id, an active response) live in `conversation.py`, not here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Final

__all__ = ["CLIENT_EVENT_TYPES", "Rejection", "validate_client_event"]


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why a client event is refused: becomes the `error` object of an error event."""

    code: str
    message: str
    param: str | None = None
    event_id: str | None = None


# A field spec: (json type, required, children) where children is a nested table for objects,
# or for arrays the table of each element. Types: string number integer boolean object array any.
Spec = dict[str, tuple[str, bool, "Spec | None"]]

_ANY: Spec | None = None

TOOL: Final[Spec] = {
    "type": ("string", False, None),
    "name": ("string", False, None),
    "description": ("string", False, None),
    "parameters": ("object", False, _ANY),
}
# GA also allows MCP tools; their keys are many and we do not script them, so accept them as objects.
_GA_TOOL_KEYS_MCP = {"server_label", "server_url", "connector_id", "allowed_tools", "authorization",
                     "headers", "require_approval", "server_description", "allowed_callers",
                     "defer_loading", "tunnel_id"}

SESSION_GA: Final[Spec] = {
    "type": ("string", False, None),
    "model": ("string", False, None),
    "instructions": ("string", False, None),
    "output_modalities": ("array", False, None),
    "audio": ("object", False, _ANY),
    "include": ("array", False, None),
    "max_output_tokens": ("any", False, None),
    "parallel_tool_calls": ("boolean", False, None),
    "prompt": ("any", False, None),
    "reasoning": ("object", False, _ANY),
    "tool_choice": ("any", False, None),
    "tools": ("array", False, TOOL),
    "tracing": ("any", False, None),
    "truncation": ("any", False, None),
    # transcription sessions (type: "transcription") are accepted but not scripted
    "input_audio_format": ("any", False, None),
    "input_audio_transcription": ("any", False, None),
    "input_audio_noise_reduction": ("any", False, None),
    "turn_detection": ("any", False, None),
}
SESSION_BETA: Final[Spec] = {
    "model": ("string", False, None),
    "instructions": ("string", False, None),
    "modalities": ("array", False, None),
    "voice": ("any", False, None),
    "input_audio_format": ("string", False, None),
    "output_audio_format": ("string", False, None),
    "input_audio_transcription": ("any", False, None),
    "input_audio_noise_reduction": ("any", False, None),
    "turn_detection": ("any", False, None),
    "tools": ("array", False, TOOL),
    "tool_choice": ("any", False, None),
    "temperature": ("number", False, None),
    "max_response_output_tokens": ("any", False, None),
    "speed": ("number", False, None),
    "tracing": ("any", False, None),
    "client_secret": ("any", False, None),
}
RESPONSE_GA: Final[Spec] = {
    "audio": ("object", False, _ANY),
    "conversation": ("any", False, None),
    "input": ("array", False, None),
    "instructions": ("string", False, None),
    "max_output_tokens": ("any", False, None),
    "metadata": ("any", False, None),
    "output_modalities": ("array", False, None),
    "parallel_tool_calls": ("boolean", False, None),
    "prompt": ("any", False, None),
    "reasoning": ("object", False, _ANY),
    "tool_choice": ("any", False, None),
    "tools": ("array", False, TOOL),
}
RESPONSE_BETA: Final[Spec] = {
    "conversation": ("any", False, None),
    "input": ("array", False, None),
    "instructions": ("string", False, None),
    "max_response_output_tokens": ("any", False, None),
    "metadata": ("any", False, None),
    "modalities": ("array", False, None),
    "output_audio_format": ("string", False, None),
    "temperature": ("number", False, None),
    "tool_choice": ("any", False, None),
    "tools": ("array", False, TOOL),
    "voice": ("any", False, None),
}
# Items are checked for what matters to tool calling; their other keys vary by item type.
ITEM: Final[Spec | None] = _ANY

_EVENT_ID = ("string", False, None)


def _events(session: Spec, response: Spec) -> dict[str, Spec]:
    return {
        "session.update": {"event_id": _EVENT_ID, "session": ("object", True, session)},
        "input_audio_buffer.append": {"event_id": _EVENT_ID, "audio": ("string", True, None)},
        "input_audio_buffer.commit": {"event_id": _EVENT_ID},
        "input_audio_buffer.clear": {"event_id": _EVENT_ID},
        "output_audio_buffer.clear": {"event_id": _EVENT_ID},
        "conversation.item.create": {
            "event_id": _EVENT_ID,
            "previous_item_id": ("string", False, None),
            "item": ("object", True, ITEM),
        },
        "conversation.item.retrieve": {"event_id": _EVENT_ID, "item_id": ("string", True, None)},
        "conversation.item.delete": {"event_id": _EVENT_ID, "item_id": ("string", True, None)},
        "conversation.item.truncate": {
            "event_id": _EVENT_ID,
            "item_id": ("string", True, None),
            "content_index": ("integer", True, None),
            "audio_end_ms": ("integer", True, None),
        },
        "response.create": {"event_id": _EVENT_ID, "response": ("object", False, response)},
        "response.cancel": {"event_id": _EVENT_ID, "response_id": ("string", False, None)},
    }


EVENTS: Final[dict[str, dict[str, Spec]]] = {
    "ga": _events(SESSION_GA, RESPONSE_GA),
    "beta": {
        **_events(SESSION_BETA, RESPONSE_BETA),
        "transcription_session.update": {"event_id": _EVENT_ID, "session": ("object", True, _ANY)},
    },
}
CLIENT_EVENT_TYPES: Final[frozenset[str]] = frozenset(EVENTS["ga"]) | frozenset(EVENTS["beta"])

_JSON_TYPE_NAMES = {
    dict: "an object", list: "an array", str: "a string", bool: "a boolean", int: "an integer",
    float: "a number", type(None): "null",
}


def _json_type(value: Any) -> str:
    return _JSON_TYPE_NAMES.get(type(value), type(value).__name__)


def _type_ok(kind: str, value: Any) -> bool:
    if kind == "any":
        return True
    if kind == "string":
        return isinstance(value, str)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "object":
        return isinstance(value, dict)
    if kind == "array":
        return isinstance(value, list)
    raise AssertionError(kind)


_ARTICLE = {"string": "a string", "number": "a number", "integer": "an integer", "boolean": "a boolean",
            "object": "an object", "array": "an array"}


def _check(obj: dict[str, Any], spec: Spec, prefix: str, event_id: str | None) -> Rejection | None:
    for key in obj:
        if key not in spec:
            if spec is TOOL and key in _GA_TOOL_KEYS_MCP and obj.get("type") == "mcp":
                continue
            return Rejection("unknown_parameter", f"Unknown parameter: '{prefix}{key}'.", f"{prefix}{key}", event_id)
    for key, (kind, required, children) in spec.items():
        path = f"{prefix}{key}"
        if key not in obj:
            if required:
                return Rejection(
                    "missing_required_parameter", f"Missing required parameter: '{path}'.", path, event_id
                )
            continue
        value = obj[key]
        if value is None and not required and kind in ("any",):
            continue
        if not _type_ok(kind, value):
            return Rejection(
                "invalid_type",
                f"Invalid type for '{path}': expected {_ARTICLE[kind]}, but got {_json_type(value)} instead.",
                path,
                event_id,
            )
        if children is not None:
            if isinstance(value, dict):
                if (found := _check(value, children, f"{path}.", event_id)) is not None:
                    return found
            elif isinstance(value, list):
                for i, element in enumerate(value):
                    if not isinstance(element, dict):
                        return Rejection(
                            "invalid_type",
                            f"Invalid type for '{path}[{i}]': expected an object, but got {_json_type(element)} instead.",
                            f"{path}[{i}]",
                            event_id,
                        )
                    if (found := _check(element, children, f"{path}[{i}].", event_id)) is not None:
                        return found
    return None


def _check_item(item: dict[str, Any], event_id: str | None) -> Rejection | None:
    """The parts of an item that tool calling depends on (R3: output must be a string)."""
    kind = item.get("type")
    if not isinstance(kind, str):
        if "type" not in item:
            return Rejection("missing_required_parameter", "Missing required parameter: 'item.type'.", "item.type", event_id)
        return Rejection("invalid_type", f"Invalid type for 'item.type': expected a string, but got {_json_type(kind)} instead.", "item.type", event_id)
    if "id" in item and not isinstance(item["id"], str):
        return Rejection("invalid_type", f"Invalid type for 'item.id': expected a string, but got {_json_type(item['id'])} instead.", "item.id", event_id)
    if kind == "function_call_output":
        for key in ("call_id", "output"):
            if key not in item:
                return Rejection("missing_required_parameter", f"Missing required parameter: 'item.{key}'.", f"item.{key}", event_id)
            if not isinstance(item[key], str):
                return Rejection(
                    "invalid_type",
                    f"Invalid type for 'item.{key}': expected a string, but got {_json_type(item[key])} instead.",
                    f"item.{key}",
                    event_id,
                )
    elif kind == "message":
        if item.get("role") not in ("user", "assistant", "system"):
            return Rejection(
                "invalid_value",
                f"Invalid value: {json.dumps(item.get('role'))}. Supported values are: 'user', 'assistant', and 'system'.",
                "item.role",
                event_id,
            )
        if not isinstance(item.get("content", []), list):
            return Rejection("invalid_type", "Invalid type for 'item.content': expected an array.", "item.content", event_id)
    elif kind == "function_call":
        for key in ("call_id", "name", "arguments"):
            if key in item and not isinstance(item[key], str):
                return Rejection("invalid_type", f"Invalid type for 'item.{key}': expected a string, but got {_json_type(item[key])} instead.", f"item.{key}", event_id)
    return None


def validate_client_event(text: str, dialect: str) -> dict[str, Any] | Rejection:
    """The client event in `text`, or the reason the real service would refuse it."""
    try:
        event = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        detail = f" ({exc.msg} at line {exc.lineno} column {exc.colno})" if isinstance(exc, json.JSONDecodeError) else ""
        return Rejection("invalid_json", f"The server could not parse the event as JSON{detail}. Send each event as one JSON object.")
    if not isinstance(event, dict):
        return Rejection(
            "invalid_json",
            f"Expected an event object, but got {_json_type(event)}. Send each event as one JSON object with a 'type'.",
        )
    event_id = event.get("event_id") if isinstance(event.get("event_id"), str) else None
    kind = event.get("type")
    if kind is None:
        return Rejection("missing_required_parameter", "Missing required parameter: 'type'.", "type", event_id)
    table = EVENTS[dialect]
    if not isinstance(kind, str) or kind not in table:
        supported = ", ".join(f"'{t}'" for t in sorted(table))
        return Rejection("invalid_value", f"Invalid value: {json.dumps(kind)}. Supported values are: {supported}.", "type", event_id)
    spec = {"type": ("string", True, None), **table[kind]}
    if (found := _check(event, spec, "", event_id)) is not None:
        return found
    if kind == "conversation.item.create" and (found := _check_item(event["item"], event_id)) is not None:
        return found
    return event
