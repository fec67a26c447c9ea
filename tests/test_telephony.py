"""G.711 telephony and the server VAD's settings: a phone client streams 8 kHz µ-law (or A-law), one
byte a sample; the commit minimum and the VAD's clock follow the session's input format, the answer
goes out in its output format, and threshold, prefix padding and silence duration are the session's."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from voice_drive import Drive, output, silence, tools_of

from rtmock.mockserver.core import vad
from rtmock.mockserver.core.audio import ALAW, PCM16, ULAW, AudioFormat, input_format, tone
from rtmock.mockserver.core.events import Dialect

NO_VAD = None


def _session(dialect: Dialect, fmt: str, *, detection: Any = "server", **extra: Any) -> dict[str, Any]:
    """A session.update for `fmt` (GA type or beta name) in and out, with server VAD or none."""
    vad = {"type": "server_vad", **extra} if detection == "server" else detection
    if dialect is Dialect.GA:
        return {"type": "realtime", "output_modalities": ["audio"],
                "audio": {"input": {"format": {"type": fmt}, "turn_detection": vad},
                          "output": {"format": {"type": fmt}}}}
    return {"input_audio_format": fmt, "output_audio_format": fmt, "turn_detection": vad}


# ---- the codecs ----------------------------------------------------------------------------------


def test_g711_decodes_as_the_itu_tables() -> None:
    assert list(ULAW.decode(bytes([0xFF, 0x7F, 0x80, 0x00, 0xF0]))) == [0, 0, 32124, -32124, 120]
    assert list(ALAW.decode(bytes([0xD5, 0x55, 0xAA, 0x2A]))) == [8, -8, 32256, -32256]


@pytest.mark.parametrize("fmt", [ULAW, ALAW])
def test_g711_encoding_is_within_a_quantization_step(fmt: AudioFormat) -> None:
    for sample in range(-32768, 32768, 97):
        back = fmt.decode(fmt.encode([sample]))[0]
        assert abs(back - sample) <= max(16, abs(sample) // 16), (sample, back)


def test_a_format_is_read_where_each_dialect_keeps_it() -> None:
    assert input_format({"audio": {"input": {"format": {"type": "audio/pcmu"}}}}, False) == ULAW
    assert input_format({"input_audio_format": "g711_alaw"}, True) == ALAW
    assert input_format({"input_audio_format": "pcm16", "input_audio_sampling_rate": 16000}, True).bytes_per_ms == 32
    assert input_format({}, False) == PCM16 and PCM16.bytes_per_ms == 48 and ULAW.bytes_per_ms == 8


# ---- commits -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("dialect", "fmt"), [(Dialect.GA, "audio/pcmu"), (Dialect.GA, "audio/pcma"),
                                               (Dialect.BETA, "g711_ulaw"), (Dialect.VOICE_LIVE, "g711_alaw")])
def test_200ms_of_g711_can_be_committed(dialect: Dialect, fmt: str) -> None:
    drive = Drive("get_your_info", dialect)
    drive.update(_session(dialect, fmt, detection=NO_VAD))
    drive.stream(silence(0.2, ULAW), ULAW)  # 1600 bytes: 33.33 ms if it were 24 kHz PCM16
    (committed,) = [e for e in drive.send({"type": "input_audio_buffer.commit"})
                    if e["type"] == "input_audio_buffer.committed"]
    assert drive.server("error") == []
    assert committed["item_id"].startswith("item_")


def test_a_short_g711_commit_is_refused_with_its_real_length() -> None:
    drive = Drive("get_your_info")
    drive.update(_session(Dialect.GA, "audio/pcmu", detection=NO_VAD))
    drive.stream(silence(0.05, ULAW), ULAW)
    (error,) = drive.send({"type": "input_audio_buffer.commit"})
    assert error["error"]["code"] == "input_audio_buffer_commit_empty"
    assert "buffer only has 50.00ms of audio" in error["error"]["message"]


# ---- server VAD on a phone line -------------------------------------------------------------------


@pytest.mark.parametrize(("dialect", "name", "fmt"), [(Dialect.GA, "audio/pcmu", ULAW), (Dialect.GA, "audio/pcma", ALAW),
                                                      (Dialect.BETA, "g711_ulaw", ULAW)])
def test_a_phone_call_in_g711_is_heard_answered_and_passes(dialect: Dialect, name: str, fmt: AudioFormat) -> None:
    drive = Drive("phone_call_g711", dialect)
    drive.update({**_session(dialect, name), "tools": tools_of(drive.scenario)})
    drive.stream(silence(0.4, fmt), fmt)  # the line is open before the caller speaks
    drive.speak(0.8, fmt)
    (started,), (stopped,) = drive.server("input_audio_buffer.speech_started"), drive.server("input_audio_buffer.speech_stopped")
    assert started["audio_start_ms"] == 400 - 300 and stopped["audio_end_ms"] >= 1200 + 200
    (call,) = drive.calls()  # server VAD started the response: the model called the tool
    drive.send(output(call["call_id"]))
    drive.send({"type": "response.create"})
    assert drive.core.complete
    drive.stream(silence(0.5, fmt), fmt)
    verdict = drive.finish()
    assert verdict.passed, [str(f) for f in verdict.findings]


@pytest.mark.parametrize("drop", ["output", "input", "both"])
def test_a_bridge_that_leaves_a_direction_in_pcm16_is_told_which_format_is_missing(drop: str) -> None:
    # the line is µ-law: audio the bridge did not ask for in µ-law is noise on the phone
    drive = Drive("phone_call_g711")
    session = _session(Dialect.GA, "audio/pcmu")
    for direction in (["input", "output"] if drop == "both" else [drop]):
        del session["audio"][direction]["format"]
    drive.update({**session, "tools": tools_of(drive.scenario)})
    drive.wait(6.0)
    finding = drive.findings[0]
    assert finding.rule.value == "scenario-mismatch" and "does not match" in finding.message
    assert f"session.audio.{'input' if drop != 'output' else 'output'}.format.type is missing" in finding.message


def test_the_answer_is_sent_in_the_sessions_output_format() -> None:
    drive = Drive("phone_call_g711")
    drive.update({**_session(Dialect.GA, "audio/pcmu"), "tools": tools_of(drive.scenario)})
    drive.speak(0.5, ULAW)
    drive.send(output(drive.calls()[0]["call_id"]))
    drive.send({"type": "response.create"})
    audio = b"".join(base64.b64decode(e["delta"]) for e in drive.server("response.output_audio.delta"))
    assert len(audio) == 8000  # the scenario's 1 s answer: 8000 µ-law bytes, not 48000 of PCM16
    assert max(ULAW.decode(audio)) > 5000  # a tone, not silence, once decoded
    done = drive.server("response.done")[-1]["response"]
    assert done["audio"]["output"]["format"] == {"type": "audio/pcmu"}


def test_a_client_that_forgets_response_create_after_the_tool_is_told_so() -> None:
    drive = Drive("phone_call_g711")
    drive.update({**_session(Dialect.GA, "audio/pcmu"), "tools": tools_of(drive.scenario)})
    drive.speak(0.6, ULAW)
    drive.send(output(drive.calls()[0]["call_id"]))
    drive.stream(silence(4.0, ULAW), ULAW)  # the caller waits; server VAD hears nothing to answer
    assert drive.rules() == ["missing-response-create"]


# ---- the session's VAD settings ---------------------------------------------------------------------


def test_the_threshold_maps_to_a_peak_level() -> None:
    assert round(vad.speech_peak(0.5)) == 583 and vad.speech_peak(0.0) < 11 and vad.speech_peak(1.0) == 32767
    assert vad.speech_peak(0.2) < vad.speech_peak(0.5) < vad.speech_peak(0.9)


@pytest.mark.parametrize(("threshold", "level", "heard"), [(0.2, 0.01, True), (0.5, 0.01, False),
                                                           (0.9, 0.2, False), (0.9, 0.8, True)])
def test_the_sessions_threshold_decides_what_is_speech(threshold: float, level: float, heard: bool) -> None:
    drive = Drive("barge_in")
    drive.update(_session(Dialect.GA, "audio/pcm", threshold=threshold))
    drive.stream(tone(0.5, PCM16, level=level) + silence(0.5))
    assert bool(drive.server("input_audio_buffer.speech_started")) is heard


def test_prefix_padding_and_silence_duration_are_the_sessions() -> None:
    drive = Drive("barge_in")
    drive.update(_session(Dialect.GA, "audio/pcm", prefix_padding_ms=100, silence_duration_ms=700))
    drive.stream(silence(0.5) + tone(0.5, PCM16) + silence(0.5))
    assert [e["audio_start_ms"] for e in drive.server("input_audio_buffer.speech_started")] == [400]
    assert drive.server("input_audio_buffer.speech_stopped") == []  # 500 ms of quiet is a pause at 700 ms
    drive.stream(silence(0.3))
    assert [e["audio_end_ms"] for e in drive.server("input_audio_buffer.speech_stopped")] == [1700]


def test_the_detector_runs_on_the_formats_own_clock() -> None:
    heard = vad.VoiceActivity(fmt=ULAW, silence_ms=200, prefix_padding_ms=0)
    assert heard.frame_samples == 80
    assert heard.feed(silence(0.3, ULAW)) == []
    assert heard.feed(tone(0.5, ULAW)) == [vad.SpeechEdge(True, 300)]
    assert heard.feed(silence(0.3, ULAW)) == [vad.SpeechEdge(False, 1000)]
