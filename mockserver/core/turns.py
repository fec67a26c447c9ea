"""The input audio buffer and the user's turns, as the session's settings shape them.

What a session's configuration says about input audio, read where each dialect keeps it: the
format the audio comes in (`audio.py`), the turn detection (server VAD and its settings; None when
the client commits turns itself) and input transcription. `InputAudio` holds the buffer the client
appends to and the voice activity detector that listens to it, rebuilt when the session changes the
format or the detector's settings. What the session does with a turn (commit it, answer it,
interrupt a response) is `session.py`'s business.
"""

from __future__ import annotations

from typing import Any

from .audio import AudioFormat, input_format
from .events import Dialect
from .vad import SpeechEdge, VoiceActivity
from .voicelive import VAD_TYPES as VOICE_LIVE_VAD_TYPES

__all__ = ["InputAudio", "transcription", "turn_detection"]

#: The service's minimum for a commit: "Expected at least 100ms of audio".
MIN_COMMIT_MS = 100


def turn_detection(session: dict[str, Any], dialect: Dialect) -> dict[str, Any] | None:
    """The session's turn detection when the server listens (server_vad, semantic_vad and Voice
    Live's types); None when the client commits turns itself (`turn_detection: null`)."""
    if dialect.beta_shaped:
        found = session.get("turn_detection")
    else:
        found = ((session.get("audio") or {}).get("input") or {}).get("turn_detection")
    listening = VOICE_LIVE_VAD_TYPES if dialect is Dialect.VOICE_LIVE else ("server_vad", "semantic_vad")
    if not isinstance(found, dict) or found.get("type") not in listening:
        return None
    return found


def transcription(session: dict[str, Any], dialect: Dialect) -> dict[str, Any] | None:
    """The input transcription the session asks for (GA `audio.input.transcription`, beta and Voice
    Live `input_audio_transcription`), or None."""
    if dialect.beta_shaped:
        found = session.get("input_audio_transcription")
    else:
        found = ((session.get("audio") or {}).get("input") or {}).get("transcription")
    return found if isinstance(found, dict) else None


def _number(value: Any, default: float) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else default


class InputAudio:
    """The input audio buffer of one session, and the detector listening to it."""

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        self.buffered = 0  # bytes appended since the last commit or clear
        self.format: AudioFormat | None = None  # the format the buffered audio came in
        self._vad: VoiceActivity | None = None
        self._settings: tuple[Any, ...] = ()

    def buffered_ms(self) -> float:
        return self.format.ms(self.buffered) if self.format is not None else 0.0

    def can_commit(self) -> bool:
        return self.buffered_ms() >= MIN_COMMIT_MS

    def append(self, audio: bytes, session: dict[str, Any]) -> list[SpeechEdge]:
        """Buffer appended audio; under server VAD, the speech edges it crosses."""
        fmt = input_format(session, self.dialect.beta_shaped)
        self.format = fmt  # (a session.update between appends: the buffer is measured in the new format)
        self.buffered += len(audio)
        detection = turn_detection(session, self.dialect)
        if detection is None:
            self._vad = None
            return []
        return self._detector(fmt, detection).feed(audio)

    def _detector(self, fmt: AudioFormat, detection: dict[str, Any]) -> VoiceActivity:
        # defaults: 200 ms of silence (OpenAI's server_vad), 500 ms (semantic_vad; every Voice Live type)
        quick = detection["type"] == "server_vad" and self.dialect is not Dialect.VOICE_LIVE
        silence = int(_number(detection.get("silence_duration_ms"), 200 if quick else 500))
        padding = int(_number(detection.get("prefix_padding_ms"), 300))
        threshold = _number(detection.get("threshold"), 0.5)
        settings = (fmt, silence, padding, threshold)
        if self._vad is None or settings[0] != self._settings[0]:
            self._vad = VoiceActivity(fmt=fmt, silence_ms=silence, prefix_padding_ms=padding, threshold=threshold)
        elif settings != self._settings:  # new settings apply from here on, to the same audio clock
            self._vad.silence_ms, self._vad.prefix_padding_ms = silence, padding
            self._vad.set_threshold(threshold)
        self._settings = settings
        return self._vad

    def take(self) -> int:
        """The buffer is committed: how long the committed audio was (ms); the buffer is empty after."""
        ms = int(self.buffered_ms())
        self.buffered = 0
        return ms

    def clear(self) -> None:
        self.buffered = 0
        if self._vad is not None:
            self._vad.clear()
