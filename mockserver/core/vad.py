"""Server voice activity detection, as the service does it for `turn_detection: server_vad`.

Voice clients stream microphone audio with `input_audio_buffer.append` and send nothing else for a
user's turn: the service notices speech, then silence, commits the buffer and starts a response on
its own. `VoiceActivity` follows the audio's own clock (samples, not wall time), so a test that
streams a recording gets the same events on every run: speech is a 10 ms frame whose peak passes
the threshold; the turn ends after `silence_ms` of frames below it.

The audio is heard in the session's input format (`audio.py`): 24 kHz PCM16, or 8 kHz µ-law / A-law
from a phone line, decoded to linear samples first. The session's settings are honoured:
`threshold` (0.0–1.0: how loud speech must be), `prefix_padding_ms` (where `audio_start_ms` points,
before the first loud frame) and `silence_duration_ms` (the quiet that ends a turn). The service's
detector is a model; rtmock's is an energy gate whose threshold maps to a peak level in dBFS,
`-70 + 70 × threshold` (the default 0.5 is -35 dBFS, a peak of about 580 of 32767): line noise stays
below it, any voice passes it, and a higher threshold asks for louder speech as the service's does.
"""

from __future__ import annotations

import array
from dataclasses import dataclass

from .audio import PCM16, AudioFormat

__all__ = ["SpeechEdge", "VoiceActivity", "speech_peak"]

FRAME_MS = 10
#: Peak amplitude (of 32767) that counts as speech at the default threshold (0.5).
SPEECH_PEAK = 583


def speech_peak(threshold: float) -> float:
    """The peak amplitude a 10 ms frame must pass to count as speech, for a `threshold` in 0.0–1.0."""
    threshold = min(1.0, max(0.0, threshold))
    return 32767 * 10 ** ((70 * threshold - 70) / 20)


@dataclass(frozen=True, slots=True)
class SpeechEdge:
    started: bool  # True: speech began; False: the silence after it lasted long enough (end of turn)
    audio_ms: int  # where in the input audio stream


class VoiceActivity:
    def __init__(self, *, fmt: AudioFormat = PCM16, rate: int | None = None, silence_ms: int = 200,
                 prefix_padding_ms: int = 300, threshold: float = 0.5) -> None:
        if rate is not None:  # a PCM16 rate other than the format's
            fmt = AudioFormat(fmt.codec, rate)
        self.format = fmt
        self.frame_samples = max(1, fmt.rate * FRAME_MS // 1000)
        self.silence_ms = silence_ms
        self.prefix_padding_ms = prefix_padding_ms
        self.peak = speech_peak(threshold)
        self.speaking = False
        self._audio_ms = 0
        self._silent_ms = 0
        self._carry = array.array("h")
        self._partial = b""  # an append may end inside a sample: the next one completes it

    def set_threshold(self, threshold: float) -> None:
        self.peak = speech_peak(threshold)

    @property
    def audio_ms(self) -> int:
        """How much audio has been heard so far (whole frames)."""
        return self._audio_ms

    def feed(self, audio: bytes) -> list[SpeechEdge]:
        """Audio in the detector's format; returns the speech edges this audio crosses, in order. The
        stream is one byte stream, however it is cut into appends (the service joins them too)."""
        data = self._partial + audio
        whole = len(data) // self.format.width * self.format.width
        self._partial = data[whole:]
        samples = self._carry + self.format.decode(data[:whole])
        edges: list[SpeechEdge] = []
        n = self.frame_samples
        frames = len(samples) // n * n
        peak = self.peak
        for start in range(0, frames, n):
            frame = samples[start:start + n]
            loud = max(frame) > peak or -min(frame) > peak
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
        self._carry = samples[frames:]
        return edges

    def clear(self) -> None:
        """`input_audio_buffer.clear`: what was heard so far no longer counts."""
        self.speaking = False
        self._silent_ms = 0
        self._carry = array.array("h")
        self._partial = b""
