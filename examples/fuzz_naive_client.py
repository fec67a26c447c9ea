"""A naive client: `json.loads(arguments)["query"]`, no error handling. `rtmock fuzz` breaks it.

Otherwise correct (plain aiohttp on `RTMOCK_URL`, GA dialect): it declares its tool, answers each
function call with a string `function_call_output` and one `response.create`, and passes
`rtmock run scenarios/get_your_info.yaml` with the scenario's well-formed arguments. But arguments are
JSON text written by a model; `{}`, `[]`, `""`, a truncated object or a few thousand nested brackets
(all within what a model can write) make `run_tool` raise, the client dies mid-conversation, and the
user's app hangs or crashes.
examples/fuzz_robust_client.py is the same client with `run_tool` defended.

With `RTMOCK_FUZZ=1` (set by `rtmock fuzz`) it loops: after each conversation it reconnects for the
next case, until the server closes with 1000 "rtmock: fuzzing done".

Verdict: FAIL (exit 1) with a shrunk payload, e.g. `{}` (missing-required, client-crashed), and a
reproducer scenario that fails under `rtmock run`:

    rtmock fuzz scenarios/get_your_info.yaml --cases 200 --seed 1 -- python examples/fuzz_naive_client.py
    rtmock run get_your_info.repro.yaml -- python examples/fuzz_naive_client.py
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from typing import Any

import aiohttp

QUESTION = "What is my favorite food?"
TOOLS: list[dict[str, Any]] = [
    {"type": "function", "name": "get_your_info", "description": "Look up a fact about the user.",
     "parameters": {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]}},
]
TIMEOUT = 20.0  # seconds per conversation: give up rather than hang forever
FUZZING_DONE = "rtmock: fuzzing done"


def run_tool(name: str, arguments: str) -> dict[str, Any]:
    query = json.loads(arguments)["query"]  # BUG: trusts the model's arguments
    return {"query": query, "answer": "pizza"}


def tool_output(name: str, arguments: str) -> str:
    return json.dumps(run_tool(name, arguments))


async def conversation(http: aiohttp.ClientSession, url: str, *, until_closed: bool) -> str | None:
    """One conversation. Returns the server's close reason, or None once the answer came (when not
    `until_closed`)."""
    headers = {"Authorization": f"Bearer {os.environ.get('OPENAI_API_KEY', 'rtmock')}"}
    async with http.ws_connect(url, headers=headers) as ws:
        await ws.send_json({"type": "session.update",
                            "session": {"type": "realtime", "output_modalities": ["text"], "tools": TOOLS}})
        answered = False  # outputs sent for the current response, not yet followed by response.create
        while True:
            message = await ws.receive()
            if message.type is not aiohttp.WSMsgType.TEXT:
                return str(message.extra or "") if message.type is aiohttp.WSMsgType.CLOSE else ""
            event = json.loads(message.data)
            match event["type"]:
                case "session.updated":  # the session is ready: the user's turn
                    await ws.send_json({"type": "conversation.item.create", "item": {
                        "type": "message", "role": "user", "content": [{"type": "input_text", "text": QUESTION}]}})
                    await ws.send_json({"type": "response.create"})
                case "response.function_call_arguments.done":
                    await ws.send_json({"type": "conversation.item.create", "item": {
                        "type": "function_call_output", "call_id": event["call_id"],
                        "output": tool_output(event["name"], event["arguments"])}})
                    answered = True
                case "response.done" if answered:
                    await ws.send_json({"type": "response.create"})  # one trigger, after every output
                    answered = False
                case "response.output_text.done":
                    print(event["text"][:200], flush=True)
                    if not until_closed:
                        return None
                case "error":
                    print(f"error from the server: {event['error']['message']}", file=sys.stderr)


async def main() -> int:
    url = os.environ["RTMOCK_URL"]
    fuzzing = os.environ.get("RTMOCK_FUZZ") == "1"
    async with aiohttp.ClientSession() as http:
        while True:
            reason = await asyncio.wait_for(conversation(http, url, until_closed=fuzzing), TIMEOUT)
            if not fuzzing or reason == FUZZING_DONE:
                return 0


if __name__ == "__main__":
    try:
        sys.exit(asyncio.run(main()))
    except TimeoutError:
        sys.exit(f"no answer within {TIMEOUT:g}s")
