"""rtmock fuzz: Hypothesis-generated arguments against real clients (subprocesses and coroutines) on
real sockets; failures shrink to a minimal payload and a reproducer that `rtmock run` replays."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from rtmock.harness.bundled import bundled_scenario
from rtmock.harness.cli import main
from rtmock.harness.fuzzing._cases import FUZZ_DONE_REASON, CaseInput, fuzz_targets, reproducer_yaml
from rtmock.harness.fuzzing.fuzz import FuzzOptions, fuzz, fuzz_client_async, fuzz_main, parse_fuzz_args
from rtmock.harness.fuzzing.payloads import _FIXED, Payload
from rtmock.harness.judging.findings import Rule
from rtmock.harness.runner import RunOptions, run_scenario
from rtmock.mockserver.errors import UsageError
from rtmock.mockserver.scenario.loader import LoadedScenario, load_scenario, load_scenario_text

ROOT = Path(__file__).resolve().parent.parent
GET_YOUR_INFO = ROOT / "scenarios" / "get_your_info.yaml"
NAIVE = [sys.executable, str(ROOT / "examples" / "fuzz_naive_client.py")]
ROBUST = [sys.executable, str(ROOT / "examples" / "fuzz_robust_client.py")]
TOOLS = [{"type": "function", "name": "get_your_info", "parameters": {
    "type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]}}]

RTMOCK = [sys.executable, "-m", "rtmock"]

Client = Callable[[str], Awaitable[None]]


def coroutine_client(seen: list[tuple[str, tuple[str, ...]]] | None = None, *, parse: str = "robust") -> Client:
    """An in-process client of get_your_info that loops like the examples until fuzzing is done.
    `parse`: "robust" answers every call, "naive" raises on bad arguments, "silent" swallows the
    error and sends nothing (the app hangs). Records (arguments, deltas) of every call in `seen`."""

    async def conversation(http: aiohttp.ClientSession, url: str) -> str:
        async with http.ws_connect(url, headers={"Authorization": "Bearer test"}, max_msg_size=0) as ws:
            await ws.send_json({"type": "session.update", "session": {"type": "realtime", "tools": TOOLS}})
            deltas: list[str] = []
            answered = False
            while True:
                message = await ws.receive()
                if message.type is not aiohttp.WSMsgType.TEXT:
                    return str(message.extra or "")
                event = json.loads(message.data)
                kind = event["type"]
                if kind == "session.updated":
                    await ws.send_json({"type": "response.create"})
                elif kind == "response.function_call_arguments.delta":
                    deltas.append(event["delta"])
                elif kind == "response.function_call_arguments.done":
                    if seen is not None:
                        seen.append((event["arguments"], tuple(deltas)))
                    try:
                        output = json.dumps({"food": json.loads(event["arguments"])["query"]})
                    except Exception:
                        if parse == "naive":
                            raise
                        if parse == "silent":
                            continue
                        output = json.dumps({"error": "bad arguments"})
                    await ws.send_json({"type": "conversation.item.create", "item": {
                        "type": "function_call_output", "call_id": event["call_id"], "output": output}})
                    answered = True
                elif kind == "response.done" and answered:
                    await ws.send_json({"type": "response.create"})
                    answered = False

    async def client(url: str) -> None:
        async with aiohttp.ClientSession() as http:
            while await conversation(http, url) != FUZZ_DONE_REASON:
                pass

    return client


async def cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = await fuzz_main(parse_fuzz_args(argv))
    return code, capsys.readouterr().out


# ---- the command line, against the example clients ----------------------------------------------


async def test_naive_client_fails_with_a_shrunk_payload_and_a_reproducer_that_rtmock_run_replays(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repro = tmp_path / "get_your_info.repro.yaml"
    code, out = await cli([str(GET_YOUR_INFO), "--cases", "30", "--seed", "1", "--reproducer", str(repro),
                           "--json", str(tmp_path / "fuzz.json"), "--junit", str(tmp_path / "fuzz.xml"), "--", *NAIVE],
                          capsys)
    assert code == 1, out
    assert "Minimal failing case" in out and "[client-crashed]" in out and "json.loads(arguments)" in out
    report = json.loads((tmp_path / "fuzz.json").read_text())
    minimal = report["failure"]["inputs"][0]
    # Shrunk: whatever failed first, Hypothesis ends at a payload of at most two characters ('', '{}', '[]').
    assert len(minimal["text"]) <= 2, minimal
    assert f"arguments: {minimal['text']!r}" in out
    assert report["passed"] is False and report["reproducer"] == str(repro)
    assert any(row["failed"] for row in report["summary"])
    junit = ET.parse(tmp_path / "fuzz.xml").getroot()
    assert junit.find("testsuite/testcase/failure") is not None

    loaded = load_scenario(repro)  # plain YAML: the run command replays it
    assert loaded.calls[0].spec.arguments_text == minimal["text"]
    assert "rtmock run" in repro.read_text().splitlines()[5]
    replay = await run_scenario(loaded, NAIVE, RunOptions(grace=0.5))
    assert not replay.passed
    assert (await run_scenario(loaded, ROBUST, RunOptions(grace=0.5))).passed


async def test_robust_client_passes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = await cli([str(GET_YOUR_INFO), "--cases", "30", "--seed", "2", "--reproducer",
                           str(tmp_path / "r.yaml"), "--", *ROBUST], capsys)
    assert code == 0, out
    assert out.startswith("PASS") and "30 cases" in out
    assert not (tmp_path / "r.yaml").exists()


async def test_command_and_options_are_checked(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(UsageError, match="no command"):
        await cli([str(GET_YOUR_INFO)], capsys)
    with pytest.raises(UsageError, match=r"no such call.*info"):
        await cli([str(GET_YOUR_INFO), "--call", "nope", "--", *ROBUST], capsys)
    with pytest.raises(UsageError, match="--cases"):
        await cli([str(GET_YOUR_INFO), "--cases", "0", "--", *ROBUST], capsys)
    no_calls = load_scenario_text("steps:\n  - expect: response.create\n")
    with pytest.raises(UsageError, match="no function call"):
        await fuzz(no_calls, ROBUST)


def test_each_scenario_given_is_fuzzed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # as `rtmock run` does, a name that is no file is a bundled scenario
    again = tmp_path / "again.yaml"
    again.write_text(GET_YOUR_INFO.read_text())
    code = main(["fuzz", str(GET_YOUR_INFO), str(again), "get_your_info", "--cases", "3", "--seed", "1", "--json",
                 str(tmp_path / "fuzz.json"), "--", *ROBUST])
    out = capsys.readouterr().out
    assert code == 0, out
    assert [line.split()[:2] for line in out.splitlines() if line.startswith(("PASS", "FAIL"))] == [
        ["PASS", str(GET_YOUR_INFO)], ["PASS", str(again)], ["PASS", str(bundled_scenario("get_your_info"))]]
    report = json.loads((tmp_path / "fuzz.json").read_text())
    assert report["passed"] is True
    assert [r["scenario_path"] for r in report["results"]] == [str(GET_YOUR_INFO), str(again),
                                                               str(bundled_scenario("get_your_info"))]


def test_a_missing_scenario_is_a_one_line_usage_error_before_anything_is_fuzzed(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "does_not_exist.yaml"
    code = main(["fuzz", str(GET_YOUR_INFO), str(missing), "--cases", "3", "--", *ROBUST])
    captured = capsys.readouterr()
    assert code == 2 and captured.out == ""
    assert captured.err.count("\n") == 1 and f"{missing}: no such scenario file" in captured.err


def test_a_reader_that_leaves_does_not_change_the_exit_code(tmp_path: Path) -> None:
    # `rtmock fuzz … | head -1`: here the reader is gone before anything is written, every time.
    read, write = os.pipe()
    os.close(read)
    try:
        done = subprocess.run([*RTMOCK, "fuzz", str(GET_YOUR_INFO), "--cases", "3", "--seed", "1", "--", *ROBUST],
                              stdout=write, stderr=subprocess.PIPE, text=True, timeout=120, cwd=tmp_path)
    finally:
        os.close(write)
    assert done.returncode == 0, done.stderr


ECHO = [sys.executable, str(ROOT / "examples" / "fuzz_echo_client.py")]


async def test_a_client_that_echoes_its_input_passes_on_what_the_service_could_send(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # It quotes the arguments in its outputs, and the server echoes every output: a megabyte payload
    # would come back as a frame past its library's 1 MiB limit. No model can write one.
    code, out = await cli([str(GET_YOUR_INFO), "--cases", "100", "--seed", "1", "--reproducer",
                           str(tmp_path / "r.yaml"), "--", *ECHO], capsys)
    assert code == 0, out
    assert "payloads: what the service could send, arguments up to 16,384 characters: 4,096 output tokens" in out
    assert "huge-string" in out and "(hostile)" not in out


async def test_hostile_payloads_are_opt_in_and_a_frame_limit_is_explained_as_such(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = await cli([str(GET_YOUR_INFO), "--hostile", "--cases", "100", "--seed", "1", "--reproducer",
                           str(tmp_path / "r.yaml"), "--json", str(tmp_path / "fuzz.json"), "--", *ECHO], capsys)
    assert code == 1, out
    assert "payloads: hostile (--hostile)" in out
    assert "hostile: 1,048,5" in out and "the real service never sends this (--hostile)" in out
    assert "why: the client's websocket library closed the connection with 1009 (message too big)" in out
    assert "(hostile)" in out.split("Cases by payload kind")[1]
    failure = json.loads((tmp_path / "fuzz.json").read_text())["failure"]
    assert failure["inputs"][0]["hostile"] is True and failure["frame_limit"]["code"] == 1009
    assert "Why: the client's websocket library closed the connection with 1009" in (tmp_path / "r.yaml").read_text()


async def test_max_output_tokens_bounds_the_payloads() -> None:
    seen: list[tuple[str, tuple[str, ...]]] = []
    result = await fuzz_client_async(GET_YOUR_INFO, coroutine_client(seen), cases=60, seed=9, max_output_tokens=100)
    assert result.passed, result.explain()
    assert max(len(arguments) for arguments, _ in seen[1:]) <= 400  # 100 tokens at ~4 characters a token
    assert "arguments up to 400 characters: 100 output tokens" in result.explain()
    with pytest.raises(UsageError, match="--max-output-tokens"):
        await fuzz_client_async(GET_YOUR_INFO, coroutine_client(), cases=1, max_output_tokens=3)


def test_parallel_calls_share_their_response_s_budget() -> None:
    loaded = load_scenario(ROOT / "scenarios" / "parallel_calls.yaml")
    assert [t.max_chars for t in fuzz_targets(loaded)] == [8192, 8192]
    paris_only = fuzz_targets(loaded, "paris", max_output_tokens=32_000)
    assert [t.max_chars for t in paris_only] == [128_000 - len('{"city":"Tokyo"}')]


# ---- the search: in-process clients, fast ----------------------------------------------------------


async def test_the_same_seed_gives_the_same_cases_sent_in_exactly_the_generated_deltas() -> None:
    runs: list[list[tuple[str, tuple[str, ...]]]] = []
    for seed in (7, 7, 8):
        seen: list[tuple[str, tuple[str, ...]]] = []
        result = await fuzz_client_async(GET_YOUR_INFO, coroutine_client(seen), cases=30, seed=seed)
        assert result.passed, result.explain()
        assert result.cases == 30 and len(seen) == 31  # the baseline, then the cases
        assert all("".join(deltas) == arguments for arguments, deltas in seen)
        runs.append(seen)
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]
    assert len({arguments for arguments, _ in runs[0]}) > 10  # varied, not one payload thirty times


async def test_a_crashing_coroutine_client_is_shrunk_to_a_minimal_payload() -> None:
    result = await fuzz_client_async(GET_YOUR_INFO, coroutine_client(parse="naive"), cases=50, seed=3)
    assert not result.passed and result.failure is not None
    assert result.failure.findings[0].rule is Rule.CLIENT_CRASHED
    assert "raised" in result.failure.findings[0].message
    assert len(result.failure.inputs[0].payload.text) <= 2
    assert result.shrink_cases > 0 and not result.flaky
    assert "Minimal failing case" in result.explain()


async def test_a_silent_client_fails_at_the_capped_bound() -> None:
    result = await fuzz_client_async(GET_YOUR_INFO, coroutine_client(parse="silent"), cases=20, seed=4,
                                     within=0.3, shrink_time=3.0)
    assert result.failure is not None
    assert result.failure.findings[0].rule is Rule.MISSING_OUTPUT
    assert result.duration < 20


async def test_max_time_stops_generating_without_a_failure() -> None:
    result = await fuzz_client_async(GET_YOUR_INFO, coroutine_client(), cases=100_000, seed=5, max_time=1.0)
    assert result.passed and result.stopped == "max-time"
    assert 0 < result.generated < 100_000 and result.duration < 10


async def test_a_client_failing_the_scenario_itself_is_not_fuzzed() -> None:
    result = await fuzz(load_scenario(GET_YOUR_INFO), [sys.executable, "-c", "raise SystemExit(3)"],
                        FuzzOptions(cases=5, seed=1))
    assert not result.passed and result.baseline is not None and not result.baseline.passed
    assert result.cases == 0 and result.failure is None
    assert "exited with code 3" in result.explain()


def test_the_rtmock_fuzz_fixture(rtmock_fuzz: Callable[..., Any]) -> None:
    result = rtmock_fuzz(GET_YOUR_INFO, coroutine_client(parse="naive"), cases=20, seed=6)
    assert not result.passed and result.reproducer is not None and result.reproducer.exists()


# ---- what a case judges ----------------------------------------------------------------------------


def _with_output_match(condition: str) -> LoadedScenario:
    text = GET_YOUR_INFO.read_text().replace(
        "    call: info\n", f"    call: info\n    match:\n      item.output: {condition}\n")
    assert "match:" in text
    return load_scenario_text(text, path="matched.yaml")


async def test_the_match_on_a_fuzzed_calls_output_is_judged_by_the_baseline_only(tmp_path: Path) -> None:
    # The client answers {"food": <query>}: with the scenario's own arguments, "favorite food".
    matched = _with_output_match("{contains: favorite food}")
    result = await fuzz(matched, coroutine_client(), FuzzOptions(cases=30, seed=8))
    assert result.passed, result.explain()
    assert result.generated == 30
    header = result.explain().split("\n\n")[0]
    assert "not judged while fuzzing: the `match:` of matched.yaml:27 (step 4)" in header

    wrong = await fuzz(_with_output_match("{contains: pizza}"), coroutine_client(), FuzzOptions(cases=5, seed=8))
    assert wrong.baseline is not None and not wrong.baseline.passed and wrong.cases == 0
    assert wrong.baseline.rule == Rule.SCENARIO_MISMATCH.value


async def test_a_reproducer_leaves_out_the_match_its_case_did_not_judge(tmp_path: Path) -> None:
    result = await fuzz(_with_output_match("{contains: favorite food}"), coroutine_client(parse="silent"),
                        FuzzOptions(cases=20, seed=4, within=0.3, shrink_time=3.0))
    assert result.failure is not None and result.failure.rule == Rule.MISSING_OUTPUT.value
    text = result.reproducer_text(tmp_path / "r.yaml")
    assert "match" not in load_scenario_text(text).data["steps"][3]
    assert "not judged while fuzzing" in text.split("\nname:")[0]


# ---- reproducers -------------------------------------------------------------------------------------


def test_a_reproducer_of_calls_written_once_through_a_yaml_alias_keeps_each_payload() -> None:
    loaded = load_scenario_text(
        "tools: [{name: lookup}]\nsteps:\n  - expect: response.create\n"
        "  - respond:\n      - function_call: &call {name: lookup, arguments: {q: x}}\n"
        "  - expect: function_call_output\n  - expect: response.create\n"
        "  - respond:\n      - function_call: *call\n  - expect: function_call_output\n", path="alias.yaml")
    targets = fuzz_targets(loaded)
    cases = [CaseInput(Payload('{"q":"first"}', "k", "n"), ('{"q":"first"}',)),
             CaseInput(Payload('{"q":"second"}', "k", "n"), ('{"q":"sec', 'ond"}'))]
    written = reproducer_yaml(loaded, targets, cases, name="r", header=["h"])
    reread = load_scenario_text(written).calls
    assert [(c.spec.arguments_text, c.spec.deltas) for c in reread] == [
        ('{"q":"first"}', ('{"q":"first"}',)), ('{"q":"second"}', ('{"q":"sec', 'ond"}'))]


@pytest.mark.parametrize("kind", sorted(_FIXED))
def test_reproducers_read_back_every_hostile_payload_exactly(kind: str) -> None:
    loaded = load_scenario(GET_YOUR_INFO)
    targets = fuzz_targets(loaded)
    for text, note in _FIXED[kind]:
        case = CaseInput(Payload(text, kind, note), (text[:3], text[3:]) if len(text) > 3 else ((text,) if text else ()))
        written = reproducer_yaml(loaded, targets, [case], name="r", header=["a reproducer"])
        spec = load_scenario_text(written).calls[0].spec
        assert (spec.arguments_text, tuple(spec.deltas or ())) == (text, case.deltas)
        assert written.isascii()  # bidi controls, BOMs and NULs show as escapes


# ---- the search itself ---------------------------------------------------------------------------


def test_the_search_uses_only_hypothesis_public_interface() -> None:
    """A Hypothesis upgrade must not break fuzzing: no private modules, no errors it raises internally
    (Flaky and its kin), no BaseException tricks to get through it."""
    import ast

    public = {"hypothesis", "hypothesis.strategies"}
    for path in sorted((ROOT / "harness").glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "hypothesis":
                assert node.module in public, f"{path.name}:{node.lineno}: from {node.module} import …"
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    assert alias.name.split(".")[0] != "hypothesis" or alias.name in public, f"{path.name}: {alias.name}"
            elif isinstance(node, ast.ClassDef):
                bases = {ast.unparse(base) for base in node.bases}
                assert not bases & {"BaseException", "KeyboardInterrupt", "SystemExit", "GeneratorExit"}, \
                    f"{path.name}:{node.lineno}: class {node.name}({', '.join(bases)})"


async def test_a_failure_that_does_not_come_back_is_reported_flaky() -> None:
    inner = coroutine_client(parse="naive")
    connections = 0

    async def once_naive(url: str) -> None:  # crashes on its first bad payload only: then parses nothing
        nonlocal connections
        connections += 1
        if connections > 1:
            await coroutine_client(parse="robust")(url)
        else:
            await inner(url)

    result = await fuzz_client_async(GET_YOUR_INFO, once_naive, cases=40, seed=3)
    assert result.failure is not None and result.flaky, result.explain()
    assert "flaky" in result.explain()


async def test_an_rtmock_bug_inside_a_case_is_raised_as_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    from rtmock.harness.fuzzing._runner import CaseRunner

    run_case = CaseRunner.run_case
    calls = 0

    async def failing_on_the_third(self: CaseRunner, scenario: LoadedScenario, *, fresh: bool = False) -> Any:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise LookupError("an rtmock bug")
        return await run_case(self, scenario, fresh=fresh)

    monkeypatch.setattr(CaseRunner, "run_case", failing_on_the_third)
    with pytest.raises(LookupError, match="an rtmock bug"):
        await fuzz_client_async(GET_YOUR_INFO, coroutine_client(), cases=20, seed=1)
    assert calls == 3  # not shrunk as if it were the client's failure


async def test_max_time_counts_from_after_the_baseline() -> None:
    # Every case takes over a second (the calling response is held 1.2 s): the baseline alone is past
    # --max-time, yet generated cases still run.
    slow = load_scenario_text(GET_YOUR_INFO.read_text().replace("chunks: 3", "chunks: 3\n    hold: 1.2s"),
                              path="slow.yaml")
    result = await fuzz_client_async(slow, coroutine_client(), cases=100, seed=5, max_time=1.0)
    assert result.passed, result.explain()
    assert result.baseline is not None and result.baseline.duration > 1.0
    assert result.stopped == "max-time" and result.generated >= 1


#: A scenario that ends on the client's create (no answer scripted) and a client that waits for the
#: answer and exits 1 when the connection closes first, as many do.
NO_ANSWER = """\
name: no_answer
tools:
  - {name: get_your_info, parameters: {type: object, properties: {query: {type: string}}}}
steps:
  - expect: session.update
  - expect: response.create
  - respond:
      - function_call: {name: get_your_info, arguments: {query: favorite food}}
  - expect: function_call_output
  - expect: response.create
"""
EXITS_1_ON_CLOSE = """\
import json, os, sys
from websockets.sync.client import connect
from websockets.exceptions import ConnectionClosed
with connect(os.environ["RTMOCK_URL"], additional_headers={"Authorization": "Bearer x"}) as ws:
    ws.recv(timeout=10)
    ws.send(json.dumps({"type": "session.update", "session": {"type": "realtime", "output_modalities": ["text"],
        "tools": [{"type": "function", "name": "get_your_info", "parameters": {"type": "object"}}]}}))
    ws.send(json.dumps({"type": "conversation.item.create", "item": {"type": "message", "role": "user",
        "content": [{"type": "input_text", "text": "What is my favorite food?"}]}}))
    ws.send(json.dumps({"type": "response.create"}))
    try:
        while True:
            event = json.loads(ws.recv(timeout=10))
            if event["type"] == "response.done" and event["response"]["output"][0]["type"] == "function_call":
                call = event["response"]["output"][0]
                ws.send(json.dumps({"type": "conversation.item.create", "item": {
                    "type": "function_call_output", "call_id": call["call_id"], "output": json.dumps(len(call["arguments"]))}}))
                ws.send(json.dumps({"type": "response.create"}))
    except ConnectionClosed:
        sys.exit("closed before the answer")
"""


def test_an_exit_after_rtmock_closed_a_passed_case_is_no_crash(tmp_path: Path) -> None:
    # `rtmock run` passes it (it stops the client once the scenario completed): fuzz must agree
    (tmp_path / "no_answer.yaml").write_text(NO_ANSWER)
    (tmp_path / "client.py").write_text(EXITS_1_ON_CLOSE)
    for command in (["run", "no_answer.yaml"], ["fuzz", "no_answer.yaml", "--cases", "5", "--seed", "1"]):
        done = subprocess.run([*RTMOCK, *command, "--", sys.executable, "client.py"], capture_output=True, text=True,
                              timeout=120, cwd=tmp_path)
        assert done.returncode == 0, command[0] + done.stdout + done.stderr
