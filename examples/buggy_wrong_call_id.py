"""A buggy client: it answers a function call with the call's `item_id` instead of its `call_id`.

A function call item has two ids: `id` (the item's, `item_…`) and `call_id` (the call's, `call_…`).
The output must name the `call_id`; the service refuses any other id with `invalid_tool_call_id`
("Tool call ID '…' not found in conversation.") and the model never gets the result.

It is correct_openai_sdk.py with one change, marked `# BUG:`; to see it:

    diff examples/correct_openai_sdk.py examples/buggy_wrong_call_id.py

Verdict: FAIL on scenarios/get_your_info.yaml with `wrong-call-id`:

    rtmock run scenarios/get_your_info.yaml -- python examples/buggy_wrong_call_id.py
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

        answered = False  # outputs sent for the current response, not yet followed by response.create
        async for event in conn:
            if event.type == "response.output_item.done" and event.item.type == "function_call":
                item = event.item
                result = run_tool(item.name, item.arguments)
                await conn.conversation.item.create(  # BUG: item.id is the item's id, not the call's call_id
                    item={"type": "function_call_output", "call_id": item.id, "output": json.dumps(result)})
                answered = True
            elif event.type == "response.done" and answered:
                await conn.response.create()  # one trigger, after every output of the response
                answered = False
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
