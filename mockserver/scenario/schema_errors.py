"""Schema validation errors → located one-line problems.

pydantic reports where a document went wrong as a location in its own terms (union tags and type
names mixed in with keys) and one error per union form that did not fit. Here each becomes one
`ScenarioError` naming the document path, with a hint (the key that was meant, the forms allowed);
the loader supplies the line and column of each path. Only documents that are not plainly valid
come here (see `scenario.build_scenario`), so pydantic is loaded only for them.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from ..errors import ScenarioError
from . import model as plain
from .schema import (
    AudioPart,
    ClosePlan,
    CloseStep,
    Defaults,
    ExpectStep,
    FunctionCallPart,
    PauseStep,
    RespondStep,
    Scenario,
    SendStep,
    TextPart,
    ToolSpec,
    _AudioItem,
    _FunctionCallItem,
    _SendItem,
    _TextItem,
    to_scenario,
)

__all__ = ["validate"]

Path_ = tuple[str | int, ...]
Locate = Callable[[Path_, bool], tuple[int, int]]  # (document path, at the key?) → (line, column)


def validate(data: Any, locate: Locate, where: str) -> plain.Scenario:
    """The scenario `data` describes, or a `ScenarioError` with one located line per problem."""
    try:
        return to_scenario(Scenario.model_validate(data))
    except ValidationError as exc:
        errors = []
        for problem in _problems(exc, data):
            line, col = locate(problem.path, problem.at_key)
            errors.append(ScenarioError(where, line, col, problem.message))
        errors.sort(key=lambda e: (e.line or 0, e.column or 0))
        raise ScenarioError.many(errors) from None


def _resolve(data: Any, loc: tuple[str | int, ...], accept: Callable[[Any], bool] = lambda _: True) -> Path_:
    """The document path a pydantic error location points at (locations also name union tags and
    type names, which are not keys). A reading that uses up the whole location wins, then the longest."""
    best: tuple[tuple[bool, bool, int], Path_] = ((False, False, -1), ())

    def walk(value: Any, rest: tuple[str | int, ...], path: Path_, last_was_key: bool) -> None:
        nonlocal best
        score = (not rest and accept(value), last_was_key, len(path))
        if score > best[0]:
            best = (score, path)
        if not rest:
            return
        head, tail = rest[0], rest[1:]
        # a tagged union names the tag, then the field: in `text: {text: hi}` the location's
        # "text", "text" is one key, not two
        tag_then_field = isinstance(head, str) and tail[:1] == (head,)
        is_key = not tag_then_field and ((isinstance(value, dict) and head in value) or (
            isinstance(value, list) and isinstance(head, int) and 0 <= head < len(value)))
        if is_key:
            walk(value[head], tail, (*path, head), True)
        if isinstance(head, str):
            walk(value, tail, path, False)  # a union tag or a type name, not a key

    walk(data, tuple(loc), (), True)
    return best[1]


_MODEL_BY_KEY: dict[str, type[BaseModel]] = {
    "tools": ToolSpec,
    "function_call": FunctionCallPart,
    "text": TextPart,
    "audio": AudioPart,
    "defaults": Defaults,
    "close": ClosePlan,
}
_STEP_MODELS: dict[str, type[BaseModel]] = {
    "expect": ExpectStep, "respond": RespondStep, "pause": PauseStep, "close": CloseStep, "send": SendStep,
}
_PART_MODELS: dict[str, type[BaseModel]] = {
    "function_call": _FunctionCallItem, "text": _TextItem, "audio": _AudioItem, "send": _SendItem,
}


def _model_at(path: Path_, value: Any) -> type[BaseModel] | None:
    """The model that applies to the mapping `value` found at `path` (for 'did you mean')."""
    if not path:
        return Scenario
    keys = value.keys() if isinstance(value, dict) else ()
    if len(path) == 2 and path[0] == "steps":
        found = [m for k, m in _STEP_MODELS.items() if k in keys]
        return found[0] if len(found) == 1 else None
    if len(path) == 4 and path[2] == "respond":
        found = [m for k, m in _PART_MODELS.items() if k in keys]
        return found[0] if len(found) == 1 else None
    named = [p for p in path if isinstance(p, str)]
    return _MODEL_BY_KEY.get(named[-1]) if named else None


def _home_of(key: str, mapping: Any) -> str | None:
    """Where a key that is unknown in `mapping` belongs, when it is a key of a sibling's own mapping:
    indented one level too little, or beside a sibling written in its short form (`text: Hi.`)."""
    if not isinstance(mapping, dict):
        return None
    for sibling, value in mapping.items():
        model = _MODEL_BY_KEY.get(str(sibling))
        if sibling == key or model is None or key not in model.model_fields:
            continue
        if isinstance(value, dict):
            return f"'{key}' belongs under '{sibling}:': indent it one level further"
        main = next((name for name, field in model.model_fields.items() if field.is_required()), None)
        if main is not None and not isinstance(value, list):
            return (f"'{key}' is a key of '{sibling}' in its long form: write {sibling}: {{{main}: "
                    f"{_show(value) if not isinstance(value, str) else value}, {key}: …}}")
    return None


def _lookup(data: Any, path: Path_) -> Any:
    for p in path:
        data = data[p]
    return data


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:59] + "…"


_EXPECTED = {
    "dict_type": "a mapping", "model_type": "a mapping", "model_attributes_type": "a mapping",
    "int_type": "a whole number", "int_parsing": "a whole number", "int_from_float": "a whole number",
    "float_type": "a number", "float_parsing": "a number", "string_type": "text", "list_type": "a list",
    "bool_type": "true or false", "bool_parsing": "true or false",
}


@dataclass(slots=True)
class _Problem:
    path: Path_  # where in the document
    message: str
    expected: str | None = None  # the phrase for a plain type error ("a mapping"), merged across union forms
    at_key: bool = False  # locate at the key rather than at its value
    missing: str | None = None  # the key a "missing" error names
    suggests: str | None = None  # the key an "unknown key" error suggests


def where(path: Path_) -> str:
    """A document path in the words the rest of rtmock uses: steps, outputs and tools counted from 1
    as `rtmock run` counts them ("step 2, output 1, function_call.chunks"), other keys dotted."""
    parts: list[str] = []
    rest: list[str] = []
    i = 0
    while i < len(path):
        key = path[i]
        nxt = path[i + 1] if i + 1 < len(path) else None
        if key in ("steps", "respond", "tools") and isinstance(nxt, int) and not rest:
            parts.append(f"{ {'steps': 'step', 'respond': 'output', 'tools': 'tool'}[key] } {nxt + 1}")
            i += 2
            continue
        rest.append(str(key))
        i += 1
    if rest:
        parts.append(".".join(rest))
    return ", ".join(parts)


def _one_of(kind: str, value: Any, keys: tuple[str, ...], path: Path_) -> _Problem:
    """A step (or a respond output) that has not exactly one of its kind's keys."""
    what = "a step" if kind == "step" else "an output"
    options = ", ".join(keys)
    prefix = where(path) + ": "
    if not isinstance(value, dict):
        return _Problem(path, f"{prefix}{what} is a mapping with one of: {options}; got {_show(value)}")
    present = [k for k in keys if k in value]
    if len(present) > 1:
        return _Problem((*path, present[1]), f"'{present[0]}' and '{present[1]}' in one {kind}: "
                        f"{what} has exactly one of {options}; split it", at_key=True)
    for key in value:
        near = difflib.get_close_matches(str(key), keys, n=1, cutoff=0.6)
        if near:
            return _Problem((*path, key), f"unknown {kind} '{key}': did you mean '{near[0]}'?", at_key=True)
    found = ", ".join(str(k) for k in value) or "nothing"
    return _Problem(path, f"{prefix}{what} needs one of: {options} (found {found})")


def _problem(err: Any, data: Any) -> _Problem:
    loc = tuple(err["loc"])
    kind = err["type"]
    if kind == "invalid_key":  # the location ends with the offending key itself
        path = _resolve(data, loc[:-1], lambda v: isinstance(v, dict) and loc[-1] in v)
        return _Problem(path, f"key {_show(loc[-1])} is not text: quote it ('{loc[-1]}')")
    if loc and loc[-1] == "[key]":
        path = _resolve(data, loc[:-2], lambda v: isinstance(v, dict) and loc[-2] in v)
        return _Problem(path, f"key {_show(loc[-2])} is not text: quote it ('{loc[-2]}')")
    path = _resolve(data, loc)
    prefix = f"{where(path)}: " if path else ""
    value = _lookup(data, path)
    if kind == "step":
        return _one_of("step", value, tuple(_STEP_MODELS), path)
    if kind == "output_part":
        return _one_of("output", value, tuple(_PART_MODELS), path)
    if kind == "extra_forbidden":
        key = path[-1] if path else loc[-1]
        parent = path[:-1]
        model = _model_at(parent, _lookup(data, parent))
        allowed = sorted(model.model_fields) if model else []
        near = difflib.get_close_matches(str(key), allowed, n=1, cutoff=0.6)
        home = None if near else _home_of(str(key), _lookup(data, parent))
        if near:
            hint = f"did you mean '{near[0]}'?"
        elif home is not None:
            hint = home
        elif allowed:
            hint = f"allowed here: {', '.join(allowed)}"
        else:
            hint = "remove it"
        return _Problem(path, f"unknown key '{key}': {hint}", at_key=True, suggests=near[0] if near else None)
    if kind == "missing":
        return _Problem(path, f"{prefix}missing required key '{loc[-1]}'", missing=str(loc[-1]))
    if kind in _EXPECTED:
        return _Problem(path, f"{prefix}expected {_EXPECTED[kind]}, got {_show(value)}", expected=_EXPECTED[kind])
    if kind == "too_short":
        need = err.get("ctx", {}).get("min_length", 1)
        return _Problem(path, f"{prefix}needs at least {need} entr{'y' if need == 1 else 'ies'}, got none")
    msg = str(err["msg"])
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    msg = msg[0].lower() + msg[1:] if msg else msg
    if kind in ("literal_error", "greater_than", "greater_than_equal", "less_than", "less_than_equal",
                "string_too_short", "string_too_long"):
        msg = f"{msg}, got {_show(value)}"
    return _Problem(path, f"{prefix}{msg}")


def _problems(exc: ValidationError, data: Any) -> list[_Problem]:
    """One problem per mistake: pydantic reports each form of a union that did not fit; keep the
    form the value was meant to take (the one whose errors go deeper, or that failed on a value
    rather than a type), or else merge the type errors into 'expected A or B'."""
    found = [_problem(err, data) for err in exc.errors(include_url=False)]

    def deeper_or_not_type(p: _Problem) -> bool:
        return any(q is not p and q.path[:len(p.path)] == p.path and (len(q.path) > len(p.path) or q.expected is None)
                   for q in found)

    found = [p for p in found if p.expected is None or not deeper_or_not_type(p)]
    # a typo'd key is both unknown and missing: say it once
    found = [p for p in found if not (p.missing and any(q.suggests == p.missing and q.path[:-1] == p.path for q in found))]
    by_place: dict[Path_, list[_Problem]] = {}
    for p in found:
        by_place.setdefault(p.path, []).append(p)
    out = []
    for path, here in by_place.items():
        if len(here) > 1 and all(p.expected for p in here):
            forms = " or ".join(dict.fromkeys(p.expected for p in here if p.expected))
            out.append(_Problem(path, f"{where(path)}: expected {forms}, got {_show(_lookup(data, path))}"))
        else:
            out.extend({p.message: p for p in here}.values())
    return out
