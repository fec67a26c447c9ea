"""Server voice activity detection, as the service does it for `turn_detection: server_vad`.

Voice clients stream microphone audio with `input_audio_buffer.append` and send nothing else for a
user's turn: the service notices speech, then silence, commits the buffer and starts a response on
its own. `VoiceActivity` follows the audio's own clock (samples, not wall time), so a test that
streams a recording gets the same events on every run: speech is a 10 ms frame whose peak passes
the threshold; the turn ends after `silence_ms` of frames below it.
"""

from __future__ import annotations

import array
import sys
from dataclasses import dataclass

__all__ = ["SpeechEdge", "VoiceActivity"]

FRAME_MS = 10
#: Peak amplitude (of 32767) that counts as speech: well above line noise, well below any voice.
SPEECH_PEAK = 600


@dataclass(frozen=True, slots=True)
class SpeechEdge:
    started: bool  # True: speech began; False: the silence after it lasted long enough (end of turn)
    audio_ms: int  # where in the input audio stream


class VoiceActivity:
    def __init__(self, *, rate: int = 24000, silence_ms: int = 200, prefix_padding_ms: int = 300) -> None:
        self.frame_samples = rate * FRAME_MS // 1000
        self.silence_ms = silence_ms
        self.prefix_padding_ms = prefix_padding_ms
        self.speaking = False
        self._audio_ms = 0
        self._silent_ms = 0
        self._carry = array.array("h")
        self._odd_byte = b""  # an append may end inside a sample: the next one completes it

    def feed(self, pcm16: bytes) -> list[SpeechEdge]:
        """Little-endian PCM16 mono; returns the speech edges this audio crosses, in order. The stream
        is one byte stream, however it is cut into appends (the service joins them too)."""
        data = self._odd_byte + pcm16
        even = len(data) // 2 * 2
        self._odd_byte = data[even:]
        samples = array.array("h")
        samples.frombytes(data[:even])
        if sys.byteorder == "big":
            samples.byteswap()
        samples = self._carry + samples
        edges: list[SpeechEdge] = []
        n = self.frame_samples
        whole = len(samples) // n * n
        for start in range(0, whole, n):
            frame = samples[start:start + n]
            loud = max(frame) > SPEECH_PEAK or -min(frame) > SPEECH_PEAK
            self._audio_ms += FRAME_MS
            if loud:
                self._silent_ms = 0
                if not self.speaking:
                    self.speaking = True
                    edges.append(SpeechEdge(True, max(0, self._audio_ms - FRAME_MS - self.prefix_padding_ms)))
            elif self.speaking:
                self._silent_ms += FRAME_MS
                if self._silent_ms >= self.silence_ms:
                    self.speaking = False
                    edges.append(SpeechEdge(False, self._audio_ms))
        self._carry = samples[whole:]
        return edges

    def clear(self) -> None:
        """`input_audio_buffer.clear`: what was heard so far no longer counts."""
        self.speaking = False
        self._silent_ms = 0
        self._carry = array.array("h")
        self._odd_byte = b""
