"""Azure's Voice Live SDK (`azure-ai-voicelive`), run unmodified through `rtmock run`.

`clients/voicelive_sdk.py` connects with `azure.ai.voicelive.aio.connect(endpoint=AZURE_OPENAI_ENDPOINT,
credential=AzureKeyCredential(AZURE_OPENAI_API_KEY), model=…)`, which dials
`…/voice-live/realtime?api-version=…&model=…`: rtmock serves it in the Voice Live dialect (beta event
names, Azure's session keys). In `--mode tools` it answers function calls the way the SDK's
function-calling sample does (`conversation.item.created` of a function call, then
`response.function_call_arguments.done` and `response.done`, a `FunctionCallOutputItem` per call,
one `response.create`): a correct client, so the true verdict is a pass with no findings. In
`--mode minimal` it sends the SDK README's minimal session (`modalities`, `input_audio_format`,
`input_audio_echo_cancellation`, `ServerVad`), which a GA-shaped server refuses with
`unknown_parameter 'session.modalities'`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True, scope="module")
def _installed() -> None:
    # checked when a worker runs this module's first test, not at collection: every xdist worker
    # collects every module, and importing the framework takes seconds of CPU
    pytest.importorskip("azure.ai.voicelive.aio", reason="azure-ai-voicelive is not installed")


CLIENT = str(Path(__file__).resolve().parent / "clients" / "voicelive_sdk.py")
#: each scenario's final text answer: the client exits 0 only once it has it
FINAL_TEXT = {
    "get_your_info": "Your favorite food is pizza.",
    "parallel_calls": "It is sunny in Paris and raining in Tokyo.",
    "multi_round": "Ada has two recent orders, both shipped.",
}
MINIMAL = """\
name: voicelive_minimal
description: The SDK README's minimal session, then one question and a text answer.
steps:
  - expect: session.update
    within: 5s
    match:
      session.modalities: {equals: [text, audio]}
      session.input_audio_echo_cancellation.type: {equals: server_echo_cancellation}
  - expect: response.create
    within: 5s
  - respond:
      - text: Hello from Voice Live.
"""


def _passed(verdict: Any, transcripts: Path) -> None:
    assert verdict.exit_code == 0, verdict.explain()
    assert verdict.rules == [], verdict.explain()
    [result] = verdict.report["results"]
    assert result["exit_code"] == 0, verdict.explain()  # the client itself got its final answer
    assert [s["complete"] for s in result["sessions"]] == [True], verdict.explain()
    # served as Voice Live: the transcript's header names the dialect and the SDK's path
    [header] = [json.loads(path.read_text().splitlines()[0]) for path in transcripts.glob("*/*.jsonl")]
    assert header["dialect"] == "voice-live" and "/voice-live/realtime?" in header["request"], header


@pytest.mark.parametrize("scenario", list(FINAL_TEXT))
def test_the_function_calling_sample_passes(run_client: Any, scenario: str, tmp_path: Path) -> None:
    verdict = run_client(scenario, [sys.executable, CLIENT, "--mode", "tools", "--expect", FINAL_TEXT[scenario]],
                         "--transcript", str(tmp_path / "transcripts"))
    _passed(verdict, tmp_path / "transcripts")


def test_the_sdk_minimal_session_is_accepted(run_client: Any, tmp_path: Path) -> None:
    scenario = tmp_path / "voicelive_minimal.yaml"
    scenario.write_text(MINIMAL)
    verdict = run_client(scenario, [sys.executable, CLIENT, "--mode", "minimal", "--expect", "Hello from Voice Live."],
                         "--transcript", str(tmp_path / "transcripts"))
    assert "unknown_parameter" not in verdict.output, verdict.explain()
    _passed(verdict, tmp_path / "transcripts")
