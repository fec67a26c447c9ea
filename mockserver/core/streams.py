"""How one output item of a response goes out as frames: a function call (added, argument deltas,
done) or an assistant message of text or audio (content part, deltas, done), with the conversation
echoes that go with each. The generators yield after each frame (True after a delta), so the
session can pace them (`delta_interval`) and stop when the response is cancelled; which items a
response holds, and when it starts and ends, is the session's business.

While an item streams it is the response's `in_flight` item: a cancel sends it `incomplete`, with
what was streamed of it (the arguments so far, the text or transcript so far, the audio's length).
An out-of-band response (`conversation: "none"`) writes nothing into the conversation: its items get
no `conversation.item.*` echoes. Audio goes out in the session's output format, its deltas
interleaved with the transcript's as the service streams them (the transcript a little ahead).
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator, Sequence
from typing import Any

from .audio import PCM16, AudioFormat, tone
from .conversation import ActiveResponse, Conversation, InFlight
from .events import EventFactory, b64, split_text
from .jsondata import json_copy

__all__ = ["OutputStreams"]

Emit = Callable[[dict[str, Any]], None]
EmitDelta = Callable[[str], None]  # a delta's wire text


class OutputStreams:
    def __init__(self, events: EventFactory, conversation: Conversation, emit: Emit, emit_delta: EmitDelta) -> None:
        self._events = events
        self._conversation = conversation
        self._emit = emit
        self._emit_delta = emit_delta

    def detach(self) -> None:
        """Send nothing more (the session is over), and hold no reference to the session's methods."""
        self._emit = _send_nothing
        self._emit_delta = _send_nothing

    def _add_item(self, active: ActiveResponse, output_index: int, item: dict[str, Any],
                  settle: Callable[[], None]) -> None:
        self._emit(self._events.output_item_added(active.id, output_index, item))
        active.in_flight = InFlight(output_index, item, settle)
        if active.out_of_band:
            return
        previous = self._conversation.add(item)
        for echo in self._events.item_added(item, previous):
            self._emit(echo)

    def _complete_item(self, active: ActiveResponse, output_index: int, item: dict[str, Any],
                       status: str = "completed") -> None:
        item["status"] = status
        active.in_flight = None
        active.output.append(json_copy(item))
        self._emit(self._events.output_item_done(active.id, output_index, item))
        if active.out_of_band:
            return
        previous_ids = list(self._conversation.items)
        if item["id"] not in previous_ids:
            return  # the client deleted the item while it streamed: nothing left to echo
        at = previous_ids.index(item["id"])
        for echo in self._events.item_done(item, previous_ids[at - 1] if at > 0 else None):
            self._emit(echo)

    def cut_short(self, active: ActiveResponse) -> None:
        """The response is cancelled: its item in flight goes out `incomplete` with what was streamed."""
        flight = active.in_flight
        if flight is not None:
            flight.settle()
            self._complete_item(active, flight.output_index, flight.item, "incomplete")

    def function_call(self, active: ActiveResponse, output_index: int, item_id: str, call_id: str,
                      name: str, arguments: str, pieces: Sequence[str]) -> Generator[bool, None, None]:
        """Emit the frames of one function call, one delta per piece; yields after each (True after a
        delta that another follows: the pause between deltas. The service sends arguments.done right
        after the last delta, so a client that has every piece has the done event too)."""
        item = {"id": item_id, "object": "realtime.item", "type": "function_call", "status": "in_progress",
                "name": name, "call_id": call_id, "arguments": ""}
        sent = [0]

        def settle() -> None:
            item["arguments"] = "".join(pieces[:sent[0]])

        self._add_item(active, output_index, item, settle)
        yield False
        emit_delta = self._emit_delta
        last = len(pieces)
        for text in self._events.arguments_deltas(active.id, item_id, output_index, call_id)(pieces):
            emit_delta(text)
            sent[0] += 1
            yield sent[0] < last
        item["arguments"] = arguments
        active.in_flight = None
        self._emit(self._events.arguments_done(active.id, item_id, output_index, call_id, name, arguments))
        self._complete_item(active, output_index, item)
        yield False

    def content(self, active: ActiveResponse, output_index: int, item_id: str, kind: str, text: str,
                chunks: int, seconds: float | None, fmt: AudioFormat = PCM16) -> Generator[bool, None, None]:
        """An assistant message: `kind` text (text deltas) or audio (`seconds` of a tone in `fmt`, its
        deltas interleaved with the transcript's)."""
        ev = self._events
        content_type = ev.content_type(kind)
        item: dict[str, Any] = {"id": item_id, "object": "realtime.item", "type": "message", "status": "in_progress",
                                "role": "assistant", "content": []}
        key = "text" if kind == "text" else "transcript"
        pieces = split_text(text, chunks)
        said = [0]  # text pieces streamed so far

        def settle() -> None:
            item["content"] = [{"type": content_type, key: "".join(pieces[:said[0]])}]

        self._add_item(active, output_index, item, settle)
        part: dict[str, Any] = {"type": kind, key: ""}
        self._emit(ev.content_part(False, active.id, item_id, output_index, part))
        yield False
        if kind == "text":
            for wire in ev.content_deltas("text", active.id, item_id, output_index)(pieces):
                self._emit_delta(wire)
                said[0] += 1
                yield True
            active.in_flight = None
            self._emit(ev.text_done(active.id, item_id, output_index, text))
        else:
            audio = tone(seconds or 0.0, fmt)
            step = max(fmt.width, (len(audio) // max(1, chunks)) // fmt.width * fmt.width)
            sound = [b64(audio[start:start + step]) for start in range(0, max(1, len(audio)), step)]
            self._conversation.audio_ms[item_id] = 0
            played = 0
            for is_audio, wire in _interleave(ev.content_deltas("audio", active.id, item_id, output_index)(sound),
                                                     ev.content_deltas("transcript", active.id, item_id,
                                                                       output_index)(pieces),
                                                     len(sound), len(pieces)):
                self._emit_delta(wire)
                if is_audio:
                    played = min(len(audio), played + step)
                    self._conversation.audio_ms[item_id] = int(fmt.ms(played))
                else:
                    said[0] += 1
                yield True
            active.in_flight = None
            self._emit(ev.audio_done(active.id, item_id, output_index))
            self._emit(ev.transcript_done(active.id, item_id, output_index, text))
        part = {"type": kind, key: text}
        item["content"] = [{"type": content_type, key: text}]
        self._emit(ev.content_part(True, active.id, item_id, output_index, part))
        self._complete_item(active, output_index, item)
        yield False


def _interleave(audio: Iterator[str], transcript: Iterator[str], audio_count: int,
                transcript_count: int) -> Iterator[tuple[bool, str]]:
    """Audio and transcript deltas in one stream, each transcript piece just ahead of the audio it
    speaks (the service sends the words a little before their sound): (is audio, wire text)."""
    said = 0
    for heard in range(audio_count):
        while said < transcript_count and said * audio_count <= heard * transcript_count:
            said += 1
            yield False, next(transcript)
        yield True, next(audio)
    for wire in transcript:
        yield False, wire


def _send_nothing(_: Any) -> None:
    """What a detached stream sends with."""
