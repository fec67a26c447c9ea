"""A correct client that cancels a response while the model is calling a tool: official `openai` SDK, GA.

The user asks to book a table, and presses "stop" as soon as the model starts the booking call
(`response.output_item.added` of a function call). The client:

- sends `response.cancel`; the server ends the response: the call goes out in
  `response.output_item.done` with status `incomplete` and the arguments streamed so far, then
  `response.done` with status `cancelled`;
- does not run the cancelled call, and sends nothing for it: a call of a cancelled response is owed
  no output and no response.create (its arguments are cut short; running it would book a table the
  user cancelled, with half its details);
- starts the user's next turn: a user message and a response.create, and prints the answer.

Verdict: PASS on scenarios/cancel_function_call.yaml:

    rtmock run scenarios/cancel_function_call.yaml -- python examples/correct_cancel_function_call.py
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from openai import AsyncOpenAI

TOOLS: list[dict[str, Any]] = [
    {"type": "function", "name": "book_table", "description": "Book a table at a restaurant.",
     "parameters": {"type": "object", "properties": {"restaurant": {"type": "string"}, "people": {"type": "integer"}},
                    "required": ["restaurant", "people"]}},
]
TIMEOUT = 20.0  # seconds: give up rather than hang forever


def book_table(arguments: str) -> dict[str, Any]:
    args = json.loads(arguments)
    return {"booked": True, "restaurant": args["restaurant"], "people": args["people"]}


def user(text: str) -> dict[str, Any]:
    return {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}


async def main() -> int:
    async with AsyncOpenAI().realtime.connect(model="gpt-realtime") as conn:
        await conn.session.update(session={"type": "realtime", "output_modalities": ["text"], "tools": TOOLS})
        await conn.conversation.item.create(item=user("Book a table for four at Chez Panisse."))
        await conn.response.create()

        answered = False  # outputs sent for the current response, not yet followed by response.create
        async for event in conn:
            if event.type == "response.output_item.added" and event.item.type == "function_call":
                await conn.response.cancel()  # the user pressed "stop"
            elif event.type == "response.output_item.done" and event.item.type == "function_call":
                if event.item.status != "completed":
                    continue  # cancelled: its arguments are cut short, and nothing is owed for it
                result = book_table(event.item.arguments or "{}")
                await conn.conversation.item.create(
                    item={"type": "function_call_output", "call_id": event.item.call_id, "output": json.dumps(result)})
                answered = True
            elif event.type == "response.done" and event.response.status == "cancelled":
                await conn.conversation.item.create(item=user("Never mind, don't book anything."))
                await conn.response.create()  # the user's next turn
            elif event.type == "response.done" and answered:
                await conn.response.create()
                answered = False
            elif event.type == "response.output_text.done":
                print(event.text)
                return 0
            elif event.type == "error":
                print(f"error from the server: {event.error.message}", file=sys.stderr)
    print("the connection closed before the answer", file=sys.stderr)
    return 1


if __name__ == "__main__":
    try:
        sys.exit(asyncio.run(asyncio.wait_for(main(), TIMEOUT)))
    except TimeoutError:
        sys.exit(f"no answer within {TIMEOUT:g}s")
