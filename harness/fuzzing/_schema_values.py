"""Values a tool's JSON Schema accepts, as a Hypothesis strategy: what a model may validly send.

Tool schemas are small and plain (objects of typed properties, enums, arrays, nesting, `required`),
so this covers the keywords they use: `type` (one or several), `enum`, `const`, `properties`,
`required`, `additionalProperties`, `items`, `minItems`/`maxItems`, `minLength`/`maxLength`,
`pattern`, `minimum`/`maximum` (exclusive too), `multipleOf`, `anyOf`/`oneOf`, and `allOf` of
objects. Whatever else a schema says is honoured by checking each value against the whole schema
(`jsonschema`), so every value drawn is valid, whatever keyword this module does not model.

(hypothesis-jsonschema did this before; its releases lag Hypothesis's, and it pinned everyone who
installed rtmock to an old Hypothesis.)
"""

from __future__ import annotations

from typing import Any

import jsonschema  # type: ignore[import-untyped,unused-ignore]
from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy

__all__ = ["schema_values"]

#: sizes drawn when the schema sets none: enough to exercise a client, small enough to read
_MAX_ITEMS = 4
_MAX_TEXT = 24
_MAX_DEPTH = 6

_SCALARS: SearchStrategy[Any] = st.one_of(
    st.none(), st.booleans(), st.integers(-(10**6), 10**6),
    st.floats(allow_nan=False, allow_infinity=False, width=32), st.text(max_size=_MAX_TEXT))


def _any_json(depth: int) -> SearchStrategy[Any]:
    if depth >= _MAX_DEPTH:
        return _SCALARS
    return st.recursive(_SCALARS, lambda inner: st.one_of(
        st.lists(inner, max_size=_MAX_ITEMS), st.dictionaries(st.text(max_size=12), inner, max_size=_MAX_ITEMS)),
        max_leaves=8)


def _merge(parts: list[Any]) -> dict[str, Any]:
    """`allOf` of object schemas as one: properties and required lists joined, the rest overlaid."""
    merged: dict[str, Any] = {}
    for part in parts:
        if not isinstance(part, dict):
            continue
        for key, value in part.items():
            if key == "properties" and isinstance(value, dict):
                merged.setdefault("properties", {}).update(value)
            elif key == "required" and isinstance(value, list):
                merged["required"] = sorted({*merged.get("required", []), *value})
            else:
                merged[key] = value
    return merged


def _types(schema: dict[str, Any]) -> list[str]:
    declared = schema.get("type")
    if isinstance(declared, str):
        return [declared]
    if isinstance(declared, list):
        return [t for t in declared if isinstance(t, str)]
    if "properties" in schema or "required" in schema or "additionalProperties" in schema:
        return ["object"]
    if "items" in schema:
        return ["array"]
    if "minLength" in schema or "maxLength" in schema or "pattern" in schema:
        return ["string"]
    if any(k in schema for k in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf")):
        return ["number"]
    return ["null", "boolean", "integer", "number", "string", "array", "object"]


def _number(schema: dict[str, Any], integer: bool) -> SearchStrategy[Any]:
    low, high = schema.get("minimum"), schema.get("maximum")
    if isinstance(schema.get("exclusiveMinimum"), int | float):
        low = schema["exclusiveMinimum"] + (1 if integer else 1e-6)
    if isinstance(schema.get("exclusiveMaximum"), int | float):
        high = schema["exclusiveMaximum"] - (1 if integer else 1e-6)
    low = low if isinstance(low, int | float) else None
    high = high if isinstance(high, int | float) else None
    step = schema.get("multipleOf")
    if integer or (isinstance(step, int) and step > 0):
        ints = st.integers(min_value=None if low is None else int(-(-low // 1)),
                           max_value=None if high is None else int(high // 1))
        if isinstance(step, int | float) and step > 0:
            return ints.map(lambda n: n - n % step if isinstance(step, int) else n * step)
        return ints
    return st.floats(min_value=low, max_value=high, allow_nan=False, allow_infinity=False)


def _string(schema: dict[str, Any]) -> SearchStrategy[str]:
    pattern = schema.get("pattern")
    if isinstance(pattern, str):
        try:
            return st.from_regex(pattern)
        except Exception:  # a regex Python cannot read: the check against the schema decides
            pass
    low = schema.get("minLength", 0)
    high = schema.get("maxLength", max(_MAX_TEXT, low if isinstance(low, int) else 0))
    return st.text(min_size=low if isinstance(low, int) else 0, max_size=high if isinstance(high, int) else _MAX_TEXT)


def _value(schema: Any, depth: int) -> SearchStrategy[Any]:
    if schema is True or schema == {} or not isinstance(schema, dict):
        return st.nothing() if schema is False else _any_json(depth)
    if "const" in schema:
        return st.just(schema["const"])
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return st.sampled_from(schema["enum"])
    rest = {k: v for k, v in schema.items() if k not in ("anyOf", "oneOf", "allOf")}
    if isinstance(schema.get("allOf"), list):
        return _value(_merge([rest, *schema["allOf"]]), depth)
    for key in ("anyOf", "oneOf"):
        if isinstance(schema.get(key), list) and schema[key]:
            return st.one_of([_value(_merge([rest, option]), depth) for option in schema[key]])
    if depth >= _MAX_DEPTH:
        return _SCALARS
    choices: list[SearchStrategy[Any]] = []
    for kind in _types(schema):
        if kind == "null":
            choices.append(st.none())
        elif kind == "boolean":
            choices.append(st.booleans())
        elif kind in ("integer", "number"):
            choices.append(_number(schema, kind == "integer"))
        elif kind == "string":
            choices.append(_string(schema))
        elif kind == "array":
            items = schema.get("items", {})
            low = schema.get("minItems", 0)
            high = schema.get("maxItems", max(_MAX_ITEMS, low if isinstance(low, int) else 0))
            choices.append(st.lists(_value(items if isinstance(items, dict | bool) else {}, depth + 1),
                                    min_size=low if isinstance(low, int) else 0,
                                    max_size=high if isinstance(high, int) else _MAX_ITEMS))
        elif kind == "object":
            choices.append(_object(schema, depth))
    return st.one_of(choices) if choices else st.nothing()


def _object(schema: dict[str, Any], depth: int) -> SearchStrategy[dict[str, Any]]:
    raw_properties = schema.get("properties")
    properties: dict[str, Any] = raw_properties if isinstance(raw_properties, dict) else {}
    raw_required = schema.get("required")
    required = [k for k in raw_required if isinstance(k, str)] if isinstance(raw_required, list) else []
    fixed = {key: _value(properties.get(key, {}), depth + 1) for key in required}
    optional = {key: _value(sub, depth + 1) for key, sub in properties.items() if key not in fixed}
    known = st.fixed_dictionaries(fixed, optional=optional)
    extra = schema.get("additionalProperties", True)
    if extra is False:
        return known
    names: SearchStrategy[str] = st.text(min_size=1, max_size=10)
    others: SearchStrategy[dict[str, Any]] = st.dictionaries(
        names.filter(lambda key: key not in properties), _value(extra if isinstance(extra, dict) else {}, depth + 1),
        max_size=2)
    return st.builds(lambda a, b: {**b, **a}, known, st.one_of(st.just({}), others))


def schema_values(schema: dict[str, Any]) -> SearchStrategy[Any]:
    """Values `schema` accepts. `schema` must be a valid draft-7 schema (see payloads._usable_schema)."""
    check = jsonschema.Draft7Validator(schema).is_valid
    return _value(schema, 0).filter(check)
