"""A client that crashes on a server event type it does not know: `rtmock fuzz --stream` finds it.

Like `fuzz_robust_client.py` (plain aiohttp on `RTMOCK_URL`, loops under `RTMOCK_FUZZ=1`), except that
it dispatches every server event through a table of the types it knows and raises on any other, as
strictly typed clients do. The service adds event types over time; a client must ignore the ones it
does not know, or it breaks the day one appears.

Verdict: PASS on the scenario as written, FAIL under stream fuzzing (client-crashed):

    rtmock run scenarios/get_your_info.yaml -- python examples/stream_strict_events.py            # exit 0
    rtmock fuzz --stream scenarios/get_your_info.yaml --cases 50 --seed 1 -- python examples/stream_strict_events.py  # exit 1
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
KNOWN_PREFIXES = ("session.", "conversation.item.", "response.output_", "response.content_part.",
                  "response.function_call_arguments.", "response.created", "response.done", "rate_limits.", "error",
                  "input_audio_buffer.")
MAX_FRAME = 64 * 1024 * 1024  # a function call may carry megabytes of arguments, several times over


def run_tool(name: str, arguments: str) -> dict[str, Any]:
    """The app's tool, defended against its input: every failure becomes an error the model can read."""
    try:
        args = json.loads(arguments)
    except (ValueError, RecursionError) as exc:  # invalid JSON, 5000-digit numbers, deep nesting
        return {"error": f"the arguments are not valid JSON ({type(exc).__name__})"}
    if not isinstance(args, dict):
        return {"error": f"the arguments must be a JSON object, not {type(args).__name__}"}
    query = args.get("query")
    if not isinstance(query, str) or not query.strip():
        return {"error": "'query' must be a non-empty string"}
    if name != "get_your_info":
        return {"error": f"unknown tool {name!r}"}
    return {"query": query[:200], "answer": "pizza"}


def tool_output(name: str, arguments: str) -> str:
    try:
        return json.dumps(run_tool(name, arguments))  # ASCII escapes: even a lone surrogate is safe to send
    except Exception as exc:  # a bug of our own must not leave the call unanswered either
        return json.dumps({"error": f"the tool failed: {type(exc).__name__}"})


def check_type(event_type: str) -> None:
    """Refuse a server event type this client does not know."""
    if not event_type.startswith(KNOWN_PREFIXES):  # BUG: the service adds new event types
        raise ValueError(f"unknown server event type: {event_type}")


async def conversation(http: aiohttp.ClientSession, url: str, *, until_closed: bool) -> str | None:
    """One conversation. Returns the server's close reason, or None once the answer came (when not
    `until_closed`)."""
    headers = {"Authorization": f"Bearer {os.environ.get('OPENAI_API_KEY', 'rtmock')}"}
    async with http.ws_connect(url, headers=headers, max_msg_size=MAX_FRAME) as ws:
        await ws.send_json({"type": "session.update",
                            "session": {"type": "realtime", "output_modalities": ["text"], "tools": TOOLS}})
        answered = False  # outputs sent for the current response, not yet followed by response.create
        while True:
            message = await ws.receive()
            if message.type is not aiohttp.WSMsgType.TEXT:
                return str(message.extra or "") if message.type is aiohttp.WSMsgType.CLOSE else ""
            event = json.loads(message.data)
            check_type(event["type"])
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
