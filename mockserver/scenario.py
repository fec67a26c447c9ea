"""The scenario model: what a YAML scenario may say, validated by pydantic.

This module defines the shapes and their JSON Schema (`rtmock schema`); reading YAML with line
numbers and turning validation errors into located one-line messages is `loader.py`'s job. A
scenario is one session: the tools the client must declare, then steps run in order — waits for
client events (`expect`), responses the server streams (`respond`), and faults.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    field_validator,
    model_validator,
)

__all__ = [
    "AudioPart",
    "ClosePlan",
    "CloseStep",
    "ExpectStep",
    "FunctionCallPart",
    "PauseStep",
    "RespondStep",
    "Scenario",
    "SendStep",
    "Step",
    "TextPart",
    "ToolSpec",
    "parse_duration",
]

CALL_ID_PATTERN = re.compile(r"^[a-zA-Z0-9_-]+$")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?|\.\d+)\s*(ms|s|m)?\s*$")


def parse_duration(value: Any) -> float:
    """'2s', '500ms', '1.5m' or a number of seconds → seconds."""
    if isinstance(value, bool):
        raise ValueError("a duration is a number of seconds or text like '2s' or '500ms'")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and (m := _DURATION.match(value)):
        seconds = float(m.group(1)) * {"ms": 0.001, "s": 1.0, "m": 60.0, None: 1.0}[m.group(2)]
    else:
        raise ValueError(f"{value!r} is not a duration: write e.g. 2s, 500ms, 1.5m or a number of seconds")
    if seconds < 0:
        raise ValueError("a duration cannot be negative")
    return seconds


Duration = Annotated[
    float,
    BeforeValidator(parse_duration),
    Field(json_schema_extra={"anyOf": [{"type": "number"}, {"type": "string", "pattern": _DURATION.pattern}]}),
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ToolSpec(_Model):
    """A function tool the client is expected to declare in its session.update."""

    name: str = Field(min_length=1, description="The function's name.")
    description: str | None = None
    parameters: dict[str, Any] | None = Field(None, description="JSON Schema of the arguments object.")


# ---- what the server says -------------------------------------------------------------------


class FunctionCallPart(_Model):
    """A function call in a response: `arguments` as a mapping (sent as JSON) or as raw text
    (sent as is, so malformed JSON can be scripted)."""

    name: str = Field(min_length=1, description="The tool's name.")
    arguments: dict[str, Any] | str = Field(default_factory=dict)
    chunks: int = Field(3, ge=1, le=100_000, description="How many argument delta events to split into.")
    deltas: list[str] | None = Field(
        None, description="The exact texts of the argument delta events, in order (instead of `chunks`). They "
        "concatenate to `arguments`, which defaults to their concatenation. `rtmock fuzz` reproducers use it.")
    id: str | None = Field(None, description="A label for `expect: function_call_output` to refer to.")
    call_id: str | None = Field(None, description="The call_id on the wire (default: generated).")

    @field_validator("call_id")
    @classmethod
    def _call_id_shape(cls, value: str | None) -> str | None:
        if value is not None and not CALL_ID_PATTERN.match(value):
            raise ValueError("a call_id may contain only letters, digits, '_' and '-'")
        return value

    @model_validator(mode="before")
    @classmethod
    def _arguments_from_deltas(cls, data: Any) -> Any:
        if isinstance(data, dict) and "arguments" not in data and isinstance(data.get("deltas"), list) \
                and all(isinstance(d, str) for d in data["deltas"]):
            return {**data, "arguments": "".join(data["deltas"])}
        return data

    @model_validator(mode="after")
    def _deltas_make_arguments(self) -> FunctionCallPart:
        if self.deltas is None:
            return self
        if "chunks" in self.model_fields_set:
            raise ValueError("give either 'chunks' or 'deltas', not both")
        if "".join(self.deltas) != self.arguments_text:
            raise ValueError("'deltas' must concatenate to exactly the 'arguments' text (or leave out 'arguments')")
        return self

    @property
    def arguments_text(self) -> str:
        import json

        if isinstance(self.arguments, str):
            return self.arguments
        return json.dumps(self.arguments, ensure_ascii=False, separators=(",", ":"))


class TextPart(_Model):
    text: str
    chunks: int = Field(3, ge=1, le=100_000)


class AudioPart(_Model):
    """Spoken output: short generated PCM16 (24 kHz mono) deltas plus the transcript."""

    transcript: str
    duration: Duration = Field(0.3, le=60)
    chunks: int = Field(3, ge=1, le=10_000)


def _part_tag(value: Any) -> str | None:
    if isinstance(value, BaseModel):  # serializing: a built part is tagged by its fields
        value = dict.fromkeys(type(value).model_fields)
    if isinstance(value, dict):
        keys = [k for k in ("function_call", "text", "audio") if k in value]
        return keys[0] if len(keys) == 1 else None
    return None


class _FunctionCallItem(_Model):
    function_call: FunctionCallPart


class _TextItem(_Model):
    text: str | TextPart

    @property
    def part(self) -> TextPart:
        return self.text if isinstance(self.text, TextPart) else TextPart(text=self.text)


class _AudioItem(_Model):
    audio: str | AudioPart

    @property
    def part(self) -> AudioPart:
        return self.audio if isinstance(self.audio, AudioPart) else AudioPart(transcript=self.audio)


OutputPart = Annotated[
    Annotated[_FunctionCallItem, Tag("function_call")]
    | Annotated[_TextItem, Tag("text")]
    | Annotated[_AudioItem, Tag("audio")],
    Discriminator(
        _part_tag,
        custom_error_type="output_part",
        custom_error_message="each output is a mapping with exactly one of: function_call, text, audio",
    ),
]


class RespondStep(_Model):
    """A response the server streams. After an `expect: response.create` it answers that create;
    elsewhere the server starts it on its own (as server VAD does after committed audio)."""

    respond: list[OutputPart] = Field(min_length=1)
    hold: Duration = Field(0.0, le=3600, description="Keep the response active this long before response.done.")
    delta_interval: Duration = Field(0.0, le=60, description="Pause between delta events.")
    status: Literal["completed", "incomplete", "failed"] = "completed"


# ---- what the client must do ----------------------------------------------------------------

ExpectKind = str  # a client event type, or one of the shorthands below
EXPECT_SHORTHANDS = {
    "function_call_output": "conversation.item.create with an item of type function_call_output",
    "user_message": "conversation.item.create with a user message item",
}


class ExpectStep(_Model):
    """Wait for a client event. Consecutive expects form a group, matched in any order."""

    expect: ExpectKind = Field(
        description="A client event type (session.update, response.create, input_audio_buffer.commit, …) "
        "or a shorthand: function_call_output, user_message."
    )
    within: Duration | None = Field(None, le=3600, description="Bound from when the step is reached.")
    call: str | None = Field(None, description="For function_call_output: the call's id label, call_id or name.")
    match: dict[str, Any] = Field(
        default_factory=dict,
        description="Dotted paths into the client event and what they must hold: a literal (equal), a "
        "mapping (contains), or an operator: {equals|contains|regex|json_contains|exists|type: …}.",
    )

    @field_validator("expect")
    @classmethod
    def _known_kind(cls, value: str) -> str:
        from .client_events import CLIENT_EVENT_TYPES

        if value not in EXPECT_SHORTHANDS and value not in CLIENT_EVENT_TYPES:
            import difflib

            options = sorted([*EXPECT_SHORTHANDS, *CLIENT_EVENT_TYPES])
            near = difflib.get_close_matches(value, options, n=1)
            hint = f"did you mean {near[0]!r}?" if near else f"one of: {', '.join(options)}"
            raise ValueError(f"{value!r} is not a client event: {hint}")
        return value

    @model_validator(mode="after")
    def _call_only_for_outputs(self) -> ExpectStep:
        if self.call is not None and self.expect != "function_call_output":
            raise ValueError("'call' belongs to 'expect: function_call_output' only")
        return self


# ---- faults ----------------------------------------------------------------------------------


class PauseStep(_Model):
    pause: Duration = Field(le=3600, description="Wait this long before the next step.")


def _close_code(code: int) -> int:
    """Codes a server may put in a close frame (RFC 6455 7.4): 1004-1006 and 1015 are reserved,
    2000-2999 belong to extensions."""
    if not (1000 <= code <= 1003 or 1007 <= code <= 1014 or 3000 <= code <= 4999):
        raise ValueError(f"{code} cannot be sent in a close frame: use 1000-1003, 1007-1014 or 3000-4999 "
                         "(1011: internal error)")
    return code


CloseCode = Annotated[int, AfterValidator(_close_code), Field(json_schema_extra={"minimum": 1000, "maximum": 4999})]


class ClosePlan(_Model):
    code: CloseCode = 1000
    reason: str = ""  # at most 123 bytes of UTF-8 fit in a close frame

    @field_validator("reason")
    @classmethod
    def _fits_frame(cls, value: str) -> str:
        if len(value.encode("utf-8")) > 123:
            raise ValueError("a close reason is at most 123 bytes of UTF-8: shorten it")
        return value


class CloseStep(_Model):
    """Close the socket (the client sees the code and reason)."""

    close: ClosePlan | CloseCode

    @property
    def plan(self) -> ClosePlan:
        return self.close if isinstance(self.close, ClosePlan) else ClosePlan(code=self.close)


class SendStep(_Model):
    """Send a frame as is: `raw` text (need not be JSON), or an `event` object."""

    send: str | dict[str, Any] = Field(description="Raw frame text, or an event object sent as JSON.")


_STEP_KEYS = ("expect", "respond", "pause", "close", "send")


def _step_tag(value: Any) -> str | None:
    if isinstance(value, BaseModel):  # serializing: a built step is tagged by its fields
        value = dict.fromkeys(type(value).model_fields)
    if isinstance(value, dict):
        keys = [k for k in _STEP_KEYS if k in value]
        return keys[0] if len(keys) == 1 else None
    return None


Step = Annotated[
    Annotated[ExpectStep, Tag("expect")]
    | Annotated[RespondStep, Tag("respond")]
    | Annotated[PauseStep, Tag("pause")]
    | Annotated[CloseStep, Tag("close")]
    | Annotated[SendStep, Tag("send")],
    Discriminator(
        _step_tag,
        custom_error_type="step",
        custom_error_message="each step is a mapping with exactly one of: " + ", ".join(_STEP_KEYS),
    ),
]


class Defaults(_Model):
    within: Duration = Field(5.0, le=3600, description="Bound for expects that give none.")


class Scenario(_Model):
    """One realtime session, scripted."""

    name: str | None = Field(None, description="Defaults to the file name without .yaml.")
    description: str | None = None
    dialect: Literal["any", "ga", "beta"] = Field(
        "any", description="Pin the protocol dialect; 'any' lets the connection decide."
    )
    session: dict[str, Any] = Field(
        default_factory=dict, description="Fields merged into the session object of session.created."
    )
    tools: list[ToolSpec] = Field(default_factory=list, description="Tools the client must declare.")
    defaults: Defaults = Field(default_factory=Defaults)
    steps: list[Step] = Field(min_length=1)
