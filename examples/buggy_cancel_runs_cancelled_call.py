"""A buggy cancelling client: correct_cancel_function_call.py with one change.

BUG: it runs every function call it sees done, without looking at the item's `status`. The call
of the cancelled response comes `incomplete`, with only the arguments streamed before the cancel
(`{"restaurant":"Ch` or nothing at all): the booking tool runs for a request the user cancelled,
and here its `json.loads` of the cut-short arguments raises, and the client dies.

Verdict: FAIL `client-crashed` on scenarios/cancel_function_call.yaml:

    rtmock run scenarios/cancel_function_call.yaml -- python examples/buggy_cancel_runs_cancelled_call.py
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
                # BUG: no check of event.item.status: a cancelled call runs with cut-short arguments
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
