"""The fast path of client-event validation answers as the checker behind it.

`validate_client_event` asks each event type's compiled predicate first and walks `_Checker` only
when it says invalid: a predicate that accepts what the checker refuses lets a bad event through
unnoticed, so here they meet on values built from the shape tables themselves, every dialect and
event type: valid events, and those events mutated (a key removed, an unknown key, another JSON type,
null, a boolean for a number, another enum's value, a deep value)."""

from __future__ import annotations

import copy
import json
import sys
from collections.abc import Iterator
from typing import Any
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy

from rtmock.mockserver.core import _shape_checker, _shape_predicates, client_events
from rtmock.mockserver.core.client_events import Rejection, validate_client_event

TABLES = client_events._tables()
DEFS: dict[str, Any] = TABLES["defs"]
EVENT_TYPES = sorted((dialect, kind) for dialect, events in TABLES["events"].items() for kind in events)


def resolve(shape: dict[str, Any]) -> dict[str, Any]:
    return DEFS[shape["ref"]] if "ref" in shape else shape


def enum_values() -> list[Any]:
    """Every value of every enum in the tables: what a swapped tag or a near-miss value is made of."""
    found: dict[Any, None] = {}

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("t") == "enum":
                found.update((v, None) for v in node["values"])
            for child in node.values():
                walk(child)
        elif isinstance(node, list):
            for child in node:
                walk(child)
    walk(TABLES)
    return sorted(found, key=repr)


ENUM_VALUES = enum_values()
SCALARS = (st.none() | st.booleans() | st.integers(-(2**40), 2**40)
           | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=4))
JSON = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner,
                                                                                          max_size=3), max_leaves=6)
LEAVES: dict[str, SearchStrategy[Any]] = {
    "string": st.text(max_size=6), "boolean": st.booleans(), "integer": st.integers(-(2**40), 2**40),
    "number": st.integers(-1000, 1000) | st.floats(allow_nan=False, allow_infinity=False), "null": st.none(),
    "any": JSON,
}
_BUILT: dict[int, SearchStrategy[Any]] = {}


def valid(shape: dict[str, Any]) -> SearchStrategy[Any]:
    """Values the checker accepts for `shape`, read as it reads it: the shape's own `nullable`, then
    what it refers to; optional fields absent, present or null."""
    body = resolve(shape)
    if id(body) not in _BUILT:
        _BUILT[id(body)] = st.deferred(lambda: build(body))
    built = _BUILT[id(body)]
    return st.none() | built if shape.get("nullable") else built


def build(body: dict[str, Any]) -> SearchStrategy[Any]:
    kind = body["t"]
    if kind == "object":
        required = set(body["required"])
        return st.fixed_dictionaries(
            {key: valid(field) for key, field in body["fields"].items() if key in required},
            optional={key: st.none() | valid(field) for key, field in body["fields"].items() if key not in required})
    if kind == "union":
        return st.one_of([valid(resolve(option)) for option in body["options"]])
    if kind == "enum":
        return st.sampled_from(body["values"])
    if kind == "array":
        return st.lists(valid(body["items"]), max_size=2)
    if kind == "map":
        return st.dictionaries(st.text(max_size=3), valid(body["values"]), max_size=2)
    return LEAVES[kind]


def deep(depth: int, kind: type) -> Any:
    value: Any = "x"
    for _ in range(depth):
        value = [value] if kind is list else {"type": value}
    return value


OTHER_VALUES = (st.sampled_from([None, True, False, 0, 1, -1, 1.0, 2.5, "", "x", [], {}, [None], {"type": None}])
                | st.sampled_from(ENUM_VALUES) | JSON
                | st.builds(deep, st.sampled_from([2, 5, _shape_checker._MAX_DEPTH + 10]), st.sampled_from([list, dict])))


def places(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """The path of every value inside `value`, itself first."""
    yield path
    if isinstance(value, dict):
        for key, child in value.items():
            yield from places(child, (*path, key))
    elif isinstance(value, list):
        for i, child in enumerate(value):
            yield from places(child, (*path, i))


@st.composite
def mutated(draw: st.DrawFn, value: Any) -> Any:
    """`value` with one change somewhere inside: what a client gets wrong."""
    out = copy.deepcopy(value)
    path = draw(st.sampled_from(list(places(out))))
    target = out
    for step in path[:-1]:
        target = target[step]
    here = target[path[-1]] if path else out
    how = draw(st.sampled_from(["remove", "add", "replace", "near"]))
    if how == "remove" and isinstance(here, dict) and here:
        del here[draw(st.sampled_from(sorted(here)))]
    elif how == "add" and isinstance(here, dict):
        here[draw(st.sampled_from(["unknown", "type", "role", "zz"]) | st.text(max_size=3))] = draw(OTHER_VALUES)
    else:
        other = draw(st.sampled_from(near_misses(here)) if how == "near" else OTHER_VALUES)
        if path:
            target[path[-1]] = other
        else:
            out = other
    return out


def near_misses(value: Any) -> list[Any]:
    """Values a client sends instead of `value`: the same thing as another JSON type, or null."""
    return [None, *{bool: [0, 1, "true"], int: [True, False, float(value) if type(value) is int else 1.0, str(value)],
                    float: [True, int(value) if type(value) is float else 1, str(value)],
                    str: [1, True, [value], {"type": value}, *ENUM_VALUES[:: max(1, len(ENUM_VALUES) // 12)]],
                    list: [{}, {"0": value[0]} if isinstance(value, list) and value else {"a": 1}, "[]"],
                    dict: [[], [value], "{}"]}.get(type(value), [True, 1, "x"])]


def checker_accepts(value: Any, shape: dict[str, Any]) -> bool:
    return _shape_checker._Checker(DEFS, None).check(value, shape, "") is None


def fast_accepts(value: Any, dialect: str, kind: str) -> bool:
    valid_, _ = client_events._COMPILED.get((dialect, kind)) or client_events._compile(dialect, kind)
    return valid_(value)


def slow_validate(text: str, dialect: str) -> dict[str, Any] | Rejection:
    """validate_client_event before its fast path: the checker walks every event, every rule runs."""
    event = client_events._parse(text)
    if isinstance(event, Rejection):
        return event
    if not isinstance(event, dict):
        return Rejection("invalid_json", f"Expected an event object, but got {_shape_checker._json_type(event)}. "
                                         "Send each event as one JSON object with a 'type'.")
    event_id = event.get("event_id") if isinstance(event.get("event_id"), str) else None
    kind = event.get("type")
    if kind is None:
        return Rejection("missing_required_parameter", "Missing required parameter: 'type'.", "type", event_id)
    events = TABLES["events"][dialect]
    if not isinstance(kind, str) or kind not in events:
        return Rejection("invalid_value", f"Invalid value: {_shape_checker._quote(kind)}. Supported values are: "
                                          f"{_shape_checker._supported(sorted(events))}.", "type", event_id)
    if (found := _shape_checker._Checker(DEFS, event_id).check(event, events[kind], "")) is not None:
        return found
    for rule, _ in client_events._SERVICE_RULES:
        if (found := rule(event, dialect)) is not None:
            return found
    return event


@st.composite
def events(draw: st.DrawFn) -> tuple[str, str, Any, list[Any]]:
    dialect, kind = draw(st.sampled_from(EVENT_TYPES))
    event = draw(valid(TABLES["events"][dialect][kind]))
    return dialect, kind, event, draw(st.lists(mutated(event), min_size=1, max_size=8))


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(events())
def test_the_fast_path_answers_as_the_checker(case: tuple[str, str, Any, list[Any]]) -> None:
    dialect, kind, event, mutants = case
    shape = TABLES["events"][dialect][kind]
    assert checker_accepts(event, shape), f"the test built an invalid {kind}: {event!r}"
    for value in [event, *mutants]:
        assert fast_accepts(value, dialect, kind) == checker_accepts(value, shape), (dialect, kind, value)
        text = json.dumps(value)
        assert validate_client_event(text, dialect) == slow_validate(text, dialect), (dialect, value)


def test_every_event_type_has_a_fast_path() -> None:
    """None falls back to the checker for every frame (the tables nest nowhere near `_MAX_DEPTH`)."""
    for dialect, kind in EVENT_TYPES:
        assert client_events._compile(dialect, kind)[0] is not _shape_predicates._never, (dialect, kind)


@pytest.mark.parametrize("cyclic", [False, True])
def test_a_shape_the_checker_walks_past_max_depth_is_left_to_it(cyclic: bool) -> None:
    """The depth refusal is the checker's: a shape it could walk deeper than `_MAX_DEPTH` into is
    not compiled; one just within is, and agrees with it at the limit."""
    limit = _shape_checker._MAX_DEPTH
    chain = {f"d{i}": {"t": "object", "fields": {"a": {"ref": f"d{i + 1}"}}, "required": ["a"]} for i in range(limit)}
    chain[f"d{limit}"] = {"t": "string"}
    if cyclic:
        chain[f"d{limit}"] = {"t": "object", "fields": {"a": {"ref": "d0", "nullable": True}}, "required": []}
    deeper = {**chain, "top": {"t": "object", "fields": {"a": {"ref": "d0"}}, "required": ["a"]}}
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old, 20 * limit))
    try:
        within = _shape_predicates._fast_check(_shape_predicates._Compiler(chain), {"ref": "d0"})
        beyond = _shape_predicates._fast_check(_shape_predicates._Compiler(deeper), {"ref": "top"})
        value = deep(limit, dict)
        value_deeper = {"a": value}
        for v in (value, value_deeper):
            text = json.dumps(v).replace('"type"', '"a"')
            v_ = json.loads(text)
            assert within(v_) == (_shape_checker._Checker(chain, None).check(v_, {"ref": "d0"}, "") is None)
        assert beyond is _shape_predicates._never
        assert _shape_checker._Checker(deeper, None).check(json.loads(json.dumps(value_deeper).replace('"type"', '"a"')),
                                                          {"ref": "top"}, "") is not None
        if cyclic:
            assert within is _shape_predicates._never
        else:
            assert within(json.loads(json.dumps(value).replace('"type"', '"a"')))
    finally:
        sys.setrecursionlimit(old)


class _Loads:
    """The decoder `json.loads(text, parse_constant=…)` builds per call, as _parse read before."""

    def decode(self, text: str) -> Any:
        return json.loads(text, parse_constant=client_events._no_constants)


TEXTS = (st.builds(json.dumps, JSON)
         | st.builds(lambda a, b, c: a + b + c, st.sampled_from(["", "\ufeff", "[", '{"a": ', " "]),
                     st.sampled_from(["NaN", "-Infinity", "Infinity", '"\\ud83d"', '"\\ud83d\\ude00"', "1e400", "{}",
                                      "nul", '"\\u00e9"', "[1,]"]) | st.builds(json.dumps, JSON),
                     st.sampled_from(["", "]", "}", " ", "x"]))
         | st.text(max_size=8))


@settings(max_examples=200, deadline=None)
@given(TEXTS)
def test_parse_reads_as_json_loads_did(text: str) -> None:
    """_parse's decoder, made once, reads and refuses as the one json.loads makes per call."""
    with mock.patch.object(client_events, "_DECODER", _Loads()):
        before = client_events._parse(text)
    assert client_events._parse(text) == before


# ---- every field of every object in the tables, systematically ------------------------------------


def example(shape: dict[str, Any]) -> Any:
    """A small value the checker accepts for `shape`."""
    body = resolve(shape)
    kind = body["t"]
    if kind == "object":
        return {key: example(body["fields"][key]) for key in body["required"]}
    if kind == "union":
        return example(resolve(body["options"][0]))
    if kind == "enum":
        return body["values"][0]
    if kind == "array":
        return [example(body["items"])]
    if kind == "map":
        return {"k": example(body["values"])}
    return {"string": "s", "integer": 1, "number": 1.5, "boolean": True, "null": None, "any": {"a": [1, None]}}[kind]


PROBES = [None, True, False, 0, 1, -1, 1.0, 2.5, "", "s", [], {}, [None], [True], ["s"], [1], {"type": None},
          {"type": "message"}, {"k": True}, deep(_shape_checker._MAX_DEPTH + 5, list)]


def probes(shape: dict[str, Any]) -> list[Any]:
    """What to put where `shape` is expected: every JSON type and null, its own enum's values, each
    union option's example, and that example under every tag value of the other options."""
    body = resolve(shape)
    found = [*PROBES, example(shape)]
    if body["t"] == "enum":
        found += body["values"]
    if body["t"] in ("array", "map"):
        inner = probes(body["items" if body["t"] == "array" else "values"])
        found += [[v] for v in inner] if body["t"] == "array" else [{"k": v} for v in inner]
    if body["t"] == "union":
        options = [resolve(o) for o in body["options"]]
        tags = {(key, v) for o in options if o["t"] == "object" for key, f in o["fields"].items()
                if resolve(f)["t"] == "enum" for v in resolve(f)["values"]}
        for o in options:
            base = example(o)
            found.append(base)
            if isinstance(base, dict):
                found += [{**base, key: v} for key, v in sorted(tags, key=repr)]
                found += [{k: v for k, v in base.items() if k != key} for key in base]
    return found


def objects() -> Iterator[dict[str, Any]]:
    """Every object shape in the tables, defs and inline ones."""
    seen: set[int] = set()

    def walk(node: Any) -> Iterator[dict[str, Any]]:
        if isinstance(node, dict):
            if node.get("t") == "object" and id(node) not in seen:
                seen.add(id(node))
                yield node
            for child in node.values():
                yield from walk(child)
        elif isinstance(node, list):
            for child in node:
                yield from walk(child)
    yield from walk(TABLES)


def test_every_field_of_every_object_answers_as_the_checker() -> None:
    """Each field of each object (required or not) set to each probe, left out, and an unknown key
    beside it: bool for a number, a dict for an array, a swapped tag are all put everywhere."""
    compiler = client_events._compiler()
    compared = 0
    for shape in objects():
        fast, _ = compiler.node(shape)
        base = example(shape)
        assert checker_accepts(base, shape), shape
        variants = [base, {**base, "unknown_key": 1}, *({k: v for k, v in base.items() if k != key} for key in base)]
        for key, field in shape["fields"].items():
            variants += [{**base, key: probe} for probe in probes(field)]
        for value in variants:
            assert fast(value) == checker_accepts(value, shape), (shape, value)
        compared += len(variants)
    assert compared > 10_000


@pytest.mark.parametrize(("dialect", "kind"), EVENT_TYPES)
def test_every_field_of_every_event_is_refused_as_before(dialect: str, kind: str) -> None:
    shape = resolve(TABLES["events"][dialect][kind])
    base = example(shape)
    for key, field in shape["fields"].items():
        for probe in probes(field):
            text = json.dumps({**base, key: probe})
            assert validate_client_event(text, dialect) == slow_validate(text, dialect), text


# ---- shapes the tables do not have (yet): the compiler still reads them as the checker does ---------

_OBJECT_A = {"t": "object", "fields": {"type": {"t": "enum", "values": ["a"]}, "n": {"t": "integer"}}, "required": ["type"]}
_OBJECT_B = {"t": "object", "fields": {"type": {"t": "enum", "values": ["b", "c"]}, "s": {"t": "string", "nullable": True}},
             "required": []}
_OBJECT_FREE_TAG = {"t": "object", "fields": {"type": {"t": "string"}, "m": {"t": "map", "values": {"t": "number"}}},
                    "required": ["type", "m"]}
SYNTHETIC_DEFS: dict[str, Any] = {"A": _OBJECT_A, "B": _OBJECT_B, "FREE": _OBJECT_FREE_TAG,
                                  "NULLABLE_DEF": {**_OBJECT_A, "nullable": True}}
SYNTHETIC: dict[str, dict[str, Any]] = {
    "nullable string": {"t": "string", "nullable": True},
    "nullable ref": {"ref": "A", "nullable": True},
    "ref to a nullable def": {"ref": "NULLABLE_DEF"},
    "union with a nullable def": {"t": "union", "options": [{"ref": "NULLABLE_DEF"}, {"ref": "B"}]},
    "nullable union": {"t": "union", "nullable": True, "options": [{"ref": "A"}, {"ref": "B"}]},
    "union, a nullable inline object": {"t": "union", "options": [{**_OBJECT_A, "nullable": True}, {"t": "integer"}]},
    "union with any": {"t": "union", "options": [{"ref": "A"}, {"t": "any"}]},
    "union with a map": {"t": "union", "options": [{"t": "map", "values": {"t": "integer"}}, {"ref": "B"}]},
    "union of unions": {"t": "union", "options": [{"t": "union", "options": [{"ref": "A"}, {"t": "string"}]},
                                                  {"t": "union", "options": [{"ref": "B"}, {"t": "null"}]}]},
    "union, a tag that is any string": {"t": "union", "options": [{"ref": "A"}, {"ref": "B"}, {"ref": "FREE"}]},
    "union, a tag optional": {"t": "union", "options": [{"ref": "B"}, {"ref": "A"}]},
    "union of scalars": {"t": "union", "options": [{"t": "enum", "values": ["x"]}, {"t": "number"}, {"t": "boolean"}]},
    "integer enum": {"t": "enum", "values": [1, 2]},
    "boolean enum": {"t": "enum", "values": [True]},
    "mixed enum": {"t": "enum", "values": ["a", 1, None]},
    "mixed enum, a number first": {"t": "enum", "values": [1, "a"]},
    "object of a mixed enum": {"t": "object", "fields": {"e": {"t": "enum", "values": [1, "a"]}}, "required": []},
    "unhashable enum": {"t": "enum", "values": [[1], {"a": 1}]},
    "empty enum": {"t": "enum", "values": []},
    "any": {"t": "any"}, "number": {"t": "number"}, "integer": {"t": "integer"}, "boolean": {"t": "boolean"},
    "null": {"t": "null"},
    "array of nullable integers": {"t": "array", "items": {"t": "integer", "nullable": True}},
    "array of an enum": {"t": "array", "items": {"t": "enum", "values": ["x", "y"]}},
    "map of unions": {"t": "map", "values": {"t": "union", "options": [{"ref": "A"}, {"t": "boolean"}]}},
    "object of optional complex fields": {"t": "object", "required": ["r"], "fields": {
        "r": {"t": "union", "options": [{"ref": "A"}, {"t": "null"}]}, "o": {"ref": "B"},
        "a": {"t": "array", "items": {"t": "any"}}, "e": {"t": "enum", "values": ["x"], "nullable": True}}},
}
SYNTHETIC_PROBES = [*PROBES, 2, 1.5, "a", "b", "x", "y", [1], [[1]], {"a": 1}, ["x", "y"], ["x", None], [1, None],
                    {"type": "a"}, {"type": "a", "n": 1}, {"type": "a", "n": True}, {"type": "b"}, {"type": "c", "s": None},
                    {"type": "d"}, {"type": "d", "m": {}}, {"type": "d", "m": {"k": True}}, {"type": 1}, {"n": 1},
                    {"s": "x"}, {"m": {"x": 1}}, {"x": 1, "y": 2.5}, {"k": {"type": "a"}}, {"k": False},
                    {"r": None}, {"r": {"type": "a"}, "o": None, "a": None, "e": None}, {"r": None, "o": {"type": "b"}},
                    {"r": None, "a": [1, {}]}, {"r": None, "e": "x"}, {"r": None, "e": "z"}, {"r": 1}, {"o": None},
                    {"e": "a"}, {"e": 1}, {"e": True}, ["a", 1]]


@pytest.mark.parametrize("name", sorted(SYNTHETIC))
def test_synthetic_shapes_answer_as_the_checker(name: str) -> None:
    compiler = _shape_predicates._Compiler(SYNTHETIC_DEFS)
    fast = _shape_predicates._fast_check(compiler, SYNTHETIC[name])
    for value in SYNTHETIC_PROBES:
        try:
            expected = _shape_checker._Checker(SYNTHETIC_DEFS, None).check(value, SYNTHETIC[name], "") is None
        except IndexError:  # the checker's message for an empty enum: the fast path must leave it to it
            expected = False
        assert fast(value) == expected, value


def test_a_shape_the_checker_does_not_know_is_left_to_it() -> None:
    fast = _shape_predicates._fast_check(_shape_predicates._Compiler({}), {"t": "union", "options": [{"t": "string"},
                                                                                             {"t": "tuple"}]})
    assert fast("s") is False


# ---- the service rules: each still meets every event it can refuse -----------------------------------

RULE_BREAKERS = [
    ("ga", {"type": "session.update", "session": {"type": "realtime", "output_modalities": ["text", "audio"]}}),
    ("ga", {"type": "response.create", "response": {"output_modalities": ["audio", "text"]}}),
    *((dialect, {"type": "conversation.item.create", "event_id": "e2",
                 "item": {"type": "function_call_output", "call_id": "call 1", "output": "{}"}})
      for dialect in sorted(TABLES["events"])),
    *((dialect, {"type": "conversation.item.create", "item": {"type": "function_call_output", "call_id": "c"}})
      for dialect in sorted(TABLES["events"])),
    *((dialect, {"type": "conversation.item.create", "item": {"type": "message", "role": "user"}})
      for dialect in sorted(TABLES["events"])),
]


@pytest.mark.parametrize(("dialect", "event"), RULE_BREAKERS)
def test_the_service_rules_still_refuse(dialect: str, event: dict[str, Any]) -> None:
    text = json.dumps(event)
    assert validate_client_event(text, dialect) == slow_validate(text, dialect)
    assert isinstance(validate_client_event(text, dialect), Rejection)


def test_only_the_rules_that_cannot_refuse_an_event_type_are_skipped() -> None:
    """A rule is skipped for an event type only when its shape is a closed object without the keys the
    rule reads; the rules' own code is what says which keys they read."""
    for dialect, kind in EVENT_TYPES:
        _, rules = client_events._compile(dialect, kind)
        shape = resolve(TABLES["events"][dialect][kind])
        for rule, reads in client_events._SERVICE_RULES:
            if rule not in rules:
                assert shape["t"] == "object" and not set(reads) & set(shape["fields"]), (dialect, kind, rule)
