"""rtmock fuzz's clients under test: what a client process prints never stalls the run, and how a
case's verdict is composed matches `rtmock run`'s."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp

from rtmock.harness.fuzzing._cases import FUZZ_DONE_REASON
from rtmock.harness.fuzzing._clients import ProcessClient
from rtmock.harness.fuzzing.fuzz import FuzzOptions, fuzz, fuzz_client_async
from rtmock.harness.judging.findings import Rule
from rtmock.harness.runner import RunOptions, run_scenario
from rtmock.mockserver.scenario.loader import load_scenario

ROOT = Path(__file__).resolve().parent.parent
GET_YOUR_INFO = ROOT / "scenarios" / "get_your_info.yaml"
PARALLEL = ROOT / "scenarios" / "parallel_calls.yaml"
ROBUST = ROOT / "examples" / "fuzz_robust_client.py"


def chatty(client: Path, line_length: int) -> list[str]:
    """`client`, run after printing one line of `line_length` characters to stdout."""
    code = (f"import runpy, sys; print('x' * {line_length}, flush=True); sys.argv = [{str(client)!r}]; "
            f"runpy.run_path({str(client)!r}, run_name='__main__')")
    return [sys.executable, "-c", code]


async def test_a_client_printing_a_line_longer_than_a_pipe_is_read_to_its_end() -> None:
    # 1 MB without a newline: a line reader stops at its 64 KiB limit, the pipe fills, and the client
    # blocks in print; then even its end cannot be seen (asyncio waits for the pipes' EOF).
    command = [sys.executable, "-c", "import sys; print('x' * 1_000_000); print('the end'); sys.exit(3)"]
    client = await ProcessClient.start(1, "t", command, {})
    await asyncio.wait_for(asyncio.shield(client.exited), 30)
    assert client.output_tail[-2:] == ["x" * 297 + "…", "the end"]
    crash = client.crash()
    assert crash is not None and "code 3" in crash.message


async def test_fuzzing_a_client_that_prints_a_long_line_ends() -> None:
    result = await asyncio.wait_for(
        fuzz(load_scenario(GET_YOUR_INFO), chatty(ROBUST, 1_000_000), FuzzOptions(cases=5, seed=1)), 60)
    assert result.passed, result.explain()


# ---- a case's verdict is `rtmock run`'s --------------------------------------------------------------

SLOW_DYING = """
import asyncio, sys, time
sys.path.insert(0, {examples!r})
import fuzz_naive_client as naive

try:
    sys.exit(asyncio.run(naive.main()))
except Exception:
    # A slow teardown, as a `websockets` client waiting out its close timeout: the session is
    # closed with the call unanswered, and the process exits with the traceback a second later.
    time.sleep(1.5)
    raise
"""


async def test_a_crash_is_judged_as_rtmock_run_judges_its_reproducer(tmp_path: Path) -> None:
    client = tmp_path / "slow_dying_client.py"
    client.write_text(SLOW_DYING.format(examples=str(ROOT / "examples")))
    command = [sys.executable, str(client)]
    result = await fuzz(load_scenario(GET_YOUR_INFO), command, FuzzOptions(cases=30, seed=1, shrink_time=4.0))
    assert result.failure is not None, result.explain()
    fuzzed = [f.rule for f in result.failure.findings]
    assert fuzzed[0] is Rule.CLIENT_CRASHED, result.explain()
    assert "leaving its session short: missing-output" in result.failure.findings[0].message
    replay = await run_scenario(load_scenario(result.write_reproducer(tmp_path / "r.yaml")), command,
                                RunOptions(grace=0.5))
    assert [f.rule for f in replay.findings] == fuzzed


def parallel_client(*, naive_on: int) -> Callable[[str], Awaitable[None]]:
    """A client of parallel_calls that parses the arguments of the call at output_index `naive_on`
    naively (and raises on bad ones), and answers the other robustly."""
    tools = [{"type": "function", "name": "get_weather", "parameters": {
        "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}]

    async def conversation(http: aiohttp.ClientSession, url: str) -> str:
        async with http.ws_connect(url, headers={"Authorization": "Bearer test"}, max_msg_size=0) as ws:
            await ws.send_json({"type": "session.update", "session": {"type": "realtime", "tools": tools}})
            answered = 0
            while True:
                message = await ws.receive()
                if message.type is not aiohttp.WSMsgType.TEXT:
                    return str(message.extra or "")
                event = json.loads(message.data)
                if event["type"] == "session.updated":
                    await ws.send_json({"type": "response.create"})
                elif event["type"] == "response.function_call_arguments.done":
                    try:
                        city = json.loads(event["arguments"])["city"]
                    except Exception:
                        if event["output_index"] == naive_on:
                            raise
                        city = None
                    await ws.send_json({"type": "conversation.item.create", "item": {
                        "type": "function_call_output", "call_id": event["call_id"], "output": json.dumps(city)}})
                    answered += 1
                elif event["type"] == "response.done" and answered:
                    await ws.send_json({"type": "response.create"})
                    answered = 0

    async def client(url: str) -> None:
        async with aiohttp.ClientSession() as http:
            while await conversation(http, url) != FUZZ_DONE_REASON:
                pass

    return client


async def test_a_failure_is_counted_under_the_kind_of_the_call_whose_payload_caused_it() -> None:
    result = await fuzz_client_async(PARALLEL, parallel_client(naive_on=1), cases=40, seed=2, shrink_time=3.0)
    assert result.failure is not None
    rows = {(call, rule) for call, _, rule in result.table}
    assert {rule for call, rule in rows if call == "paris"} == {"passed"}, result.explain()
    assert any(call == "tokyo" and rule == Rule.CLIENT_CRASHED.value for call, rule in rows), result.explain()


# ---- reusing a client ----------------------------------------------------------------------------


def looping_client(*, slow_reconnect_after: int) -> Callable[[str], Awaitable[None]]:
    """A robust get_your_info client that loops on its conversations; after conversation number
    `slow_reconnect_after` (of all its instances), it takes 2.5 s to reconnect, as a client on a
    loaded machine may."""
    tools = [{"type": "function", "name": "get_your_info", "parameters": {"type": "object"}}]

    async def conversation(http: aiohttp.ClientSession, url: str) -> str:
        async with http.ws_connect(url, headers={"Authorization": "Bearer test"}, max_msg_size=0) as ws:
            await ws.send_json({"type": "session.update", "session": {"type": "realtime", "tools": tools}})
            answered = False
            while True:
                message = await ws.receive()
                if message.type is not aiohttp.WSMsgType.TEXT:
                    return str(message.extra or "")
                event = json.loads(message.data)
                if event["type"] == "session.updated":
                    await ws.send_json({"type": "response.create"})
                elif event["type"] == "response.function_call_arguments.done":
                    await ws.send_json({"type": "conversation.item.create", "item": {
                        "type": "function_call_output", "call_id": event["call_id"], "output": "{}"}})
                    answered = True
                elif event["type"] == "response.done" and answered:
                    await ws.send_json({"type": "response.create"})
                    answered = False

    conversations = 0  # of all the clients started: the slow reconnect happens once

    async def client(url: str) -> None:
        nonlocal conversations
        async with aiohttp.ClientSession() as http:
            while await conversation(http, url) != FUZZ_DONE_REASON:
                conversations += 1
                if conversations == slow_reconnect_after:
                    await asyncio.sleep(2.5)  # the client's own slowness, not the test's synchronisation

    return client


async def test_one_slow_reconnect_does_not_end_the_reuse_of_clients() -> None:
    result = await fuzz_client_async(GET_YOUR_INFO, looping_client(slow_reconnect_after=2), cases=20, seed=1)
    assert result.passed, result.explain()
    assert result.clients_started <= 3, result.explain()
