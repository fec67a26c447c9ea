"""A buggy client: it answers parallel function calls one by one, each with its own `response.create`.

When one response calls several tools (parallel tool calls), the client must send every output and
then ONE `response.create`. This client sends output + create per call: the first create makes the
model answer with only the first result. With a single call per response it happens to work, which
is why the bug survives until the model calls two tools at once. It also sends the create before
`response.done`, which the service refuses while the calling response is still active.

It is correct_openai_sdk.py with one change, marked `# BUG:`; to see it:

    diff examples/correct_openai_sdk.py examples/buggy_parallel_one_by_one.py

Verdicts:

    rtmock run scenarios/parallel_calls.yaml -- python examples/buggy_parallel_one_by_one.py
        FAIL with `create-before-output` (the create came between the two outputs)
    rtmock run scenarios/slow_response_done.yaml -- python examples/buggy_parallel_one_by_one.py
        FAIL with `create-while-active` (the create came before the calling response's response.done)
    rtmock run scenarios/get_your_info.yaml -- python examples/buggy_parallel_one_by_one.py
        PASS (one call per response hides the bug)
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from openai import AsyncOpenAI
from websockets.exceptions import ConnectionClosedError

QUESTION = "What is my favorite food, and what is the weather in Paris and Tokyo?"
TOOLS: list[dict[str, Any]] = [
    {"type": "function", "name": "get_your_info", "description": "Look up a fact about the user.",
     "parameters": {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]}},
    {"type": "function", "name": "get_weather", "description": "Current weather in a city.",
     "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}},
]
TIMEOUT = 20.0  # seconds: give up rather than hang forever


def run_tool(name: str, arguments: str) -> dict[str, Any]:
    """The app's tools. Arguments come from a model: they may not even be valid JSON."""
    try:
        args = json.loads(arguments or "{}")
    except json.JSONDecodeError:
        return {"error": "the arguments were not valid JSON"}
    if name == "get_your_info":
        return {"query": args.get("query"), "answer": "pizza"}
    if name == "get_weather":
        return {"city": args.get("city"), "forecast": "sunny", "celsius": 21}
    return {"error": f"unknown tool {name}"}


async def main() -> int:
    async with AsyncOpenAI().realtime.connect(model="gpt-realtime") as conn:
        await conn.session.update(session={"type": "realtime", "output_modalities": ["text"], "tools": TOOLS})
        await conn.conversation.item.create(
            item={"type": "message", "role": "user", "content": [{"type": "input_text", "text": QUESTION}]})
        await conn.response.create()

        async for event in conn:
            if event.type == "response.output_item.done" and event.item.type == "function_call":
                item = event.item
                result = run_tool(item.name, item.arguments)
                await conn.conversation.item.create(
                    item={"type": "function_call_output", "call_id": item.call_id, "output": json.dumps(result)})
                await conn.response.create()  # BUG: one trigger per call; wait for response.done and send one
            elif event.type == "response.output_text.done":
                print(event.text)
                return 0
            elif event.type == "error":
                # the service may send an error the client did not cause (a server_error, a rate
                # limit) and go on: log it and keep going; when it gives up, it closes the socket
                print(f"error from the server: {event.error.message}", file=sys.stderr)
    print("the connection closed before the answer", file=sys.stderr)
    return 1


if __name__ == "__main__":
    try:
        sys.exit(asyncio.run(asyncio.wait_for(main(), TIMEOUT)))
    except TimeoutError:
        sys.exit(f"no answer within {TIMEOUT:g}s")
    except ConnectionClosedError as closed:  # the SDK's iterator raises on a close other than 1000
        sys.exit(f"the server closed the connection before the answer: {closed}")
