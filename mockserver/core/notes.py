"""The session's decisions, as typed notes: what the script reached and matched, which bound applies,
which responses it started, how the session ended.

The session core (and the relay, for `rtmock proxy`) decides these once and records each as a note
between the frames; the judge reads them and decides nothing of the kind again. A note travels as
a script record whose event is `to_event()` (so transcripts keep one JSON form), and is read back,
live or from a transcript, with `read_note`, which checks every field: a note the judge reads is
always well-formed. Kinds this version does not know are read as `OtherNote` and ignored by the
rules, so that a transcript from another version still loads.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from ..scenario.model import ExpectStep

if TYPE_CHECKING:
    from ..scenario.loader import LoadedScenario

__all__ = [
    "BargeIn",
    "Closed",
    "FaultNotInjected",
    "FrameTooLarge",
    "InternalError",
    "Note",
    "OtherNote",
    "PlannedCall",
    "Refused",
    "RelayStarted",
    "ResponseStarted",
    "ResponseUnscripted",
    "ScenarioComplete",
    "SendTimeout",
    "StepMatched",
    "StepReached",
    "StepSkipped",
    "VadTurn",
    "read_note",
    "step_reached",
]


class _NoteBase:
    """What every note has: its kind (the record's `type`) and its JSON form."""

    __slots__ = ()
    KIND: ClassVar[str]
    #: fields left out of the JSON form while they hold their default: the keys that only some
    #: notes of a kind carry
    _OPTIONAL: ClassVar[frozenset[str]] = frozenset()

    def to_event(self) -> dict[str, Any]:
        event: dict[str, Any] = {"type": self.KIND}
        for name, omit, default, nested in _spec(type(self)).emit:
            value = getattr(self, name)
            if omit and value is default:
                continue
            event[name] = [_json_form(v) for v in value] if nested else value
        return event


@dataclass(frozen=True, slots=True)
class StepReached(_NoteBase):
    """The script waits for an expect step. `within` is the step's effective bound in seconds (its
    own, else `--within`, else the scenario's default): decided here, once."""

    KIND: ClassVar[str] = "rtmock.step.reached"
    _OPTIONAL: ClassVar[frozenset[str]] = frozenset({"tools"})
    step: int  # 1-based
    line: int
    expect: str
    within: float
    call_id: str | None = None  # for function_call_output: the call whose output it awaits
    call_name: str | None = None
    match: dict[str, Any] | None = None
    tools: tuple[str, ...] | None = None  # for session.update: the tools it must declare


@dataclass(frozen=True, slots=True)
class StepMatched(_NoteBase):
    KIND: ClassVar[str] = "rtmock.step.matched"
    step: int
    line: int
    client_index: int  # the record of the client event that met it


@dataclass(frozen=True, slots=True)
class StepSkipped(_NoteBase):
    """A step owed nothing (the output of a call whose response was cancelled)."""

    KIND: ClassVar[str] = "rtmock.step.skipped"
    step: int
    line: int
    expect: str
    call_id: str | None
    reason: str


@dataclass(frozen=True, slots=True)
class ScenarioComplete(_NoteBase):
    KIND: ClassVar[str] = "rtmock.scenario.complete"


@dataclass(frozen=True, slots=True)
class PlannedCall:
    call_id: str
    name: str
    label: str | None = None  # the scenario's `id:` for it


@dataclass(frozen=True, slots=True)
class ResponseStarted(_NoteBase):
    """The script started the response of a respond step (with the calls it will stream)."""

    KIND: ClassVar[str] = "rtmock.response.started"
    _OPTIONAL: ClassVar[frozenset[str]] = frozenset({"out_of_band", "tools", "tools_given_by", "tools_allowed",
                                                     "tool_choice"})
    step: int
    line: int
    response_id: str
    calls: tuple[PlannedCall, ...] = ()
    out_of_band: bool = False
    #: the function tools the response may call (where the scenario names the tools the client must
    #: make available): those in effect when the client asked for it
    tools: tuple[str, ...] | None = None
    tools_given_by: str | None = None  # "session" (session.tools) or "response" (its response.tools)
    #: the tools its tool_choice lets the model call (none for "none"), when it narrows them, and that
    #: tool_choice as the client gave it (JSON text)
    tools_allowed: tuple[str, ...] | None = None
    tool_choice: str | None = None


@dataclass(frozen=True, slots=True)
class PreviousCancelled(_NoteBase):
    """Voice Live: client event `client_index`, a response.create (`cancel_previous`, true by
    default), ended the active response `response_id` before its own began. Written right after the
    client's record, before that response's response.done (`cancelled`)."""

    KIND: ClassVar[str] = "rtmock.response.previous_cancelled"
    client_index: int
    response_id: str


@dataclass(frozen=True, slots=True)
class Refused(_NoteBase):
    """The session refused client event `client_index` (its `error` event follows, with this code
    and param): what the client asked for did not happen. Written right after the client's record."""

    KIND: ClassVar[str] = "rtmock.client_event.refused"
    _OPTIONAL: ClassVar[frozenset[str]] = frozenset({"param", "not_played"})
    client_index: int
    code: str
    param: str | None = None
    #: rtmock refused a valid event it does not play: its limit, not the client's mistake
    not_played: bool = False


@dataclass(frozen=True, slots=True)
class ResponseUnscripted(_NoteBase):
    """A response no respond step scripted (the client asked for one past the script)."""

    KIND: ClassVar[str] = "rtmock.response.unscripted"
    response_id: str
    out_of_band: bool


@dataclass(frozen=True, slots=True)
class BargeIn(_NoteBase):
    """Server VAD heard speech during an answer and cancelled it."""

    KIND: ClassVar[str] = "rtmock.barge_in"
    client_index: int
    response_id: str
    audio_start_ms: int


@dataclass(frozen=True, slots=True)
class VadTurn(_NoteBase):
    """Server VAD committed a user turn (and, with create_response, answers it itself)."""

    KIND: ClassVar[str] = "rtmock.vad_turn"
    _OPTIONAL: ClassVar[frozenset[str]] = frozenset({"client_index", "audio_end_ms", "response_id"})
    client_index: int | None = None
    audio_end_ms: int | None = None
    response_id: str | None = None  # relayed sessions: the response the service started


@dataclass(frozen=True, slots=True)
class Closed(_NoteBase):
    """The connection ended. `by`: "client" (or lost), or "server" (rtmock closed it: a refusal, a
    scripted close, a shutdown, its own error), which is never the client's doing."""

    KIND: ClassVar[str] = "rtmock.closed"
    _OPTIONAL: ClassVar[frozenset[str]] = frozenset({"complete", "refused", "step", "upstream"})
    by: str
    code: int | None = None
    reason: str = ""
    complete: bool | None = None
    refused: str | None = None  # the error code of a connection refused at the handshake
    step: int | None = None  # the scripted close's step
    upstream: bool = False  # relayed: the real service closed it


@dataclass(frozen=True, slots=True)
class RelayStarted(_NoteBase):
    """The session is relayed to a real service (`rtmock proxy`): its errors come when they come."""

    KIND: ClassVar[str] = "rtmock.relay.started"
    upstream: str | None


@dataclass(frozen=True, slots=True)
class FaultNotInjected(_NoteBase):
    KIND: ClassVar[str] = "rtmock.fault.not_injected"
    step: int
    line: int
    why: str


@dataclass(frozen=True, slots=True)
class InternalError(_NoteBase):
    """rtmock itself failed in this session (it closes it with 1011): nothing pending is the client's."""

    KIND: ClassVar[str] = "rtmock.internal_error"
    detail: str


@dataclass(frozen=True, slots=True)
class SendTimeout(_NoteBase):
    KIND: ClassVar[str] = "rtmock.send_timeout"
    seconds: float
    detail: str


@dataclass(frozen=True, slots=True)
class FrameTooLarge(_NoteBase):
    KIND: ClassVar[str] = "rtmock.frame_too_large"
    limit: int
    detail: str


@dataclass(frozen=True, slots=True)
class OtherNote:
    """A note of a kind this version does not know (or one with a shape of its own, such as the
    relay's upstream problems): kept as it was, read by no rule."""

    kind: str
    fields: dict[str, Any]

    def to_event(self) -> dict[str, Any]:
        return {"type": self.kind, **self.fields}


Note = (StepReached | StepMatched | StepSkipped | ScenarioComplete | ResponseStarted | ResponseUnscripted | Refused
        | PreviousCancelled | BargeIn
        | VadTurn | Closed | RelayStarted | FaultNotInjected | InternalError | SendTimeout | FrameTooLarge | OtherNote)

_KINDS: dict[str, type[Any]] = {cls.KIND: cls for cls in typing.get_args(Note) if cls is not OtherNote}


def step_reached(loaded: LoadedScenario, index: int, call_id: str | None, default_within: float) -> StepReached:
    """The note for reaching expect step `index` (0-based) of `loaded`: `call_id` is the wire id of
    the call whose output it awaits, `default_within` the bound of a step that gives none."""
    spec = loaded.scenario.steps[index]
    assert isinstance(spec, ExpectStep)
    ref = loaded.output_calls.get(index)
    return StepReached(index + 1, loaded.step_lines[index], spec.expect,
                       spec.within if spec.within is not None else default_within, call_id,
                       ref.spec.name if ref else None, spec.match or None,
                       tuple(t.name for t in loaded.scenario.tools) if spec.expect == "session.update" else None)


def read_note(event: dict[str, Any]) -> Note:
    """The typed note a script record's event holds. Raises ValueError naming the field when a known
    kind is malformed (a transcript edited by hand, say)."""
    kind = str(event.get("type"))
    cls = _KINDS.get(kind)
    if cls is None:
        return OtherNote(kind, {k: v for k, v in event.items() if k != "type"})
    return typing.cast(Note, cls(**_read_fields(cls, kind, event)))


def _read_fields(cls: type[Any], kind: str, event: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """The constructor arguments of `cls` from a JSON object, each checked (absent or null: the
    field's default)."""
    values: dict[str, Any] = {}
    for name, required, check in _spec(cls).read:
        value = event.get(name)
        if value is None and not required:
            continue
        if value is None and name not in event:
            raise ValueError(f"note {kind}: '{prefix}{name}' is missing")
        values[name] = check(kind, prefix + name, value)
    return values


def _json_form(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    return value


Check = Callable[[str, str, Any], Any]


@dataclass(frozen=True, slots=True)
class _Spec:
    """A note class's fields, worked out once: how to write each (name, omitted at its default?,
    default, a tuple, written as a list?) and how to read each back (name, required, checker)."""

    emit: tuple[tuple[str, bool, Any, bool], ...]
    read: tuple[tuple[str, bool, Check], ...]


_SPECS: dict[type[Any], _Spec] = {}


def _spec(cls: type[Any]) -> _Spec:
    spec = _SPECS.get(cls)
    if spec is None:
        hints = typing.get_type_hints(cls)
        optional: frozenset[str] = getattr(cls, "_OPTIONAL", frozenset())
        fields = dataclasses.fields(cls)
        spec = _SPECS[cls] = _Spec(
            tuple((f.name, f.name in optional, f.default, _is_tuple(hints[f.name])) for f in fields),
            tuple((f.name, f.default is dataclasses.MISSING, _checker(hints[f.name])) for f in fields))
    return spec


def _is_tuple(hint: Any) -> bool:
    options = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    return any(typing.get_origin(o) is tuple for o in options)


def _checker(hint: Any) -> Check:
    """A function that returns a JSON value as the field's type wants it (a list becomes a tuple),
    or raises ValueError naming the note and the field."""
    options = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    nullable = type(None) in options
    (want,) = [o for o in options if o is not type(None)]
    origin = typing.get_origin(want)
    if origin is tuple:
        item = _checker(typing.get_args(want)[0])

        def check_tuple(kind: str, name: str, value: Any) -> Any:
            if type(value) is not list:
                raise ValueError(f"note {kind}: '{name}' is {value!r}, not a list")
            return tuple(item(kind, name, v) for v in value)
        return check_tuple
    if want is PlannedCall:
        def check_call(kind: str, name: str, value: Any) -> Any:
            if type(value) is not dict:
                raise ValueError(f"note {kind}: '{name}' holds {value!r}, not an object")
            return PlannedCall(**_read_fields(PlannedCall, kind, value, f"{name}."))
        return check_call
    accepted = (dict,) if origin is dict else (int, float) if want is float else (want,)
    convert = float if want is float else None

    def check(kind: str, name: str, value: Any) -> Any:
        if value is None and nullable:
            return None
        if type(value) not in accepted:
            raise ValueError(f"note {kind}: '{name}' is {value!r}, not {_WORDS.get(want, 'an object')}")
        return convert(value) if convert is not None else value
    return check


_WORDS: dict[Any, str] = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}
