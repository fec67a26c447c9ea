"""Hypothesis strategies for function-call `arguments`: the JSON text a model streams to a client.

A realtime function call carries its arguments as JSON *text*, streamed in
`response.function_call_arguments.delta` chunks, and models get it wrong in recurring ways. Three
families of `Payload`, each tagged with a stable `kind` from `KINDS`: `valid_arguments(schema)`,
`schema_violating_arguments(schema)` (one named violation) and `hostile_arguments()` (text that
breaks naive parsers); `any_arguments(schema)` mixes them and `delta_chunks(text)` splits text as
the server streams it. `rtmock fuzz` is built on this module; users import it in their own tests.
Payload text and its chunking belong here; sending frames and judging clients do not.

Only what the service could send, by default. The model writes the arguments, and a response is
bounded by its output token limit: 4,096 tokens for gpt-realtime (`DEFAULT_MAX_OUTPUT_TOKENS`),
32,000 for gpt-realtime-2, less when the session or the response sets `max_output_tokens`. At an
estimated `CHARS_PER_TOKEN` = 4 characters per token (typical of English and JSON; generous for
most text, since accents, emoji and rare words take more tokens per character) an argument string
is at most `max_argument_chars(tokens)` characters: 16,384 for 4,096 tokens. Every strategy keeps
to `max_chars` (that bound, by default), size and nesting alike: the huge strings fill it, the
deepest nesting fits in it. `oversized=True` adds what no model can send (a megabyte string,
100 000 levels of nesting), to test a client's defences beyond the service's own limits.

Every payload's text encodes to UTF-8, so the server can put it in a frame: a lone surrogate
appears only as the six-character JSON escape `\\ud800`, never as a raw code point.
"""

from __future__ import annotations

import functools
import itertools
import json
import operator
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import unquote

import jsonschema  # type: ignore[import-untyped,unused-ignore]
from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy

from ._schema_values import schema_values

__all__ = [
    "CHARS_PER_TOKEN", "DEFAULT_MAX_CHARS", "DEFAULT_MAX_OUTPUT_TOKENS", "KINDS", "Payload", "any_arguments",
    "delta_chunks", "hostile_arguments", "max_argument_chars", "schema_violating_arguments", "valid_arguments",
]  # fmt: skip

KINDS: tuple[str, ...] = (  # valid; schema_violating_arguments; hostile_arguments, simplest first
    "valid", "missing-required", "wrong-type", "null-value", "extra-key",
    "empty", "not-an-object", "not-json", "truncated-json", "duplicate-key", "control-character",
    "huge-number", "nan-or-infinity", "lone-surrogate", "bidi-and-zero-width", "deep-nesting", "huge-string",
)  # fmt: skip
"""Every `Payload.kind` this module produces. Stable ids: fuzz reports and users key on them."""

#: Characters of arguments one output token is taken to write: ~4 for English and JSON text, the
#: usual rule of thumb. An estimate on the generous side for most text, to bound what a model sends.
CHARS_PER_TOKEN = 4
#: gpt-realtime's output token limit (gpt-realtime-2: 32,000): what a response can hold at most.
DEFAULT_MAX_OUTPUT_TOKENS = 4096


def max_argument_chars(max_output_tokens: int) -> int:
    """The longest arguments a response of `max_output_tokens` tokens can carry, at `CHARS_PER_TOKEN`."""
    return max_output_tokens * CHARS_PER_TOKEN


#: 16,384: the longest arguments a gpt-realtime response (4,096 tokens) can carry, at ~4 characters a token.
DEFAULT_MAX_CHARS = max_argument_chars(DEFAULT_MAX_OUTPUT_TOKENS)


@dataclass(frozen=True, repr=False)
class Payload:
    """One `arguments` string as the server sends it, with its category and a human note."""

    text: str
    kind: str
    note: str

    def __post_init__(self) -> None:
        try:
            self.text.encode("utf-8")
        except UnicodeEncodeError as err:  # rtmock bug, not the client's fault
            raise ValueError(f"payload text must encode to UTF-8 (use the \\uXXXX escape): {err}") from None

    @property
    def parses_as_object(self) -> bool:
        """True when `json.loads(text)` returns a dict (False on RecursionError, too)."""
        try:
            return isinstance(json.loads(self.text), dict)
        except (ValueError, RecursionError):
            return False

    def __repr__(self) -> str:
        # Fuzz reports print the minimal failing payload: in full up to 500 characters, then cut.
        text = self.text if len(self.text) <= 500 else f"{self.text[:100]}…{self.text[-20:]}"
        size = "" if text is self.text else f" ({len(self.text)} chars)"
        return f"Payload(kind={self.kind!r}, note={self.note!r}, text={text!r}{size})"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))  # Hypothesis's "Falsifying example" would print every field in full


# ---------------------------------------------------------------------------------------------
# Schemas as real tools declare them, made valid draft-7 schemas to draw values from.

_REF_DEPTH = 3  # recursive $refs are unrolled this deep, then forbidden (values must stay finite)
_META = jsonschema.Draft7Validator(jsonschema.Draft7Validator.META_SCHEMA)


def _pointer(root: Any, ref: str) -> Any:
    """The local target of `ref` ("#/$defs/Unit"), or None when it is remote or missing."""
    if not ref.startswith("#"):
        return None
    node = root
    for part in filter(None, ref[1:].split("/")):
        step = unquote(part).replace("~1", "/").replace("~0", "~")
        if isinstance(node, list) and step.isdigit() and int(step) < len(node):
            node = node[int(step)]
        elif isinstance(node, dict) and step in node:
            node = node[step]
        else:
            return None
    return node


def _inline_refs(node: Any, root: Any, depth: int = 0) -> Any:
    if isinstance(node, list):
        return [_inline_refs(item, root, depth) for item in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if not isinstance(ref, str):
        return {key: _inline_refs(value, root, depth) for key, value in node.items()}
    rest = _inline_refs({k: v for k, v in node.items() if k != "$ref"}, root, depth)
    target = _pointer(root, ref)
    if target is None:  # remote or dangling: nothing to inline; keep the rest
        return rest
    inlined = _inline_refs(target, root, depth + 1) if depth < _REF_DEPTH else False
    return {"allOf": [inlined, rest]} if rest else inlined


def _usable_schema(schema: Mapping[str, Any] | None) -> dict[str, Any]:
    """A copy of a tool's `parameters` that is a valid draft-7 schema, for an object.

    Local `$ref`s are inlined, remote ones dropped; then every keyword the draft-7 meta-schema
    rejects (`"type": "str"`, `"required": "q"`, ...) is removed, innermost first. Annotations
    (`title`, `description`, `examples`) and unknown keys are harmless and stay.
    """
    raw = dict(schema) if isinstance(schema, Mapping) else {}
    cleaned: dict[str, Any] = _inline_refs(raw, raw)  # a deep copy, too
    for key in ("$schema", "$id", "$defs", "definitions"):
        cleaned.pop(key, None)
    while error := next(iter(_META.iter_errors(cleaned)), None):
        path = list(error.absolute_path)  # dict keys (str) and list indexes (int) to the bad value
        cut = max((i for i, step in enumerate(path) if isinstance(step, str)), default=None)
        if cut is None:
            cleaned = {}
        else:  # delete the innermost keyword (or property) that holds the error
            del functools.reduce(operator.getitem, path[:cut], cleaned)[path[cut]]
    cleaned["type"] = "object"  # a tool's arguments are an object, whatever the schema said
    return cleaned


def _declared_types(subschema: Any) -> set[str]:
    declared = subschema.get("type") if isinstance(subschema, dict) else None
    return {declared} if isinstance(declared, str) else set(declared) if isinstance(declared, list) else set()


# ---------------------------------------------------------------------------------------------
# The three families.

_STYLES: tuple[dict[str, Any], ...] = ({}, {"separators": (",", ":")}, {"indent": 2})


def _render(value: Any, style: dict[str, Any]) -> str:
    return json.dumps(value, ensure_ascii=False, **style)


def _objects(cleaned: dict[str, Any]) -> SearchStrategy[dict[str, Any]]:
    return cast("SearchStrategy[dict[str, Any]]", schema_values(cleaned))  # "type": "object" is forced


def _check_bound(max_chars: int) -> None:
    if max_chars < 2:
        raise ValueError(f"max_chars must be at least 2 (the text '{{}}'), not {max_chars}")


def _within(payloads: SearchStrategy[Payload], max_chars: int) -> SearchStrategy[Payload]:
    return payloads.filter(lambda payload: len(payload.text) <= max_chars)


def valid_arguments(schema: Mapping[str, Any] | None, *, max_chars: int = DEFAULT_MAX_CHARS) -> SearchStrategy[Payload]:
    """JSON text of objects that `schema` (a function tool's `parameters`) accepts; kind "valid".

    Generated from `schema` (`_schema_values.py`) after it is cleaned of what it rejects (remote or
    recursive `$ref`s, malformed keywords); an empty or missing schema means "any object". Text is
    compact, spaced or indented, as models write all three, and at most `max_chars` characters
    long (see the module's docstring). A client must answer every one.
    """
    _check_bound(max_chars)
    objects, styles = _objects(_usable_schema(schema)), st.sampled_from(_STYLES)
    payloads = st.builds(lambda value, style: Payload(_render(value, style), "valid", "matches the schema"), objects, styles)
    return _within(payloads, max_chars)


_REMOVE = object()
_WRONG_VALUES: tuple[tuple[str, Any], ...] = (
    ("string", "1"), ("integer", 1), ("number", 0.5), ("boolean", True), ("array", []), ("object", {}),
)  # fmt: skip
_EXTRA_KEYS: tuple[tuple[str, Any], ...] = (("unexpected", 1), ("self", "x"), ("__proto__", {}), ("kwargs", None))


def _edited(cleaned: dict[str, Any], kind: str, edits: list[Any], *, must_violate: bool) -> SearchStrategy[Payload]:
    """Valid objects with one edit (key, new value or _REMOVE, note) applied."""

    def apply(value: dict[str, Any], edit: tuple[str, Any, str]) -> Payload:
        key, new, note = edit
        edited = {k: v for k, v in value.items() if k != key}
        if new is not _REMOVE:
            edited[key] = new
        return Payload(_render(edited, {}), kind, note)

    payloads = st.builds(apply, _objects(cleaned), st.sampled_from(edits))
    if not must_violate:
        return payloads
    validator = jsonschema.Draft7Validator(cleaned)  # safety net: patternProperties, allOf, ...
    return payloads.filter(lambda payload: not validator.is_valid(json.loads(payload.text)))


def _violation_branches(schema: Mapping[str, Any] | None, max_chars: int) -> list[SearchStrategy[Payload]]:
    return [_within(branch, max_chars) for branch in _violations(schema)]


def _violations(schema: Mapping[str, Any] | None) -> list[SearchStrategy[Payload]]:
    cleaned = _usable_schema(schema)
    properties: dict[str, Any] = cleaned.get("properties", {})
    branches: list[SearchStrategy[Payload]] = []
    if required := [key for key in cleaned.get("required", []) if isinstance(key, str)]:
        edits = [(key, _REMOVE, f"required key {key!r} removed") for key in required]
        branches.append(_edited(cleaned, "missing-required", edits, must_violate=True))
    typed = {key: types for key, sub in properties.items() if (types := _declared_types(sub))}
    wrong = [
        (key, value, f"{key!r} is {name} {value!r}, schema says {' or '.join(sorted(types))}")
        for key, types in typed.items()
        for name, value in _WRONG_VALUES
        if name not in types and not (name == "integer" and "number" in types)
    ]
    nulls = [(key, None, f"{key!r} is null") for key, types in typed.items() if "null" not in types]
    branches += [_edited(cleaned, kind, edits, must_violate=True) for kind, edits in (("wrong-type", wrong), ("null-value", nulls)) if edits]
    closed = cleaned.get("additionalProperties") is False
    why = "additionalProperties is false" if closed else "allowed by the schema, breaks fn(**arguments)"
    extras = [(key, value, f"extra key {key!r} ({why})") for key, value in _EXTRA_KEYS if key not in properties]
    return branches + ([_edited(cleaned, "extra-key", extras, must_violate=closed)] if extras else [])


def schema_violating_arguments(schema: Mapping[str, Any] | None, *,
                               max_chars: int = DEFAULT_MAX_CHARS) -> SearchStrategy[Payload]:
    """JSON objects that break `schema` in one named way: what a model gets wrong most often.

    Kinds: "missing-required" (one required key removed), "wrong-type" (a typed property gets a
    value of another JSON type, e.g. the string "1" for an integer), "null-value" (a property
    that does not allow null is null) and "extra-key" (`self`, `__proto__`, ...). An extra key
    breaks the schema only when `additionalProperties` is false; it is generated either way,
    because clients that call `fn(**arguments)` crash on it. At most `max_chars` characters.
    """
    _check_bound(max_chars)
    return st.one_of(*_violation_branches(schema, max_chars))


def _fixed(kind: str, texts: list[tuple[str, str]]) -> SearchStrategy[Payload]:
    return st.sampled_from([Payload(text, kind, note) for text, note in texts])


def _truncated(texts: SearchStrategy[str]) -> SearchStrategy[Payload]:
    # Any proper prefix of an object's text is invalid JSON: the closing brace is missing.
    return texts.flatmap(
        lambda text: st.integers(1, len(text) - 1).map(
            lambda n: Payload(text[:n], "truncated-json", f"cut after {n} of {len(text)} characters")
        )
    )


def _nested(spec: tuple[int, str]) -> Payload:
    depth, shape = spec
    value = "[" * depth + "]" * depth if shape == "array" else '{"a": ' * depth + "1" + "}" * depth
    why = " (json.loads raises RecursionError, not ValueError)" if depth >= 1000 else ""
    return Payload('{"query": ' + value + "}", "deep-nesting", f"{depth} nested {shape}s{why}")


def _nestings(max_chars: int, oversized: bool) -> list[tuple[int, str]]:
    """Depths and shapes, shallowest first: 1000 levels (past json.loads's recursion limit), and the
    deepest array the bound holds; `oversized` adds 100 000 levels, which no model can write."""
    deepest = (max_chars - len('{"query": }')) // 2  # an array level is two characters, "[" and "]"
    specs = [(1000, "array"), (1000, "object"), *([(deepest, "array")] if deepest > 1000 else [])]
    fits = [spec for spec in specs if len(_nested(spec).text) <= max_chars] or \
        ([(deepest, "array")] if deepest >= 1 else [])
    return fits + ([(100_000, "array")] if oversized else [])


_MiB = 1 << 20


def _huge(spec: tuple[str, int]) -> Payload:
    # Built by repetition when drawn: cheap, and nothing megabyte-sized lives at import.
    fill, count = spec
    return Payload('{"query": "' + fill * count + '"}', "huge-string", f"{count} x {fill!r} in one string")


def _huge_fills(max_chars: int, oversized: bool) -> list[tuple[str, int]]:
    """One string as long as the bound allows, of ASCII, of a two-byte letter and of escapes (each
    `\\n` is two characters of text); `oversized` adds a megabyte of each, which no model can write."""
    room = max_chars - len('{"query": ""}')
    fills = [(fill, room // len(fill)) for fill in ("a", "é", "\\n") if room // len(fill) >= 1]
    return fills + ([("a", _MiB), ("é", _MiB), ("\\n", _MiB // 2)] if oversized else [])


_WEATHER = '{"query": "weather in Paris", "limit": 3}'
_ODD = "\u202e\u202d\u202c\u200b\u200c\u200d\u2060\ufeff\u0301\u0336\u05d0\u0627a"
_FIXED: dict[str, list[tuple[str, str]]] = {  # kind -> (text, note), simplest first
    "empty": [("", "empty string"), (" ", "a single space"), ("\n", "a newline")],
    "not-an-object": [
        ("[]", "an array"), ("null", "null"), ('"weather"', "a string"), ("42", "a number"), ("true", "a boolean"),
        (f"[{_WEATHER}]", "the object inside an array"), (json.dumps(_WEATHER), "the object double-encoded as a JSON string"),
    ],
    "not-json": [
        ("{query: 'weather'}", "JavaScript object literal"), ("{'query': 'weather'}", "Python dict repr"),
        ('{"query": "weather",}', "trailing comma"), (f"```json\n{_WEATHER}\n```", "markdown code fence"),
        (_WEATHER + _WEATHER, "two objects back to back"), ("\ufeff" + _WEATHER, "UTF-8 byte-order mark first"),
        (_WEATHER + " // search", "trailing comment"), ("undefined", "the word undefined"),
    ],
    "duplicate-key": [('{"query": "a", "query": "b"}', "'query' twice; parsers differ on which wins")],
    "control-character": [
        ('{"query": "line 1\nline 2"}', "raw newline in a string (invalid JSON)"),
        ('{"query": "a\tb"}', "raw tab in a string (invalid JSON)"),
        ('{"query": "a\x00b"}', "raw NUL in a string (invalid JSON)"),
        ('{"query": "a\\u0000b"}', "escaped NUL (valid JSON; ends a C string)"),
    ],
    "huge-number": [
        ('{"limit": 1e400}', "1e400 (json.loads gives inf)"), ('{"limit": -1e400}', "-1e400 (-inf)"),
        ('{"limit": 1e-400}', "1e-400 (underflows to 0.0)"),
        ('{"limit": 9007199254740993}', "2**53 + 1 (not exact as a double)"),
        ('{"limit": ' + "9" * 400 + "}", "a 400-digit integer (too large for a float)"),
        ('{"limit": ' + "9" * 5000 + "}", "a 5000-digit integer (json.loads: over the 4300-digit limit)"),
    ],
    "nan-or-infinity": [
        (f'{{"limit": {word}}}', f"{word}: invalid JSON that Python's json.loads accepts")
        for word in ("NaN", "Infinity", "-Infinity")
    ],
    "lone-surrogate": [  # JSON escapes: json.loads accepts them, encoding the result to UTF-8 fails
        ('{"query": "\\ud800"}', "escaped lone high surrogate"),
        ('{"query": "\\udc00"}', "escaped lone low surrogate"),
        ('{"query": "ok \\ud83d"}', "an emoji's surrogate pair cut after its first half"),
        ('{"query": "\\ude00\\ud83d"}', "surrogate pair in the wrong order"),
        ('{"\\ud800": "x"}', "escaped lone surrogate in a key"),
    ],
    "bidi-and-zero-width": [
        ('{"query": "\u202eexe.txt\u202c"}', "right-to-left override"),
        ('{"que\u200bry": "weather"}', "zero-width space inside the key 'query'"),
        ('{"query": "cafe\u0301"}', "combining accent (NFD, not NFC)"),
        ('{"query": "\u05e9\u05dc\u05d5\u05dd abc"}', "right-to-left script mixed with Latin"),
        ('{"query": "Z' + "\u0336\u0301" * 50 + '"}', "100 combining marks on one letter"),
    ],
}  # fmt: skip


def _hostile_branches(max_chars: int, oversized: bool,
                      also_truncate: SearchStrategy[str] | None = None) -> list[SearchStrategy[Payload]]:
    fixed = {kind: _fixed(kind, kept) for kind, texts in _FIXED.items()
             if (kept := [(text, note) for text, note in texts if oversized or len(text) <= max_chars])}
    truncatable = st.sampled_from([_WEATHER, '{"query": "caf\\u00e9 \\ud83d\\ude00"}'])
    odd = st.text(st.sampled_from(_ODD), min_size=1, max_size=16).map(
        lambda s: Payload(_render({"query": s}, {}), "bidi-and-zero-width", "bidi and zero-width mix")
    )
    nestings, fills = _nestings(max_chars, oversized), _huge_fills(max_chars, oversized)
    branches = [
        *(fixed[kind] for kind in ("empty", "not-an-object", "not-json") if kind in fixed),
        _within(_truncated(st.one_of(truncatable, also_truncate) if also_truncate is not None else truncatable),
                max_chars),
        *(fixed[kind] for kind in ("duplicate-key", "control-character", "huge-number", "nan-or-infinity",
                                   "lone-surrogate") if kind in fixed),
        _within(st.one_of(fixed["bidi-and-zero-width"], odd) if "bidi-and-zero-width" in fixed else odd, max_chars),
        *([st.sampled_from(nestings).map(_nested)] if nestings else []),
        *([st.sampled_from(fills).map(_huge)] if fills else []),
    ]
    return branches


def hostile_arguments(*, max_chars: int = DEFAULT_MAX_CHARS, oversized: bool = False) -> SearchStrategy[Payload]:
    """Text a model can stream that breaks naive clients, simplest first, whatever the tool.

    Invalid JSON (truncated, fenced, JS/Python literals, raw control characters, NaN), empty
    text, JSON that is not an object, duplicate keys, numbers past float or Python int range,
    escaped lone surrogates (`json.loads` accepts them, UTF-8 encoding then fails), bidi and
    zero-width characters, nesting past `json.loads`'s recursion limit (RecursionError) and strings
    as long as a response can hold: at most `max_chars` characters, what the service could send
    (see the module's docstring). `oversized` adds what it cannot: 1 MB strings, 100 000 levels of
    nesting. Each is a fixed, readable text so failures shrink to something a person can paste
    into a test.
    """
    _check_bound(max_chars)
    return st.one_of(*_hostile_branches(max_chars, oversized))


def any_arguments(schema: Mapping[str, Any] | None, *, max_chars: int = DEFAULT_MAX_CHARS,
                  oversized: bool = False) -> SearchStrategy[Payload]:
    """A mix of the three families, one branch per kind, so a few hundred examples cover all.

    Also truncates valid payloads, as a stream cut mid-call would. Shrinks toward "valid". At most
    `max_chars` characters each, unless `oversized` (see `hostile_arguments`).
    """
    _check_bound(max_chars)
    valid = valid_arguments(schema, max_chars=max_chars)
    hostile = _hostile_branches(max_chars, oversized, also_truncate=valid.map(lambda payload: payload.text))
    return st.one_of(valid, *_violation_branches(schema, max_chars), *hostile)


def delta_chunks(text: str, *, max_chunks: int = 64) -> SearchStrategy[list[str]]:
    """Splits of `text` into 1..max_chunks non-empty chunks that concatenate to exactly `text`.

    This is how `response.function_call_arguments.delta` events carry it: a split may fall
    anywhere, inside a key or a `\\u00e9` escape. Empty text gives `[]` (no delta events, only
    `.done`). Shrinks toward a single chunk. `max_chunks` keeps a 1 MB payload to a few frames.
    """
    if max_chunks < 1:
        raise ValueError(f"max_chunks must be at least 1, not {max_chunks}")
    if not text:
        return st.just([])
    cuts = st.sets(st.integers(1, len(text) - 1), max_size=max_chunks - 1) if len(text) > 1 else st.just(set())

    def split(at: set[int]) -> list[str]:
        bounds = [0, *sorted(at), len(text)]
        return [text[start:end] for start, end in itertools.pairwise(bounds)]

    return cuts.map(split)
