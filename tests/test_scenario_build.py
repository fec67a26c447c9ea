"""The quick reader (`scenario.build_scenario`, no pydantic) against the schema (`scenario_schema`,
pydantic): the quick reader may decline a document, but what it accepts the schema accepts too, as
the same scenario; and plainly valid documents (every bundled scenario among them) never need the
schema, which is what keeps pydantic off `rtmock run`'s start."""

from __future__ import annotations

import copy
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from rtmock.mockserver.scenario.model import build_scenario
from rtmock.mockserver.scenario.schema import Scenario as SchemaScenario
from rtmock.mockserver.scenario.schema import to_scenario

ROOT = Path(__file__).resolve().parents[1]

LABELS = st.sampled_from(["paris", "tokyo", "call_1", "get_weather"])
TEXT = st.text(max_size=6)
#: Wrong for any field (each field adds the near misses of its own rules).
WRONG = [None, True, [], {"x": 1}, "x", 3.0, math.nan]


def _documents(junk: bool) -> st.SearchStrategy[Any]:
    """Scenario documents; with `junk`, any value may be wrong, most often just over a rule's edge."""

    def v(strategy: st.SearchStrategy[Any], *near_misses: Any) -> st.SearchStrategy[Any]:
        if not junk:
            return strategy
        wrong = st.sampled_from([*near_misses, *WRONG])
        return st.integers(0, 4).flatmap(lambda n: wrong if n == 0 else strategy)

    def obj(required: dict[str, Any], optional: dict[str, Any]) -> st.SearchStrategy[Any]:
        return st.fixed_dictionaries(required, optional=optional)

    durations = st.one_of(st.sampled_from(["2s", "500ms", "0.5m", ".5", "0"]), st.integers(0, 30),
                          st.floats(0, 30, allow_nan=False))
    long_bad = (3601, "61m", -1, "-1s", "2h", math.inf, "3")  # bound 3600 s
    short_bad = (61, "1.5m", 60.5, -1, math.inf)  # bound 60 s
    chunks_bad = (0, -1, 100_001, "3", 2.0, False)
    call = obj({"name": v(st.sampled_from(["get_weather", "lookup"]), "", 3)},
               {"arguments": v(st.one_of(st.fixed_dictionaries({"city": TEXT}), TEXT), 3, [1]),
                "chunks": v(st.integers(1, 5), *chunks_bad), "id": v(LABELS, 3),
                "call_id": v(LABELS, "a b", "", "é")})
    by_deltas = obj({"name": v(st.just("get_weather")), "deltas": v(st.lists(TEXT, max_size=3), ["a", 1], "ab")},
                    {"id": v(LABELS), **({"arguments": st.sampled_from(["", "x", "{}"]), "chunks": st.just(3)}
                                         if junk else {})})
    part = st.one_of(
        obj({"function_call": v(st.one_of(call, by_deltas))}, {}),
        obj({"text": v(st.one_of(TEXT, obj({"text": v(TEXT, 3)}, {"chunks": v(st.integers(1, 5), *chunks_bad)})))}, {}),
        obj({"audio": v(st.one_of(TEXT, obj({"transcript": v(TEXT, 3)},
                                           {"duration": v(durations, *short_bad),
                                            "chunks": v(st.integers(1, 5), 10_001, *chunks_bad)})))}, {}),
        obj({"send": v(st.fixed_dictionaries({"type": st.text(min_size=1, max_size=6)}, optional={"x": TEXT}),
                       "raw", {"type": ""}, {"type": 3}, {1: "x"})}, {}),
    )
    kinds = st.sampled_from(["response.create", "session.update", "user_message", "input_audio_buffer.commit"])
    match = st.just({"type": {"exists": True}})  # a path every client event has
    step = st.one_of(
        obj({"expect": v(kinds, "respons.create", "", "function_call")},
            {"within": v(durations, *long_bad), "match": v(match, [1], {1: 2}),
             **({"call": LABELS} if junk else {})}),
        obj({"expect": v(st.just("function_call_output"))},
            {"call": v(LABELS, 3), "within": v(st.none() | durations, *long_bad)}),
        obj({"respond": v(st.lists(part, min_size=1, max_size=3), [], [{}], [{"text": "a", "audio": "b"}])},
            {"hold": v(durations, *long_bad), "delta_interval": v(durations, *short_bad),
             "status": v(st.sampled_from(["completed", "failed", "incomplete"]), "done", "Completed")}),
        obj({"pause": v(durations, *long_bad)}, {}),
        obj({"close": v(st.one_of(st.sampled_from([1000, 1011, 4000]),
                                  obj({}, {"code": v(st.sampled_from([1000, 1008, 3000]), 1005, 2000, 999, 5000),
                                           "reason": v(TEXT, "é" * 62, 7)})),
                        1005, 1015, 2999, 5000, 999, "1000")}, {}),
        obj({"send": v(st.one_of(TEXT, st.fixed_dictionaries({"type": TEXT})), 3, [1], {1: "x"})}, {}),
    )
    tool = obj({"name": v(st.sampled_from(["get_weather", "lookup"]), "")},
               {"description": v(st.none() | TEXT, 3), "parameters": v(st.just({"type": "object"}), [1], "object")})
    return obj({"steps": v(st.lists(step, min_size=1, max_size=5), [], {})},
               {"name": v(st.none() | TEXT, 3), "description": v(TEXT, 3),
                "dialect": v(st.sampled_from(["any", "ga", "beta"]), "GA", "v1"),
                "session": v(st.just({"instructions": "hi"}), [1]), "tools": v(st.lists(tool, max_size=2), {}),
                "defaults": v(obj({}, {"within": v(durations, *long_bad)}), [], {"withn": 1})})


#: One mistake each: for a key, values just over the edge of its rules; for any key, wrong shapes.
NEAR_MISSES: dict[str, list[Any]] = {
    "chunks": [0, 100_001, 10_001, "3", 2.0, True], "delta_interval": [61, "1.5m", 60.5], "duration": [61, "1.5m"],
    "hold": [3601, "61m"], "within": [3601, "2h", -1], "pause": [3601, "-1s"], "code": [1005, 2000, 999, 5000, True],
    "close": [1005, 1015, 2999, 5000, 999, "1000"], "reason": ["é" * 62, 7], "call_id": ["a b", "", "é", 7],
    "name": ["", 3], "expect": ["respons.create", "", "function_call_output"], "status": ["done", "Completed"],
    "dialect": ["GA", "v1"], "deltas": [["a", 1], "ab", ["x"]], "arguments": [3, [1], "x"], "call": ["paris", 3],
    "respond": [[], [{}], [{"text": "a", "audio": "b"}]], "steps": [[], {}], "text": [3, {"chunks": 2}],
    "session": [[1], None], "match": [[1], {1: 2}], "parameters": [[1], "object"], "send": [3, [1], {1: "x"}],
}
WRONG = [None, True, [], {}, {"x": 1}, "x", 3.0, math.nan, math.inf]
KEYS = [*NEAR_MISSES, "description", "tools", "defaults", "function_call", "audio", "id", "transcript", "withn"]
def _places(value: Any) -> list[tuple[Any, Any]]:
    """Every (container, key or index) in a document."""
    found: list[tuple[Any, Any]] = []
    if isinstance(value, dict):
        for key, inner in value.items():
            found += [(value, key), *_places(inner)]
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            found += [(value, index), *_places(inner)]
    return found


@st.composite
def _one_mistake(draw: st.DrawFn) -> Any:
    """A plainly valid document with one thing changed: a value replaced, a key dropped or added."""
    document = copy.deepcopy(draw(_documents(junk=False)))
    container, key = draw(st.sampled_from(_places(document)))
    action = draw(st.sampled_from(["replace", "replace", "replace", "drop", "add"]))
    if action == "replace":
        container[key] = draw(st.sampled_from([*NEAR_MISSES.get(str(key), []), *WRONG]))
    elif action == "drop":
        del container[key]
    elif isinstance(container[key], dict):
        added = draw(st.sampled_from(KEYS))
        container[key][added] = draw(st.sampled_from([*NEAR_MISSES.get(added, []), *WRONG, 3, "x"]))
    return document


def _declined_or_the_same(document: Any) -> bool:
    """What the quick reader accepts, the schema accepts as the same scenario. True when both accept."""
    quick = build_scenario(document)
    try:
        model = SchemaScenario.model_validate(document)
    except ValidationError:
        assert quick is None, document
        return False
    assert quick is None or quick == to_scenario(model), document
    return quick is not None


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_one_mistake())
def test_one_mistake_is_never_read_past(document: Any) -> None:
    _declined_or_the_same(document)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_documents(junk=True))
def test_what_the_quick_reader_accepts_the_schema_accepts_as_the_same_scenario(document: Any) -> None:
    _declined_or_the_same(document)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_documents(junk=False))
def test_plainly_valid_documents_need_no_schema(document: Any) -> None:
    quick = build_scenario(document)
    assert quick is not None, document
    assert quick == to_scenario(SchemaScenario.model_validate(document))


RICH = """
name: rich
description: every form the format has
dialect: ga
session: {instructions: hi}
tools: [{name: get_weather, description: d, parameters: {type: object}}]
defaults: {within: 2s}
steps:
  - expect: session.update
    within: 500ms
    match: {session.tools: {exists: true}}
  - expect: response.create
  - respond:
      - function_call: {name: get_weather, arguments: {city: Paris}, chunks: 2, id: paris, call_id: call_1}
      - function_call: {name: get_weather, deltas: ['{"city"', ':"Tokyo"}'], id: tokyo}
      - text: hello
      - send: {type: rate_limits.updated, rate_limits: []}
      - text: {text: hi, chunks: 2}
      - audio: spoken
      - audio: {transcript: t, duration: 0.5, chunks: 2}
    hold: 1s
    delta_interval: 10ms
    status: completed
  - expect: function_call_output
    call: paris
    within: 3s
  - expect: function_call_output
    call: tokyo
  - pause: 0.1
  - send: raw text
  - send: {type: custom.event}
  - close: 1011
  - close: {code: 4000, reason: bye}
"""


def _every_single_mistake(document: Any) -> Any:
    """Each variant of `document` with one value replaced, one key dropped, or one key added."""
    for index in range(len(_places(document))):
        for action in ("replace", "drop", "add"):
            fresh = copy.deepcopy(document)
            container, key = _places(fresh)[index]
            if action == "drop":
                del container[key]
                yield fresh
            elif action == "replace":
                for value in [*NEAR_MISSES.get(str(key), []), *WRONG]:
                    container[key] = copy.deepcopy(value)
                    yield copy.deepcopy(fresh)
            elif isinstance(container[key], dict):
                for added in KEYS:
                    for value in [*NEAR_MISSES.get(added, []), None, 3, "x"]:
                        variant = copy.deepcopy(fresh)
                        _places(variant)[index][0][key][added] = value
                        yield variant


def test_no_single_mistake_in_a_rich_scenario_is_read_past() -> None:
    document = yaml.safe_load(RICH)
    assert build_scenario(document) is not None
    checked = accepted = 0
    for variant in _every_single_mistake(document):
        accepted += _declined_or_the_same(variant)
        checked += 1
    assert checked > 5000 and accepted > 100  # the variants reach both sides of the rules


@pytest.mark.parametrize("path", sorted((ROOT / "scenarios").glob("*.yaml")), ids=lambda p: p.stem)
def test_every_bundled_scenario_is_read_without_the_schema(path: Path) -> None:
    document = yaml.safe_load(path.read_text())
    quick = build_scenario(document)
    assert quick is not None
    assert quick == to_scenario(SchemaScenario.model_validate(document))


def test_rtmock_run_serves_without_loading_pydantic() -> None:
    # pydantic costs about a fifth of a second to import and build: more than rtmock's whole budget
    # for starting up (see README, Performance). Only a scenario that is not plainly valid needs it.
    probe = ("import sys\n"
             "import rtmock.harness.cli, rtmock.harness.runner, rtmock.harness.reports.summary\n"
             "from rtmock.mockserver.scenario.loader import load_scenario\n"
             f"load_scenario({str(ROOT / 'scenarios' / 'parallel_calls.yaml')!r})\n"
             "print('pydantic' in sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.stdout.strip() == "False", done.stderr
