"""The scenario loader: every bundled scenario loads, and every bad input is one located line that
says what to write instead. Messages are asserted in full: they are the loader's user interface."""

from __future__ import annotations

import dataclasses
import json
import re
import time
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rtmock.mockserver.errors import ScenarioError
from rtmock.mockserver.scenario.loader import load_scenario, load_scenario_text
from rtmock.mockserver.scenario.model import ExpectStep, RespondStep, SendStep

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"
BUNDLED = sorted(SCENARIOS.glob("*.yaml"))

# A valid start that the bad inputs below build on: line 4 is the first step.
HEAD = """\
tools:
  - name: get_weather
steps:
  - expect: session.update
"""


def error_of(text: str, path: str = "s.yaml") -> str:
    with pytest.raises(ScenarioError) as info:
        load_scenario_text(text, path=path)
    message = str(info.value)
    assert "\n" not in message, f"expected one line, got:\n{message}"
    return message


# ---- the bundled scenarios -----------------------------------------------------------------------


def test_the_bundled_scenarios_are_the_documented_ones() -> None:
    names = {p.stem for p in BUNDLED}
    assert {"get_your_info", "parallel_calls", "audio_answer", "multi_round", "malformed_arguments",
            "slow_response_done", "server_closes"} <= names


@pytest.mark.parametrize("path", BUNDLED, ids=[p.stem for p in BUNDLED])
def test_every_bundled_scenario_loads_and_says_what_it_tests(path: Path) -> None:
    loaded = load_scenario(path)
    assert loaded.name == path.stem
    assert loaded.path == str(path)
    assert path.read_text(encoding="utf-8").startswith("# "), "a bundled scenario starts with a comment saying what it tests"
    assert len(loaded.step_lines) == len(loaded.scenario.steps)
    # every awaited output names a call the scenario emits
    assert set(loaded.output_calls.values()) <= set(loaded.calls)


def test_parallel_calls_emits_two_labelled_calls_and_awaits_both_outputs_then_one_create() -> None:
    loaded = load_scenario(SCENARIOS / "parallel_calls.yaml")
    calls = {ref.spec.id: ref.spec for ref in loaded.calls}
    assert set(calls) == {"paris", "tokyo"}
    assert calls["paris"].arguments == {"city": "Paris"} and calls["tokyo"].arguments == {"city": "Tokyo"}
    assert len({ref.step for ref in loaded.calls}) == 1, "both calls belong to one response"
    steps = loaded.scenario.steps
    group = [s for s in steps[3:6] if isinstance(s, ExpectStep)]
    assert [s.expect for s in group] == ["function_call_output", "function_call_output", "response.create"]
    assert all(s.within is not None and s.within <= 10 for s in group)
    assert isinstance(steps[-1], RespondStep)


def test_slow_response_done_holds_the_calling_response() -> None:
    steps = load_scenario(SCENARIOS / "slow_response_done.yaml").scenario.steps
    holds = [s.hold for s in steps if isinstance(s, RespondStep) and s.hold]
    assert holds == [1.0]


def test_server_closes_ends_with_a_1011_close() -> None:
    steps = load_scenario(SCENARIOS / "server_closes.yaml").scenario.steps
    last = steps[-1]
    assert not isinstance(last, ExpectStep | RespondStep | SendStep)
    assert last.plan.code == 1011  # type: ignore[union-attr]


def test_malformed_arguments_are_raw_text_that_is_not_json() -> None:
    (ref,) = load_scenario(SCENARIOS / "malformed_arguments.yaml").calls
    assert isinstance(ref.spec.arguments, str)
    with pytest.raises(json.JSONDecodeError):
        json.loads(ref.spec.arguments_text)


# ---- bad YAML and bad documents --------------------------------------------------------------------


def test_malformed_yaml_names_the_line_and_the_likely_fix() -> None:
    assert error_of("steps:\n  - expect: session.update\n   within: 2s\n") == (
        "s.yaml:3:4: YAML: this line is indented 3 space(s), which lines up with nothing above it: the list that "
        "starts on line 2 is indented 2; indent this line as the keys (or '- ' items) it belongs with"
    )


def test_a_tab_in_the_indentation_is_named() -> None:
    assert error_of("steps:\n\t- pause: 1\n") == (
        "s.yaml:2:1: YAML: found character '\\t' that cannot start any token; indent with spaces, not tabs"
    )


def test_an_unclosed_quote_is_named() -> None:
    assert error_of('steps:\n  - send: "abc\n') == (
        "s.yaml:3:1: YAML: while scanning a quoted scalar (line 2), found unexpected end of stream; "
        "a quote or bracket is not closed"
    )


@pytest.mark.parametrize(("text", "hint"), [
    ("steps:\n  - expect: response.create\n    match: {a: [1, 2\n", "the file ends inside it: close the bracket"),
    ("steps:\n  - expect: response.create\n    match: {a: [1, 2}\n", "close the list with ']' (or separate its items"),
])
def test_an_unclosed_or_unseparated_flow_collection_says_what_to_close(text: str, hint: str) -> None:
    assert hint in error_of(text)


def test_a_document_that_is_not_a_mapping() -> None:
    assert error_of("- expect: session.update\n") == "s.yaml:1:1: a scenario is a mapping with at least 'steps:', not a list"
    assert error_of("hello\n") == "s.yaml:1:1: a scenario is a mapping with at least 'steps:', not 'hello'"


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n"])
def test_an_empty_file(text: str) -> None:
    assert error_of(text) == "s.yaml:1:1: empty scenario: write at least 'steps:' with one step"


def test_two_documents_in_one_file() -> None:
    assert error_of("steps: [{pause: 1}]\n---\nsteps: [{pause: 1}]\n") == (
        "s.yaml:2:1: YAML: expected a single document in the stream (line 1), but found another document; "
        "a scenario file holds one document: remove the second '---'"
    )


def test_a_duplicate_key_is_refused_not_silently_overwritten() -> None:
    assert error_of(HEAD + "    within: 2s\n    within: 3s\n") == (
        "s.yaml:6:5: key 'within' is given twice in this mapping (first on line 5); keep one"
    )


def test_every_duplicate_key_is_named_in_order() -> None:
    with pytest.raises(ScenarioError) as info:
        load_scenario_text(HEAD + "    within: 2s\n    within: 3s\n  - respond:\n"
                           "      - function_call: {name: a, name: b}\n", path="s.yaml")
    assert str(info.value).split("\n") == [
        "s.yaml:6:5: key 'within' is given twice in this mapping (first on line 5); keep one",
        "s.yaml:8:34: key 'name' is given twice in this mapping (first on line 8); keep one"]


def test_a_key_that_overrides_a_merged_mapping_is_not_a_duplicate() -> None:
    loaded = load_scenario_text(
        "tools: [{name: get_weather}]\nsteps:\n  - expect: response.create\n  - respond:\n"
        "      - function_call: &paris\n          name: get_weather\n          arguments: {city: Paris}\n"
        "      - function_call:\n          <<: *paris\n          arguments: {city: Tokyo}\n")
    assert [ref.spec.arguments for ref in loaded.calls] == [{"city": "Paris"}, {"city": "Tokyo"}]


def test_a_call_named_by_its_tool_in_a_group_leaves_out_the_calls_the_group_labels() -> None:
    # the expects of a group match in any order: 'get_weather' here is the call that 'b' does not claim
    loaded = load_scenario_text(
        "tools: [{name: get_weather}]\nsteps:\n  - expect: response.create\n  - respond:\n"
        "      - function_call: {name: get_weather, arguments: {city: Paris}}\n"
        "      - function_call: {id: b, name: get_weather, arguments: {city: Rome}}\n"
        "  - expect: function_call_output\n    call: get_weather\n"
        "  - expect: function_call_output\n    call: b\n")
    assert {i: ref.spec.arguments for i, ref in loaded.output_calls.items()} == {2: {"city": "Paris"}, 3: {"city": "Rome"}}


def test_every_problem_of_the_whole_scenario_is_named() -> None:
    with pytest.raises(ScenarioError) as info:
        load_scenario_text("tools: [{name: get_weather}]\nsteps:\n  - respond:\n"
                           "      - function_call: {name: get_wether}\n"
                           "  - expect: function_call_output\n    call: nope\n", path="s.yaml")
    assert str(info.value).split("\n") == [
        "s.yaml:4:31: function_call 'get_wether' is not one of the scenario's tools: did you mean 'get_weather'?",
        "s.yaml:6:11: no call 'nope' before this step: calls awaiting an output here: get_wether"]


# ---- unknown keys, wrong types, bad values -----------------------------------------------------------


def test_an_unknown_key_with_a_typo_suggests_the_key() -> None:
    assert error_of(HEAD + "    withn: 2s\n") == "s.yaml:5:5: unknown key 'withn': did you mean 'within'?"


def test_an_unknown_top_level_key() -> None:
    assert error_of("toolz: []\n" + HEAD) == "s.yaml:1:1: unknown key 'toolz': did you mean 'tools'?"
    assert error_of("flavour: vanilla\n" + HEAD) == (
        "s.yaml:1:1: unknown key 'flavour': allowed here: defaults, description, dialect, name, session, steps, tools"
    )


def test_an_unknown_step_kind_suggests_the_kind() -> None:
    assert error_of(HEAD + "  - expct: response.create\n") == "s.yaml:5:5: unknown step 'expct': did you mean 'expect'?"
    assert error_of(HEAD + "  - frobnicate: 1\n") == (
        "s.yaml:5:5: step 2: a step needs one of: expect, respond, pause, close, send (found frobnicate)"
    )


def test_two_kinds_in_one_step() -> None:
    assert error_of(HEAD + "  - expect: response.create\n    pause: 1s\n") == (
        "s.yaml:6:5: 'expect' and 'pause' in one step: a step has exactly one of expect, respond, pause, close, send; split it"
    )


def test_a_typo_in_an_output_part_is_one_problem() -> None:
    assert error_of(HEAD + "  - respond:\n      - text: {txt: hi}\n") == (
        "s.yaml:6:16: unknown key 'txt': did you mean 'text'?"
    )


def test_a_send_between_two_outputs_of_a_respond_loads() -> None:
    text = HEAD + ("  - respond:\n      - text: a\n      - send: {type: rate_limits.updated, rate_limits: []}\n"
                   "      - text: b\n")
    step = load_scenario_text(text, path="s.yaml").scenario.steps[1]
    assert isinstance(step, RespondStep)
    assert [type(p).__name__ for p in step.respond] == ["TextPart", "SendPart", "TextPart"]


def test_a_send_inside_a_respond_is_an_event_with_a_type() -> None:
    text = HEAD + "  - respond:\n      - text: a\n      - send: {rate_limits: []}\n      - text: b\n"
    assert error_of(text) == (
        "s.yaml:7:15: step 2, output 2, send: a send: inside a response is a server event: a mapping with a 'type' "
        "(e.g. {type: rate_limits.updated, rate_limits: [...]})")
    assert error_of(text.replace("{rate_limits: []}", "raw text")) == (
        "s.yaml:7:15: step 2, output 2, send: expected a mapping, got 'raw text'")


def test_a_send_first_or_last_in_a_respond_is_refused_where_it_stands() -> None:
    text = HEAD + "  - respond:\n      - text: a\n      - send: {type: rate_limits.updated}\n"
    assert error_of(text) == (
        "s.yaml:7:9: a send: inside a respond goes between two outputs (after one item, before the next); "
        "to send an event before or after the response, make it a send: step")


def test_a_wrong_type() -> None:
    text = HEAD + "  - respond:\n      - function_call:\n          name: get_weather\n          chunks: many\n"
    assert error_of(text) == "s.yaml:8:19: step 2, output 1, function_call.chunks: expected a whole number, got 'many'"


def test_a_mistake_in_the_mapping_form_of_a_union_is_the_only_line() -> None:
    # (not also "expected text" for the string form: the mapping was meant)
    assert error_of(HEAD + "  - respond:\n      - text: {text: hi, chunk: 2}\n") == (
        "s.yaml:6:26: unknown key 'chunk': did you mean 'chunks'?"
    )


def test_a_value_of_neither_form_of_a_union_names_both_forms() -> None:
    assert error_of(HEAD + "  - respond:\n      - text: 3\n") == (
        "s.yaml:6:15: step 2, output 1, text: expected text or a mapping, got 3"
    )


@pytest.mark.parametrize(("value", "message"), [
    ("soon", "'soon' is not a duration: write e.g. 2s, 500ms, 1.5m or a number of seconds"),
    ("2h", "'2h' is not a duration: write e.g. 2s, 500ms, 1.5m or a number of seconds"),
    ("-3", "a duration cannot be negative"),
    ("-1s", "a duration cannot be negative"),
    ("1" + "0" * 400, "a duration is at most an hour: this number is far larger"),  # float() would overflow
])
def test_a_bad_duration(value: str, message: str) -> None:
    assert error_of(HEAD + f"    within: {value}\n") == f"s.yaml:5:13: step 1, within: {message}"


def test_an_unknown_expect_kind_suggests_the_kind() -> None:
    assert error_of(HEAD + "  - expect: response.craete\n") == (
        "s.yaml:5:13: step 2, expect: 'response.craete' is not a client event: did you mean 'response.create'?"
    )


def test_a_close_code_that_cannot_be_sent() -> None:
    expected = ("s.yaml:5:12: step 2, close: 1006 cannot be sent in a close frame: "
                "use 1000-1003, 1007-1014 or 3000-4999 (1011: internal error)")
    assert error_of(HEAD + "  - close: 1006\n") == expected
    assert error_of(HEAD + "  - close: {code: 1006}\n") == expected.replace("5:12: step 2, close:", "5:19: step 2, close.code:")


def test_a_non_text_key_says_to_quote_it() -> None:
    assert error_of(HEAD + "  - send: {1: one}\n") == "s.yaml:5:11: key 1 is not text: quote it ('1')"


# ---- the whole scenario: calls and the outputs awaited ------------------------------------------------


def test_a_function_call_naming_an_undeclared_tool() -> None:
    text = HEAD + "  - respond:\n      - function_call: {name: get_wether}\n"
    assert error_of(text) == (
        "s.yaml:6:31: function_call 'get_wether' is not one of the scenario's tools: did you mean 'get_weather'?"
    )
    text = HEAD + "  - respond:\n      - function_call: {name: book_flight}\n"
    assert error_of(text) == (
        "s.yaml:6:31: function_call 'book_flight' is not one of the scenario's tools: declare it under 'tools:' (get_weather)"
    )


def test_an_expected_output_for_a_call_no_earlier_step_emits() -> None:
    assert error_of(HEAD + "  - expect: function_call_output\n    call: paris\n") == (
        "s.yaml:6:11: no call 'paris' before this step: no earlier step emits a call that is still unanswered"
    )
    text = (HEAD + "  - respond:\n      - function_call: {name: get_weather, id: paris}\n"
            "  - expect: function_call_output\n    call: pari\n")
    assert error_of(text) == "s.yaml:8:11: no call 'pari' before this step: did you mean 'paris'?"


def test_an_expected_output_without_call_when_two_calls_are_unanswered() -> None:
    text = (HEAD + "  - respond:\n"
            "      - function_call: {name: get_weather, id: paris}\n"
            "      - function_call: {name: get_weather, id: tokyo}\n"
            "  - expect: function_call_output\n")
    assert error_of(text) == (
        "s.yaml:8:5: expect: function_call_output without 'call': 2 calls are unanswered here (paris, tokyo); "
        "add 'call: <id or name>'"
    )


def test_a_duplicate_call_label() -> None:
    text = (HEAD + "  - respond:\n"
            "      - function_call: {name: get_weather, id: paris}\n"
            "      - function_call: {name: get_weather, id: paris}\n")
    assert error_of(text) == "s.yaml:7:48: call label 'paris' is used twice (first on line 6); give each call its own label"


# ---- hostile YAML --------------------------------------------------------------------------------------

BILLION_LAUGHS = "".join(
    f"{name}: &{name} [{', '.join([f'*{prev}' if prev else 'lol'] * 10)}]\n"
    for prev, name in zip(["", *"abcdefgh"], "abcdefghi", strict=True)
)


def test_a_yaml_alias_bomb_fails_fast_in_bounded_memory_with_a_located_message() -> None:
    tracemalloc.start()
    started = time.perf_counter()
    try:
        message = error_of(BILLION_LAUGHS)
    finally:
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert message == ("s.yaml:6:4: this value expands through aliases to 1111111 values, "
                       "more than the 200000 a scenario may hold: use fewer aliases (*name)")
    assert elapsed < 2.0
    assert peak < 20 * 1024 * 1024


def test_a_recursive_alias_is_refused() -> None:
    assert error_of("a: &a [*a]\n" + HEAD) == (
        "s.yaml:1:4: this value contains itself through an alias; a scenario cannot be recursive: write the value out"
    )


def test_deep_nesting_is_refused_where_it_gets_too_deep() -> None:
    assert error_of("steps: " + "[" * 500 + "]" * 500 + "\n") == (
        "s.yaml:1:107: YAML: nests more than 100 levels deep; flatten it"
    )


@pytest.mark.parametrize(("tag", "shown"), [
    ("!!python/object/apply:os.system ['echo pwned']", "!!python/object/apply:os.system"),
    ("!!binary aGk=", "!!binary"),
    ("!!set {a, b}", "!!set"),
    ("!custom x", "!custom"),
])
def test_a_custom_tag_is_refused(tag: str, shown: str) -> None:
    assert error_of(HEAD + f"  - send: {tag}\n") == (
        f"s.yaml:5:11: YAML: {shown} tags are not allowed: rtmock reads plain YAML "
        "(mappings, lists, text, numbers, true/false, null)"
    )


def test_a_control_character_is_located() -> None:
    assert error_of("steps:\n  - send: a\x07b\n") == (
        "s.yaml:2:12: YAML: the character '\\x07' (U+0007) is not allowed in YAML text: "
        "remove it, or write it as an escape in a double-quoted string"
    )


def test_dates_stay_text_so_every_value_can_go_into_a_json_frame() -> None:
    loaded = load_scenario_text(HEAD + "  - send: {type: x, when: 2024-05-01}\n", path="s.yaml")
    step = loaded.scenario.steps[-1]
    assert isinstance(step, SendStep) and step.send == {"type": "x", "when": "2024-05-01"}


# ---- files -------------------------------------------------------------------------------------------


def test_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError) as info:
        load_scenario(tmp_path / "nope.yaml")
    assert str(info.value) == f"{tmp_path / 'nope.yaml'}: no such scenario file"


def test_a_missing_file_with_a_near_name_suggests_it(tmp_path: Path) -> None:
    (tmp_path / "parallel_calls.yaml").write_text("steps: [{pause: 1}]\n")
    with pytest.raises(ScenarioError) as info:
        load_scenario(tmp_path / "parallel_call.yaml")
    assert str(info.value) == (
        f"{tmp_path / 'parallel_call.yaml'}: no such scenario file; did you mean '{tmp_path / 'parallel_calls.yaml'}'?"
    )


def test_a_directory(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError) as info:
        load_scenario(tmp_path)
    assert str(info.value) == f"{tmp_path}: is a directory; name the .yaml files in it"


def test_non_utf8_bytes_are_located(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"steps:\n  - send: caf\xe9\n")
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert str(info.value) == (
        f"{path}:2:14: not UTF-8 text (byte 0xe9: invalid continuation byte); save the file as UTF-8"
    )


def test_a_file_error_is_located_in_that_file(tmp_path: Path) -> None:
    path = tmp_path / "typo.yaml"
    path.write_text(HEAD + "    withn: 2s\n", encoding="utf-8")
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert str(info.value) == f"{path}:5:5: unknown key 'withn': did you mean 'within'?"


def test_a_byte_order_mark_and_crlf_line_ends_are_fine(tmp_path: Path) -> None:
    path = tmp_path / "windows.yaml"
    path.write_bytes(b"\xef\xbb\xbfsteps:\r\n  - pause: 1\r\n")
    assert load_scenario(path).name == "windows"


# ---- property: any YAML loads or gives located lines ---------------------------------------------------

_VOCABULARY = [
    # the format's keys...
    "name", "description", "dialect", "session", "tools", "defaults", "steps", "parameters",
    "expect", "within", "call", "match", "respond", "hold", "delta_interval", "status", "pause", "close",
    "code", "reason", "send", "function_call", "text", "audio", "arguments", "chunks", "id", "call_id",
    "transcript", "duration", "type", "event_id",
    # ...its values...
    "session.update", "response.create", "function_call_output", "user_message", "get_weather", "ga",
    "beta", "any", "completed", "2s", "500ms", "1.5m",
    # ...and junk
    "withn", "stepz", "", "-", "0", "null", "é", "a b", "<<",
]
_scalars = st.one_of(
    st.sampled_from(_VOCABULARY), st.integers(-5, 5000), st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(), st.none(), st.text(max_size=8),
)
_documents = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.one_of(st.sampled_from(_VOCABULARY), st.text(max_size=5), st.integers(0, 3)), inner, max_size=5),
    max_leaves=12,
)

_durations = st.one_of(st.sampled_from(["2s", "500ms", "1.5m", "soon", "-1", "2h"]), st.integers(-1, 4000))
_labels = st.sampled_from(["paris", "tokyo", "get_weather", "book_flight", "a b", "call_1"])
# plausible steps, so that the whole-scenario checks (tools, call labels, awaited outputs) run too
_steps = st.one_of(
    st.fixed_dictionaries({"expect": st.sampled_from(["function_call_output", "response.create", "session.update",
                                                      "user_message", "respons.create"])},
                          optional={"call": _labels, "within": _durations, "match": _documents}),
    st.fixed_dictionaries({"respond": st.lists(st.one_of(
        st.fixed_dictionaries({"function_call": st.fixed_dictionaries(
            {"name": st.sampled_from(["get_weather", "get_wether", "book_flight"])},
            optional={"id": _labels, "call_id": _labels, "arguments": _documents, "chunks": st.integers(-1, 5)})}),
        st.fixed_dictionaries({"text": st.one_of(st.text(max_size=5), _documents)}),
        st.fixed_dictionaries({"audio": st.one_of(st.text(max_size=5), _documents)}),
    ), max_size=3)}, optional={"hold": _durations, "delta_interval": _durations}),
    st.fixed_dictionaries({"pause": _durations}),
    st.fixed_dictionaries({"close": st.one_of(st.integers(990, 5000), _documents)}),
    st.fixed_dictionaries({"send": _documents}),
)


def _loads_or_locates(text: str) -> None:
    try:
        loaded = load_scenario_text(text, path="p.yaml")
    except ScenarioError as exc:
        lines = str(exc).split("\n")
        assert all(re.match(r"p\.yaml:\d+:\d+: \S", line) for line in lines), lines
        assert len(lines) == len(exc.problems)
        return
    for step in loaded.scenario.steps:  # everything a scenario holds can go into a JSON frame
        json.dumps(dataclasses.asdict(step))
    json.dumps(loaded.scenario.session)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(
    _documents,
    st.fixed_dictionaries({"steps": st.lists(_documents, max_size=4)}, optional={"tools": _documents}),
    st.fixed_dictionaries({"tools": st.just([{"name": "get_weather"}]), "steps": st.lists(
        st.dictionaries(st.sampled_from(_VOCABULARY), _documents, min_size=1, max_size=3), min_size=1, max_size=5)}),
    st.fixed_dictionaries({"tools": st.just([{"name": "get_weather"}]), "steps": st.lists(_steps, max_size=6)}),
))
def test_any_yaml_document_loads_or_every_line_is_located(document: Any) -> None:
    _loads_or_locates(yaml.safe_dump(document, allow_unicode=True))


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("steps: -[]{}&*!|>'\"#\n\t\x07é0a")), max_size=60))
def test_any_text_loads_or_every_line_is_located(text: str) -> None:
    _loads_or_locates(text)


def test_a_scenario_built_in_python_is_checked_as_a_file_is() -> None:
    from rtmock.mockserver.scenario.loader import scenario_from_dict

    built = scenario_from_dict({
        "tools": [{"name": "get_weather", "parameters": {"type": "object"}}],
        "steps": [{"expect": "session.update"}, {"expect": "response.create"},
                  {"respond": [{"function_call": {"id": "w", "name": "get_weather", "arguments": {"city": "Oslo"}}}]},
                  {"expect": "function_call_output", "call": "w"}, {"expect": "response.create"},
                  {"respond": [{"text": "Cold."}]}],
    }, name="weather")
    assert built.name == "weather" and [c.spec.name for c in built.calls] == ["get_weather"]
    with pytest.raises(ScenarioError) as error:
        scenario_from_dict({"steps": [{"expect": "sesion.update"}]}, name="typo")
    assert str(error.value) == ("<scenario typo>: step 1, expect: 'sesion.update' is not a client event: "
                                "did you mean 'session.update'? (at `- expect: sesion.update`)")


# ---- lint catches what would fail the client later ---------------------------------------------------

TOOL_ROUND = """\
tools:
  - {name: f, parameters: {type: object}}
steps:
  - expect: session.update
  - expect: response.create
  - respond:
      - function_call: {id: c, name: f, arguments: {}}
  - expect: function_call_output
    call: c
    match:
"""


def test_a_misspelt_match_operator_is_refused_not_taken_as_a_literal() -> None:
    assert error_of(TOOL_ROUND + "      item.output: {json_contain: {status: ok}}\n") == (
        "s.yaml:11:7: step 4, match: item.output: unknown operator 'json_contain': did you mean 'json_contains'? "
        "(for a literal mapping with that key, write {contains: {json_contain: …}})")
    load_scenario_text(TOOL_ROUND + "      item.output: {status: ok}\n")  # a literal mapping is still a literal


@pytest.mark.parametrize(("value", "message"), [
    ("{regex: '(unclosed'}", "regex /(unclosed/ does not compile: missing ), unterminated subpattern at position 0"),
    ("{type: text}", "type 'text' is not one of: string, number, integer, boolean, object, array, null"),
    ("{exists: maybe}", "exists takes true or false, not 'maybe'"),
])
def test_a_match_operator_that_cannot_work_is_refused_at_load(value: str, message: str) -> None:
    assert error_of(TOOL_ROUND + f"      item.output: {value}\n") == f"s.yaml:11:7: step 4, match: item.output: {message}"


@pytest.mark.parametrize(("value", "message"), [
    ("any: []", "any: takes a list of match blocks (mappings of paths), met when one of them is"),
    ("any: {item.output: x}", "any: takes a list of match blocks (mappings of paths), met when one of them is"),
    ("any: [{item.output: x}, 42]", "any, alternative 2: a match block is a mapping of paths to what they hold, not 42"),
    ("any: [{item.output: x}, {item.output: {regex: '(unclosed'}}]",
     "any, alternative 2: item.output: regex /(unclosed/ does not compile: missing ), unterminated subpattern at "
     "position 0"),
])
def test_an_any_block_that_cannot_work_is_refused_at_load(value: str, message: str) -> None:
    assert error_of(TOOL_ROUND + f"      {value}\n").endswith(f"match: {message}")


def test_an_any_block_is_met_by_either_alternative_and_says_why_neither_held() -> None:
    from rtmock.mockserver.scenario.matching import explain_mismatch

    match = {"any": [{"item.output": {"json_contains": {"ok": True}}}, {"item.output": "done"}]}
    assert explain_mismatch({"item": {"output": '{"ok": true}'}}, match) is None
    assert explain_mismatch({"item": {"output": "done"}}, match) is None
    assert explain_mismatch({"item": {"output": "no"}}, match) == (
        "none of the `any:` alternatives holds: item.output is \"no\", which is not valid JSON; "
        "or item.output is \"no\", not \"done\"")
    load_scenario_text(TOOL_ROUND + "      any: [{item.output: done}, {item.output: {regex: ok}}]\n")


def test_contains_with_one_value_looks_among_a_lists_elements() -> None:
    from rtmock.mockserver.scenario.matching import explain_mismatch

    assert explain_mismatch({"session": {"modalities": ["text"]}}, {"session.modalities": {"contains": "text"}}) is None
    assert explain_mismatch({"session": {"modalities": ["audio"]}}, {"session.modalities": {"contains": "text"}}) == (
        'session.modalities is ["audio"], which does not contain "text"')


def test_function_calls_need_a_tools_section() -> None:
    assert error_of("steps:\n  - expect: response.create\n  - respond:\n      - function_call: {name: f}\n") == (
        "s.yaml:4:31: function_call 'f' needs a 'tools:' section declaring it: a client is judged on declaring "
        "the tools the model calls (tools: [{name: ..., parameters: {...}}])")


@pytest.mark.parametrize(("text", "says"), [
    # a key one level too shallow, or beside a part in its short form
    ("steps:\n  - respond:\n      - function_call:\n          name: f\n        arguments: {a: 1}\n",
     "'arguments' belongs under 'function_call:': indent it one level further"),
    ("steps:\n  - respond:\n      - text: Sunny.\n        chunks: 10\n",
     "write text: {text: Sunny., chunks: …}"),
    ("steps:\n  - respond:\n      - audio: hello\n        duration: 2s\n",
     "write audio: {transcript: hello, duration: …}"),
    # an event of the server's where the client's is awaited
    ("steps:\n  - expect: response.done\n", "'response.done' is an event the server sends"),
    # match paths: a misspelt one would wait for what never comes and blame the client
    ("steps:\n  - expect: user_message\n    match: {item.conten.0.text: hi}\n", "did you mean 'item.content'?"),
    ("steps:\n  - expect: session.update\n    match:\n      session.tools[0].type: function\n",
     "paths are dotted, list places too: write session.tools.0.type"),
    ("steps:\n  - expect: session.update\n    match: {any: [{session.toolz: {exists: true}}]}\n",
     "did you mean 'session.tools'?"),
])
def test_a_mistake_says_what_to_write_instead(text: str, says: str) -> None:
    assert says in error_of(text)


def test_match_paths_the_events_have_load() -> None:
    # GA's and beta's places alike, into a tool's own schema, into free metadata
    load_scenario_text("steps:\n  - expect: session.update\n    match:\n"
                       "      session.tools.0.parameters.properties.city: {exists: true}\n"
                       "      session.audio.input.format.type: audio/pcmu\n      session.modalities: {exists: false}\n"
                       "  - expect: response.create\n    match: {response.metadata.topic: food}\n", path="s.yaml")


def test_two_calls_of_one_name_are_told_apart_by_their_ids() -> None:
    text = ("tools:\n  - {name: f, parameters: {type: object}}\nsteps:\n  - expect: response.create\n  - respond:\n"
            "      - function_call: {id: a, name: f}\n      - function_call: {id: b, name: f}\n"
            "  - expect: function_call_output\n    call: f\n  - expect: function_call_output\n    call: f\n")
    with pytest.raises(ScenarioError, match=r"'f' names 2 calls: use the id of the one meant here \(a, b\)"):
        load_scenario_text(text, path="s.yaml")


def test_a_step_after_a_close_is_never_reached_and_says_so() -> None:
    message = error_of("steps:\n  - expect: response.create\n  - close: 1000\n  - expect: response.create\n")
    assert message.startswith("s.yaml:4:") and "comes after the close: of step 2" in message
