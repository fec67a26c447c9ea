"""A buggy transcribing client: correct_transcription.py with one change.

BUG: it asks for transcription with the beta session key, `input_audio_transcription`, in a GA
session.update (code ported from the beta API). The service refuses the unknown parameter, and
with it the whole update: neither the transcription nor anything else in it took effect, and the
client waits for a transcript that never comes.

Verdict: FAIL `invalid-client-event` on scenarios/transcription.yaml:

    rtmock run scenarios/transcription.yaml -- python examples/buggy_transcription_beta_key.py
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

RATE = 24000  # 24 kHz PCM16 mono
TIMEOUT = 20.0  # seconds: give up rather than hang forever
SESSION = {
    "type": "realtime", "output_modalities": ["text"],
    "input_audio_transcription": {"model": "gpt-4o-transcribe"},  # BUG: the beta key, in a GA session
    "audio": {"input": {"turn_detection": {"type": "server_vad"}}},
}


async def speak(ws: aiohttp.ClientWebSocketResponse) -> None:
    """The microphone: 0.6 s of the user's voice (a tone), then silence, 20 ms a frame in real time."""
    samples = [int(6000 * math.sin(2 * math.pi * 440 * i / RATE)) for i in range(int(0.6 * RATE))]
    frames = [struct.pack(f"<{len(samples[at:at + 480])}h", *samples[at:at + 480]) for at in range(0, len(samples), 480)]
    while True:
        frame = frames.pop(0) if frames else bytes(960)
        await ws.send_json({"type": "input_audio_buffer.append", "audio": base64.b64encode(frame).decode()})
        await asyncio.sleep(0.02)


async def main() -> int:
    url = os.environ["RTMOCK_URL"]  # it names the model already (?model=gpt-realtime)
    headers = {"Authorization": f"Bearer {os.environ['OPENAI_API_KEY']}"}
    async with aiohttp.ClientSession() as http, http.ws_connect(url, headers=headers) as ws:
        await ws.send_json({"type": "session.update", "session": SESSION})
        microphone: asyncio.Task[None] | None = None
        heard: str | None = None
        answer: str | None = None
        try:
            async for message in ws:
                if message.type is not aiohttp.WSMsgType.TEXT:
                    break
                event = json.loads(message.data)
                match event["type"]:
                    case "session.updated" | "error" if microphone is None:  # (it starts talking either way)
                        microphone = asyncio.create_task(speak(ws))
                    case "conversation.item.input_audio_transcription.completed":
                        heard = event["transcript"]
                    case "response.output_text.done":
                        answer = event["text"]
                    case "error":
                        print(f"error from the server: {event['error']['message']}", file=sys.stderr)
                if heard is not None and answer is not None:
                    print(f"user: {heard}\nassistant: {answer}")
                    return 0
        finally:
            if microphone is not None:
                microphone.cancel()
    print("the connection closed before the transcript and the answer", file=sys.stderr)
    return 1


if __name__ == "__main__":
    try:
        sys.exit(asyncio.run(asyncio.wait_for(main(), TIMEOUT)))
    except TimeoutError:
        sys.exit(f"no transcript and answer within {TIMEOUT:g}s")
