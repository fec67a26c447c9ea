"""rtmock fuzz --stream: Hypothesis varies what the service may legally stream around a scenario's
function calls; real client processes on real sockets; a failure shrinks to the smallest variation,
written as a scenario that `rtmock run` replays to the same verdict."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from hypothesis import given, settings

from rtmock.harness._fuzz_cases import fuzz_targets
from rtmock.harness._stream_cases import StreamCase, _Variation, stream_case_strategy, stream_document
from rtmock.harness.fuzz import fuzz_main, parse_fuzz_args
from rtmock.harness.runner import RunOptions, run_scenario
from rtmock.mockserver.loader import load_scenario

ROOT = Path(__file__).resolve().parent.parent
GET_YOUR_INFO = ROOT / "scenarios" / "get_your_info.yaml"
FIRST_CALL_ONLY = [sys.executable, str(ROOT / "examples" / "stream_first_call_only.py")]
STRICT_EVENTS = [sys.executable, str(ROOT / "examples" / "stream_strict_events.py")]
ROBUST = [sys.executable, str(ROOT / "examples" / "fuzz_robust_client.py")]

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
async def test_a_robust_client_passes_a_hundred_stream_variants(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = await cli([str(GET_YOUR_INFO), "--stream", "--cases", "100", "--seed", "1", "--no-reuse",
                           "--reproducer", str(tmp_path / "r.yaml"), "--", *ROBUST], capsys)
    assert code == 0, out
    assert "PASS" in out and "100 cases" in out, out
