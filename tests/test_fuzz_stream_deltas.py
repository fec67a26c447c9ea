"""Stream fuzzing splits non-ASCII arguments wherever the service may: between any two characters,
inside a `\\u00e8` escape of the JSON text too, never inside a character (an emoji is one). A
client that joins the deltas as strings passes every case; one that decodes each delta on its own
(a live display that unescapes `\\uXXXX` per delta, the common `encode().decode("unicode_escape")`
idiom) crashes on a split inside an escape, and the reproducer replays it with `rtmock run`.

This file is also the client: `python tests/test_fuzz_stream_deltas.py joined|per-delta`.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import aiohttp

#: Arguments as the model may write them: raw é and 🍮, and an escaped è (`\u00e8`, six characters).
ARGUMENTS = r'{"query":"crème brûlée 🍮 or cr\u00e8me caramel?"}'
SCENARIO = f"""\
name: dessert
tools:
  - name: get_your_info
    parameters: {{type: object, properties: {{query: {{type: string}}}}, required: [query]}}
steps:
  - expect: session.update
    within: 5s
  - expect: response.create
    within: 5s
  - respond:
      - function_call:
          id: info
          name: get_your_info
          arguments: '{ARGUMENTS}'
          deltas: ['{ARGUMENTS[:20]}', '{ARGUMENTS[20:]}']
  - expect: function_call_output
    call: info
    within: 5s
  - expect: response.create
    within: 5s
  - respond:
      - text: Crème brûlée it is.
"""
FUZZ_DONE = "rtmock: fuzzing done"
TOOL = {"type": "function", "name": "get_your_info",
        "parameters": {"type": "object", "properties": {"query": {"type": "string"}}}}


async def conversation(http: aiohttp.ClientSession, url: str, *, per_delta: bool) -> str:
    """One conversation; returns the server's close reason. The output echoes the query parsed from
    the joined deltas. `per_delta`: the arguments are also shown live, each delta unescaped on its own."""
    async with asyncio.timeout(10), http.ws_connect(url, headers={"Authorization": "Bearer x"}) as ws:
        await ws.send_json({"type": "session.update",
                            "session": {"type": "realtime", "output_modalities": ["text"], "tools": [TOOL]}})
        await ws.send_json({"type": "response.create"})
        joined: dict[str, str] = {}
        shown = ""
        calls = 0
        async for message in ws:
            if message.type is not aiohttp.WSMsgType.TEXT:
                break
            event: dict[str, Any] = json.loads(message.data)
            if event["type"] == "response.function_call_arguments.delta":
                joined[event["call_id"]] = joined.get(event["call_id"], "") + event["delta"]
                if per_delta:  # the bug: a delta may end inside `\u00e8`, or after a lone backslash
                    shown += event["delta"].encode().decode("unicode_escape")
            elif event["type"] == "response.output_item.done" and event["item"]["type"] == "function_call":
                call_id = event["item"]["call_id"]
                query = json.loads(joined.pop(call_id))["query"]
                await ws.send_json({"type": "conversation.item.create", "item": {
                    "type": "function_call_output", "call_id": call_id, "output": json.dumps({"liked": query})}})
                calls += 1
            elif event["type"] == "response.done" and calls:
                await ws.send_json({"type": "response.create"})
                calls = 0
        return str(ws.close_code) + ":" + (str(message.extra or "") if message.type is aiohttp.WSMsgType.CLOSE else "")


async def client(url: str, *, per_delta: bool, loop: bool = False) -> None:
    async with aiohttp.ClientSession() as http:
        while FUZZ_DONE not in await conversation(http, url, per_delta=per_delta) and loop:
            pass


if __name__ == "__main__":  # the client as a process: RTMOCK_URL from `rtmock run` or `rtmock fuzz`
    asyncio.run(client(os.environ["RTMOCK_URL"], per_delta=sys.argv[1] == "per-delta",
                       loop=os.environ.get("RTMOCK_FUZZ") == "1"))
    sys.exit(0)


# ---- the tests --------------------------------------------------------------------------------------

import pytest  # noqa: E402

from rtmock.harness.fuzzing._cases import fuzz_targets  # noqa: E402
from rtmock.harness.fuzzing._result import FuzzOptions  # noqa: E402
from rtmock.harness.fuzzing._stream import fuzz_stream  # noqa: E402
from rtmock.harness.fuzzing._stream_cases import _split_points  # noqa: E402
from rtmock.harness.runner import RunOptions, run_scenario  # noqa: E402
from rtmock.mockserver.scenario.loader import LoadedScenario, load_scenario, load_scenario_text  # noqa: E402

JOINED = [sys.executable, __file__, "joined"]
PER_DELTA = [sys.executable, __file__, "per-delta"]


def dessert() -> LoadedScenario:
    return load_scenario_text(SCENARIO, default_name="dessert")


def test_the_split_points_are_either_side_of_each_non_ascii_character_and_inside_each_escape() -> None:
    text = fuzz_targets(dessert())[0].ref.spec.arguments_text
    assert text == ARGUMENTS
    points = set(_split_points(text))
    for char in "èû🍮":
        at = text.index(char)
        assert {at, at + 1} <= points, char  # before and after it: never inside (🍮 is one character)
    escape = text.index("\\u00e8")
    assert set(range(escape, escape + 6)) <= points  # |\|u|0|0|e|8 : before and inside the six characters


async def test_a_client_joining_the_deltas_passes_every_split_of_non_ascii_arguments() -> None:
    async def joined(url: str) -> None:
        await client(url, per_delta=False)

    result = await fuzz_stream(dessert(), joined, FuzzOptions(cases=40, seed=3, tls=False))
    assert result.passed, result.explain()
    assert sum(n for (kind, _), n in result.table.items() if kind == "deltas") >= 10


async def test_a_client_unescaping_each_delta_alone_fails_with_a_reproducer_rtmock_run_replays(tmp_path: Path) -> None:
    async def per_delta(url: str) -> None:
        await client(url, per_delta=True)

    result = await fuzz_stream(dessert(), per_delta, FuzzOptions(cases=100, seed=3, tls=False))
    assert not result.passed and result.failure is not None, result.explain()
    assert result.baseline is not None and result.baseline.passed  # the scenario's own split is harmless
    assert result.failure.rule == "client-crashed", result.explain()
    assert "unicode_escape" in result.explain() or "unicodeescape" in result.explain(), result.explain()
    repro = load_scenario(result.write_reproducer(tmp_path / "dessert.repro.yaml"))
    assert not (await run_scenario(repro, PER_DELTA, RunOptions(grace=0.5))).passed
    assert (await run_scenario(repro, JOINED, RunOptions(grace=0.5))).passed


@pytest.mark.parametrize("command", [JOINED, PER_DELTA], ids=["joined", "per-delta"])
async def test_the_scenario_as_written_passes_both_clients(command: list[str]) -> None:
    assert (await run_scenario(dessert(), command, RunOptions(grace=0.5))).passed
