"""pipecat (1.14) realtime services, run unmodified through `rtmock run`.

`clients/pipecat_realtime.py` is a pipecat bot built like pipecat's `examples/realtime/` (a
`Pipeline` of an `LLMContextAggregatorPair` around the service, a `PipelineWorker` under a
`WorkerRunner`, tools registered with `register_function`, the first turn started with an
`LLMRunFrame`) for three services:

- `--service openai`: `OpenAIRealtimeLLMService`, GA protocol on `…/v1/realtime?model=`;
- `--service azure`: `AzureRealtimeLLMService`, GA protocol on `…/openai/v1/realtime?model=` with `api-key`;
- `--service voice-live`: `AzureVoiceLiveLLMService`, `wss://…/voice-live/realtime?api-version=&model=`
  with `api-key`, speaking Voice Live's beta-shaped protocol (`conversation.item.created`,
  `response.text.delta`, a flat session with Azure keys).

pipecat answers tool calls correctly (output on `response.function_call_arguments.done`, one
`response.create` once every call of the round has its result), so the true verdict on the tool
scenarios is a pass. It has one real bug: both services `json.loads` the arguments inside a
`try` whose `except` only logs (`services/openai/realtime/llm.py`
`_handle_evt_function_call_arguments_done`, `services/azure/voice_live/llm.py` likewise), so a
call with arguments that are not JSON is never run and never answered: `missing-output`.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True, scope="module")
def _installed() -> None:
    # checked when a worker runs this module's first test, not at collection: every xdist worker
    # collects every module, and importing the framework takes seconds of CPU
    pytest.importorskip("pipecat.services.openai.realtime.llm", reason="needs pipecat-ai[openai]")
    pytest.importorskip("pipecat.services.azure.voice_live.llm", reason="needs pipecat-ai[azure]")


CLIENT = Path(__file__).resolve().parent / "clients" / "pipecat_realtime.py"
SERVICES = ["openai", "azure", "voice-live"]
TOOL_SCENARIOS = ["get_your_info", "parallel_calls", "multi_round"]


def command(service: str) -> list[str]:
    return [sys.executable, str(CLIENT), "--service", service]


@pytest.mark.parametrize("scenario", TOOL_SCENARIOS)
@pytest.mark.parametrize("service", SERVICES)
def test_pipecat_answers_tool_calls(run_client, service: str, scenario: str) -> None:
    """A correct framework: every call answered with its output, then one response.create, and
    the client exits 0 on the scenario's final text answer."""
    verdict = run_client(scenario, command(service))
    if scenario == "parallel_calls" and verdict.rules == ["create-before-output"]:
        # A real pipecat race, rightly reported: `_process_completed_function_calls` sends
        # response.create on every context update that brings a new tool result (azure/voice_live/
        # llm.py and openai/realtime/llm.py), so when the two parallel results land in two updates
        # the model is asked to answer before the second one is sent. Most runs they land together.
        return
    assert verdict.exit_code == 0 and verdict.rules == [], verdict.explain()
    assert verdict.report["passed"] is True, verdict.explain()
    # the client's own exit code: 0 only once it had the scenario's final text answer
    assert verdict.report["results"][0]["exit_code"] == 0, verdict.explain()


@pytest.mark.parametrize("service", SERVICES)
def test_pipecat_leaves_malformed_arguments_unanswered(run_client, service: str) -> None:
    """The real pipecat bug: `json.loads(evt.arguments)` raises, the `except` logs
    "Failed to process function call arguments" and drops the call: no function_call_output,
    the model waits forever. rtmock must say so, as missing-output, at the scenario's bound."""
    verdict = run_client("malformed_arguments", command(service))
    assert verdict.exit_code == 1, verdict.explain()
    assert verdict.rules == ["missing-output"], verdict.explain()
    finding = verdict.report["results"][0]["sessions"][0]["findings"][0]
    assert finding["call_name"] == "get_weather", verdict.explain()
