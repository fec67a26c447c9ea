"""How one output item of a response goes out as frames: a function call (added, argument deltas,
done) or an assistant message of text or audio (content part, deltas, done), with the conversation
echoes that go with each. The generators yield after each frame (True after a delta), so the
session can pace them (`delta_interval`) and stop when the response is cancelled; which items a
response holds, and when it starts and ends, is the session's business.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Generator, Sequence
from typing import Any

from .conversation import ActiveResponse, Conversation
from .events import EventFactory, b64, pcm16_tone, split_text

__all__ = ["OutputStreams"]

Emit = Callable[[dict[str, Any]], None]
EmitDelta = Callable[[dict[str, Any], str], None]  # (event, its wire text)


class OutputStreams:
    def __init__(self, events: EventFactory, conversation: Conversation, emit: Emit, emit_delta: EmitDelta) -> None:
        self._events = events
        self._conversation = conversation
        self._emit = emit
        self._emit_delta = emit_delta

    def _add_item(self, active: ActiveResponse, output_index: int, item: dict[str, Any]) -> None:
        self._emit(self._events.output_item_added(active.id, output_index, item))
        previous = self._conversation.add(item)
        for echo in self._events.item_added(item, previous):
            self._emit(echo)

    def _complete_item(self, active: ActiveResponse, output_index: int, item: dict[str, Any]) -> None:
        item["status"] = "completed"
        active.output.append(copy.deepcopy(item))
        self._emit(self._events.output_item_done(active.id, output_index, item))
        previous_ids = list(self._conversation.items)
        if item["id"] not in previous_ids:
            return  # the client deleted the item while it streamed: nothing left to echo
        at = previous_ids.index(item["id"])
        for echo in self._events.item_done(item, previous_ids[at - 1] if at > 0 else None):
            self._emit(echo)

    def function_call(self, active: ActiveResponse, output_index: int, item_id: str, call_id: str,
                              name: str, arguments: str, pieces: Sequence[str]) -> Generator[bool, None, None]:
        """Emit the frames of one function call, one delta per piece; yields after each (True after a delta)."""
        item = {"id": item_id, "object": "realtime.item", "type": "function_call", "status": "in_progress",
                "name": name, "call_id": call_id, "arguments": ""}
        self._add_item(active, output_index, item)
        yield False
        emit_delta = self._emit_delta
        for event, text in self._events.arguments_deltas(active.id, item_id, output_index, call_id)(pieces):
            emit_delta(event, text)
            yield True
        item["arguments"] = arguments
        self._emit(self._events.arguments_done(active.id, item_id, output_index, call_id, name, arguments))
        self._complete_item(active, output_index, item)
        yield False

    def content(self, active: ActiveResponse, output_index: int, item_id: str, kind: str, text: str,
                        chunks: int, seconds: float | None) -> Generator[bool, None, None]:
        ev = self._events
        content_type = ev.content_type(kind)
        item: dict[str, Any] = {"id": item_id, "object": "realtime.item", "type": "message", "status": "in_progress",
                                "role": "assistant", "content": []}
        self._add_item(active, output_index, item)
        part: dict[str, Any] = {"type": kind, "text": ""} if kind == "text" else {"type": kind, "transcript": ""}
        self._emit(ev.content_part(False, active.id, item_id, output_index, part))
        yield False
        if kind == "text":
            for event, wire in ev.content_deltas("text", active.id, item_id, output_index)(split_text(text, chunks)):
                self._emit_delta(event, wire)
                yield True
            self._emit(ev.text_done(active.id, item_id, output_index, text))
            part = {"type": "text", "text": text}
            item["content"] = [{"type": content_type, "text": text}]
        else:
            pcm = pcm16_tone(seconds or 0.0)
            self._conversation.audio_ms[item_id] = len(pcm) // 48  # 24 kHz, 2 bytes a sample
            step = max(2, (len(pcm) // max(1, chunks)) // 2 * 2)
            audio = [b64(pcm[start:start + step]) for start in range(0, max(1, len(pcm)), step)]
            for event, wire in ev.content_deltas("audio", active.id, item_id, output_index)(audio):
                self._emit_delta(event, wire)
                yield True
            for event, wire in ev.content_deltas("transcript", active.id, item_id, output_index)(split_text(text, chunks)):
                self._emit_delta(event, wire)
                yield True
            self._emit(ev.audio_done(active.id, item_id, output_index))
            self._emit(ev.transcript_done(active.id, item_id, output_index, text))
            part = {"type": "audio", "transcript": text}
            item["content"] = [{"type": content_type, "transcript": text}]
        self._emit(ev.content_part(True, active.id, item_id, output_index, part))
        self._complete_item(active, output_index, item)
        yield False
