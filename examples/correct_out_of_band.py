"""A correct client with side requests: official `openai` SDK, GA, text.

Besides the conversation, the app asks the model small side questions (classify the request, then
summarize the exchange as JSON). Those go out of band: `response.create` with
`response.conversation: "none"` (and their own instructions and metadata). The service runs such a
response beside the conversation's active one ("only one response can write to the default
conversation at a time; otherwise responses can run in parallel"), reports `conversation_id: null`
and writes nothing into the conversation. The client:

- sends the classify request while the tool-calling response is still active (out of band, so it
  is not refused), answers the call, and sends ONE response.create after the calling response is done;
- after the answer, asks for the summary out of band, and tells the responses apart by their
  `metadata` and `conversation_id`.

Verdict: PASS on scenarios/out_of_band.yaml:

    rtmock run scenarios/out_of_band.yaml -- python examples/correct_out_of_band.py
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from openai import AsyncOpenAI

TOOLS: list[dict[str, Any]] = [
    {"type": "function", "name": "get_weather", "description": "Current weather in a city.",
     "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}},
]
TIMEOUT = 20.0  # seconds: give up rather than hang forever


def side_request(purpose: str, instructions: str) -> dict[str, Any]:
    """A response outside the conversation: it may run beside the active one and leaves no trace in it."""
    return {"conversation": "none", "metadata": {"purpose": purpose}, "instructions": instructions,
            "output_modalities": ["text"]}


def get_weather(arguments: str) -> dict[str, Any]:
    try:
        city = json.loads(arguments or "{}").get("city")
    except (json.JSONDecodeError, AttributeError):
        return {"error": "the arguments were not valid JSON"}
    return {"city": city, "forecast": "sunny", "celsius": 24}


async def main() -> int:
    async with AsyncOpenAI().realtime.connect(model="gpt-realtime") as conn:
        await conn.session.update(session={"type": "realtime", "output_modalities": ["text"], "tools": TOOLS})
        await conn.conversation.item.create(item={"type": "message", "role": "user", "content": [
            {"type": "input_text", "text": "What's the weather in Paris?"}]})
        await conn.response.create()

        side: set[str] = set()  # ids of out-of-band responses
        answered = False  # outputs sent for the current response, not yet followed by response.create
        async for event in conn:
            if event.type == "response.created" and event.response.conversation_id is None:
                side.add(event.response.id or "")
            elif event.type == "response.output_item.done" and event.item.type == "function_call":
                if event.item.status != "completed":
                    continue
                # the calling response is still active: a side request now must be out of band
                await conn.response.create(response=side_request("classify", "Classify the request in one word."))
                result = get_weather(event.item.arguments or "{}")
                await conn.conversation.item.create(
                    item={"type": "function_call_output", "call_id": event.item.call_id, "output": json.dumps(result)})
                answered = True
            elif event.type == "response.done" and event.response.id in side:
                metadata = event.response.metadata or {}
                if metadata.get("purpose") == "summary":
                    texts = [c.text for item in event.response.output or [] if item.type == "message"
                             for c in item.content or [] if c.text]
                    print(f"summary, outside the conversation: {''.join(texts)}")
                    return 0
            elif event.type == "response.done" and answered:
                await conn.response.create()  # the round's one create, in the conversation
                answered = False
            elif event.type == "response.output_text.done" and event.response_id not in side:
                print(event.text)
                await conn.response.create(response=side_request("summary", "Summarize the exchange as JSON."))
            elif event.type == "error":
                print(f"error from the server: {event.error.message}", file=sys.stderr)
    print("the connection closed before the summary", file=sys.stderr)
    return 1


if __name__ == "__main__":
    try:
        sys.exit(asyncio.run(asyncio.wait_for(main(), TIMEOUT)))
    except TimeoutError:
        sys.exit(f"no answer within {TIMEOUT:g}s")
