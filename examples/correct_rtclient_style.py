"""A correct client in the style of Azure's rtclient low-level client: plain aiohttp, beta dialect.

It connects to an Azure OpenAI realtime deployment the way rtclient's `RTLowLevelClient` does:
`AZURE_OPENAI_ENDPOINT` + `/openai/realtime?api-version=2024-10-01-preview&deployment=...` with an
`api-key` header (this old Azure path speaks the beta dialect: `response.text.done`,
`conversation.item.created`). It waits for `session.updated` before the user's turn, then answers
every function call the way the protocol wants:

- on `response.function_call_arguments.done`: run the tool and send its `function_call_output`
  at once (allowed while the response is still active), with the call's `call_id` and the result
  as a JSON *string*;
- on `response.done` of that response: send ONE `response.create` (not earlier: the server refuses
  a create while a response is active, and a response may carry several calls).

It prints the model's final text answer and exits 0.

Verdict: PASS on scenarios/get_your_info.yaml and scenarios/parallel_calls.yaml:

    rtmock run scenarios/get_your_info.yaml scenarios/parallel_calls.yaml -- python examples/correct_rtclient_style.py
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from typing import Any

import aiohttp

API_VERSION = "2024-10-01-preview"
DEPLOYMENT = "gpt-4o-realtime-preview"
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
    endpoint = os.environ["AZURE_OPENAI_ENDPOINT"].rstrip("/")
    url = f"{endpoint}/openai/realtime?api-version={API_VERSION}&deployment={DEPLOYMENT}"
    headers = {"api-key": os.environ["AZURE_OPENAI_API_KEY"]}
    async with aiohttp.ClientSession() as http, http.ws_connect(url, headers=headers) as ws:
        await ws.send_json({"type": "session.update", "session": {"modalities": ["text"], "tools": TOOLS}})

        answered = False  # outputs sent for the current response, not yet followed by response.create
        async for message in ws:
            if message.type is not aiohttp.WSMsgType.TEXT:
                break
            event = json.loads(message.data)
            match event["type"]:
                case "session.updated":  # the session is ready: the user's turn
                    await ws.send_json({"type": "conversation.item.create", "item": {
                        "type": "message", "role": "user", "content": [{"type": "input_text", "text": QUESTION}]}})
                    await ws.send_json({"type": "response.create"})
                case "response.function_call_arguments.done":
                    result = run_tool(event["name"], event["arguments"])
                    await ws.send_json({"type": "conversation.item.create", "item": {
                        "type": "function_call_output", "call_id": event["call_id"], "output": json.dumps(result)}})
                    answered = True
                case "response.done" if answered:
                    await ws.send_json({"type": "response.create"})  # one trigger, after every output
                    answered = False
                case "response.text.done":
                    print(event["text"])
                    return 0
                case "error":
                    print(f"error from the server: {event['error']['message']}", file=sys.stderr)
                    return 1
    print("the connection closed before the answer", file=sys.stderr)
    return 1


if __name__ == "__main__":
    try:
        sys.exit(asyncio.run(asyncio.wait_for(main(), TIMEOUT)))
    except TimeoutError:
        sys.exit(f"no answer within {TIMEOUT:g}s")
