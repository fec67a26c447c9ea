"""harness.payloads: what each strategy generates, and that it is safe to put on the wire."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from random import Random
from typing import Any

import jsonschema  # type: ignore[import-untyped,unused-ignore]
import pytest
from hypothesis import Phase, find, given, seed, settings
from hypothesis import strategies as st
from hypothesis.vendor.pretty import RepresentationPrinter

from rtmock.harness.fuzzing.payloads import (
    CHARS_PER_TOKEN,
    DEFAULT_MAX_CHARS,
    KINDS,
    Payload,
    any_arguments,
    delta_chunks,
    hostile_arguments,
    max_argument_chars,
    schema_violating_arguments,
    valid_arguments,
)

SEARCH: dict[str, Any] = {
    "type": "object",
    "properties": {"query": {"type": "string"}, "limit": {"type": "integer", "minimum": 1}},
    "required": ["query"],
}
# What real tools send: annotations, additionalProperties, $defs and keys nobody standardised.
DECORATED: dict[str, Any] = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "title": "get_weather",
    "description": "Weather for a city.",
    "type": "object",
    "properties": {
        "city": {"type": "string", "description": "City name", "examples": ["Paris"], "x-ui": {"w": 3}},
        "unit": {"$ref": "#/$defs/Unit", "description": "Units"},
        "days": {"type": ["integer", "null"], "default": 1},
    },
    "required": ["city", "unit"],
    "additionalProperties": False,
    "strict": True,
    "$defs": {"Unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
}
# Not valid draft-7 schemas: each bad keyword is dropped, the rest kept.
BROKEN: dict[str, Any] = {
    "type": "object",
    "properties": {
        "q": {"type": "str"},
        "remote": {"$ref": "https://example.com/schema.json"},
        "tree": {"$ref": "#"},
        "n": {"type": "integer"},
    },
    "required": ["n"],
}
SCHEMAS = [SEARCH, DECORATED, BROKEN, {}, {"type": "object", "properties": {}}]
FAST = settings(max_examples=12, deadline=None, database=None)


def _valid(schema: dict[str, Any], text: str) -> bool:
    return bool(jsonschema.Draft7Validator(schema).is_valid(json.loads(text)))


@pytest.mark.parametrize("schema", SCHEMAS, ids=["search", "decorated", "broken", "empty", "no-props"])
def test_valid_arguments_parse_as_objects_the_schema_accepts(schema: dict[str, Any]) -> None:
    @FAST
    @given(valid_arguments(schema))
    def check(payload: Payload) -> None:
        assert payload.kind == "valid" and payload.parses_as_object
        if schema is BROKEN:  # no schema jsonschema can use: what survived cleaning still holds
            assert type(json.loads(payload.text)["n"]) is int
        else:
            assert _valid(schema, payload.text)

    check()


def test_missing_schema_means_any_object() -> None:
    @FAST
    @given(valid_arguments(None))
    def check(payload: Payload) -> None:
        assert isinstance(json.loads(payload.text), dict)

    check()


@pytest.mark.parametrize("schema", [SEARCH, DECORATED], ids=["search", "decorated"])
def test_violating_arguments_break_the_schema_in_the_named_way(schema: dict[str, Any]) -> None:
    seen: set[str] = set()

    @settings(max_examples=60, deadline=None, database=None)
    @given(schema_violating_arguments(schema))
    def check(payload: Payload) -> None:
        seen.add(payload.kind)
        value = json.loads(payload.text)
        closed = schema.get("additionalProperties") is False
        if payload.kind != "extra-key" or closed:
            assert not _valid(schema, payload.text), payload
        key = payload.note.split("'")[1]
        if payload.kind == "missing-required":
            assert key in schema["required"] and key not in value
        elif payload.kind == "null-value":
            assert value[key] is None
        elif payload.kind == "wrong-type":
            assert value[key] is not None
        else:
            assert payload.kind == "extra-key" and key not in schema["properties"] and key in value

    check()
    assert seen == {"missing-required", "wrong-type", "null-value", "extra-key"}


def test_extra_key_is_generated_even_when_the_schema_allows_it() -> None:
    payload = _first(schema_violating_arguments(SEARCH), lambda p: p.kind == "extra-key")
    assert "allowed by the schema" in payload.note and _valid(SEARCH, payload.text)


def test_hostile_arguments_cover_every_kind_and_fit_in_a_frame() -> None:
    seen: Counter[str] = Counter()

    @settings(max_examples=200, deadline=None, database=None)
    @given(hostile_arguments())
    def check(payload: Payload) -> None:
        seen[payload.kind] += 1
        frame = json.dumps({"type": "response.function_call_arguments.done", "arguments": payload.text})
        frame.encode("utf-8")
        assert payload.kind in KINDS and payload.note

    check()
    assert set(seen) == set(KINDS) - {"valid", "missing-required", "wrong-type", "null-value", "extra-key"}


def test_hostile_texts_do_what_their_kind_says() -> None:
    payloads = _all(hostile_arguments(), 200)
    by_kind: dict[str, list[Payload]] = {}
    for payload in payloads:
        by_kind.setdefault(payload.kind, []).append(payload)
    assert not any(p.parses_as_object for kind in ("empty", "not-an-object", "not-json", "truncated-json")
                   for p in by_kind[kind])  # fmt: skip
    for payload in by_kind["lone-surrogate"]:
        with pytest.raises(UnicodeEncodeError):
            json.dumps(json.loads(payload.text), ensure_ascii=False).encode("utf-8")
    for payload in by_kind["deep-nesting"]:
        with pytest.raises(RecursionError):
            json.loads(payload.text)
        assert not payload.parses_as_object
    assert {len(p.text) for p in by_kind["huge-string"]} <= {DEFAULT_MAX_CHARS, DEFAULT_MAX_CHARS - 1}
    assert all(p.parses_as_object for p in by_kind["nan-or-infinity"])  # Python accepts what JSON forbids


def test_by_default_payloads_are_what_a_response_can_carry() -> None:
    """A gpt-realtime response holds 4,096 output tokens: at ~4 characters a token, 16,384 characters."""
    assert DEFAULT_MAX_CHARS == max_argument_chars(4096) == 4096 * CHARS_PER_TOKEN == 16_384
    payloads = _all(any_arguments(SEARCH), 300)
    assert max(len(p.text) for p in payloads) == DEFAULT_MAX_CHARS  # a huge string fills the bound
    deepest = max(p.text.count("[") for p in payloads if p.kind == "deep-nesting")
    assert 1000 <= deepest <= DEFAULT_MAX_CHARS // 2


def test_a_smaller_budget_bounds_every_kind() -> None:
    bound = max_argument_chars(64)  # a session with max_output_tokens 64
    payloads = _all(any_arguments(SEARCH, max_chars=bound), 300)
    assert max(len(p.text) for p in payloads) == bound
    assert {p.kind for p in payloads} >= {"valid", "missing-required", "not-json", "deep-nesting", "huge-string"}
    assert "huge-number" in {p.kind for p in payloads}  # its short texts fit; the 5000-digit one does not
    assert not any("5000-digit" in p.note for p in payloads)


def test_oversized_adds_what_no_model_can_send() -> None:
    payloads = _all(hostile_arguments(oversized=True), 300)
    huge = {len(p.text) for p in payloads if p.kind == "huge-string"}
    assert max(huge) >= 1 << 20 and min(huge) <= DEFAULT_MAX_CHARS
    assert any(p.text.count("[") == 100_000 for p in payloads if p.kind == "deep-nesting")


def test_any_arguments_covers_every_kind_within_150_examples() -> None:
    kinds = {payload.kind for payload in _all(any_arguments(SEARCH), 150)}
    assert kinds == set(KINDS)


@FAST
@given(st.data())
def test_delta_chunks_are_non_empty_and_concatenate_to_the_text(data: st.DataObject) -> None:
    payload = data.draw(st.one_of(valid_arguments(SEARCH), hostile_arguments()))
    chunks = data.draw(delta_chunks(payload.text, max_chunks=8))
    assert "".join(chunks) == payload.text
    assert all(chunks) and len(chunks) <= 8
    assert (len(chunks) == 0) == (payload.text == "")


def test_delta_chunks_of_a_huge_payload_stay_few() -> None:
    text = "x" * 5000
    splits = _all(delta_chunks(text), 20)
    assert all(len(chunks) <= 64 and "".join(chunks) == text for chunks in splits)
    assert max(len(chunks) for chunks in splits) > 1


def test_payload_with_a_raw_surrogate_cannot_exist() -> None:
    with pytest.raises(ValueError, match="UTF-8"):
        Payload('{"q": "\ud800"}', "lone-surrogate", "raw, not escaped")


def test_repr_of_a_huge_payload_is_short() -> None:
    payload = _first(hostile_arguments(), lambda p: p.kind == "huge-string")
    assert len(repr(payload)) < 300 and "chars)" in repr(payload)
    printer = RepresentationPrinter()
    printer.pretty(payload)
    assert printer.getvalue() == repr(payload)


def test_same_seed_gives_same_examples() -> None:
    assert _all(any_arguments(SEARCH), 20) == _all(any_arguments(SEARCH), 20)


def _all(strategy: st.SearchStrategy[Any], count: int) -> list[Any]:
    """The examples a seeded run draws: the same list every time."""
    drawn: list[Any] = []

    @seed(20240501)
    @settings(max_examples=count, deadline=None, database=None)
    @given(strategy)
    def collect(value: Any) -> None:
        drawn.append(value)

    collect()
    return drawn


def _first(strategy: st.SearchStrategy[Any], condition: Callable[[Any], bool]) -> Any:
    """The first example that meets `condition`, unshrunk."""
    quick = settings(database=None, max_examples=500, phases=[Phase.generate], deadline=None)
    return find(strategy, condition, settings=quick, random=Random(0))
