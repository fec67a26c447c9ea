"""A buggy phone-call client: correct_phone_call_g711.py with one change.

BUG: it believes that under server VAD the server answers by itself after a tool call too, so it
sends the function_call_output and no response.create. Server VAD starts a response only for a
turn it hears; after the output nothing happens: the caller hears silence until they hang up.

Verdict: FAIL `missing-response-create` on scenarios/phone_call_g711.yaml (at the step's 3 s bound):

    rtmock run scenarios/phone_call_g711.yaml -- python examples/buggy_phone_call_no_create.py
"""

from __future__ import annotations

import asyncio
import base64
import json
import math
import os
import sys
from typing import Any

import aiohttp

TOOLS: list[dict[str, Any]] = [
    {"type": "function", "name": "check_order", "description": "Look up the status of an order.",
     "parameters": {"type": "object", "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]}},
]
LINE = {"type": "audio/pcmu"}  # 8 kHz µ-law, both ways
FRAME_BYTES = 160  # 20 ms of 8 kHz µ-law
TIMEOUT = 20.0  # seconds: give up rather than hang forever


def ulaw(sample: int) -> int:
    """One 16-bit sample as G.711 µ-law (the phone line's encoding)."""
    sign = 0x80 if sample < 0 else 0
    magnitude = min(abs(sample), 32635) + 0x84
    exponent = max(0, magnitude.bit_length() - 8)
    return ~(sign | (exponent << 4) | ((magnitude >> (exponent + 3)) & 0x0F)) & 0xFF


def caller_audio() -> bytes:
    """What the caller says: 0.3 s of line silence, 0.8 s of voice (a 440 Hz tone)."""
    voice = bytes(ulaw(int(6000 * math.sin(2 * math.pi * 440 * i / 8000))) for i in range(6400))
    return bytes([0xFF]) * 2400 + voice


def check_order(arguments: str) -> dict[str, Any]:
    try:
        order_id = json.loads(arguments or "{}").get("order_id")
    except (json.JSONDecodeError, AttributeError):
        return {"error": "the arguments were not valid JSON"}
    return {"order_id": order_id, "status": "ships tomorrow"}


async def stream_line(ws: aiohttp.ClientWebSocketResponse) -> None:
    """The phone line: the caller's words, then silence, 20 ms a frame in real time, until hang-up."""
    audio = caller_audio()
    frame = 0
    while True:
        chunk = audio[frame * FRAME_BYTES:(frame + 1) * FRAME_BYTES] or bytes([0xFF]) * FRAME_BYTES
        await ws.send_json({"type": "input_audio_buffer.append", "audio": base64.b64encode(chunk).decode()})
        frame += 1
        await asyncio.sleep(0.02)


async def main() -> int:
    url = os.environ["RTMOCK_URL"]  # it names the model already (?model=gpt-realtime)
    headers = {"Authorization": f"Bearer {os.environ['OPENAI_API_KEY']}"}
    async with aiohttp.ClientSession() as http, http.ws_connect(url, headers=headers) as ws:
        await ws.send_json({"type": "session.update", "session": {
            "type": "realtime", "output_modalities": ["audio"], "tools": TOOLS,
            "audio": {"input": {"format": LINE, "turn_detection": {"type": "server_vad"}}, "output": {"format": LINE}}}})
        line: asyncio.Task[None] | None = None
        answered = False  # outputs sent for the current response, not yet followed by response.create
        to_caller = bytearray()  # the answer's µ-law audio, forwarded to the phone line
        try:
            async for message in ws:
                if message.type is not aiohttp.WSMsgType.TEXT:
                    break
                event = json.loads(message.data)
                match event["type"]:
                    case "session.updated" if line is None:  # the call is connected: stream the line
                        line = asyncio.create_task(stream_line(ws))
                    case "response.output_item.done" if event["item"]["type"] == "function_call":
                        item = event["item"]
                        if item["status"] != "completed":
                            continue  # a cancelled call is owed nothing
                        await ws.send_json({"type": "conversation.item.create", "item": {
                            "type": "function_call_output", "call_id": item["call_id"],
                            "output": json.dumps(check_order(item["arguments"]))}})
                        answered = True
                    case "response.done" if answered:
                        answered = False  # BUG: no response.create ("server VAD will answer")
                    case "response.output_audio.delta":
                        to_caller += base64.b64decode(event["delta"])
                    case "response.output_audio_transcript.done":
                        print(f"said to the caller: {event['transcript']} ({len(to_caller) / 8000:.2f} s of µ-law)")
                        return 0
                    case "error":
                        print(f"error from the server: {event['error']['message']}", file=sys.stderr)
        finally:
            if line is not None:
                line.cancel()
    print("the call ended before the answer", file=sys.stderr)
    return 1


if __name__ == "__main__":
    try:
        sys.exit(asyncio.run(asyncio.wait_for(main(), TIMEOUT)))
    except TimeoutError:
        sys.exit(f"no answer within {TIMEOUT:g}s")
