"""A correct voice client that handles barge-in: plain aiohttp, GA dialect, 24 kHz PCM16.

It streams the microphone in real time, 20 ms a frame (a tone stands in for the user's voice), and
plays the model's spoken answer as it arrives. Server VAD (the session's default turn detection)
hears the question and starts the answer. Halfway through the answer the user speaks again; the
server hears it (`input_audio_buffer.speech_started`) and cancels the answer itself
(`interrupt_response`, on by default). The client then must:

- stop playing the old answer at once;
- tell the server how much of it the user actually heard: `conversation.item.truncate` with the
  answer's item id and the played length (`audio_end_ms`), so the model's memory of what it said
  matches what was heard;
- not send response.create: server VAD answers the interruption when the user stops speaking.

Verdict: PASS on scenarios/barge_in.yaml:

    rtmock run scenarios/barge_in.yaml -- python examples/correct_barge_in.py
"""

from __future__ import annotations

import asyncio
import base64
import json
import math
import os
import struct
import sys

import aiohttp

RATE = 24000  # 24 kHz PCM16 mono: the session's default format
FRAME = 480  # samples in 20 ms
TIMEOUT = 20.0  # seconds: give up rather than hang forever


def voice(seconds: float) -> list[bytes]:
    """20 ms frames of the user's voice (a 440 Hz tone)."""
    samples = [int(6000 * math.sin(2 * math.pi * 440 * i / RATE)) for i in range(int(seconds * RATE))]
    return [struct.pack(f"<{FRAME}h", *samples[at:at + FRAME]) for at in range(0, len(samples), FRAME)]


class Microphone:
    """Streams 20 ms frames in real time: what the user says when they say it, silence otherwise."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.pending: list[bytes] = voice(0.5)  # the question

    def say(self, seconds: float) -> None:
        self.pending += voice(seconds)

    async def run(self) -> None:
        silence = bytes(2 * FRAME)
        while True:
            frame = self.pending.pop(0) if self.pending else silence
            await self.ws.send_json({"type": "input_audio_buffer.append", "audio": base64.b64encode(frame).decode()})
            await asyncio.sleep(0.02)


class Speaker:
    """Plays the answer's audio as it arrives, in real time: how much the user heard is known."""

    def __init__(self) -> None:
        self.item_id: str | None = None
        self.received_ms = 0.0
        self.started = 0.0

    def play(self, item_id: str, pcm: bytes) -> None:
        if self.item_id != item_id:
            self.item_id, self.received_ms, self.started = item_id, 0.0, asyncio.get_running_loop().time()
        self.received_ms += len(pcm) / (2 * RATE / 1000)

    def stop(self) -> tuple[str, int] | None:
        """Stop playing: the item and how many milliseconds of it were heard (None if nothing plays)."""
        if self.item_id is None:
            return None
        heard = min(self.received_ms, (asyncio.get_running_loop().time() - self.started) * 1000)
        item_id, self.item_id = self.item_id, None
        return item_id, int(heard)


async def main() -> int:
    url = os.environ["RTMOCK_URL"]  # it names the model already (?model=gpt-realtime)
    headers = {"Authorization": f"Bearer {os.environ['OPENAI_API_KEY']}"}
    async with aiohttp.ClientSession() as http, http.ws_connect(url, headers=headers) as ws:
        await ws.send_json({"type": "session.update", "session": {
            "type": "realtime", "output_modalities": ["audio"],
            "audio": {"input": {"turn_detection": {"type": "server_vad", "interrupt_response": True}}}}})
        mic, speaker = Microphone(ws), Speaker()
        tasks: list[asyncio.Task[None]] = []
        interrupted = False
        try:
            async for message in ws:
                if message.type is not aiohttp.WSMsgType.TEXT:
                    break
                event = json.loads(message.data)
                match event["type"]:
                    case "session.updated" if not tasks:
                        tasks.append(asyncio.create_task(mic.run()))
                    case "response.output_audio.delta":
                        first = speaker.item_id is None and not interrupted
                        speaker.play(event["item_id"], base64.b64decode(event["delta"]))
                        if first:  # the user cuts in after 0.8 s of the answer
                            asyncio.get_running_loop().call_later(0.8, mic.say, 0.5)
                    case "input_audio_buffer.speech_started":
                        if (heard := speaker.stop()) is not None:  # barge-in: stop, and say what was heard
                            item_id, played_ms = heard
                            await ws.send_json({"type": "conversation.item.truncate", "item_id": item_id,
                                                "content_index": 0, "audio_end_ms": played_ms})
                            interrupted = True
                    case "response.done" if event["response"]["status"] == "completed" and interrupted:
                        transcript = event["response"]["output"][0]["content"][0]["transcript"]
                        print(f"the answer to the interruption: {transcript}")
                        return 0
                    case "error":
                        print(f"error from the server: {event['error']['message']}", file=sys.stderr)
        finally:
            for task in tasks:
                task.cancel()
    print("the connection closed before the answer", file=sys.stderr)
    return 1


if __name__ == "__main__":
    try:
        sys.exit(asyncio.run(asyncio.wait_for(main(), TIMEOUT)))
    except TimeoutError:
        sys.exit(f"no answer within {TIMEOUT:g}s")
