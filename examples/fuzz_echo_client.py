"""A robust client that echoes its input: every output repeats the arguments it answers.

Plain `websockets` (the library under the official `openai` SDK's realtime client), with its default
frame limit of 1 MiB, GA dialect on `RTMOCK_URL`. It declares its tool, asks its question and answers
every function call with a string `function_call_output` and then one `response.create`; bad
arguments (invalid JSON, not an object, no `query`) get an error output, never a crash. Each output
quotes the arguments it got, in full, as many tools do ("no results for <query>").

What it shows: the service's own limits bound what a client must survive. A model's arguments are
bounded by its output token limit (4,096 tokens for gpt-realtime), so an argument string is some tens
of kilobytes at most, and this client's echoes stay far below its 1 MiB frame limit. `rtmock fuzz`
keeps to such payloads by default, and this client passes. With `--hostile` it also plays payloads
the service cannot send (a megabyte of 'é', 100 000 levels of nesting): the server's echo of a 1 MiB
argument quoted in an output is a frame of several megabytes, the library closes the connection with
1009 (message too big), and the report says exactly that.

With `RTMOCK_FUZZ=1` (set by `rtmock fuzz`) it loops: after each conversation it reconnects for the
next case, until the server closes with 1000 "rtmock: fuzzing done".

Verdict: PASS by default; FAIL with `--hostile` (client-disconnected after a 1009 close):

    rtmock fuzz scenarios/get_your_info.yaml --cases 300 --seed 1 -- python examples/fuzz_echo_client.py
    rtmock fuzz scenarios/get_your_info.yaml --hostile --cases 300 --seed 1 -- python examples/fuzz_echo_client.py
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from typing import Any

from websockets.asyncio.client import connect

QUESTION = "What is my favorite food?"
TOOLS: list[dict[str, Any]] = [
    {"type": "function", "name": "get_your_info", "description": "Look up a fact about the user.",
     "parameters": {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]}},
]
TIMEOUT = 20.0  # seconds per conversation: give up rather than hang forever
FUZZING_DONE = "rtmock: fuzzing done"


def tool_output(name: str, arguments: str) -> str:
    """The tool's answer, quoting what it was asked: an error output for bad arguments, never a raise."""
    try:
        args = json.loads(arguments)
    except (ValueError, RecursionError) as exc:
        return json.dumps({"error": f"the arguments are not valid JSON ({type(exc).__name__})", "arguments": arguments})
    query = args.get("query") if isinstance(args, dict) else None
    if not isinstance(query, str):
        return json.dumps({"error": "'query' must be a string", "arguments": arguments})
    return json.dumps({"query": query, "answer": "pizza"})  # ASCII escapes: a lone surrogate is safe to send


async def conversation(url: str, *, until_closed: bool) -> str | None:
    """One conversation. Returns the server's close reason, or None once the answer came (when not
    `until_closed`)."""
    headers = {"Authorization": f"Bearer {os.environ.get('OPENAI_API_KEY', 'rtmock')}"}
    async with connect(url, additional_headers=headers) as ws:  # max_size: the library's default, 1 MiB
        await ws.send(json.dumps({"type": "session.update",
                                  "session": {"type": "realtime", "output_modalities": ["text"], "tools": TOOLS}}))
        answered = False  # outputs sent for the current response, not yet followed by response.create
        async for message in ws:  # ends on a normal close; raises on any other (1009: message too big)
            event = json.loads(message)
            match event["type"]:
                case "session.updated":  # the session is ready: the user's turn
                    await ws.send(json.dumps({"type": "conversation.item.create", "item": {
                        "type": "message", "role": "user", "content": [{"type": "input_text", "text": QUESTION}]}}))
                    await ws.send(json.dumps({"type": "response.create"}))
                case "response.function_call_arguments.done":
                    await ws.send(json.dumps({"type": "conversation.item.create", "item": {
                        "type": "function_call_output", "call_id": event["call_id"],
                        "output": tool_output(event["name"], event["arguments"])}}))
                    answered = True
                case "response.done" if answered:
                    await ws.send(json.dumps({"type": "response.create"}))  # one trigger, after every output
                    answered = False
                case "response.output_text.done":
                    print(event["text"][:200], flush=True)
                    if not until_closed:
                        return None
                case "error":
                    print(f"error from the server: {event['error']['message']}", file=sys.stderr)
        return ws.close_reason or ""


async def main() -> int:
    url = os.environ["RTMOCK_URL"]
    fuzzing = os.environ.get("RTMOCK_FUZZ") == "1"
    while True:
        reason = await asyncio.wait_for(conversation(url, until_closed=fuzzing), TIMEOUT)
        if not fuzzing or reason == FUZZING_DONE:
            return 0


if __name__ == "__main__":
    try:
        sys.exit(asyncio.run(main()))
    except TimeoutError:
        sys.exit(f"no answer within {TIMEOUT:g}s")
