"""A buggy client: it sends the function_call_output but never the `response.create` after it.

The most common realtime tool-calling bug, and a silent one: the real service gives no error, the
model just waits for a trigger that never comes, and the app hangs. rtmock judges it at the
scenario's bound (`within: 3s` after the call for get_your_info) instead of hanging with it.

It is correct_openai_sdk.py with one change, marked `# BUG:`; to see it:

    diff examples/correct_openai_sdk.py examples/buggy_missing_response_create.py

Verdict: FAIL on scenarios/get_your_info.yaml with `missing-response-create` (after 3 s):

    rtmock run scenarios/get_your_info.yaml -- python examples/buggy_missing_response_create.py
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
    except (ValueError, RecursionError):  # not JSON, or nested deeper than Python's parser goes
        return {"error": "the arguments were not valid JSON"}
    if not isinstance(args, dict):
        return {"error": "the arguments were not a JSON object"}
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
                await conn.conversation.item.create(
                    item={"type": "function_call_output", "call_id": item.call_id, "output": json.dumps(result)})
                answered = True
            elif event.type == "response.done" and answered:
                answered = False  # BUG: no `await conn.response.create()` here: the model never answers
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
