"""The official clients pass stream fuzzing: `rtmock fuzz --stream` varies only what the service may
legally send, so a client written correctly on the official `openai` SDK (GA realtime) or on
openai-agents' realtime session must pass every case. A failure here is a false alarm of rtmock's
(or a bug in the client library, to be shown from its source before anything changes).

Each client is an in-process coroutine (given the case's websocket URL) on a real socket; each runs
`CASES` cases of `get_your_info` and `parallel_calls`. The few-hundred-case runs are in
bench/bench_fuzz.py (`stream-sdk`, `stream-agents`).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

# Imported here, not inside a client: on a loaded machine importing openai-agents in the first case
# blocked the event loop for longer than the case's connect timeout (a no-session of rtmock's making).
from agents import function_tool
from agents.realtime import RealtimeAgent, RealtimeRunner
from openai import AsyncOpenAI

from rtmock.harness.fuzzing._clients import CoroutineClient
from rtmock.harness.fuzzing._result import FuzzOptions
from rtmock.harness.fuzzing._stream import fuzz_stream
from rtmock.mockserver.scenario.loader import load_scenario

pytestmark = pytest.mark.integration  # real client libraries against a real server

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"
#: cases per client and scenario in this suite (the bench runs a few hundred)
CASES = 10  # each kind of variation the test asserts is drawn within 10 (seed 1)
BOUND = 10.0  # seconds one case's client may take before it gives up (a hang is a failure, not a stall)

TOOLS: list[Any] = [  # (the SDK types them as its TypedDicts)
    {"type": "function", "name": "get_your_info", "description": "Look up a fact about the user.",
     "parameters": {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]}},
    {"type": "function", "name": "get_weather", "description": "Current weather in a city.",
     "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}},
]


def run_tool(name: str, arguments: str) -> str:
    try:
        args = json.loads(arguments or "{}")
    except json.JSONDecodeError:
        return json.dumps({"error": "the arguments were not valid JSON"})
    return json.dumps({"tool": name, "args": args, "answer": "pizza" if name == "get_your_info" else "sunny"})


def http_base(url: str) -> str:
    """`ws://host:port/s/<token>/v1/realtime?model=…` → `http://host:port/s/<token>/v1`."""
    return url.replace("ws://", "http://", 1).split("/realtime", 1)[0]


async def sdk_client(url: str) -> None:
    """The official SDK, GA, as its docs have it: outputs for every call of a response, then one
    response.create; done at the first response that calls no tool. Server `error` events are
    logged, not fatal (one about no client event asks nothing of the client)."""
    client = AsyncOpenAI(api_key="rtmock", base_url=http_base(url))
    async with asyncio.timeout(BOUND), client.realtime.connect(model="gpt-realtime") as conn:
        await conn.session.update(session={"type": "realtime", "output_modalities": ["text"], "tools": TOOLS})
        await conn.conversation.item.create(item={"type": "message", "role": "user", "content": [
            {"type": "input_text", "text": "What is my favorite food, and the weather in Paris and Tokyo?"}]})
        await conn.response.create()
        async for event in conn:
            if event.type == "response.done":
                calls = [o for o in event.response.output or [] if o.type == "function_call"]
                if not calls:
                    return
                for call in calls:
                    assert call.call_id and call.name and call.arguments is not None
                    await conn.conversation.item.create(item={
                        "type": "function_call_output", "call_id": call.call_id,
                        "output": run_tool(call.name, call.arguments)})
                await conn.response.create()
    raise AssertionError("the connection closed before the answer")


async def agents_client(url: str) -> None:
    """openai-agents' realtime session with real `@function_tool`s: the session runs the tools and
    answers the calls itself. Done at the first response.done without a function call.

    `async_tool_calls: False`: with its default (True, 0.24.0) the session runs each tool in a task of
    its own and asks for a response.create after each output, sent once the response is done. When
    response.done comes before the last call's tool has finished (it follows that call's
    output_item.done at once, as the service sends it), the create goes out before that output:
    `create-before-output`, on `parallel_calls` as written too. Run inline, each call's output is
    sent before the next event is read, and the pending creates merge into one after response.done."""
    @function_tool
    def get_your_info(query: str) -> str:
        """Look up a fact about the user."""
        return run_tool("get_your_info", json.dumps({"query": query}))

    @function_tool
    def get_weather(city: str) -> str:
        """Current weather in a city."""
        return run_tool("get_weather", json.dumps({"city": city}))

    agent = RealtimeAgent(name="assistant", instructions="Use the tools.", tools=[get_your_info, get_weather])
    session = await RealtimeRunner(agent, config={"async_tool_calls": False}).run(model_config={
        "url": url, "api_key": "rtmock",
        "initial_model_settings": {"model_name": "gpt-realtime", "output_modalities": ["text"]}})
    async with asyncio.timeout(BOUND), session:
        await session.send_message("What is my favorite food, and the weather in Paris and Tokyo?")
        async for event in session:
            if event.type == "raw_model_event" and event.data.type == "raw_server_event":
                data = event.data.data
                if data.get("type") == "response.done" and not any(
                        o.get("type") == "function_call" for o in data["response"].get("output") or []):
                    return
    raise AssertionError("the session ended before the answer")


@pytest.mark.parametrize("scenario", ["get_your_info", "parallel_calls"])
@pytest.mark.parametrize("client", [sdk_client, agents_client], ids=["openai-sdk", "openai-agents"])
async def test_an_official_client_written_correctly_passes_every_stream_case(
        scenario: str, client: CoroutineClient) -> None:
    loaded = load_scenario(SCENARIOS / f"{scenario}.yaml")
    result = await fuzz_stream(loaded, client, FuzzOptions(cases=CASES, seed=1, tls=False))
    assert result.passed, result.explain()
    assert result.cases == CASES
    kinds = {kind for kind, _ in result.table}
    assert {"parallel-calls", "deltas", "unknown-event", "server-error", "delta-interval", "status"} <= kinds, kinds
