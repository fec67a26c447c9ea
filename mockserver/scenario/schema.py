"""The scenario format, as pydantic models: what a YAML scenario may say, its JSON Schema (`rtmock
schema`), and the full validation whose errors `schema_errors.py` turns into located messages.

Loading does not usually come here: `scenario.build_scenario` reads a plainly valid document on
its own (pydantic costs a fifth of a second to import and build), and only a document it is not sure
of is validated here. Both give the same `scenario.Scenario` (`to_scenario`); a property test holds
them to that. The rules both apply live in `scenario.py`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from . import model as plain
from .matching import check_match
from .model import (
    DURATION_PATTERN,
    check_call_id,
    check_close_code,
    check_close_reason,
    check_expect_kind,
    check_match_paths,
    check_send_event,
    check_usage,
    parse_duration,
)

__all__ = ["Scenario", "editor_schema", "to_scenario"]

def _duration_schema(maximum: int) -> WithJsonSchema:
    """Seconds, or a string such as "500ms", at most `maximum` seconds. The schema editors see is set
    here whole: a sibling "type" made every string duration invalid, and pydantic's own `le` beside an
    `anyOf` is no JSON Schema keyword (`editor_schema` drops what is left of it)."""
    return WithJsonSchema({"anyOf": [{"type": "number", "minimum": 0, "maximum": maximum},
                                     {"type": "string", "pattern": DURATION_PATTERN.pattern}]})


ShortDuration = Annotated[float, BeforeValidator(parse_duration), _duration_schema(60)]
LongDuration = Annotated[float, BeforeValidator(parse_duration), _duration_schema(3600)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ToolSpec(_Model):
    """A function tool the client must make available to the model (session.update, or a response.create's response.tools)."""

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
        return check_call_id(value)

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
        if "".join(self.deltas) != _plain_call(self).arguments_text:
            raise ValueError("'deltas' must concatenate to exactly the 'arguments' text (or leave out 'arguments')")
        return self


class TextPart(_Model):
    text: str
    chunks: int = Field(3, ge=1, le=100_000)


class AudioPart(_Model):
    """Spoken output: short generated PCM16 (24 kHz mono) deltas plus the transcript."""

    transcript: str
    duration: ShortDuration = Field(0.3, le=60)
    chunks: int = Field(3, ge=1, le=10_000)


def _part_tag(value: Any) -> str | None:
    if isinstance(value, BaseModel):  # serializing: a built part is tagged by its fields
        value = dict.fromkeys(type(value).model_fields)
    if isinstance(value, dict):
        keys = [k for k in ("function_call", "text", "audio", "send") if k in value]
        return keys[0] if len(keys) == 1 else None
    return None


class _FunctionCallItem(_Model):
    function_call: FunctionCallPart


class _TextItem(_Model):
    text: str | TextPart


class _AudioItem(_Model):
    audio: str | AudioPart


class _SendItem(_Model):
    send: dict[str, Any] = Field(
        description="A server event sent inside the response, between two outputs (after one item's "
        "response.output_item.done, before the next one's response.output_item.added; given a fresh event_id "
        "unless it has one), e.g. {type: rate_limits.updated, rate_limits: [...]}. Not first or last.",
        json_schema_extra={"required": ["type"], "properties": {"type": {"type": "string", "minLength": 1}}})

    @field_validator("send")
    @classmethod
    def _is_event(cls, value: dict[str, Any]) -> dict[str, Any]:
        return check_send_event(value)


OutputPart = Annotated[
    Annotated[_FunctionCallItem, Tag("function_call")]
    | Annotated[_TextItem, Tag("text")]
    | Annotated[_AudioItem, Tag("audio")]
    | Annotated[_SendItem, Tag("send")],
    Discriminator(
        _part_tag,
        custom_error_type="output_part",
        custom_error_message="each output is a mapping with exactly one of: function_call, text, audio, send",
    ),
]


class RespondStep(_Model):
    """A response the server streams. After an `expect: response.create` it answers that create;
    elsewhere the server starts it on its own (as server VAD does after committed audio)."""

    respond: list[OutputPart] = Field(min_length=1)
    hold: LongDuration = Field(0.0, le=3600, description="Keep the response active this long before response.done.")
    delta_interval: ShortDuration = Field(0.0, le=60, description="Pause between delta events.")
    status: Literal["completed", "incomplete", "failed"] = "completed"
    usage: dict[str, int] | None = Field(
        None, description="Token counts response.done reports (input_text, input_audio, cached_text, cached_audio, "
        "output_text, output_audio); what is left out is derived.")

    @field_validator("usage")
    @classmethod
    def _known_counts(cls, value: dict[str, int] | None) -> dict[str, int] | None:
        return None if value is None else check_usage(value)


# ---- what the client must do ----------------------------------------------------------------

ExpectKind = str  # a client event type, or one of the shorthands (scenario.EXPECT_SHORTHANDS)


class ExpectStep(_Model):
    """Wait for a client event. Consecutive expects form a group, matched in any order."""

    expect: ExpectKind = Field(
        description="A client event type (session.update, response.create, input_audio_buffer.commit, …) "
        "or a shorthand: function_call_output, user_message."
    )
    within: LongDuration | None = Field(None, le=3600, description="Bound from when the step is reached.")
    call: str | None = Field(None, description="For function_call_output: the call's id label, call_id or name.")
    match: dict[str, Any] = Field(
        default_factory=dict,
        description="Dotted paths into the client event and what they must hold: a literal (equal), a "
        "mapping (contains), or an operator: {equals|contains|regex|json_contains|exists|type: …}. The key "
        "`any` lists alternative blocks, met when one of them is.",
    )

    transcript: str | None = Field(
        None, description="The user's words for the audio this turn commits: the input transcription events "
        "carry them when the session asks for transcription.")

    @field_validator("expect")
    @classmethod
    def _known_kind(cls, value: str) -> str:
        return check_expect_kind(value)

    @field_validator("match")
    @classmethod
    def _usable_match(cls, value: dict[str, Any]) -> dict[str, Any]:
        return check_match(value)

    @model_validator(mode="after")
    def _call_only_for_outputs(self) -> ExpectStep:
        if self.call is not None and self.expect != "function_call_output":
            raise ValueError("'call' belongs to 'expect: function_call_output' only: remove it from this step")
        check_match_paths(self.expect, self.match)
        return self


# ---- faults ----------------------------------------------------------------------------------


class PauseStep(_Model):
    pause: LongDuration = Field(le=3600, description="Wait this long before the next step.")


CloseCode = Annotated[int, AfterValidator(check_close_code), Field(json_schema_extra={"minimum": 1000, "maximum": 4999})]


class ClosePlan(_Model):
    code: CloseCode = 1000
    reason: str = ""  # at most 123 bytes of UTF-8 fit in a close frame

    @field_validator("reason")
    @classmethod
    def _fits_frame(cls, value: str) -> str:
        return check_close_reason(value)


class CloseStep(_Model):
    """Close the socket (the client sees the code and reason)."""

    close: ClosePlan | CloseCode


class SendStep(_Model):
    """Send a frame as is: text (need not be JSON), or an event object (sent as JSON)."""

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
    within: LongDuration = Field(5.0, le=3600, description="Bound for expects that give none.")


class Scenario(_Model):
    """One realtime session, scripted."""

    name: str | None = Field(None, description="Defaults to the file name without .yaml.")
    description: str | None = None
    dialect: Literal["any", "ga", "beta", "voice-live"] = Field(
        "any", description="Pin the protocol dialect ('voice-live': Azure Voice Live); 'any' lets the connection decide."
    )
    session: dict[str, Any] = Field(
        default_factory=dict, description="Fields merged into the session object of session.created."
    )
    tools: list[ToolSpec] = Field(default_factory=list, description="Tools the client must make available to the model: in session.update, or per response in response.create's response.tools.")
    defaults: Defaults = Field(default_factory=Defaults)
    steps: list[Step] = Field(min_length=1)


# ---- to the scenario the session plays ----------------------------------------------------------------


def _plain_call(part: FunctionCallPart) -> plain.FunctionCallPart:
    return plain.FunctionCallPart(part.name, part.arguments, part.chunks,
                                  None if part.deltas is None else tuple(part.deltas), part.id, part.call_id)


def _plain_part(item: _FunctionCallItem | _TextItem | _AudioItem | _SendItem) -> plain.RespondPart:
    if isinstance(item, _SendItem):
        return plain.SendPart(item.send)
    if isinstance(item, _FunctionCallItem):
        return _plain_call(item.function_call)
    if isinstance(item, _TextItem):
        text = item.text
        return plain.TextPart(text) if isinstance(text, str) else plain.TextPart(text.text, text.chunks)
    audio = item.audio
    return plain.AudioPart(audio) if isinstance(audio, str) else plain.AudioPart(audio.transcript, audio.duration,
                                                                                  audio.chunks)


def _plain_step(step: ExpectStep | RespondStep | PauseStep | CloseStep | SendStep) -> plain.Step:
    if isinstance(step, ExpectStep):
        return plain.ExpectStep(step.expect, step.within, step.call, step.match, step.transcript)
    if isinstance(step, RespondStep):
        return plain.RespondStep(tuple(_plain_part(p) for p in step.respond), step.hold, step.delta_interval, step.status,
                                 step.usage)
    if isinstance(step, PauseStep):
        return plain.PauseStep(step.pause)
    if isinstance(step, CloseStep):
        close = step.close
        return plain.CloseStep(plain.ClosePlan(close.code, close.reason) if isinstance(close, ClosePlan)
                               else plain.ClosePlan(close))
    return plain.SendStep(step.send)


def to_scenario(model: Scenario) -> plain.Scenario:
    """The validated document as the session plays it (what `scenario.build_scenario` gives for it)."""
    return plain.Scenario(
        steps=tuple(_plain_step(step) for step in model.steps), name=model.name, description=model.description,
        dialect=model.dialect, session=model.session,
        tools=tuple(plain.ToolSpec(t.name, t.description, t.parameters) for t in model.tools),
        defaults=plain.Defaults(model.defaults.within))


def editor_schema() -> dict[str, Any]:
    """The scenario format as a JSON Schema (draft 2020-12) for editors (yaml-language-server), ajv and
    `jsonschema`: pydantic's, less the `le` it leaves beside a duration's `anyOf` (JSON Schema has no
    such keyword; the bound is already the numeric branch's `maximum`)."""
    schema = Scenario.model_json_schema()

    def fix(node: Any) -> None:
        if isinstance(node, dict):
            node.pop("le", None)  # the bound is the numeric branch's `maximum` (`_duration`)
            for value in node.values():
                fix(value)
        elif isinstance(node, list):
            for value in node:
                fix(value)

    fix(schema)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema, "title": "rtmock scenario"}

