"""rtmock fuzz --stream: Hypothesis varies what the service may legally stream around a scenario's
function calls; real client processes on real sockets; a failure shrinks to the smallest variation,
written as a scenario that `rtmock run` replays to the same verdict."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import websockets
from hypothesis import given, seed, settings

from rtmock.harness.fuzzing._cases import case_scenario, fuzz_targets
from rtmock.harness.fuzzing._result import FuzzOptions
from rtmock.harness.fuzzing._runner import CaseRunner
from rtmock.harness.fuzzing._stream import StreamResult, fuzz_stream
from rtmock.harness.fuzzing._stream_cases import (
    DELTA_INTERVALS,
    StreamCase,
    _future,
    _rate_limits,
    _Variation,
    stream_case_strategy,
    stream_document,
)
from rtmock.harness.fuzzing.fuzz import fuzz_main, parse_fuzz_args
from rtmock.harness.runner import RunOptions, run_scenario
from rtmock.mockserver.scenario.loader import LoadedScenario, load_scenario
from rtmock.mockserver.scenario.model import RespondStep, SendPart

ROOT = Path(__file__).resolve().parent.parent
GET_YOUR_INFO = ROOT / "scenarios" / "get_your_info.yaml"
FIRST_CALL_ONLY = [sys.executable, str(ROOT / "examples" / "stream_first_call_only.py")]
STRICT_EVENTS = [sys.executable, str(ROOT / "examples" / "stream_strict_events.py")]
ROBUST = [sys.executable, str(ROOT / "examples" / "fuzz_robust_client.py")]
MID_RESPONSE_STRICT = [sys.executable, str(ROOT / "tests" / "stream_mid_response_strict.py")]

_LOADED = load_scenario(GET_YOUR_INFO)
_CASES = stream_case_strategy(_LOADED, fuzz_targets(_LOADED))


async def cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = await fuzz_main(parse_fuzz_args(argv))
    return code, capsys.readouterr().out


@settings(max_examples=60, deadline=None)
@given(_CASES)
def test_every_variant_is_a_scenario_that_loads_and_answers_every_call(case: StreamCase) -> None:
    loaded = case.load()
    awaited = {(ref.step, ref.part) for ref in loaded.output_calls.values()}
    assert {(ref.step, ref.part) for ref in loaded.calls} == awaited
    for ref in loaded.calls:
        assert ref.spec.arguments_text == '{"query":"favorite food"}'


def test_the_simplest_variant_is_the_scenario_as_written() -> None:
    case = stream_document(_LOADED, fuzz_targets(_LOADED), _Variation({}, {}, (), {}, {}))
    assert case.kinds == ("as-written",) and not case.notes
    assert case.load().scenario.steps == _LOADED.scenario.steps


async def test_a_client_that_answers_only_the_first_call_fails_with_a_replayable_reproducer(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repro = tmp_path / "first.repro.yaml"
    code, out = await cli([str(GET_YOUR_INFO), "--stream", "--cases", "40", "--seed", "1", "--no-reuse",
                           "--reproducer", str(repro), "--", *FIRST_CALL_ONLY], capsys)
    assert code == 1, out
    assert "Minimal failing variation" in out and "parallel calls" in out, out
    text = repro.read_text()
    assert "id: info_2" in text
    loaded = load_scenario(repro)
    assert len(loaded.calls) >= 2
    replay = await run_scenario(loaded, FIRST_CALL_ONLY, RunOptions(grace=0.5))
    assert not replay.passed
    assert (await run_scenario(loaded, ROBUST, RunOptions(grace=0.5))).passed


async def test_a_client_that_crashes_on_an_unknown_event_type_fails_with_a_replayable_reproducer(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repro = tmp_path / "strict.repro.yaml"
    code, out = await cli([str(GET_YOUR_INFO), "--stream", "--cases", "40", "--seed", "1", "--no-reuse",
                           "--reproducer", str(repro), "--", *STRICT_EVENTS], capsys)
    assert code == 1, out
    assert "[client-crashed]" in out and "future_event" in out, out
    loaded = load_scenario(repro)
    assert any("future_event" in str(getattr(s, "send", "")) for s in loaded.scenario.steps)
    replay = await run_scenario(loaded, STRICT_EVENTS, RunOptions(grace=0.5))
    assert not replay.passed
    assert (await run_scenario(loaded, ROBUST, RunOptions(grace=0.5))).passed


@pytest.mark.integration
def _sent_inside(loaded: LoadedScenario) -> list[str]:
    """The types of the events a variant sends inside its responses (`send:` parts)."""
    return [part.send["type"] for step in loaded.scenario.steps if isinstance(step, RespondStep)
            for part in step.respond if isinstance(part, SendPart)]


def test_stream_fuzzing_draws_events_between_the_items_of_a_response_with_parallel_calls() -> None:
    drawn: list[StreamCase] = []

    @seed(1)
    @settings(max_examples=80, database=None, deadline=None)
    @given(_CASES)
    def draw(case: StreamCase) -> None:
        drawn.append(case)

    draw()
    inside = [c for c in drawn if _sent_inside(c.load())]
    assert inside and {"rate_limits.updated"} <= {t for c in inside for t in _sent_inside(c.load())}
    assert any("future_event" in t for c in inside for t in _sent_inside(c.load()))
    for case in inside:
        assert "parallel-calls" in case.kinds and any(n.startswith("inside ") for n in case.notes), case
        for step in case.load().scenario.steps:
            if isinstance(step, RespondStep):
                sends = [isinstance(p, SendPart) for p in step.respond]
                assert not sends[0] and not sends[-1]  # between items, never first or last


def _inside_variants() -> list[StreamCase]:
    """Parallel calls with rate_limits.updated and unknown future events between their items."""
    targets = fuzz_targets(_LOADED)
    step = targets[0].ref.step
    return [stream_document(_LOADED, targets, _Variation({0: extra}, {}, (), {}, {}, {step: events}))
            for extra, events in [
                (1, ((0, _rate_limits(1)),)),
                (1, ((0, _future(1, "response.future_event.x")),)),
                (2, ((0, _rate_limits(1)), (0, _future(2, "conversation.future_event")))),
                (2, ((1, _future(1, "session.future_event.updated")), (1, _rate_limits(2)))),
                (2, ((0, _future(1, "response.future_event.x")), (1, _rate_limits(2)))),
            ]]


async def test_correct_clients_pass_variants_with_events_between_the_items_of_a_response() -> None:
    cases = _inside_variants()
    assert all(_sent_inside(c.load()) for c in cases)
    async with CaseRunner(_LOADED, answering_client, tls=False, case_timeout=10) as runner:
        for case in cases:
            run = await runner.run_case(case_scenario(case.load(), [], None))
            assert run.passed, (case, [str(f) for f in run.findings])
    for case in cases[2:]:
        result = await run_scenario(case.load(), ROBUST, RunOptions(grace=0.5))
        assert result.passed, (case, [str(f) for f in result.findings])


async def test_a_client_that_crashes_on_an_unknown_event_inside_a_response_fails_with_a_replayable_reproducer(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # the client ignores unknown types between responses: only an event between a response's items finds it
    assert (await run_scenario(_LOADED, MID_RESPONSE_STRICT, RunOptions(grace=0.5))).passed
    repro = tmp_path / "inside.repro.yaml"
    code, out = await cli([str(GET_YOUR_INFO), "--stream", "--cases", "40", "--seed", "1",
                           "--reproducer", str(repro), "--", *MID_RESPONSE_STRICT], capsys)
    assert code == 1, out
    assert "[client-crashed]" in out and "inside " in out, out
    loaded = load_scenario(repro)
    assert any("future_event" in t for t in _sent_inside(loaded)), repro.read_text()
    replay = await run_scenario(loaded, MID_RESPONSE_STRICT, RunOptions(grace=0.5))
    assert not replay.passed
    assert "client-crashed" in " ".join(str(f) for f in replay.findings), [str(f) for f in replay.findings]
    assert (await run_scenario(loaded, ROBUST, RunOptions(grace=0.5))).passed


@pytest.mark.integration
async def test_a_robust_client_passes_thirty_stream_variants(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # one client process plays every case (it loops on RTMOCK_FUZZ=1), as a user runs it; volume
    # (150 stream cases per official client and scenario) is bench/bench_fuzz.py's
    code, out = await cli([str(GET_YOUR_INFO), "--stream", "--cases", "30", "--seed", "1",
                           "--reproducer", str(tmp_path / "r.yaml"), "--", *ROBUST], capsys)
    assert code == 0, out
    assert "PASS" in out and "30 cases" in out, out


async def answering_client(url: str, *, first_only: bool = False) -> None:
    """A correct raw client, bounded: it answers every call (output, then one response.create per
    response) and ends at the first response without calls. Its session asks for no modality, so
    the answer is spoken (audio deltas and transcript). `first_only`: the bug of answering only the
    first call of a response."""
    tool = {"type": "function", "name": "get_your_info", "parameters": {"type": "object"}}
    async with asyncio.timeout(5), websockets.connect(url, additional_headers={"Authorization": "Bearer x"}) as ws:
        await ws.send(json.dumps({"type": "session.update", "session": {"type": "realtime", "tools": [tool]}}))
        await ws.send(json.dumps({"type": "response.create"}))
        answered = 0
        async for frame in ws:
            event: dict[str, Any] = json.loads(frame)
            if event["type"] == "response.output_item.done" and event["item"]["type"] == "function_call":
                answered += 1
                if first_only and answered > 1:
                    continue
                await ws.send(json.dumps({"type": "conversation.item.create", "item": {
                    "type": "function_call_output", "call_id": event["item"]["call_id"], "output": "pizza"}}))
            elif event["type"] == "response.done":
                if not any(o["type"] == "function_call" for o in event["response"]["output"]):
                    return
                await ws.send(json.dumps({"type": "response.create"}))
                answered = 0


async def test_responses_paced_by_a_delta_interval_stream_to_the_end_case_after_case() -> None:
    # Each interval is shorter than building and sending what comes before the first pause (an audio
    # tone), so the server's timer is due before it waits for the client: it must stream on, not
    # wait for a client frame that never comes (the 20 s hang that kept the variation off).
    targets = fuzz_targets(_LOADED)
    responds = [i for i, s in enumerate(_LOADED.scenario.steps) if hasattr(s, "delta_interval")]
    text = targets[0].ref.spec.arguments_text
    cases = [stream_document(_LOADED, targets, _Variation({}, {(0, 0): tuple(text[i:i + size] for i in range(0, len(text), size))},
                                                          (), dict.fromkeys(responds, interval), {}))
             for interval in DELTA_INTERVALS for size in (5, 12, 40) for _ in range(3)]
    assert len(cases) == 27 and all("delta-interval" in c.kinds for c in cases)
    async with CaseRunner(_LOADED, answering_client, tls=False, case_timeout=10) as runner:
        for case in cases:
            run = await runner.run_case(case_scenario(case.load(), [], None))
            assert run.passed, (case, [str(f) for f in run.findings])


def test_the_rtmock_fuzz_fixture_fuzzes_the_stream_with_stream_true(rtmock_fuzz: Callable[..., Any]) -> None:
    async def first_call_only(url: str) -> None:
        await answering_client(url, first_only=True)

    result = rtmock_fuzz("get_your_info", first_call_only, stream=True, cases=40, seed=1, tls=False)
    assert isinstance(result, StreamResult)
    assert not result.passed and result.failure is not None, result.explain()
    assert result.reproducer is not None and "id: info_2" in result.reproducer.read_text()
    assert result.reproducer.name == "get_your_info.repro.yaml"


async def test_max_time_stops_stream_generation_after_at_least_one_generated_case() -> None:
    # --max-time counts from the end of the baseline, and a run always tries one generated case: on a
    # loaded machine a run of the baseline alone would say nothing (as argument fuzzing does).
    result = await fuzz_stream(_LOADED, answering_client, FuzzOptions(cases=10_000, seed=1, max_time=0.001, tls=False))
    assert result.passed, result.explain()
    assert result.stopped == "max-time" and 1 <= result.generated < 10_000
    assert "stopped generating at --max-time after" in result.explain()
