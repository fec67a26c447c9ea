"""A scenario as the session plays it: plain frozen dataclasses, and the rules a document must keep.

A scenario is one session: the tools the client must declare, then steps run in order — waits for
client events (`expect`), responses the server streams (`respond`), and faults. The format itself
(field docs, JSON Schema, error messages) is `scenario_schema.py`, in pydantic; this module has no
pydantic in it, so that `rtmock run` can serve before it has loaded pydantic: `build_scenario`
reads a document that is plainly valid (exact types, known keys, values in range) straight into
these classes, and answers None for anything else, which the loader then validates with the
schema for the exact problem (or for the lax forms pydantic also accepts). The checks both sides
apply are the functions below; `tests/test_scenario_build.py` holds the two to the same result.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from .matching import check_match

__all__ = [
    "CALL_ID_PATTERN",
    "DURATION_PATTERN",
    "EXPECT_SHORTHANDS",
    "AudioPart",
    "ClosePlan",
    "CloseStep",
    "Defaults",
    "ExpectStep",
    "FunctionCallPart",
    "OutputPart",
    "PauseStep",
    "RespondPart",
    "RespondStep",
    "Scenario",
    "SendPart",
    "SendStep",
    "Step",
    "TextPart",
    "ToolSpec",
    "build_scenario",
    "check_call_id",
    "check_close_code",
    "check_close_reason",
    "check_expect_kind",
    "check_send_event",
    "check_usage",
    "parse_duration",
    "with_bounds_scaled",
]

CALL_ID_PATTERN = re.compile(r"^[a-zA-Z0-9_-]+$")
DURATION_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?|\.\d+)\s*(ms|s|m)?\s*$")

#: Expect kinds beyond the client event types.
EXPECT_SHORTHANDS = {
    "function_call_output": "conversation.item.create with an item of type function_call_output",
    "user_message": "conversation.item.create with a user message item",
}

# ---- the rules both readers apply (each raises ValueError with the message the author sees) ---------


def parse_duration(value: Any) -> float:
    """'2s', '500ms', '1.5m' or a number of seconds → seconds."""
    if isinstance(value, bool):
        raise ValueError("a duration is a number of seconds or text like '2s' or '500ms'")
    if isinstance(value, int | float):
        if isinstance(value, int) and abs(value) > 10**9:  # float() of a 400-digit number overflows
            raise ValueError("a duration is at most an hour: this number is far larger")
        seconds = float(value)
    elif isinstance(value, str) and (m := DURATION_PATTERN.match(value)):
        seconds = float(m.group(1)) * {"ms": 0.001, "s": 1.0, "m": 60.0, None: 1.0}[m.group(2)]
    elif isinstance(value, str) and DURATION_PATTERN.match(value.strip().removeprefix("-")):
        raise ValueError("a duration cannot be negative")
    else:
        raise ValueError(f"{value!r} is not a duration: write e.g. 2s, 500ms, 1.5m or a number of seconds")
    if seconds < 0:
        raise ValueError("a duration cannot be negative")
    return seconds


def check_call_id(value: str | None) -> str | None:
    if value is not None and not CALL_ID_PATTERN.match(value):
        raise ValueError("a call_id may contain only letters, digits, '_' and '-'")
    return value


def expect_kind(event: dict[str, Any]) -> str:
    """The `expect:` a client event could meet: its type, or a shorthand (`function_call_output`,
    `user_message`) for the conversation.item.create that carries one. The session matches steps
    and the judge explains a missed step by it."""
    kind = str(event.get("type"))
    item = event.get("item")
    if kind == "conversation.item.create" and isinstance(item, dict):
        if item.get("type") == "function_call_output":
            return "function_call_output"
        if item.get("type") == "message" and item.get("role") == "user":
            return "user_message"
    return kind


def meets_kind(expect: str, event: dict[str, Any], call_id: str | None) -> bool:
    """Whether a client event is what an `expect:` waits for, its `match:` aside: of its kind, and,
    for an awaited output, for the awaited call (`call_id`, the call's id on the wire)."""
    if expect != event.get("type") and expect != expect_kind(event):
        return False
    if expect == "function_call_output":
        item = event.get("item")
        return call_id is not None and isinstance(item, dict) and item.get("call_id") == call_id
    return True


def takes(expect: str) -> str:
    """The type of client event an `expect:` takes (the inverse of `expect_kind`)."""
    return "conversation.item.create" if expect in ("function_call_output", "user_message") else expect


def check_match_paths(expect: str, match: dict[str, Any]) -> dict[str, Any]:
    """Every path of an expect step's `match:` names a place its client event can have (a misspelt
    path would wait for what never comes, and blame the client): a ValueError saying which, else
    `match` as it is."""
    from ..core.client_events import unknown_path

    for path, expected in match.items():
        if path == "any" and isinstance(expected, list):
            for alternative in expected:
                if isinstance(alternative, dict):
                    check_match_paths(expect, alternative)
            continue
        if isinstance(path, str) and "[" in path:
            dotted = re.sub(r"\[(\d+)\]", r".\1", path)
            raise ValueError(f"{path}: paths are dotted, list places too: write {dotted}")
        if isinstance(path, str) and (why := unknown_path(takes(expect), path)) is not None:
            raise ValueError(why)
    return match


def check_expect_kind(value: str) -> str:
    from ..core.client_events import client_event_types, server_event_types

    if value not in EXPECT_SHORTHANDS and value not in client_event_types() and value in server_event_types():
        raise ValueError(f"{value!r} is an event the server sends: `expect:` waits for what the client sends; the "
                         f"server sends {value} itself, in a `respond:` step (or a `send:` step)")
    if value not in EXPECT_SHORTHANDS and value not in client_event_types():
        import difflib

        options = sorted([*EXPECT_SHORTHANDS, *client_event_types()])
        near = difflib.get_close_matches(value, options, n=1)
        hint = f"did you mean {near[0]!r}?" if near else f"one of: {', '.join(options)}"
        raise ValueError(f"{value!r} is not a client event: {hint}")
    return value


#: What a scenario's `usage:` may set of a response's token counts (the rest is derived: usage.py).
USAGE_KEYS = ("input_text", "input_audio", "cached_text", "cached_audio", "output_text", "output_audio")


def check_usage(value: dict[str, Any]) -> dict[str, int]:
    for key, count in value.items():
        if key not in USAGE_KEYS:
            import difflib

            near = difflib.get_close_matches(str(key), USAGE_KEYS, n=1)
            raise ValueError(f"usage: unknown count {key!r}: " + (f"did you mean {near[0]!r}?" if near
                                                                  else f"one of: {', '.join(USAGE_KEYS)}"))
        if type(count) is not int or count < 0:
            raise ValueError(f"usage: {key} is a number of tokens (a whole number, 0 or more), not {count!r}")
    return dict(value)


def check_close_code(code: int) -> int:
    """Codes a server may put in a close frame (RFC 6455 7.4): 1004-1006 and 1015 are reserved,
    2000-2999 belong to extensions."""
    if not (1000 <= code <= 1003 or 1007 <= code <= 1014 or 3000 <= code <= 4999):
        raise ValueError(f"{code} cannot be sent in a close frame: use 1000-1003, 1007-1014 or 3000-4999 "
                         "(1011: internal error)")
    return code


def check_close_reason(value: str) -> str:
    if len(value.encode("utf-8")) > 123:
        raise ValueError("a close reason is at most 123 bytes of UTF-8: shorten it")
    return value


# ---- the scenario as played --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A function tool the client must make available to the model (session.update, or a response.create's response.tools)."""

    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class FunctionCallPart:
    """A function call in a response: `arguments` as a mapping (sent as JSON) or as raw text (sent
    as is, so malformed JSON can be scripted); `deltas`, when given, are the exact delta texts."""

    name: str
    arguments: dict[str, Any] | str = field(default_factory=dict)
    chunks: int = 3
    deltas: tuple[str, ...] | None = None
    id: str | None = None  # a label for `expect: function_call_output` to refer to
    call_id: str | None = None  # the call_id on the wire (default: generated)

    @property
    def arguments_text(self) -> str:
        if isinstance(self.arguments, str):
            return self.arguments
        return json.dumps(self.arguments, ensure_ascii=False, separators=(",", ":"))


@dataclass(frozen=True, slots=True)
class TextPart:
    text: str
    chunks: int = 3


@dataclass(frozen=True, slots=True)
class AudioPart:
    """Spoken output: short generated PCM16 (24 kHz mono) deltas plus the transcript."""

    transcript: str
    duration: float = 0.3
    chunks: int = 3


@dataclass(frozen=True, slots=True)
class SendPart:
    """A server event sent inside a response, between two of its output items: after one item's
    `response.output_item.done` (and its conversation echoes), before the next item's
    `response.output_item.added`; never inside an item's delta stream. The session gives it a fresh
    `event_id` unless it has one. What the service is known to do is send `rate_limits.updated` around
    a response (after `response.done`); an event between items (rate_limits.updated, or an event type
    the service adds later) is a legal variation a client must tolerate, not an observed order."""

    send: dict[str, Any]


OutputPart = FunctionCallPart | TextPart | AudioPart
#: What a respond step lists: its output items, and events sent between them.
RespondPart = OutputPart | SendPart


def check_send_event(value: dict[str, Any]) -> dict[str, Any]:
    """A `send:` inside a response is an event object: a mapping with a text `type`."""
    kind = value.get("type")
    if not isinstance(kind, str) or not kind:
        raise ValueError("a send: inside a response is a server event: a mapping with a 'type' "
                         "(e.g. {type: rate_limits.updated, rate_limits: [...]})")
    return value


@dataclass(frozen=True, slots=True)
class RespondStep:
    """A response the server streams (after an `expect: response.create` it answers that create)."""

    respond: tuple[RespondPart, ...]  # output items, and events sent between two of them (SendPart)
    hold: float = 0.0
    delta_interval: float = 0.0
    status: Literal["completed", "incomplete", "failed"] = "completed"
    usage: dict[str, int] | None = None  # token counts to report (USAGE_KEYS); the rest derived


@dataclass(frozen=True, slots=True)
class ExpectStep:
    """Wait for a client event. Consecutive expects form a group, matched in any order."""

    expect: str
    within: float | None = None
    call: str | None = None
    match: dict[str, Any] = field(default_factory=dict)
    transcript: str | None = None  # the user's words for the audio the turn commits (input transcription)


@dataclass(frozen=True, slots=True)
class PauseStep:
    pause: float


@dataclass(frozen=True, slots=True)
class ClosePlan:
    code: int = 1000
    reason: str = ""


@dataclass(frozen=True, slots=True)
class CloseStep:
    """Close the socket (the client sees the code and reason). The document's `close:` is a code or
    a mapping; either way it is read into this plan."""

    plan: ClosePlan


@dataclass(frozen=True, slots=True)
class SendStep:
    """Send a frame as is: raw text (need not be JSON), or an event object."""

    send: str | dict[str, Any]


Step = ExpectStep | RespondStep | PauseStep | CloseStep | SendStep


@dataclass(frozen=True, slots=True)
class Defaults:
    within: float = 5.0


@dataclass(frozen=True, slots=True)
class Scenario:
    """One realtime session, scripted."""

    steps: tuple[Step, ...]
    name: str | None = None
    description: str | None = None
    dialect: Literal["any", "ga", "beta", "voice-live"] = "any"
    session: dict[str, Any] = field(default_factory=dict)
    tools: tuple[ToolSpec, ...] = ()
    defaults: Defaults = field(default_factory=Defaults)


def with_bounds_scaled(scenario: Scenario, factor: float) -> Scenario:
    """`scenario` with every bound `factor` times as long: each expect step's `within` and the
    default (`--scale-bounds`, for a slow machine or a client under a debugger). What the script
    itself paces (pauses, holds, delta intervals) is the server's, and stays."""
    if factor == 1:
        return scenario
    steps = tuple(dataclasses.replace(step, within=step.within * factor)
                  if isinstance(step, ExpectStep) and step.within is not None else step for step in scenario.steps)
    return dataclasses.replace(scenario, steps=steps,
                               defaults=dataclasses.replace(scenario.defaults, within=scenario.defaults.within * factor))


# ---- the quick reader ---------------------------------------------------------------------------------


class _NotPlain(Exception):
    """The document is not plainly valid: let the schema decide (and word the problem)."""


def build_scenario(data: Any) -> Scenario | None:
    """The scenario a plainly valid document describes, or None when the document is anything else
    (invalid, or valid only through a lax reading such as a number written as text): the schema
    then reads it, or says what is wrong."""
    try:
        return _scenario(data)
    except (_NotPlain, ValueError):
        return None


def _mapping(value: Any, allowed: frozenset[str], required: tuple[str, ...] = ()) -> dict[str, Any]:
    if type(value) is not dict or not value.keys() <= allowed or any(k not in value for k in required):
        raise _NotPlain
    return value


def _text(value: Any, *, optional: bool = False, non_empty: bool = False) -> Any:
    if value is None and optional:
        return None
    if type(value) is not str or (non_empty and not value):
        raise _NotPlain
    return value


def _whole(value: Any, low: int, high: int) -> int:
    if type(value) is not int or not low <= value <= high:
        raise _NotPlain
    return value


def _duration(value: Any, high: float) -> float:
    if type(value) not in (int, float, str):
        raise _NotPlain
    seconds = parse_duration(value)
    if not math.isfinite(seconds) or seconds > high:
        raise _NotPlain
    return seconds


def _object(value: Any, *, optional: bool = False) -> Any:
    """A free-form mapping (`dict[str, Any]`): text keys, any values."""
    if value is None and optional:
        return None
    if type(value) is not dict or any(type(k) is not str for k in value):
        raise _NotPlain
    return value


def _list(value: Any, *, non_empty: bool = False) -> list[Any]:
    if type(value) is not list or (non_empty and not value):
        raise _NotPlain
    return value


def _choice(value: Any, options: tuple[str, ...]) -> Any:
    """One of the literal `options` (typed by the caller's field)."""
    if type(value) is not str or value not in options:
        raise _NotPlain
    return value


def _one_key(value: Any, keys: tuple[str, ...]) -> str:
    if type(value) is not dict:
        raise _NotPlain
    present = [k for k in keys if k in value]
    if len(present) != 1:
        raise _NotPlain
    return present[0]


_SCENARIO_KEYS = frozenset({"name", "description", "dialect", "session", "tools", "defaults", "steps"})
_STEP_KEYS = ("expect", "respond", "pause", "close", "send")
_PART_KEYS = ("function_call", "text", "audio", "send")


def _scenario(data: Any) -> Scenario:
    doc = _mapping(data, _SCENARIO_KEYS, ("steps",))
    dialect = _choice(doc.get("dialect", "any"), ("any", "ga", "beta", "voice-live"))
    defaults = _mapping(doc.get("defaults", {}), frozenset({"within"}))
    return Scenario(
        steps=tuple(_step(step) for step in _list(doc["steps"], non_empty=True)),
        name=_text(doc.get("name"), optional=True),
        description=_text(doc.get("description"), optional=True),
        dialect=dialect,
        session=_object(doc.get("session", {})),
        tools=tuple(_tool(tool) for tool in _list(doc.get("tools", []))),
        defaults=Defaults(_duration(defaults["within"], 3600)) if "within" in defaults else Defaults(),
    )


def _tool(value: Any) -> ToolSpec:
    tool = _mapping(value, frozenset({"name", "description", "parameters"}), ("name",))
    return ToolSpec(_text(tool["name"], non_empty=True), _text(tool.get("description"), optional=True),
                    _object(tool.get("parameters"), optional=True))


def _step(value: Any) -> Step:
    kind = _one_key(value, _STEP_KEYS)
    if kind == "expect":
        step = _mapping(value, frozenset({"expect", "within", "call", "match", "transcript"}))
        expect = check_expect_kind(_text(step["expect"]))
        call = _text(step.get("call"), optional=True)
        if call is not None and expect != "function_call_output":
            raise _NotPlain
        within = step.get("within")
        return ExpectStep(expect, None if within is None else _duration(within, 3600), call,
                          check_match_paths(expect, check_match(_object(step.get("match", {})))),
                          _text(step.get("transcript"), optional=True))
    if kind == "respond":
        step = _mapping(value, frozenset({"respond", "hold", "delta_interval", "status", "usage"}))
        status = _choice(step.get("status", "completed"), ("completed", "incomplete", "failed"))
        usage = step.get("usage")
        return RespondStep(tuple(_part(part) for part in _list(step["respond"], non_empty=True)),
                           _duration(step.get("hold", 0.0), 3600), _duration(step.get("delta_interval", 0.0), 60),
                           status, None if usage is None else check_usage(_object(usage)))
    if kind == "pause":
        return PauseStep(_duration(_mapping(value, frozenset({"pause"}))["pause"], 3600))
    if kind == "close":
        close = _mapping(value, frozenset({"close"}))["close"]
        if type(close) is int:
            return CloseStep(ClosePlan(check_close_code(close)))
        plan = _mapping(close, frozenset({"code", "reason"}))
        return CloseStep(ClosePlan(check_close_code(_whole(plan.get("code", 1000), 1000, 4999)),
                                   check_close_reason(_text(plan.get("reason", "")))))
    send = _mapping(value, frozenset({"send"}))["send"]
    return SendStep(send if type(send) is str else _object(send))


def _part(value: Any) -> RespondPart:
    kind = _one_key(value, _PART_KEYS)
    inner = _mapping(value, frozenset({kind}))[kind]
    if kind == "send":
        return SendPart(check_send_event(_object(inner)))
    if kind == "text":
        if type(inner) is str:
            return TextPart(inner)
        text = _mapping(inner, frozenset({"text", "chunks"}), ("text",))
        return TextPart(_text(text["text"]), _whole(text.get("chunks", 3), 1, 100_000))
    if kind == "audio":
        if type(inner) is str:
            return AudioPart(inner)
        audio = _mapping(inner, frozenset({"transcript", "duration", "chunks"}), ("transcript",))
        return AudioPart(_text(audio["transcript"]), _duration(audio.get("duration", 0.3), 60),
                         _whole(audio.get("chunks", 3), 1, 10_000))
    call = _mapping(inner, frozenset({"name", "arguments", "chunks", "deltas", "id", "call_id"}), ("name",))
    deltas = call.get("deltas")
    if deltas is not None:
        if "chunks" in call or any(type(d) is not str for d in _list(deltas)):
            raise _NotPlain
        deltas = tuple(deltas)
    arguments = call.get("arguments", "".join(deltas) if deltas is not None else {})
    if type(arguments) is not str:
        arguments = _object(arguments)
    part = FunctionCallPart(_text(call["name"], non_empty=True), arguments, _whole(call.get("chunks", 3), 1, 100_000),
                            deltas, _text(call.get("id"), optional=True),
                            check_call_id(_text(call.get("call_id"), optional=True)))
    if deltas is not None and "".join(deltas) != part.arguments_text:
        raise _NotPlain
    return part
