"""livekit-agents' OpenAI realtime plugin (`livekit.plugins.openai.realtime`), run through `rtmock run`.

The client (`clients/livekit_realtime.py`) drives the plugin's `RealtimeSession` the way livekit's
`AgentSession` does: real `@function_tool`s, `generate_reply()`, the tools run from the
generation's function stream, their `FunctionCallOutput`s pushed with `update_chat_ctx`, then
`generate_reply(tool_choice="auto")` (livekit's `response.create` after a tool round, sent as
`{"instructions": null, "metadata": {"client_event_id": ...}, "tool_choice": "auto"}`). livekit
answers tool calls correctly, so the true verdict is a pass with no findings, in every mode:
OpenAI (OPENAI_BASE_URL), Azure GA (`/openai/v1/realtime?model=`) and Azure legacy
(`/openai/realtime?api-version=&deployment=`, the beta dialect).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True, scope="module")
def _installed() -> None:
    # checked when a worker runs this module's first test, not at collection: every xdist worker
    # collects every module, and importing the framework takes seconds of CPU
    pytest.importorskip("livekit.plugins.openai.realtime", reason="livekit-plugins-openai is not installed")


CLIENT = str(Path(__file__).resolve().parent / "clients" / "livekit_realtime.py")
#: each scenario's final text answer: the client exits 0 only once it has it
FINAL_TEXT = {
    "get_your_info": "Your favorite food is pizza.",
    "parallel_calls": "It is sunny in Paris and raining in Tokyo.",
    "multi_round": "Ada has two recent orders, both shipped.",
}
MODES = ["openai", "azure", "azure-legacy"]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("scenario", list(FINAL_TEXT))
def test_livekit_realtime_passes(run_client: Any, scenario: str, mode: str) -> None:
    assert Path(CLIENT).is_file()
    verdict = run_client(scenario, [sys.executable, CLIENT, "--mode", mode, "--expect", FINAL_TEXT[scenario]])
    assert verdict.exit_code == 0, verdict.explain()
    assert verdict.rules == [], verdict.explain()
    [result] = verdict.report["results"]
    assert result["exit_code"] == 0, verdict.explain()  # the client itself got its final answer
    assert [s["complete"] for s in result["sessions"]] == [True], verdict.explain()
