"""Token counts for `response.usage`: plausible, non-zero and derived from what the response read
and wrote, so that a client's cost accounting and its context-window logic see numbers of the right
kind. rtmock has no tokenizer; it counts the way people estimate:

- text: one token per 4 characters (at least 1 for any text), for the instructions, the declared
  tools (as JSON), every item of the conversation the response reads, and its own output text;
- audio: 10 tokens a second of user audio, 20 a second of assistant audio (the service's own rough
  rates for realtime audio), from the committed buffers' and the streamed audio's lengths;
- cached: the part of the input the previous response already read (the conversation is a growing
  prefix), in whole blocks of 64 tokens as the service's prompt cache reports it.

A scenario can set the counts of a response outright (`RespondStep.usage`, when the scenario
format has it: keys `input_text`, `input_audio`, `cached_text`, `cached_audio`, `output_text`,
`output_audio`); what it leaves out is derived.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

__all__ = ["TokenCount", "input_tokens", "output_tokens", "text_tokens"]

INPUT_AUDIO_TOKENS_PER_SECOND = 10
OUTPUT_AUDIO_TOKENS_PER_SECOND = 20
CACHE_BLOCK = 64
#: The service's own instructions and formatting around the session's: never zero.
BASE_INPUT_TEXT = 12


@dataclass(frozen=True, slots=True)
class TokenCount:
    text: int = 0
    audio: int = 0

    @property
    def total(self) -> int:
        return self.text + self.audio


def text_tokens(text: str) -> int:
    return math.ceil(len(text) / 4) if text else 0


def _item_text(item: dict[str, Any]) -> str:
    kind = item.get("type")
    if kind == "function_call":
        return f"{item.get('name', '')}({item.get('arguments', '')})"
    if kind == "function_call_output":
        output = item.get("output")
        return output if isinstance(output, str) else json.dumps(output)
    parts = []
    for part in item.get("content") or []:
        if isinstance(part, dict):
            for key in ("text", "transcript"):
                if isinstance(part.get(key), str):
                    parts.append(part[key])
    return " ".join(parts)


def input_tokens(session: dict[str, Any], items: dict[str, dict[str, Any]], input_audio_ms: dict[str, int],
                 output_audio_ms: dict[str, int], instructions: Any = None) -> TokenCount:
    """What a response starting now reads: the instructions (the request's, else the session's),
    the tools, and the conversation's items."""
    text = BASE_INPUT_TEXT + text_tokens(instructions if isinstance(instructions, str) else
                                         str(session.get("instructions") or ""))
    tools = session.get("tools")
    if tools:
        text += text_tokens(json.dumps(tools))
    audio = 0
    for item_id, item in items.items():
        if item_id in input_audio_ms:
            audio += input_audio_ms[item_id] * INPUT_AUDIO_TOKENS_PER_SECOND // 1000
        elif item_id in output_audio_ms:
            audio += output_audio_ms[item_id] * OUTPUT_AUDIO_TOKENS_PER_SECOND // 1000
        text += text_tokens(_item_text(item))
    return TokenCount(text, audio)


def output_tokens(output: list[dict[str, Any]], audio_ms: dict[str, int]) -> TokenCount:
    """What a response wrote: its items' text (an audio message counts its audio and its transcript)."""
    text = audio = 0
    for item in output:
        text += text_tokens(_item_text(item))
        if item.get("id") in audio_ms:
            audio += max(1, audio_ms[item["id"]] * OUTPUT_AUDIO_TOKENS_PER_SECOND // 1000)
    return TokenCount(text, audio)


def cached(now: TokenCount, before: TokenCount | None) -> TokenCount:
    """The part of `now`'s input that the previous response (`before`) already read, in whole blocks."""
    if before is None:
        return TokenCount()
    return TokenCount(min(now.text, before.text) // CACHE_BLOCK * CACHE_BLOCK,
                      min(now.audio, before.audio) // CACHE_BLOCK * CACHE_BLOCK)
