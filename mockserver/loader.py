"""Reading scenario files: YAML with positions → a checked `LoadedScenario`, or a located error.

Every problem is one line, `file:line:column: what is wrong; what to write instead`, raised as a
`ScenarioError` (the scenario author's fault, never the client's). YAML is read with the safe loader
only (no tags that build objects, no code), bounded in size even when aliases expand.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from .errors import ScenarioError
from .scenario import (
    EXPECT_SHORTHANDS,
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
    _TextItem,
)

__all__ = ["CallRef", "LoadedScenario", "load_scenario", "load_scenario_text"]

MAX_FILE_BYTES = 4 * 1024 * 1024
MAX_NODES = 200_000  # after alias expansion: stops "billion laughs" documents

Path_ = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class CallRef:
    """A function call a respond step emits, located in the file."""

    step: int  # 0-based step index
    part: int  # 0-based index in the step's respond list
    spec: FunctionCallPart
    line: int


@dataclass(slots=True)
class LoadedScenario:
    """A scenario ready to play: the model, where it came from, each step's line, and the calls."""

    scenario: Scenario
    name: str
    path: str | None
    step_lines: list[int]
    calls: list[CallRef]
    #: For each `expect: function_call_output` step index, the call it waits for.
    output_calls: dict[int, CallRef] = field(default_factory=dict)

    def step_label(self, index: int) -> str:
        return f"{self.path or self.name}:{self.step_lines[index]} (step {index + 1})"


class _Positions:
    """Maps a path of keys/indexes in the document to the (line, column) where its value starts."""

    def __init__(self, root: yaml.Node) -> None:
        self.marks: dict[Path_, tuple[int, int]] = {}
        self.key_marks: dict[Path_, tuple[int, int]] = {}
        seen: set[int] = set()
        stack: list[tuple[yaml.Node, Path_]] = [(root, ())]
        while stack:
            node, path = stack.pop()
            self.marks.setdefault(path, (node.start_mark.line + 1, node.start_mark.column + 1))
            if id(node) in seen:
                continue
            seen.add(id(node))
            if isinstance(node, yaml.MappingNode):
                for key_node, value_node in node.value:
                    key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node.value)
                    self.key_marks[(*path, key)] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
                    stack.append((value_node, (*path, key)))
            elif isinstance(node, yaml.SequenceNode):
                for i, child in enumerate(node.value):
                    stack.append((child, (*path, i)))

    def at(self, path: Path_, *, key: bool = False) -> tuple[int, int]:
        if key and path in self.key_marks:
            return self.key_marks[path]
        while path not in self.marks and path:
            path = path[:-1]
        return self.marks.get(path, (1, 1))


def _expanded_size(node: yaml.Node, memo: dict[int, int]) -> int:
    if id(node) in memo:
        return memo[id(node)]
    memo[id(node)] = 1  # guards against recursive aliases
    if isinstance(node, yaml.MappingNode):
        size = 1 + sum(_expanded_size(k, memo) + _expanded_size(v, memo) for k, v in node.value)
    elif isinstance(node, yaml.SequenceNode):
        size = 1 + sum(_expanded_size(c, memo) for c in node.value)
    else:
        size = 1
    memo[id(node)] = size
    return size


def _resolve(data: Any, loc: tuple[str | int, ...]) -> Path_:
    """The document path a pydantic error location points at (locations also name union tags and
    type names, which are not keys). A reading that uses up the whole location wins, then the longest."""
    best: tuple[tuple[bool, bool, int], Path_] = ((False, False, 0), ())

    def walk(value: Any, rest: tuple[str | int, ...], path: Path_, last_was_key: bool) -> None:
        nonlocal best
        score = (not rest, last_was_key, len(path))
        if score > best[0]:
            best = (score, path)
        if not rest:
            return
        head, tail = rest[0], rest[1:]
        if (isinstance(value, dict) and head in value) or (isinstance(value, list) and isinstance(head, int) and 0 <= head < len(value)):
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
    "function_call": _FunctionCallItem, "text": _TextItem, "audio": _AudioItem,
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


def _lookup(data: Any, path: Path_) -> Any:
    for p in path:
        data = data[p]
    return data


_EXPECTED = {
    "dict_type": "a mapping", "model_type": "a mapping", "model_attributes_type": "a mapping",
    "int_type": "a whole number", "int_parsing": "a whole number", "int_from_float": "a whole number",
    "float_type": "a number", "float_parsing": "a number", "string_type": "text", "list_type": "a list",
    "bool_type": "true or false", "bool_parsing": "true or false",
}


def _error_text(err: Any, data: Any) -> tuple[Path_, str, str | None]:
    """(document path, message, the `expected` phrase when it is a plain type error)."""
    loc = tuple(err["loc"])
    path = _resolve(data, loc)
    kind = err["type"]
    if kind == "extra_forbidden":
        key = path[-1] if path else loc[-1]
        parent = path[:-1]
        model = _model_at(parent, _lookup(data, parent))
        allowed = sorted(model.model_fields) if model else []
        near = difflib.get_close_matches(str(key), allowed, n=1, cutoff=0.6)
        if near:
            hint = f"did you mean '{near[0]}'?"
        elif allowed:
            hint = f"allowed here: {', '.join(allowed)}"
        else:
            hint = "remove it"
        return path, f"unknown key '{key}': {hint}", None
    where = ".".join(str(p) for p in path) or "document"
    if kind == "missing":
        return path, f"{where}: missing required key '{loc[-1]}'", None
    msg = str(err["msg"])
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    return path, f"{where}: {msg[0].lower() + msg[1:] if msg else msg}", _EXPECTED.get(kind)


def load_scenario(path: str | Path) -> LoadedScenario:
    """Read and check a scenario file; raise `ScenarioError` naming file:line:column on any problem."""
    p = Path(path)
    try:
        size = p.stat().st_size
        if size > MAX_FILE_BYTES:
            raise ScenarioError(str(p), 1, 1, f"file is {size} bytes; a scenario is at most {MAX_FILE_BYTES}")
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScenarioError(str(p), None, None, "no such scenario file") from None
    except IsADirectoryError:
        raise ScenarioError(str(p), None, None, "is a directory; name the .yaml files in it") from None
    except UnicodeDecodeError as exc:
        raise ScenarioError(str(p), None, None, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise ScenarioError(str(p), None, None, f"cannot read: {exc.strerror or exc}") from None
    return load_scenario_text(text, path=str(p), default_name=p.stem)


def load_scenario_text(text: str, *, path: str | None = None, default_name: str = "scenario") -> LoadedScenario:
    where = path or "<scenario>"
    try:
        loader = yaml.SafeLoader(text)
        try:
            root = loader.get_single_node()
            if root is None:
                raise ScenarioError(where, 1, 1, "empty scenario: write at least 'steps:'")
            if _expanded_size(root, {}) > MAX_NODES:
                line, col = root.start_mark.line + 1, root.start_mark.column + 1
                raise ScenarioError(where, line, col, f"document expands to more than {MAX_NODES} values (aliases?)")
            data = loader.construct_document(root)
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (None, None)
        problem = exc.problem or exc.context or "invalid YAML"
        if "could not determine a constructor" in str(exc.problem or ""):
            problem = f"{problem.split(' for the tag ')[-1]} tags are not allowed: rtmock reads plain YAML only"
        raise ScenarioError(where, line, col, f"YAML: {problem}") from None
    except yaml.YAMLError as exc:
        raise ScenarioError(where, None, None, f"YAML: {exc}") from None
    except RecursionError:
        raise ScenarioError(where, None, None, "YAML nests too deeply") from None
    positions = _Positions(root)
    if not isinstance(data, dict):
        raise ScenarioError(where, 1, 1, "a scenario is a mapping with at least 'steps:'")
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        by_place: dict[Path_, list[tuple[str, str | None]]] = {}
        for err in exc.errors(include_url=False):
            doc_path, message, expected = _error_text(err, data)
            by_place.setdefault(doc_path, []).append((message, expected))
        problems = []
        for doc_path, found in by_place.items():
            is_key = any(m.startswith("unknown key") for m, _ in found)
            line, col = positions.at(doc_path, key=is_key)
            if len(found) > 1 and all(e for _, e in found):
                # a union that took none of its forms: say which forms it takes
                forms = " or ".join(dict.fromkeys(e for _, e in found if e))
                where_ = ".".join(str(p) for p in doc_path)
                message = f"{where_}: expected {forms}, got {_lookup(data, doc_path)!r}"
            else:
                message = "; ".join(dict.fromkeys(m for m, _ in found))
            problems.append(ScenarioError(where, line, col, message))
        problems.sort(key=lambda e: (e.line or 0, e.column or 0))
        raise ScenarioError.many(problems) from None
    return _link(scenario, where if path else None, default_name, positions)


def _link(scenario: Scenario, path: str | None, default_name: str, positions: _Positions) -> LoadedScenario:
    """Checks that need the whole scenario: each awaited output names a call an earlier step emits."""
    where = path or "<scenario>"
    step_lines = [positions.at(("steps", i))[0] for i in range(len(scenario.steps))]
    tool_names = [t.name for t in scenario.tools]
    calls: list[CallRef] = []
    output_calls: dict[int, CallRef] = {}
    labels: dict[str, CallRef] = {}
    unanswered: list[CallRef] = []
    for i, step in enumerate(scenario.steps):
        if isinstance(step, RespondStep):
            for j, part in enumerate(step.respond):
                if not isinstance(part, _FunctionCallItem):
                    continue
                spec = part.function_call
                line, col = positions.at(("steps", i, "respond", j, "function_call", "name"))
                if tool_names and spec.name not in tool_names:
                    near = difflib.get_close_matches(spec.name, tool_names, n=1)
                    hint = f"did you mean '{near[0]}'?" if near else f"declare it under 'tools:' ({', '.join(tool_names)})"
                    raise ScenarioError(where, line, col, f"function_call '{spec.name}' is not one of the scenario's tools: {hint}")
                ref = CallRef(step=i, part=j, spec=spec, line=line)
                for label in filter(None, (spec.id, spec.call_id)):
                    if label in labels:
                        raise ScenarioError(where, line, col, f"call label '{label}' is used twice; give each call its own id")
                    labels[label] = ref
                calls.append(ref)
                unanswered.append(ref)
        elif isinstance(step, ExpectStep) and step.expect == "function_call_output":
            line, col = positions.at(("steps", i, "call") if step.call else ("steps", i))
            if step.call is None:
                if len(unanswered) != 1:
                    what = "no earlier step emits a function call" if not unanswered else (
                        f"{len(unanswered)} calls are unanswered here "
                        f"({', '.join(r.spec.id or r.spec.call_id or r.spec.name for r in unanswered)})"
                    )
                    raise ScenarioError(where, line, col, f"expect: function_call_output without 'call': {what}; add 'call: <id or name>'")
                ref = unanswered[0]
            else:
                ref = labels.get(step.call) or _by_name(step.call, unanswered, where, line, col)
            if ref in output_calls.values():
                raise ScenarioError(where, line, col, f"the output of call '{step.call or ref.spec.name}' is already awaited by an earlier step")
            output_calls[i] = ref
            if ref in unanswered:
                unanswered.remove(ref)
    name = scenario.name or default_name
    return LoadedScenario(scenario=scenario, name=name, path=path, step_lines=step_lines, calls=calls, output_calls=output_calls)


def _by_name(name: str, unanswered: list[CallRef], where: str, line: int, col: int) -> CallRef:
    matches = [r for r in unanswered if r.spec.name == name]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise ScenarioError(where, line, col, f"'{name}' names {len(matches)} calls; give each an 'id:' and use it here")
    known = [r.spec.id or r.spec.call_id or r.spec.name for r in unanswered]
    near = difflib.get_close_matches(name, known, n=1)
    hint = f"did you mean '{near[0]}'?" if near else (
        f"calls awaiting an output here: {', '.join(known)}" if known else "no earlier step emits a call that is still unanswered")
    raise ScenarioError(where, line, col, f"no call '{name}' before this step: {hint}")


def describe_expect(kind: str) -> str:
    return EXPECT_SHORTHANDS.get(kind, kind)
