"""Audio formats as the session configures them: how many bytes a millisecond of audio is, and the
G.711 codecs (µ-law, A-law) that telephony clients speak.

The service takes input audio as 24 kHz PCM16 (`audio/pcm`, beta `pcm16`) or as 8 kHz G.711
(`audio/pcmu` / `audio/pcma`, beta `g711_ulaw` / `g711_alaw`: one byte a sample, the format a phone
line carries; Twilio media streams are µ-law), and sends output audio in the format the session
names for output. Voice Live adds `input_audio_sampling_rate` (16 kHz PCM16) and 8/16 kHz PCM16
output. A commit's 100 ms minimum, the server VAD's clock and the length of the audio rtmock sends
all follow the format: 100 ms is 4800 bytes of 24 kHz PCM16 but 800 bytes of µ-law.

Decoding a G.711 byte is a 256-entry table (ITU-T G.711); encoding, only needed for the tone rtmock
speaks, follows the same segments.
"""

from __future__ import annotations

import array
import math
import sys
from dataclasses import dataclass
from typing import Any

__all__ = ["ALAW", "PCM16", "ULAW", "AudioFormat", "input_format", "output_format", "tone"]


def _ulaw_to_linear(byte: int) -> int:
    u = ~byte & 0xFF
    magnitude = (((u & 0x0F) << 3) + 0x84) << ((u & 0x70) >> 4)
    return 0x84 - magnitude if u & 0x80 else magnitude - 0x84


def _alaw_to_linear(byte: int) -> int:
    a = byte ^ 0x55
    magnitude = (a & 0x0F) << 4
    segment = (a & 0x70) >> 4
    if segment == 0:
        magnitude += 8
    else:
        magnitude = (magnitude + 0x108) << (segment - 1)
    return magnitude if a & 0x80 else -magnitude


def _segment(value: int, ends: tuple[int, ...]) -> int:
    for segment, end in enumerate(ends):
        if value <= end:
            return segment
    return len(ends)


_ULAW_ENDS = (0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF)
_ALAW_ENDS = (0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF)


def _linear_to_ulaw(sample: int) -> int:
    value = sample >> 2  # 14 significant bits
    mask = 0xFF
    if value < 0:
        value, mask = -value, 0x7F
    value = min(value, 8159) + 33  # clip, then the bias
    segment = _segment(value, _ULAW_ENDS)
    if segment >= 8:
        return 0x7F ^ mask
    return ((segment << 4) | ((value >> (segment + 1)) & 0x0F)) ^ mask


def _linear_to_alaw(sample: int) -> int:
    value = sample >> 3  # 13 significant bits
    mask = 0xD5
    if value < 0:
        value, mask = -value - 1, 0x55
    segment = _segment(value, _ALAW_ENDS)
    if segment >= 8:
        return 0x7F ^ mask
    code = (segment << 4) | ((value >> (1 if segment < 2 else segment)) & 0x0F)
    return code ^ mask


_ULAW = array.array("h", [_ulaw_to_linear(b) for b in range(256)])
_ALAW = array.array("h", [_alaw_to_linear(b) for b in range(256)])


@dataclass(frozen=True, slots=True)
class AudioFormat:
    """One audio format: `codec` pcm16 (little-endian), g711_ulaw or g711_alaw, mono."""

    codec: str
    rate: int

    @property
    def width(self) -> int:
        """Bytes per sample."""
        return 2 if self.codec == "pcm16" else 1

    @property
    def bytes_per_ms(self) -> float:
        return self.rate * self.width / 1000

    def ms(self, size: int) -> float:
        """How long `size` bytes of this format play."""
        return size / self.bytes_per_ms

    def decode(self, data: bytes) -> array.array[int]:
        """Whole samples as linear 16-bit values (`data` holds whole samples)."""
        if self.codec == "g711_ulaw":
            return array.array("h", [_ULAW[b] for b in data])
        if self.codec == "g711_alaw":
            return array.array("h", [_ALAW[b] for b in data])
        samples = array.array("h")
        samples.frombytes(data)
        if sys.byteorder == "big":
            samples.byteswap()
        return samples

    def encode(self, samples: list[int]) -> bytes:
        if self.codec == "g711_ulaw":
            return bytes(_linear_to_ulaw(s) for s in samples)
        if self.codec == "g711_alaw":
            return bytes(_linear_to_alaw(s) for s in samples)
        pcm = array.array("h", samples)
        if sys.byteorder == "big":
            pcm.byteswap()
        return pcm.tobytes()


PCM16 = AudioFormat("pcm16", 24000)
ULAW = AudioFormat("g711_ulaw", 8000)
ALAW = AudioFormat("g711_alaw", 8000)

#: GA format types (`audio.input.format.type`) and beta / Voice Live format names
_BY_NAME = {"audio/pcm": PCM16, "audio/pcmu": ULAW, "audio/pcma": ALAW,
            "pcm16": PCM16, "g711_ulaw": ULAW, "g711_alaw": ALAW,
            "pcm16_8000hz": AudioFormat("pcm16", 8000), "pcm16_16000hz": AudioFormat("pcm16", 16000)}


def _ga_format(value: Any) -> AudioFormat:
    if not isinstance(value, dict):
        return PCM16
    found = _BY_NAME.get(str(value.get("type")), PCM16)
    rate = value.get("rate")
    return AudioFormat(found.codec, rate) if found.codec == "pcm16" and isinstance(rate, int) and rate > 0 else found


def input_format(session: dict[str, Any], beta_shaped: bool) -> AudioFormat:
    """The format the session takes appended audio in (GA `audio.input.format`, beta
    `input_audio_format`, Voice Live also `input_audio_sampling_rate`)."""
    if not beta_shaped:
        return _ga_format(((session.get("audio") or {}).get("input") or {}).get("format"))
    found = _BY_NAME.get(str(session.get("input_audio_format") or "pcm16"), PCM16)
    rate = session.get("input_audio_sampling_rate")
    if found.codec == "pcm16" and isinstance(rate, int) and not isinstance(rate, bool) and rate > 0:
        return AudioFormat("pcm16", rate)
    return found


def output_format(session: dict[str, Any], beta_shaped: bool) -> AudioFormat:
    """The format of the audio the server sends (GA `audio.output.format`, beta `output_audio_format`)."""
    if not beta_shaped:
        return _ga_format(((session.get("audio") or {}).get("output") or {}).get("format"))
    return _BY_NAME.get(str(session.get("output_audio_format") or "pcm16"), PCM16)


def tone(seconds: float, fmt: AudioFormat = PCM16, *, hz: float = 440.0, level: float = 0.2) -> bytes:
    """A sine tone in `fmt`: audio a client can play or count (and that server VAD hears as speech)."""
    count = int(seconds * fmt.rate)
    amplitude = level * 32767
    step = 2 * math.pi * hz / fmt.rate
    return fmt.encode([int(amplitude * math.sin(step * i)) for i in range(count)])
