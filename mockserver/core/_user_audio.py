"""The user's audio in a session: the input audio buffer, its commits into user items, and their
transcription, as `SessionCore` handles them.

`UserAudio` buffers appended audio (`turns.InputAudio`, whose detector gives the server VAD's
speech edges), announces the edges (speech_started / speech_stopped, with the item the turn will
be), commits the buffer into a user message item, and transcribes it when the session asks for it,
with the scenario's transcript of that turn. It keeps no callback: each call is given the `emit`
that sends a server event (encoded at once: a committed item is echoed before its transcript is
filled in).

Not here: what a client's append or commit may be refused for (`_refusals.py`), and what a speech
edge does to the responses and the script (a barge-in, the server's own response.create:
`_client_handling.py`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from ..scenario.model import ExpectStep, Step
from . import usage as tokens
from .conversation import Conversation
from .events import Dialect, EventFactory, IdSource
from .turns import InputAudio, transcription
from .vad import SpeechEdge

#: Audio shorter than 100 ms cannot be committed: this many bytes of 24 kHz PCM16 (800 of 8 kHz G.711).
MIN_COMMIT_BYTES = 4800
#: The transcript of a user's audio when the scenario scripts none (`ExpectStep.transcript`).
DEFAULT_TRANSCRIPT = "(speech)"

Emit = Callable[[dict[str, Any]], None]


class UserAudio:
    """The input audio buffer (`buffer`) and the user turns made of it. `session` and
    `conversation` are the session's own; `steps` give the scripted transcripts, in order."""

    __slots__ = ("_conversation", "_dialect", "_events", "_ids", "_session", "_speech_item", "_transcripts", "buffer")

    def __init__(self, events: EventFactory, ids: IdSource, conversation: Conversation, session: dict[str, Any],
                 dialect: Dialect, steps: Sequence[Step]) -> None:
        self._events, self._ids, self._dialect = events, ids, dialect
        self._conversation, self._session = conversation, session
        self.buffer = InputAudio(dialect)
        self._speech_item: str | None = None  # the item id announced by speech_started
        self._transcripts = [s.transcript for s in steps if isinstance(s, ExpectStep) and s.transcript is not None]

    def append(self, audio: bytes) -> list[SpeechEdge]:
        """Buffer appended audio; under server VAD, the speech edges it crosses."""
        edges = self.buffer.append(audio, self._session)
        self._conversation.audio_bytes = self.buffer.buffered
        return edges

    def clear(self, emit: Emit) -> None:
        self.buffer.clear()
        self._conversation.audio_bytes = 0
        self._speech_item = None
        emit(self._events.audio_cleared())

    def speech_started(self, audio_ms: int, emit: Emit) -> None:
        """The server VAD heard speech begin: announce the item the turn will be."""
        self._speech_item = self._ids.new("item")
        emit(self._events.speech_started(audio_ms, self._speech_item))

    def speech_stopped(self, audio_ms: int, emit: Emit) -> None:
        """The silence after speech lasted long enough: the turn ends, and the server commits it."""
        item_id = self._speech_item or self._ids.new("item")
        self._speech_item = None
        emit(self._events.speech_stopped(audio_ms, item_id))
        self.commit(emit, item_id)

    def commit(self, emit: Emit, item_id: str | None = None) -> None:
        """Commit the buffer into a user message item (a new id unless given), then transcribe it."""
        item_id = item_id or self._ids.new("item")
        conv = self._conversation
        item: dict[str, Any] = {"id": item_id, "object": "realtime.item", "type": "message", "status": "completed",
                                "role": "user", "content": [{"type": "input_audio", "transcript": None}]}
        previous = conv.add(item)
        conv.input_audio_ms[item_id] = self.buffer.take()
        conv.audio_bytes = 0
        emit(self._events.audio_committed(item["id"], previous))
        for echo in self._events.item_added(item, previous) + self._events.item_done(item, previous):
            emit(echo)
        self._transcribe(item, emit)

    def _transcribe(self, item: dict[str, Any], emit: Emit) -> None:
        """Input transcription, when the session asks for it: the scenario's transcript of this turn
        (or a placeholder), as deltas and then `.completed`, with the transcription model's usage."""
        config = transcription(self._session, self._dialect)
        if config is None:
            return
        transcript = self._transcripts.pop(0) if self._transcripts else DEFAULT_TRANSCRIPT
        item["content"][0]["transcript"] = transcript
        for event in self._events.transcription_deltas(item["id"], re.findall(r"\s*\S+", transcript) or [""]):
            emit(event)
        seconds = self._conversation.input_audio_ms.get(item["id"], 0) / 1000
        if config.get("model") == "whisper-1":  # billed by duration; the gpt-4o transcribe models by tokens
            used: dict[str, Any] = {"type": "duration", "seconds": round(seconds, 3)}
        else:
            audio = int(seconds * tokens.INPUT_AUDIO_TOKENS_PER_SECOND)
            text = tokens.text_tokens(str(config.get("prompt") or ""))
            out = max(1, tokens.text_tokens(transcript))
            used = {"type": "tokens", "input_tokens": audio + text, "output_tokens": out,
                    "total_tokens": audio + text + out, "input_token_details": {"text_tokens": text, "audio_tokens": audio}}
        emit(self._events.transcription_completed(item["id"], transcript, used))
