"""The official Node SDK (`openai` on npm, `OpenAIRealtimeWS`) completes the tool scenarios.

OpenAIRealtimeWS always dials wss://, whatever the base URL's scheme: the mock serves TLS on the
same port and the client trusts its CA through NODE_EXTRA_CA_CERTS. The npm packages are installed
once into tests/node/node_modules (ignored by git) by a session fixture.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from node_packages import NODE_DIR, node_with_packages

from rtmock.mockserver.core.records import Direction
from rtmock.mockserver.net.server import MockServer, client_environment
from rtmock.mockserver.scenario.loader import load_scenario

pytestmark = pytest.mark.integration  # Node and npm packages

BOUND = 20.0  # seconds for one node run (its own deadline is 10 s)
SCENARIO_DIR = Path(__file__).resolve().parent.parent / "scenarios"

CASES = {
    "get_your_info": ("What is my favorite food?", "Your favorite food is pizza.", ["get_your_info"]),
    "parallel_calls": ("Weather in Paris and Tokyo?", "It is sunny in Paris and raining in Tokyo.",
                       ["get_weather", "get_weather"]),
}


@pytest.fixture(scope="session")
def node_client() -> list[str]:
    """The command that runs the Node client, after installing its packages if they are missing."""
    return [node_with_packages(), str(NODE_DIR / "realtime_client.mjs")]


@pytest.fixture
async def server() -> AsyncIterator[MockServer]:
    scenarios = [load_scenario(SCENARIO_DIR / f"{name}.yaml") for name in CASES]
    async with MockServer(scenarios, tls=True) as srv:
        yield srv


@pytest.mark.parametrize("scenario", list(CASES))
async def test_official_node_sdk_completes_the_scenario_over_wss(
    scenario: str, node_client: list[str], server: MockServer
) -> None:
    request, answer, tools = CASES[scenario]
    env = {**os.environ, **client_environment(server, scenario)}
    assert env["NODE_EXTRA_CA_CERTS"] and env["OPENAI_BASE_URL"].startswith("http://")
    process = await asyncio.create_subprocess_exec(
        *node_client, request, env=env, cwd=NODE_DIR,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), BOUND)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0, f"node exited {process.returncode}: {stderr.decode()[-2000:]}"
    result = json.loads(stdout.decode().strip().splitlines()[-1])
    assert result["text"] == answer
    assert [c["name"] for c in result["calls"]] == tools

    (session,) = server.sessions
    assert session.scenario.name == scenario and session.dialect.value == "ga"
    assert session.complete
    assert [r.event for r in session.records if r.direction is Direction.SERVER and r.type == "error"] == []


async def test_node_sdk_really_dials_wss_and_fails_without_the_ca(node_client: list[str], server: MockServer) -> None:
    env = {k: v for k, v in {**os.environ, **client_environment(server, "get_your_info")}.items()
           if k not in ("NODE_EXTRA_CA_CERTS", "SSL_CERT_FILE", "NODE_TLS_REJECT_UNAUTHORIZED")}
    process = await asyncio.create_subprocess_exec(
        *node_client, env=env, cwd=NODE_DIR, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        _, stderr = await asyncio.wait_for(process.communicate(), BOUND)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 1, stderr.decode()
    assert "certificate" in stderr.decode()  # e.g. "unable to verify the first certificate"
    assert server.sessions == [], "no websocket session without a trusted certificate"
