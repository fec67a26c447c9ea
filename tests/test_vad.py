"""Server VAD: a voice client that only streams audio gets its turn detected, committed and answered,
and is judged like any other client."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from rtmock.harness.judging.judge import Judge
from rtmock.mockserver.core.events import Dialect, IdSource, pcm16_tone
from rtmock.mockserver.core.records import Direction, Record
from rtmock.mockserver.core.session import SessionCore
from rtmock.mockserver.core.vad import SpeechEdge, VoiceActivity
from rtmock.mockserver.scenario.loader import load_scenario

SCENARIO = load_scenario(Path(__file__).resolve().parents[1] / "scenarios" / "get_your_info.yaml")
SILENCE = b"\0\0" * 2400  # 100 ms at 24 kHz


def test_speech_then_silence_makes_two_edges_on_the_audio_clock() -> None:
    vad = VoiceActivity(silence_ms=200, prefix_padding_ms=0)
    assert vad.feed(SILENCE * 3) == []
    assert vad.feed(pcm16_tone(0.5)) == [SpeechEdge(True, 300)]
    assert vad.feed(SILENCE) == []  # 100 ms of silence is a pause, not the end of the turn
    assert vad.feed(SILENCE) == [SpeechEdge(False, 1000)]


def test_appends_cut_inside_a_sample_are_one_stream() -> None:
    # 1001-byte appends (a client that slices bytes, not samples): quiet noise must stay quiet
    noise = b"".join(int(v).to_bytes(2, "little", signed=True) for v in [150, -150] * 12_000)  # 1 s
    stream = pcm16_tone(0.3) + noise
    whole, sliced = VoiceActivity(prefix_padding_ms=0), VoiceActivity(prefix_padding_ms=0)
    expected = whole.feed(stream)
    assert [edge.started for edge in expected] == [True, False]
    assert [edge for at in range(0, len(stream), 1001) for edge in sliced.feed(stream[at:at + 1001])] == expected


class Voice:
    def __init__(self, dialect: Dialect, *, transcription: bool = False) -> None:
        self.records: list[Record] = []
        self.judge = Judge(default_within=5.0)
        self.core = SessionCore(SCENARIO, dialect, self._record, ids=IdSource(7), transcription=transcription)
        self.now = 0.0
        self.core.start(0.0)

    def _record(self, record: Record) -> None:
        self.records.append(record)
        self.judge.feed(record)

    def send(self, event: dict[str, Any]) -> None:
        self.now += 0.01
        self.core.receive(json.dumps(event), self.now)

    def speak(self, seconds: float) -> None:
        for chunk in (pcm16_tone(seconds), SILENCE, SILENCE, SILENCE):
            self.send({"type": "input_audio_buffer.append", "audio": base64.b64encode(chunk).decode()})

    def server(self, kind: str) -> list[dict[str, Any]]:
        return [r.event for r in self.records if r.direction is Direction.SERVER and r.event and r.event["type"] == kind]


def _declare(voice: Voice, session: dict[str, Any]) -> None:
    tools = [{"type": "function", "name": "get_your_info", "parameters": {"type": "object"}}]
    voice.send({"type": "session.update", "session": {**session, "tools": tools}})


def test_a_voice_client_that_only_streams_audio_gets_its_turn_and_passes() -> None:
    for dialect, session in ((Dialect.GA, {"type": "realtime"}), (Dialect.BETA, {})):
        voice = Voice(dialect)
        _declare(voice, session)
        voice.speak(0.6)
        started, stopped = voice.server("input_audio_buffer.speech_started"), voice.server("input_audio_buffer.speech_stopped")
        committed = voice.server("input_audio_buffer.committed")
        assert len(started) == len(stopped) == len(committed) == 1
        assert started[0]["item_id"] == stopped[0]["item_id"] == committed[0]["item_id"]
        (call,) = [e for e in voice.server("response.function_call_arguments.done")]  # the server answered the turn
        voice.send({"type": "conversation.item.create",
                    "item": {"type": "function_call_output", "call_id": call["call_id"], "output": "{}"}})
        voice.send({"type": "response.create"})
        assert voice.core.complete
        verdict = voice.judge.finish(voice.now)
        assert verdict.passed, [str(f) for f in verdict.findings]


def test_without_turn_detection_audio_is_only_buffered() -> None:
    voice = Voice(Dialect.GA)
    _declare(voice, {"type": "realtime", "audio": {"input": {"turn_detection": None}}})
    voice.speak(0.6)
    assert voice.server("input_audio_buffer.speech_started") == []
    assert voice.server("response.created") == []
    voice.send({"type": "input_audio_buffer.commit"})
    voice.send({"type": "response.create"})  # push-to-talk: the client commits and asks itself
    assert voice.server("response.function_call_arguments.done")


def test_vad_events_validate_against_the_official_models() -> None:
    from openai.types.beta.realtime import RealtimeServerEvent as BetaEvent
    from openai.types.realtime import RealtimeServerEvent as GAEvent
    from pydantic import TypeAdapter

    for dialect, model, session in ((Dialect.GA, GAEvent, {"type": "realtime"}), (Dialect.BETA, BetaEvent, {})):
        voice = Voice(dialect)
        _declare(voice, session)
        voice.speak(0.6)
        adapter: TypeAdapter[Any] = TypeAdapter(model)
        for kind in ("input_audio_buffer.speech_started", "input_audio_buffer.speech_stopped",
                     "input_audio_buffer.committed"):
            for event in voice.server(kind):
                assert adapter.validate_python(event).type == kind


def test_audio_that_is_not_base64_is_refused_with_a_hint_about_the_encoding() -> None:
    voice = Voice(Dialect.GA)
    voice.send({"type": "input_audio_buffer.append", "audio": "not base64 at all!"})
    (error,) = voice.server("error")
    assert error["error"]["code"] == "invalid_value" and error["error"]["param"] == "audio"
    (finding,) = voice.judge.findings
    assert finding.rule.value == "invalid-client-event" and "standard base64" in finding.hint


def test_a_stream_of_refused_audio_is_one_finding() -> None:
    voice = Voice(Dialect.GA)
    for _ in range(20):
        voice.send({"type": "input_audio_buffer.append", "audio": "not base64 at all!"})
    assert len(voice.server("error")) == 20  # the server answers each, as the service does
    assert [f.rule.value for f in voice.judge.findings] == ["invalid-client-event"]


def test_speech_the_vad_never_hears_stop_is_named_as_the_missing_turn() -> None:
    # PCM16 silence declared as G.711 µ-law is the loudest µ-law: the VAD hears speech without end
    voice = Voice(Dialect.GA)
    _declare(voice, {"type": "realtime", "audio": {"input": {"format": {"type": "audio/pcmu"}}}})
    for _ in range(20):
        voice.send({"type": "input_audio_buffer.append", "audio": base64.b64encode(bytes(1600)).decode()})
    assert voice.server("input_audio_buffer.speech_started") and not voice.server("input_audio_buffer.speech_stopped")
    (finding,) = voice.judge.finish(voice.now + 10).findings
    assert "never stop, over" in finding.message and "input format" in finding.hint


def test_a_transcription_session_transcribes_the_turn_and_no_model_answers_it() -> None:
    voice = Voice(Dialect.GA, transcription=True)  # `?intent=transcription`
    voice.send({"type": "session.update", "session": {"type": "transcription", "audio": {"input": {
        "transcription": {"model": "gpt-4o-transcribe"}, "turn_detection": {"type": "server_vad"}}}}})
    voice.speak(0.6)
    assert voice.server("input_audio_buffer.committed")
    assert voice.server("conversation.item.input_audio_transcription.completed")
    assert not voice.server("response.created")
    (finding,) = voice.judge.finish(voice.now + 10).findings  # the scenario asked for a conversation
    assert "this is a transcription session" in finding.message and finding.unplayed
