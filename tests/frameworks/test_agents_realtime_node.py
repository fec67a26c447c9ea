"""`@openai/agents-realtime` (OpenAI Agents SDK for JS, npm 0.20.x) through `rtmock run`.

tests/node/agents_realtime_client.mjs is a RealtimeAgent with real `tool()`s (zod and JSON-schema
parameters) on a RealtimeSession with the SDK's websocket transport (OpenAIRealtimeWebSocket). The
transport dials the `url` it is given exactly as given and sends `Authorization: Bearer <key>`; the
client takes RTMOCK_URL (`--ws`) or RTMOCK_WSS_URL (`--wss`, trusting rtmock's CA through
NODE_EXTRA_CA_CERTS) and appends `?model=`. It sends one user message (session.sendMessage), the
SDK runs the tools and requests the next response itself, and the client exits 0 on the text answer.

The npm packages are installed once into tests/node/node_modules (ignored by git) when missing.

A real agents-realtime bug is pinned here: on arguments that are not valid JSON the session throws
before running the tool (dist/realtimeSession.mjs:603 `JSON.parse(parsedArgs)`, rethrown at :608
unless the tool has a dynamic `needsApproval`), its `function_call` listener turns that into an
`error` event (:1087), and neither a function_call_output nor a response.create is ever sent.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from node_packages import node_with_packages

pytestmark = pytest.mark.integration

NODE_DIR = Path(__file__).resolve().parents[1] / "node"
CLIENT = NODE_DIR / "agents_realtime_client.mjs"

#: scenario → (the text answer the scenario ends with, the tool calls the SDK runs, in order)
CASES: dict[str, tuple[str, list[str]]] = {
    "get_your_info": ("Your favorite food is pizza.", ["get_your_info"]),
    "parallel_calls": ("It is sunny in Paris and raining in Tokyo.", ["get_weather", "get_weather"]),
    "multi_round": ("Ada has two recent orders, both shipped.", ["find_user", "get_orders"]),
}
TRANSPORTS = ["--ws", "--wss"]


@pytest.fixture(scope="session")
def agents_realtime_client() -> list[str]:
    """`node …/agents_realtime_client.mjs`, after `npm install` in tests/node if its packages are missing."""
    return [node_with_packages(), str(CLIENT)]


def _client_answer(output: str) -> dict[str, Any]:
    """The JSON line the client prints on its answer (rtmock -v passes the client's stdout through)."""
    lines = [line for line in output.splitlines() if line.startswith('{"text":')]
    assert len(lines) == 1, f"expected one answer line from the client in:\n{output[-4000:]}"
    answer: dict[str, Any] = json.loads(lines[0])
    return answer


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("scenario", list(CASES))
def test_agents_realtime_answers_every_tool_round(
    scenario: str, transport: str, agents_realtime_client: list[str], run_client: Any
) -> None:
    verdict = run_client(scenario, [*agents_realtime_client, transport], "-v")
    assert verdict.exit_code == 0 and verdict.rules == [], verdict.explain()

    (result,) = verdict.report["results"]
    assert result["exit_code"] == 0 and not result["client_stopped"], verdict.explain()  # it exited on its own
    (session,) = result["sessions"]
    assert session["complete"], verdict.explain()

    text, tools = CASES[scenario]
    answer = _client_answer(verdict.output)
    assert answer["text"] == text
    assert [call["name"] for call in answer["calls"]] == tools


def test_agents_realtime_tool_that_returns_nothing_passes(agents_realtime_client: list[str], run_client: Any) -> None:
    """A tool that only acts (hang_up, set_volume) returns nothing; the SDK sends String(undefined),
    "undefined", as its output, then the response.create: a complete, correct round."""
    verdict = run_client("get_your_info", [*agents_realtime_client, "--ws", "--void-tools"], "-v")
    assert verdict.exit_code == 0 and verdict.rules == [], verdict.explain()
    assert _client_answer(verdict.output)["text"] == CASES["get_your_info"][0]


def test_agents_realtime_wss_really_is_tls(agents_realtime_client: list[str], run_client: Any) -> None:
    """Without rtmock's CA the --wss client cannot even open the session: the TLS side is what it used."""
    verdict = run_client("get_your_info", ["env", "-u", "NODE_EXTRA_CA_CERTS", *agents_realtime_client, "--wss"])
    assert verdict.exit_code == 1, verdict.explain()
    assert "no-session" in verdict.rules, verdict.explain()
    assert "certificate" in verdict.output, verdict.explain()  # "unable to verify the first certificate"


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_agents_realtime_leaves_a_call_with_malformed_arguments_unanswered(
    transport: str, agents_realtime_client: list[str], run_client: Any
) -> None:
    """The real agents-realtime bug: invalid-JSON arguments → an `error` event, no output, a silent hang.

    The client runs with --log-errors, as an app that logs the session's errors and carries on
    (the docs' `session.on('error', …)`): the call then stays unanswered and rtmock judges it at the
    scenario's bound (5 s) as `missing-output`.
    """
    verdict = run_client("malformed_arguments", [*agents_realtime_client, transport, "--log-errors"])
    assert verdict.exit_code == 1, verdict.explain()
    assert verdict.rules == ["missing-output"], verdict.explain()
    (result,) = verdict.report["results"]
    (session,) = result["sessions"]
    (finding,) = session["findings"]
    assert finding["call_name"] == "get_weather" and finding["seen"] == "nothing", verdict.explain()


def test_agents_realtime_malformed_arguments_error_is_what_a_strict_client_dies_of(
    agents_realtime_client: list[str], run_client: Any
) -> None:
    """By default the client exits 1 on the SDK's error event: rtmock names the crash, the JSON
    parse error from stderr, and the call it left without an output."""
    verdict = run_client("malformed_arguments", [*agents_realtime_client, "--ws"])
    assert verdict.exit_code == 1, verdict.explain()
    assert verdict.rules == ["client-crashed"], verdict.explain()
    assert "missing-output" in verdict.output, verdict.explain()
    assert "JSON" in verdict.output, verdict.explain()  # "Unterminated string in JSON at position 13"
