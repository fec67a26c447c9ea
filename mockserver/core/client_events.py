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

Checks that need conversation state (unknown call_id, an active response) live in `session.py`.
"""

from __future__ import annotations

import json
import re
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


#: What an item of each type cannot do without. GA's types say so themselves; beta's params mark
#: every item field optional, but the service cannot create an item without them either.
_ITEM_NEEDS = {"function_call_output": ("call_id", "output"), "message": ("role", "content"),
               "function_call": ("call_id", "name", "arguments")}


def _item_complete(event: dict[str, Any], dialect: str) -> Rejection | None:
    item = event.get("item")
    if event["type"] != "conversation.item.create" or not isinstance(item, dict):
        return None
    for key in ("type", *_ITEM_NEEDS.get(item.get("type", ""), ())):
        if item.get(key) is None:
            return Rejection("missing_required_parameter", f"Missing required parameter: 'item.{key}'.",
                             f"item.{key}", event.get("event_id"))
    return None


#: Rules of the service that the types cannot state, checked once the shape is right.
_SERVICE_RULES = (_item_complete, _one_modality, _call_id_format)

#: `\uD800`-`\uDFFF` escapes: a lone one is what JavaScript's JSON.stringify writes for a string
#: cut inside an emoji; it is not text, and nothing downstream could encode it.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89abcdefABCDEF]")


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _parse(text: str) -> Any:
    try:
        value = json.loads(text, parse_constant=_no_constants)
    except json.JSONDecodeError as exc:
        return Rejection("invalid_json", f"The server could not parse the event as JSON ({exc.msg} at line "
                                         f"{exc.lineno} column {exc.colno}). Send each event as one JSON object.")
    except ValueError as exc:  # NaN, Infinity
        return Rejection("invalid_json", f"The server could not parse the event as JSON ({exc}: JSON has no "
                                         "NaN or Infinity). Send each event as one JSON object.")
    except RecursionError:
        return Rejection("invalid_json", "The server could not parse the event as JSON (nested too deeply). "
                                         "Send each event as one JSON object.")
    if _SURROGATE_ESCAPE.search(text):
        try:
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            return Rejection("invalid_json", "The event holds a lone UTF-16 surrogate (an escape such as "
                                             "\\ud83d without its pair): it is not valid Unicode text. Cut strings "
                                             "on character boundaries, not inside an emoji.")
    return value


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
    event_id = event.get("event_id") if isinstance(event.get("event_id"), str) else None
    kind = event.get("type")
    if kind is None:
        return Rejection("missing_required_parameter", "Missing required parameter: 'type'.", "type", event_id)
    tables = _tables()
    events = tables["events"][dialect]
    if not isinstance(kind, str) or kind not in events:
        return Rejection("invalid_value", f"Invalid value: {_quote(kind)}. Supported values are: "
                                          f"{_supported(sorted(events))}.", "type", event_id)
    checker = _Checker(tables["defs"], event_id)
    if (found := checker.check(event, events[kind], "")) is not None:
        return found
    for rule in _SERVICE_RULES:
        if (found := rule(event, dialect)) is not None:
            return found
    return event
