"""Validation of client events, the way the real service judges them.

`validate_client_event(text, dialect)` takes a frame's text and returns the event object or a
`Rejection`: the code, message and `param` of the `error` event the real service would send.

What a valid event looks like is not written here: `_shapes.json` is generated from the official
`openai` package's client-event params (`_shapes_generate.py`), which come from the same API
definition the service validates against. Every object is closed (an unknown key is
`unknown_parameter`), required keys are `missing_required_parameter`, a wrong JSON type is
`invalid_type` and a value outside a closed set is `invalid_value`, each naming the field in
`param`. Two choices of ours on top of the types:

- an optional field may be `null` (clients send explicit nulls, e.g. livekit's
  `response.instructions: null`; the service reads them as absent);
- the few rules the types cannot state are checked after the shape (`_SERVICE_RULES`).

Checks that need conversation state (unknown call_id, an active response) live in `_refusals.py`.

Speed: each frame is first put to its event type's shape compiled into a yes/no predicate (`_Compiler`);
only a frame it calls invalid is walked by `_Checker`, whose answer is the one the client gets.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from .voicelive import with_voice_live

__all__ = ["Rejection", "client_event_types", "event_types", "validate_client_event"]


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why a client event is refused: becomes the `error` object of an error event."""

    code: str
    message: str
    param: str | None = None
    event_id: str | None = None


@cache
def _tables() -> dict[str, Any]:
    shapes = json.loads(resources.files(__package__).joinpath("_shapes.json").read_text(encoding="utf-8"))
    return with_voice_live(shapes)  # Voice Live's own, generated from azure-ai-voicelive: voicelive.py


def event_types(dialect: str) -> frozenset[str]:
    """The client event types a dialect knows."""
    events = _tables()["events"]
    return frozenset(events.get(dialect) or events["beta" if dialect != "ga" else "ga"])


@cache
def client_event_types() -> frozenset[str]:
    """Every client event type of every dialect (Voice Live's `input_text.done` too): what a
    scenario's `expect:` may name. Read from the same tables the events are checked against."""
    return frozenset().union(*(frozenset(table) for table in _tables()["events"].values()))

_JSON_TYPE_NAMES = {
    dict: "an object", list: "an array", str: "a string", bool: "a boolean", int: "an integer",
    float: "a number", type(None): "null",
}
_ARTICLE = {"string": "a string", "number": "a number", "integer": "an integer", "boolean": "a boolean",
            "object": "an object", "array": "an array", "map": "an object", "null": "null"}


def _json_type(value: Any) -> str:
    return _JSON_TYPE_NAMES.get(type(value), type(value).__name__)


def _quote(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else f"'{value}'"


def _supported(values: list[Any]) -> str:
    quoted = [_quote(v) for v in values]
    if len(quoted) <= 2:
        return " and ".join(quoted)
    return ", ".join(quoted[:-1]) + f", and {quoted[-1]}"


class _Checker:
    """Walks one value against its shape; the first problem found is the service's answer."""

    def __init__(self, defs: dict[str, Any], event_id: str | None) -> None:
        self.defs = defs
        self.event_id = event_id

    def resolve(self, shape: dict[str, Any]) -> dict[str, Any]:
        ref = shape.get("ref")
        return self.defs[ref] if ref is not None else shape

    def fail(self, code: str, message: str, path: str) -> Rejection:
        return Rejection(code, message, path or None, self.event_id)

    def wrong_type(self, expected: str, value: Any, path: str) -> Rejection:
        return self.fail("invalid_type", f"Invalid type for '{path}': expected {expected}, but got "
                                         f"{_json_type(value)} instead.", path)

    def check(self, value: Any, shape: dict[str, Any], path: str, depth: int = 0) -> Rejection | None:
        if depth > _MAX_DEPTH:
            return self.fail("invalid_value", f"'{path}' is nested more than {_MAX_DEPTH} levels deep.", path)
        if value is None and shape.get("nullable"):
            return None
        shape = self.resolve(shape)
        kind = shape["t"]
        if kind == "any":
            return None
        if kind == "object":
            return self.check_object(value, shape, path, depth)
        if kind == "union":
            return self.check_union(value, shape, path, depth)
        if kind == "enum":
            if value in shape["values"] and type(value) is type(shape["values"][0]):
                return None
            if not isinstance(value, str | int | float | bool) or isinstance(value, bool) != isinstance(shape["values"][0], bool):
                return self.wrong_type(_ARTICLE.get(_kind_of(shape["values"][0]), "a string"), value, path)
            return self.fail("invalid_value", f"Invalid value: {_quote(value)}. Supported values are: "
                                              f"{_supported(shape['values'])}.", path)
        if kind == "array":
            if not isinstance(value, list):
                return self.wrong_type("an array", value, path)
            for i, element in enumerate(value):
                if (found := self.check(element, shape["items"], f"{path}[{i}]", depth + 1)) is not None:
                    return found
            return None
        if kind == "map":
            if not isinstance(value, dict):
                return self.wrong_type("an object", value, path)
            for key, element in value.items():
                if (found := self.check(element, shape["values"], f"{path}.{key}", depth + 1)) is not None:
                    return found
            return None
        if _TYPE_CHECKS[kind](value):
            return None
        return self.wrong_type(_ARTICLE[kind], value, path)

    def check_object(self, value: Any, shape: dict[str, Any], path: str, depth: int) -> Rejection | None:
        if not isinstance(value, dict):
            return self.wrong_type("an object", value, path)
        fields = shape["fields"]
        prefix = f"{path}." if path else ""
        for key in value:
            if key not in fields:
                return self.fail("unknown_parameter", f"Unknown parameter: '{prefix}{key}'.", f"{prefix}{key}")
        for key in shape["required"]:
            if key not in value:
                return self.fail("missing_required_parameter", f"Missing required parameter: '{prefix}{key}'.",
                                 f"{prefix}{key}")
        for key, element in value.items():
            if element is None and key not in shape["required"]:
                continue  # an explicit null in an optional field reads as absent
            if (found := self.check(element, fields[key], f"{prefix}{key}", depth + 1)) is not None:
                return found
        return None

    def check_union(self, value: Any, shape: dict[str, Any], path: str, depth: int) -> Rejection | None:
        """Valid when one option accepts it; else the answer of the option it was meant to be: for
        objects, the one whose tags (`type`, `role`: the fields with a closed set of values) it
        matches best; for scalars, the first option of its JSON type."""
        options = [self.resolve(o) for o in shape["options"]]
        failures: list[tuple[int, Rejection]] = []
        for option in options:
            found = self.check(value, option, path, depth)
            if found is None:
                return None
            failures.append((self.affinity(value, option), found))
        if isinstance(value, dict):
            prefix = f"{path}." if path else ""
            for tag in ("type", "role"):  # the discriminators of the protocol's unions, in order
                tagged = [(o, self.resolve(o["fields"][tag])) for o in options
                          if o["t"] == "object" and tag in o["fields"]]
                values = list(dict.fromkeys(v for _, field in tagged for v in field.get("values", [])))
                if not values:
                    continue
                if tag not in value:
                    if len(tagged) == len(options) and all(tag in o["required"] for o, _ in tagged):
                        return self.fail("missing_required_parameter",
                                         f"Missing required parameter: '{prefix}{tag}'.", f"{prefix}{tag}")
                    continue
                if value[tag] not in values:
                    return self.fail("invalid_value", f"Invalid value: {_quote(value[tag])}. Supported values "
                                                      f"are: {_supported(values)}.", f"{prefix}{tag}")
                options = [o for o in options if o["t"] != "object" or tag not in o["fields"]
                           or value[tag] in self.resolve(o["fields"][tag]).get("values", [])]
            failures = [(score, found) for (score, found), o in zip(failures, [self.resolve(x) for x in shape["options"]],
                                                                    strict=True) if o in options]
        best = max(score for score, _ in failures)
        return next(found for score, found in failures if score == best)

    def affinity(self, value: Any, option: dict[str, Any]) -> int:
        if option["t"] == "object":
            if not isinstance(value, dict):
                return -1
            score = 1
            for key, field in option["fields"].items():
                field = self.resolve(field)
                if field["t"] == "enum" and key in value:
                    score += 10 if value[key] in field["values"] else -10
            return score
        if option["t"] in ("array", "map"):
            return 1 if isinstance(value, list if option["t"] == "array" else dict) else -1
        if option["t"] == "enum":
            return 1 if isinstance(value, str) else -1
        return 1 if _TYPE_CHECKS.get(option["t"], lambda v: True)(value) else -1


def _kind_of(example: Any) -> str:
    if isinstance(example, bool):
        return "boolean"
    if isinstance(example, int):
        return "integer"
    if isinstance(example, float):
        return "number"
    return "string"


_TYPE_CHECKS = {
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "null": lambda v: v is None,
}

#: How deep a client event may nest. The service's own limit is not documented; JSON parsers
#: commonly stop at a few hundred levels, and nothing in the protocol nests past ten.
_MAX_DEPTH = 256


# ---- the fast path: is it valid at all? ----------------------------------------------------------
#
# Nearly every frame is valid, and for a valid one all the checker's paths and Rejections are waste.
# So each event type's shape is compiled once into a predicate made of closures that only says
# valid or not; a frame it calls invalid is walked again by `_Checker`, whose answer is the one sent.
# A predicate may call a valid value invalid (that costs a walk) but never an invalid one valid.

_Valid = Callable[[Any], bool]


def _never(value: Any) -> bool:
    return False


def _always(value: Any) -> bool:
    return True


#: The exact types each leaf kind accepts (a subclass is left to its check: `True` is no integer).
_EXACT_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,), "boolean": (bool,), "integer": (int,), "number": (int, float), "null": (type(None),),
    "any": (dict, list, str, int, float, bool, type(None)),
}
_KNOWN_KINDS = frozenset({"object", "union", "enum", "array", "map", *_EXACT_TYPES})


class _Cyclic(Exception):
    """A shape inside itself: values of any depth could match it, so `_MAX_DEPTH` is the checker's."""


class _Compiler:
    """Shapes to predicates that agree with `_Checker.check(...) is None`, each shape compiled once."""

    def __init__(self, defs: dict[str, Any]) -> None:
        self.defs = defs
        #: id(shape) → (shape, predicate, depth): how deep the checker walks under it at most.
        self.done: dict[int, tuple[dict[str, Any], _Valid, int]] = {}
        self.open: set[int] = set()

    def resolve(self, shape: dict[str, Any]) -> dict[str, Any]:
        ref = shape.get("ref")
        return self.defs[ref] if ref is not None else shape

    def node(self, shape: dict[str, Any]) -> tuple[_Valid, int]:
        """As `_Checker.check` reads a shape: its own `nullable` first, then what it refers to."""
        valid, depth = self.body(self.resolve(shape))
        if shape.get("nullable"):
            inner = valid

            def valid(value: Any) -> bool:
                return value is None or inner(value)
        return valid, depth

    def instant(self, shape: dict[str, Any], null: bool) -> frozenset[Any]:
        """What a value of `shape` needs no call to be accepted for: its type is in the set (a leaf's
        exact types; NoneType when `null` may stand) or it is a string in the set (an enum's)."""
        body = self.resolve(shape)
        kind = body.get("t")
        values = body.get("values") if kind == "enum" else None
        accepted: set[Any] = set(_EXACT_TYPES.get(kind, ()) if isinstance(kind, str) else ())
        if values and type(values[0]) is str:
            accepted.update(v for v in values if type(v) is str)
        if null or shape.get("nullable"):
            accepted.add(type(None))
        return frozenset(accepted)

    def body(self, shape: dict[str, Any]) -> tuple[_Valid, int]:
        key = id(shape)
        if (done := self.done.get(key)) is not None:
            return done[1], done[2]
        if key in self.open:
            raise _Cyclic
        self.open.add(key)
        try:
            valid, depth = self.build(shape)
        finally:
            self.open.discard(key)
        self.done[key] = (shape, valid, depth)
        return valid, depth

    def build(self, shape: dict[str, Any]) -> tuple[_Valid, int]:
        kind = shape.get("t")
        if kind == "any":
            return _always, 0
        if kind == "object":
            return self.object(shape)
        if kind == "union":
            return self.union(shape)
        if kind == "enum":
            return self.enum(shape["values"]), 0
        if kind in ("array", "map"):
            return self.container(shape, kind)
        if kind in _TYPE_CHECKS:
            return _TYPE_CHECKS[kind], 0
        return _never, 0  # not a shape the checker knows: it decides (and fails) on its own

    def enum(self, values: list[Any]) -> _Valid:
        if not values:
            return _never
        first = type(values[0])
        try:
            allowed: frozenset[Any] | list[Any] = frozenset(values)
        except TypeError:  # an unhashable value: compare as the checker does
            allowed = values

        def valid(value: Any) -> bool:
            return type(value) is first and value in allowed  # `True` is not `1`
        return valid

    def container(self, shape: dict[str, Any], kind: str) -> tuple[_Valid, int]:
        element_shape = shape["items" if kind == "array" else "values"]
        element, depth = self.node(element_shape)
        instant = self.instant(element_shape, null=False)

        if kind == "array":
            def valid(value: Any) -> bool:
                if not isinstance(value, list):
                    return False
                for item in value:
                    kind = type(item)
                    if not (kind in instant or (kind is str and item in instant) or element(item)):
                        return False
                return True
        else:
            def valid(value: Any) -> bool:
                if not isinstance(value, dict):
                    return False
                for item in value.values():
                    kind = type(item)
                    if not (kind in instant or (kind is str and item in instant) or element(item)):
                        return False
                return True
        return valid, depth + 1

    def object(self, shape: dict[str, Any]) -> tuple[_Valid, int]:
        fields: dict[str, Any] = shape["fields"]
        required = tuple(shape["required"])
        compiled = {key: self.node(field) for key, field in fields.items()}
        #: key → (what it takes without a call (an optional field's has NoneType: null reads as absent), its check)
        field_of = {key: (self.instant(fields[key], null=key not in required), valid)
                    for key, (valid, _) in compiled.items()}.get

        def valid(value: Any) -> bool:
            if not isinstance(value, dict):
                return False
            for key, element in value.items():
                field = field_of(key)
                if field is None:
                    return False  # objects are closed
                instant, check = field
                kind = type(element)
                if not (kind in instant or (kind is str and element in instant) or check(element)):
                    return False
            for key in required:  # noqa: SIM110 (a loop, not all(): no generator made per call)
                if key not in value:
                    return False
            return True
        return valid, max((depth + 1 for _, depth in compiled.values()), default=0)

    def union(self, shape: dict[str, Any]) -> tuple[_Valid, int]:
        """Valid when an option is. An object goes only to the options it could match: those a dict
        can satisfy, narrowed by their tag fields (`type`, `role`) when its tag is a string."""
        options = [self.resolve(o) for o in shape["options"]]
        if not options or any(o.get("t") not in _KNOWN_KINDS for o in options):
            return _never, 0
        compiled = [self.node(o) for o in options]
        depth = max(depth for _, depth in compiled)
        for_dicts = [(o, valid) for o, (valid, _) in zip(options, compiled, strict=True)
                     if o["t"] in ("object", "map", "any", "union")]
        others = tuple(valid for o, (valid, _) in zip(options, compiled, strict=True)
                       if o["t"] != "object" or o.get("nullable"))
        on_dict = self.dispatch(for_dicts, frozenset())
        if not others:
            return on_dict, depth  # all objects: anything but a dict is refused by each

        def valid(value: Any) -> bool:
            if isinstance(value, dict):
                return on_dict(value)
            for option in others:  # noqa: SIM110 (as above)
                if option(value):
                    return True
            return False
        return valid, depth

    def dispatch(self, options: list[tuple[dict[str, Any], _Valid]], used: frozenset[str]) -> _Valid:
        """Any of `options`, for a value the others refuse: by the value of the tag that splits them
        best, then in order. The result refuses what none of them accepts, dict or not."""
        if len(options) <= 1:
            return options[0][1] if options else _never
        everyone = tuple(valid for _, valid in options)

        def in_order(value: Any) -> bool:
            for option in everyone:  # noqa: SIM110 (as above)
                if option(value):
                    return True
            return False
        best: tuple[int, str, _Split] | None = None
        if all(o["t"] == "object" for o, _ in options):
            tags = {tag for o, _ in options for tag in o["fields"] if tag not in used}
            for tag in sorted(tags, key=lambda t: (t != "type", t != "role", t)):
                split = self.split(options, tag)
                if split is not None:
                    size = max(len(group) for group in (*split[0].values(), split[1], split[2]))
                    if size < len(options) and (best is None or size < best[0]):
                        best = (size, tag, split)
        if best is None:
            return in_order
        _, tag, (groups, other, absent) = best
        used = used | {tag}
        pick = {tagged: self.dispatch([options[i] for i in group], used) for tagged, group in groups.items()}.get
        untagged = self.dispatch([options[i] for i in other], used)
        missing = self.dispatch([options[i] for i in absent], used)

        def valid(value: Any) -> bool:
            if isinstance(value, dict):
                tagged = value.get(tag, _ABSENT)
                if type(tagged) is str:
                    return pick(tagged, untagged)(value)
                if tagged is _ABSENT:
                    return missing(value)
            return in_order(value)  # a null or non-string tag, or not a dict: every option
        return valid

    def split(self, options: list[tuple[dict[str, Any], _Valid]], tag: str) -> _Split | None:
        """The options (indices) that can take a dict by its `tag`: for each string value, for any
        other string, and without the tag. An option without the field refuses any value of it; one
        whose field is not an enum of strings takes any string."""
        closed: dict[int, list[str]] = {}
        kept: list[int] = []
        for i, (o, _) in enumerate(options):
            field = o["fields"].get(tag)
            if field is None:
                continue
            field = self.resolve(field)
            values = field.get("values", [])
            if field.get("t") == "enum" and values and all(type(v) is str for v in values):
                closed[i] = values
            else:
                kept.append(i)
        if not closed:
            return None
        tagged = dict.fromkeys(v for values in closed.values() for v in values)
        absent = [i for i, (o, _) in enumerate(options) if tag not in o["required"]]
        return ({value: [i for i in range(len(options)) if i in kept or value in closed.get(i, ())]
                 for value in tagged}, kept, absent)


#: (by string value, for another string, without the tag): the options a tag value leaves.
_Split = tuple[dict[str, list[int]], list[int], list[int]]
_ABSENT = object()


def _one_modality(event: dict[str, Any], dialect: str) -> Rejection | None:
    """GA `output_modalities`: "It is not possible to request both `text` and `audio` at the same
    time" (openai `RealtimeSessionCreateRequestParam.output_modalities`)."""
    if dialect != "ga":
        return None
    for field in ("session", "response"):
        holder = event.get(field)
        modalities = holder.get("output_modalities") if isinstance(holder, dict) else None
        if isinstance(modalities, list) and len(set(modalities)) > 1:
            return Rejection("invalid_value", f"Invalid value: {json.dumps(modalities)}. Supported values are: "
                                              "[\"text\"] and [\"audio\"].", f"{field}.output_modalities",
                             event.get("event_id"))
    return None


_CALL_ID = re.compile(r"[a-zA-Z0-9_-]+")


def _call_id_format(event: dict[str, Any], dialect: str) -> Rejection | None:
    """A call_id the client gives must look like one (observed: `^[a-zA-Z0-9_-]+$`)."""
    item = event.get("item")
    if event["type"] != "conversation.item.create" or not isinstance(item, dict):
        return None
    call_id = item.get("call_id")
    if isinstance(call_id, str) and not _CALL_ID.fullmatch(call_id):
        return Rejection("invalid_value", f"Invalid 'item.call_id': '{call_id}'. Expected a string that matches "
                                          "the pattern '^[a-zA-Z0-9_-]+$'.", "item.call_id", event.get("event_id"))
    return None


#: What an item of each type cannot do without (its `type` first). GA's types say so themselves; beta's
#: params mark every item field optional, but the service cannot create an item without them either.
_ITEM_NEEDS = {"function_call_output": ("type", "call_id", "output"), "message": ("type", "role", "content"),
               "function_call": ("type", "call_id", "name", "arguments")}


def _item_complete(event: dict[str, Any], dialect: str) -> Rejection | None:
    item = event.get("item")
    if event["type"] != "conversation.item.create" or not isinstance(item, dict):
        return None
    for key in _ITEM_NEEDS.get(item.get("type", ""), ("type",)):
        if item.get(key) is None:
            return Rejection("missing_required_parameter", f"Missing required parameter: 'item.{key}'.",
                             f"item.{key}", event.get("event_id"))
    return None


_Rule = Callable[[dict[str, Any], str], Rejection | None]

#: Rules of the service that the types cannot state, checked once the shape is right, each with the
#: keys of the event it reads: an event type whose (closed) shape has none of them is not put to it.
_SERVICE_RULES: tuple[tuple[_Rule, tuple[str, ...]], ...] = (
    (_item_complete, ("item",)), (_one_modality, ("session", "response")), (_call_id_format, ("item",)))

#: `\uD800`-`\uDFFF` escapes: a lone one is what JavaScript's JSON.stringify writes for a string
#: cut inside an emoji; it is not text, and nothing downstream could encode it.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89abcdefABCDEF]")


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


#: What `json.loads(text, parse_constant=_no_constants)` builds anew on every call.
_DECODER = json.JSONDecoder(parse_constant=_no_constants)


def _parse(text: str) -> Any:
    try:
        if type(text) is str and not text.startswith("\ufeff"):
            value = _DECODER.decode(text)  # what json.loads does after its checks
        else:
            value = json.loads(text, parse_constant=_no_constants)  # its refusal of a BOM, bytes
    except json.JSONDecodeError as exc:
        return Rejection("invalid_json", f"The server could not parse the event as JSON ({exc.msg} at line "
                                         f"{exc.lineno} column {exc.colno}). Send each event as one JSON object.")
    except ValueError as exc:  # NaN, Infinity
        return Rejection("invalid_json", f"The server could not parse the event as JSON ({exc}: JSON has no "
                                         "NaN or Infinity). Send each event as one JSON object.")
    except RecursionError:
        return Rejection("invalid_json", "The server could not parse the event as JSON (nested too deeply). "
                                         "Send each event as one JSON object.")
    if "\\u" in text and _SURROGATE_ESCAPE.search(text):  # (most frames have no escape: no regex walk)
        try:
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            return Rejection("invalid_json", "The event holds a lone UTF-16 surrogate (an escape such as "
                                             "\\ud83d without its pair): it is not valid Unicode text. Cut strings "
                                             "on character boundaries, not inside an emoji.")
    return value


#: (dialect, event type) → its compiled shape and the service rules that can refuse it.
_COMPILED: dict[tuple[str, str], tuple[_Valid, tuple[_Rule, ...]]] = {}
_COMPILING = threading.Lock()  # one compiler, whose bookkeeping another thread must not see half done


def _compile(dialect: str, kind: str) -> tuple[_Valid, tuple[_Rule, ...]]:
    """One event type's predicate, and the rules that read a key its shape has."""
    shape = _tables()["events"][dialect][kind]
    with _COMPILING:
        compiler = _compiler()
        keys = compiler.resolve(shape).get("fields")
        rules = tuple(rule for rule, reads in _SERVICE_RULES if keys is None or any(key in keys for key in reads))
        compiled = _COMPILED[(dialect, kind)] = (_fast_check(compiler, shape), rules)
    return compiled


def _fast_check(compiler: _Compiler, shape: dict[str, Any]) -> _Valid:
    """The predicate of `shape`, or `_never` (the checker decides every time) when the checker could
    walk deeper than `_MAX_DEPTH` into it: the depth refusal is the checker's alone."""
    try:
        valid, depth = compiler.node(shape)
    except (_Cyclic, RecursionError):
        return _never
    return valid if depth <= _MAX_DEPTH else _never


@cache
def _compiler() -> _Compiler:
    """One compiler for all dialects, so that the defs they share are compiled once."""
    return _Compiler(_tables()["defs"])


def _event_id(event: dict[str, Any]) -> str | None:
    event_id = event.get("event_id")
    return event_id if isinstance(event_id, str) else None


def validate_client_event(text: str, dialect: str) -> dict[str, Any] | Rejection:
    """The client event in `text`, or the reason the real service would refuse it."""
    event = _parse(text)
    if isinstance(event, Rejection):
        return event
    if not isinstance(event, dict):
        return Rejection(
            "invalid_json",
            f"Expected an event object, but got {_json_type(event)}. Send each event as one JSON object with a 'type'.",
        )
    kind = event.get("type")
    compiled = _COMPILED.get((dialect, kind)) if type(kind) is str else None
    if compiled is None:  # not a known event type, or its first time
        if kind is None:
            return Rejection("missing_required_parameter", "Missing required parameter: 'type'.", "type",
                             _event_id(event))
        events = _tables()["events"][dialect]
        if not isinstance(kind, str) or kind not in events:
            return Rejection("invalid_value", f"Invalid value: {_quote(kind)}. Supported values are: "
                                              f"{_supported(sorted(events))}.", "type", _event_id(event))
        compiled = _compile(dialect, kind)
    valid, rules = compiled
    if not valid(event):  # only then is there an answer to find
        tables = _tables()
        checker = _Checker(tables["defs"], _event_id(event))
        if (found := checker.check(event, tables["events"][dialect][kind], "")) is not None:
            return found
    for rule in rules:
        if (found := rule(event, dialect)) is not None:
            return found
    return event
