"""Reading scenario files: YAML with positions → a checked `LoadedScenario`, or a located error.

Every problem is one line, `file:line:column: what is wrong; what to write instead`, raised as a
`ScenarioError` (the scenario author's fault, never the client's). YAML is read with a restricted safe
loader: plain JSON-like values only (no tags that build objects, no timestamps, sets or binary), no
duplicate keys, no recursive aliases, bounded nesting, and bounded in size even when aliases expand.
A scenario path is hostile input too: only a regular file is read (never a FIFO, a device or
/dev/zero behind a symlink), and at most `MAX_FILE_BYTES` of it.
"""

from __future__ import annotations

import difflib
import os
import stat
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import ScenarioError
from .model import CloseStep, ExpectStep, FunctionCallPart, RespondStep, Scenario, SendPart, build_scenario

__all__ = ["CallRef", "LoadedScenario", "load_scenario", "load_scenario_text", "scenario_from_dict"]

MAX_FILE_BYTES = 4 * 1024 * 1024
MAX_NODES = 200_000  # while composing, and after alias expansion: stops "billion laughs" documents
MAX_DEPTH = 100  # nesting, also after alias expansion: deeper documents would exhaust the stack
#: Characters of text (keys and values) once every alias is expanded: a document without aliases
#: cannot go past it (its text is at most MAX_FILE_BYTES), one that repeats a long string can.
MAX_TEXT_CHARS = MAX_FILE_BYTES
#: Digits of an integer: every value goes out as JSON text, and Python writes at most this many.
MAX_INT_DIGITS = sys.get_int_max_str_digits() or 4300

Path_ = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class CallRef:
    """A function call a respond step emits, located in the file."""

    step: int  # 0-based step index
    part: int  # 0-based index in the step's respond list
    spec: FunctionCallPart
    line: int

    def __hash__(self) -> int:  # a call is its place in the script (its spec may hold unhashable arguments)
        return hash((self.step, self.part))


@dataclass(slots=True)
class LoadedScenario:
    """A scenario ready to play: the scenario, where it came from, each step's line, and the calls."""

    scenario: Scenario
    name: str
    path: str | None
    step_lines: list[int]
    calls: list[CallRef]
    #: For each `expect: function_call_output` step index, the call it waits for.
    output_calls: dict[int, CallRef] = field(default_factory=dict)
    #: The document as read (plain JSON-like values), for writing a variant of it (fuzz reproducers).
    data: dict[str, Any] = field(default_factory=dict)

    def step_label(self, index: int) -> str:
        return f"{self.path or self.name}:{self.step_lines[index]} (step {index + 1})"


# ---- YAML → plain data ----------------------------------------------------------------------

_TAG_PREFIX = "tag:yaml.org,2002:"


class _Loader(yaml.SafeLoader):
    """The safe loader, narrowed to what JSON can carry (scenario values end up in JSON frames):
    unquoted dates stay text, and the object-building tags !!binary, !!set, !!omap, !!pairs and
    !!timestamp are refused. Nesting and the number of values are bounded while composing, before
    recursion or memory can run out (a 4 MB flow list holds two million values)."""

    depth = 0
    nodes = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        self.depth += 1
        self.nodes += 1  # an alias counts too: it stands for at least one value once expanded
        try:
            if self.depth > MAX_DEPTH:
                mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
                raise yaml.composer.ComposerError(None, None, f"nests more than {MAX_DEPTH} levels deep; flatten it", mark)
            if self.nodes > MAX_NODES:
                mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
                raise yaml.composer.ComposerError(
                    None, None, f"more than {MAX_NODES} values in one scenario (this is value {self.nodes}); "
                    "split it into several scenarios, or shorten its lists", mark)
            node = super().compose_node(parent, index)
            assert node is not None  # the stubs allow None; a node is always composed here
            return node
        finally:
            self.depth -= 1


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != _TAG_PREFIX + "timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _construct_int(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> Any:
    """An integer, refused before it is computed when its digits could not be written as JSON
    (Python refuses more than `MAX_INT_DIGITS` in a conversion, and sexagesimal 1:2:3… or hex
    forms of that length would take long to compute)."""
    text = str(node.value).replace("_", "").lstrip("+-")
    value = None
    if len(text) <= MAX_INT_DIGITS:
        try:
            value = yaml.constructor.SafeConstructor.construct_yaml_int(loader, node)
            str(value)  # hex, octal and binary forms can still have too many decimal digits
        except ValueError:
            value = None
    if value is None:
        raise yaml.constructor.ConstructorError(
            None, None, f"an integer of {len(text)} digits is too long: a number is sent as JSON, with at most "
            f"{MAX_INT_DIGITS} decimal digits; quote it to send it as text", node.start_mark)
    return value


_Loader.add_constructor(_TAG_PREFIX + "int", _construct_int)


def _refuse_tag(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    raise yaml.constructor.ConstructorError(None, None, f"could not determine a constructor for the tag {node.tag!r}",
                                            node.start_mark)


for _tag in ("binary", "set", "omap", "pairs", "timestamp"):
    _Loader.add_constructor(_TAG_PREFIX + _tag, _refuse_tag)


def _short_tag(tag: str) -> str:
    return "!!" + tag[len(_TAG_PREFIX):] if tag.startswith(_TAG_PREFIX) else tag


#: Hints for PyYAML's terse problems: what the author most likely has to change.
_YAML_HINTS = {
    "found character '\\t' that cannot start any token": "indent with spaces, not tabs",
    "mapping values are not allowed here": "a 'key: value' where a value was expected: quote the value or fix the indentation",
    "could not find expected ':'": "a key needs ': ' after it (or quote the text)",
    "found undefined alias": "define the anchor (&name) before using the alias (*name)",
    "found unexpected end of stream": "a quote or bracket is not closed",
    "but found another document": "a scenario file holds one document: remove the second '---'",
    "<stream end>": "the file ends inside it: close the bracket or quote it opened",
    "expected ',' or ']'": "close the list with ']' (or separate its items with ', ')",
    "expected ',' or '}'": "close the mapping with '}' (or separate its entries with ', ')",
}


def _yaml_problem(exc: yaml.MarkedYAMLError) -> str:
    problem = exc.problem or exc.context or "invalid YAML"
    if "could not determine a constructor" in problem:
        tag = problem.split(" for the tag ")[-1].strip("'\"")
        return f"{_short_tag(tag)} tags are not allowed: rtmock reads plain YAML (mappings, lists, text, numbers, true/false, null)"
    if exc.problem == "second occurrence" and exc.context and exc.context_mark:  # a duplicate anchor
        return f"{exc.context.split(';')[0]} (first on line {exc.context_mark.line + 1}); give each anchor its own name"
    if (exc.problem or "").startswith("expected <block end>") and exc.context_mark and exc.problem_mark:
        # PyYAML: "while parsing a block mapping (line 1), expected <block end>, but found ..."
        block, here = exc.context_mark, exc.problem_mark
        kind = "list" if "collection" in (exc.context or "") or "sequence" in (exc.context or "") else "mapping"
        return (f"this line is indented {here.column} space(s), which lines up with nothing above it: the {kind} "
                f"that starts on line {block.line + 1} is indented {block.column}; indent this line as the "
                "keys (or '- ' items) it belongs with")
    if exc.context and exc.context_mark and exc.problem and exc.problem_mark \
            and exc.context_mark.line != exc.problem_mark.line:
        problem = f"{exc.context} (line {exc.context_mark.line + 1}), {problem}"
    hint = next((h for p, h in _YAML_HINTS.items() if p in (exc.problem or "")), None)
    return f"{problem}; {hint}" if hint else problem


def _mark(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _check_graph(root: yaml.Node, where: str) -> None:
    """Aliases make the node tree a graph: refuse cycles, and bound its size, depth and text once
    every alias is expanded (the "billion laughs" document is a few lines of text; 150,000 uses of
    one megabyte string are 150 GB once the session sends them). Iterative, and linear in the number
    of distinct nodes, so it fails fast whatever the expansion would be."""
    size: dict[int, int] = {}
    depth: dict[int, int] = {}
    chars: dict[int, int] = {}  # characters of text, keys and values: what a value costs once sent
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, list[yaml.Node]]] = [(root, _children(root))]
    on_path.add(id(root))
    while stack:
        node, todo = stack[-1]
        if todo:
            child = todo.pop()
            if id(child) in on_path:
                line, col = _mark(node)
                raise ScenarioError(where, line, col, "this value contains itself through an alias; "
                                    "a scenario cannot be recursive: write the value out")
            if id(child) not in size:
                on_path.add(id(child))
                stack.append((child, _children(child)))
            continue
        stack.pop()
        on_path.discard(id(node))
        kids = _children(node)
        size[id(node)] = 1 + sum(size[id(k)] for k in kids)
        depth[id(node)] = 1 + max((depth[id(k)] for k in kids), default=0)
        chars[id(node)] = len(node.value) if isinstance(node, yaml.ScalarNode) else sum(chars[id(k)] for k in kids)
    for measure, limit, what in ((size, MAX_NODES, "values"), (depth, MAX_DEPTH, "levels deep"),
                                 (chars, MAX_TEXT_CHARS, "characters of text")):
        if measure[id(root)] <= limit:
            continue
        # point at the innermost value that is over the limit: where the expansion happens
        node = root
        while (over := next((k for k in _children(node) if measure[id(k)] > limit), None)) is not None:
            node = over
        line, col = _mark(node)
        raise ScenarioError(where, line, col, f"this value expands through aliases to {measure[id(node)]} {what}, "
                            f"more than the {limit} a scenario may hold: use fewer aliases (*name)")


class _Positions:
    """Maps a path of keys/indexes in the document to the (line, column) where its value starts."""

    def __init__(self, root: yaml.Node) -> None:
        self.marks: dict[Path_, tuple[int, int]] = {}
        self.key_marks: dict[Path_, tuple[int, int]] = {}
        #: (key, its line:column, the line of its first occurrence) for each repeated key of a mapping
        self.duplicates: list[tuple[str, tuple[int, int], int]] = []
        seen: set[int] = set()
        stack: list[tuple[yaml.Node, Path_]] = [(root, ())]
        while stack:
            node, path = stack.pop()
            self.marks.setdefault(path, _mark(node))
            if id(node) in seen:
                continue
            seen.add(id(node))
            if isinstance(node, yaml.MappingNode):
                first_line: dict[str, int] = {}
                for key_node, value_node in node.value:
                    key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node.value)
                    if key in first_line and key != "<<":
                        self.duplicates.append((key, _mark(key_node), first_line[key]))
                    first_line.setdefault(key, _mark(key_node)[0])
                    self.key_marks[(*path, key)] = _mark(key_node)
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


def _read_yaml(text: str, where: str) -> tuple[Any, _Positions]:
    """The document's data and positions, or a located `ScenarioError`."""
    try:
        loader = _Loader(text)
        try:
            root = loader.get_single_node()
            if root is None:
                raise ScenarioError(where, 1, 1, "empty scenario: write at least 'steps:' with one step")
            _check_graph(root, where)
            # positions from the document as written: constructing folds merge keys (<<: *x) into their
            # mappings, where a key the mapping sets itself would look given twice
            positions = _Positions(root)
            data = loader.construct_document(root)
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        raise ScenarioError(where, line, col, f"YAML: {_yaml_problem(exc)}") from None
    except yaml.reader.ReaderError as exc:
        before = text[:exc.position]
        line, col = before.count("\n") + 1, exc.position - (before.rfind("\n") + 1) + 1
        char = exc.character if isinstance(exc.character, str) else chr(exc.character)
        raise ScenarioError(where, line, col, f"YAML: the character {char!r} (U+{ord(char):04X}) is not allowed in "
                            "YAML text: remove it, or write it as an escape in a double-quoted string") from None
    except yaml.YAMLError as exc:
        raise ScenarioError(where, 1, 1, f"YAML: {exc}") from None
    if positions.duplicates:
        raise ScenarioError.many([
            ScenarioError(where, line, col, f"key '{key}' is given twice in this mapping (first on line {first}); keep one")
            for key, (line, col), first in sorted(positions.duplicates, key=lambda d: d[1])])
    if not isinstance(data, dict):
        line, col = _mark(root)
        got = "a list" if isinstance(data, list) else "null" if data is None else repr(data)
        raise ScenarioError(where, line, col, f"a scenario is a mapping with at least 'steps:', not {got}")
    return data, positions


def load_scenario(path: str | Path) -> LoadedScenario:
    """Read and check a scenario file; raise `ScenarioError` naming file:line:column on any problem."""
    p = Path(path)
    raw = _read_file(p)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise ScenarioError(str(p), line, col, f"not UTF-8 text (byte 0x{raw[exc.start]:02x}: {exc.reason}); "
                            "save the file as UTF-8") from None
    return load_scenario_text(text, path=str(p), default_name=p.stem)


#: What a path that is not a regular file is, in words (`stat.S_IFMT` of its mode).
_FILE_KINDS = {stat.S_IFIFO: "a named pipe (FIFO)", stat.S_IFCHR: "a character device", stat.S_IFBLK: "a block device",
               stat.S_IFSOCK: "a socket", stat.S_IFDIR: "a directory"}


def _read_file(p: Path) -> bytes:
    """The bytes of a regular file of at most `MAX_FILE_BYTES`. Anything else is refused before it is
    read: a FIFO would block the read until a writer comes (forever), /dev/zero or /dev/urandom
    behind a symlink would fill memory. The file is opened non-blocking and checked again once open
    (it may have been replaced since the stat), and read only up to the cap, whatever it claims."""
    where = str(p)
    try:
        mode = os.stat(p).st_mode
        if not stat.S_ISREG(mode):
            raise _not_regular(where, mode)
        fd = os.open(p, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
        try:
            status = os.fstat(fd)
            if not stat.S_ISREG(status.st_mode):
                raise _not_regular(where, status.st_mode)
            chunks: list[bytes] = []
            size = 0
            while size <= MAX_FILE_BYTES and (chunk := os.read(fd, MAX_FILE_BYTES + 1 - size)):
                chunks.append(chunk)
                size += len(chunk)
        finally:
            os.close(fd)
    except FileNotFoundError:
        raise ScenarioError(where, None, None, f"no such scenario file{_nearby(p)}") from None
    except OSError as exc:
        raise ScenarioError(where, None, None, f"cannot read: {exc.strerror or exc}") from None
    if size > MAX_FILE_BYTES:
        size = max(size, status.st_size)
        raise ScenarioError(where, 1, 1, f"the file is {size} bytes, more than the {MAX_FILE_BYTES} "
                            f"({MAX_FILE_BYTES // (1024 * 1024)} MiB) a scenario may be; split it into "
                            "several scenarios, or shorten its long values")
    return b"".join(chunks)


def _not_regular(where: str, mode: int) -> ScenarioError:
    kind = _FILE_KINDS.get(stat.S_IFMT(mode), "not a regular file")
    if stat.S_ISDIR(mode):
        return ScenarioError(where, None, None, "is a directory; name the .yaml files in it")
    return ScenarioError(where, None, None, f"is {kind}, not a regular file: rtmock reads a scenario only from a "
                         "regular file; name the .yaml file itself (copy the scenario into one)")


def _nearby(p: Path) -> str:
    """', did you mean …?' when a scenario file with a similar name sits in the same folder."""
    try:
        names = [q.name for q in p.parent.iterdir() if q.suffix in (".yaml", ".yml")]
    except OSError:
        return ""
    near = difflib.get_close_matches(p.name, names, n=1, cutoff=0.6)
    return f"; did you mean '{p.parent / near[0]}'?" if near else ""


def load_scenario_text(text: str, *, path: str | None = None, default_name: str = "scenario") -> LoadedScenario:
    where = path or "<scenario>"
    data, positions = _read_yaml(text, where)
    scenario = build_scenario(data)
    if scenario is None:  # not plainly valid: the schema says what is wrong (or reads it laxly)
        from .schema_errors import validate

        scenario = validate(data, lambda path, at_key: positions.at(path, key=at_key), where)
    return _link(scenario, data, where if path else None, default_name, positions)


def _link(scenario: Scenario, data: dict[str, Any], path: str | None, default_name: str,
          positions: _Positions) -> LoadedScenario:
    """Checks that need the whole scenario: each call is a declared tool with its own labels, and each
    awaited output names a call an earlier step emits. Every problem is reported, not just the first."""
    where = path or "<scenario>"
    problems: list[ScenarioError] = []
    step_lines = [positions.at(("steps", i))[0] for i in range(len(scenario.steps))]
    tool_names = [t.name for t in scenario.tools]
    calls: list[CallRef] = []
    output_calls: dict[int, CallRef] = {}
    labels: dict[str, CallRef] = {}
    unanswered: list[CallRef] = []
    for i, step in enumerate(scenario.steps):
        if isinstance(step, RespondStep):
            items = [j for j, part in enumerate(step.respond) if not isinstance(part, SendPart)]
            for j, spec in enumerate(step.respond):
                if isinstance(spec, SendPart) and not (items and items[0] < j < items[-1]):
                    line, col = positions.at(("steps", i, "respond", j))
                    problems.append(ScenarioError(where, line, col, "a send: inside a respond goes between two "
                                                  "outputs (after one item, before the next); to send an event "
                                                  "before or after the response, make it a send: step"))
                if not isinstance(spec, FunctionCallPart):
                    continue
                line, col = positions.at(("steps", i, "respond", j, "function_call", "name"))
                if not tool_names:
                    problems.append(ScenarioError(where, line, col, f"function_call '{spec.name}' needs a 'tools:' "
                                                  "section declaring it: a client is judged on declaring the tools "
                                                  "the model calls (tools: [{name: ..., parameters: {...}}])"))
                elif spec.name not in tool_names:
                    near = difflib.get_close_matches(spec.name, tool_names, n=1)
                    hint = f"did you mean '{near[0]}'?" if near else f"declare it under 'tools:' ({', '.join(tool_names)})"
                    problems.append(ScenarioError(where, line, col,
                                                  f"function_call '{spec.name}' is not one of the scenario's tools: {hint}"))
                ref = CallRef(step=i, part=j, spec=spec, line=line)
                for key, label in (("id", spec.id), ("call_id", spec.call_id)):
                    if label is None:
                        continue
                    if label in labels and labels[label] is not ref:
                        at = positions.at(("steps", i, "respond", j, "function_call", key))
                        problems.append(ScenarioError(where, *at, f"call label '{label}' is used twice (first on line "
                                                      f"{labels[label].line}); give each call its own label"))
                        continue
                    labels[label] = ref
                calls.append(ref)
                unanswered.append(ref)
        elif isinstance(step, ExpectStep) and step.expect == "function_call_output":
            line, col = positions.at(("steps", i, "call") if step.call else ("steps", i))
            try:
                ref = _awaited_call(scenario, i, labels, unanswered, where, line, col)
            except ScenarioError as problem:
                problems.append(problem)
                continue
            if ref in output_calls.values():
                problems.append(ScenarioError(where, line, col, f"the output of call '{step.call or ref.spec.name}' "
                                              "is already awaited by an earlier step"))
                continue
            output_calls[i] = ref
            if ref in unanswered:
                unanswered.remove(ref)
    closes = [i for i, step in enumerate(scenario.steps) if isinstance(step, CloseStep)]
    if closes and closes[0] < len(scenario.steps) - 1:
        line, col = positions.at(("steps", closes[0] + 1))
        problems.append(ScenarioError(where, line, col, f"step {closes[0] + 2} comes after the close: of step "
                                      f"{closes[0] + 1}, which ends the session: it is never reached (move the close "
                                      "to the end, or remove what follows it)"))
    if problems:
        raise ScenarioError.many(sorted(problems, key=lambda e: (e.line or 0, e.column or 0)))
    name = scenario.name or default_name
    return LoadedScenario(scenario=scenario, name=name, path=path, step_lines=step_lines, calls=calls,
                          output_calls=output_calls, data=data)


def _awaited_call(scenario: Scenario, index: int, labels: dict[str, CallRef], unanswered: list[CallRef],
                  where: str, line: int, col: int) -> CallRef:
    """The call the output expect at `index` waits for: by label, by tool name, or the only one left.
    The expects of a group match in any order, so a name stands for the calls that the group's
    labelled expects do not claim."""
    step = scenario.steps[index]
    assert isinstance(step, ExpectStep)
    if step.call is not None and step.call in labels:
        return labels[step.call]
    group = _group_around(scenario, index)
    claimed = [labels[s.call] for s in group if s.call is not None and s.call in labels]
    open_calls = [r for r in unanswered if r not in claimed]
    if step.call is not None:
        return _by_name(step.call, open_calls, where, line, col)
    if len(open_calls) != 1:
        what = "no earlier step emits a function call" if not open_calls else (
            f"{len(open_calls)} calls are unanswered here "
            f"({', '.join(r.spec.id or r.spec.call_id or r.spec.name for r in open_calls)})"
        )
        raise ScenarioError(where, line, col, f"expect: function_call_output without 'call': {what}; "
                            "add 'call: <id or name>'")
    return open_calls[0]


def _group_around(scenario: Scenario, index: int) -> list[ExpectStep]:
    """The consecutive expect steps around `index` (a group: matched in any order)."""
    steps = scenario.steps
    start = index
    while start > 0 and isinstance(steps[start - 1], ExpectStep):
        start -= 1
    end = index
    while end + 1 < len(steps) and isinstance(steps[end + 1], ExpectStep):
        end += 1
    return [s for s in steps[start:end + 1] if isinstance(s, ExpectStep)]


def _by_name(name: str, unanswered: list[CallRef], where: str, line: int, col: int) -> CallRef:
    matches = [r for r in unanswered if r.spec.name == name]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        labels = [r.spec.id or r.spec.call_id for r in matches]
        if all(labels):
            raise ScenarioError(where, line, col, f"'{name}' names {len(matches)} calls: use the id of the one meant "
                                                  f"here ({', '.join(str(label) for label in labels)})")
        raise ScenarioError(where, line, col, f"'{name}' names {len(matches)} calls; give each an 'id:' and use it here")
    known = [r.spec.id or r.spec.call_id or r.spec.name for r in unanswered]
    near = difflib.get_close_matches(name, known, n=1)
    hint = f"did you mean '{near[0]}'?" if near else (
        f"calls awaiting an output here: {', '.join(known)}" if known else "no earlier step emits a call that is still unanswered")
    raise ScenarioError(where, line, col, f"no call '{name}' before this step: {hint}")


def scenario_from_dict(data: dict[str, Any], *, name: str = "scenario") -> LoadedScenario:
    """A scenario built in Python: the same document as a YAML file, as dicts and lists.

        scenario_from_dict({"tools": [...], "steps": [{"expect": "session.update"}, ...]}, name="mine")

    It is checked exactly as a file is. A mistake is reported against the document written out as
    YAML, with the line it names quoted, since a dict has no lines of its own."""
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=1 << 16)
    try:
        return load_scenario_text(text, default_name=name)
    except ScenarioError as exc:
        lines = text.splitlines()
        quoted = [ScenarioError(f"<scenario {name}>", None, None, p.message + (
            f" (at `{lines[p.line - 1].strip()}`)" if p.line is not None and 0 < p.line <= len(lines) else ""))
            for p in exc.problems]
        raise ScenarioError.many(quoted) from None
