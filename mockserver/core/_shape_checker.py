"""The exact check of a client event against its shape: the first problem found, worded as the
service words it (a `Rejection`: code, message, `param`). `client_events.validate_client_event`
walks it only for a frame the compiled predicate (`_shape_predicates.py`) calls invalid, so its
paths and messages cost nothing on the frames that pass.

What belongs here: the walk and the service's wording of a wrong shape. What does not: the shape
tables and the rules the types cannot state (`client_events.py`), state (`_refusals.py`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

__all__ = ["Rejection"]


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why a client event is refused: becomes the `error` object of an error event."""

    code: str
    message: str
    param: str | None = None
    event_id: str | None = None
    #: rtmock's own refusal of a valid event it does not play (`_refusals.unscripted`), not the service's
    not_played: bool = False


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
