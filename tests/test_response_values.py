"""Values a client reads from the server: rate_limits.updated after each response.done, usage with
plausible token counts, the response object as the request shaped it, a scripted text answer
spoken in an audio-only session, input transcription when the session asks for it, and audio and
transcript deltas interleaved as the service streams them. Every event fits the official models."""

from __future__ import annotations

from typing import Any

import pytest
from test_event_shapes import shape_problems
from voice_drive import Drive, output, scenario, tools_of, user_message

from rtmock.mockserver.core.events import Dialect
from rtmock.mockserver.scenario.loader import LoadedScenario

TEXT = {"type": "realtime", "output_modalities": ["text"]}
LONG_INSTRUCTIONS = "You are a careful assistant. " * 40  # about 290 tokens: a prefix worth caching


def _round(dialect: Dialect = Dialect.GA, session: dict[str, Any] | None = None) -> Drive:
    """get_your_info, played through: the call, its output, the answer."""
    drive = Drive("get_your_info", dialect)
    base = TEXT if dialect is Dialect.GA else {"modalities": ["text"]}
    drive.update({**base, **(session or {}), "tools": tools_of(drive.scenario)})
    drive.send(user_message("What is my favorite food?"))
    drive.send({"type": "response.create"})
    drive.send(output(drive.calls()[0]["call_id"], '{"answer": "pizza"}'))
    drive.send({"type": "response.create"})
    assert drive.core.complete
    return drive


@pytest.mark.parametrize("dialect", [Dialect.GA, Dialect.BETA])
def test_rate_limits_follow_each_response_done_and_count_down(dialect: Dialect) -> None:
    drive = _round(dialect)
    kinds = drive.types()
    dones = [i for i, k in enumerate(kinds) if k == "response.done"]
    assert [kinds[i + 1] for i in dones] == ["rate_limits.updated"] * 2
    limits = [e["rate_limits"] for e in drive.server("rate_limits.updated")]
    assert [[r["name"] for r in rl] for rl in limits] == [["tokens"], ["tokens"]]
    first, second = limits[0][0], limits[1][0]
    assert first["limit"] > first["remaining"] > second["remaining"] > 0 and second["reset_seconds"] >= 0
    assert all(shape_problems(e, dialect) == [] for e in drive.server("rate_limits.updated"))


def test_voice_live_sends_no_rate_limits() -> None:
    assert _round(Dialect.VOICE_LIVE).server("rate_limits.updated") == []


@pytest.mark.parametrize("dialect", [Dialect.GA, Dialect.BETA])
def test_usage_counts_are_plausible_and_a_later_turn_reads_from_the_cache(dialect: Dialect) -> None:
    drive = _round(dialect, {"instructions": LONG_INSTRUCTIONS})
    first, second = (e["response"]["usage"] for e in drive.server("response.done"))
    for usage in (first, second):
        assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
        details = usage["input_token_details"]
        assert usage["input_tokens"] == details["text_tokens"] + details["audio_tokens"] > 290
        assert usage["output_tokens"] == sum(usage["output_token_details"].values()) > 0
    assert first["input_token_details"]["cached_tokens"] == 0
    cached = second["input_token_details"]["cached_tokens"]
    assert cached > 0 and cached % 64 == 0 and cached <= first["input_tokens"]
    assert second["input_tokens"] > first["input_tokens"]  # the call and its output are read too
    assert all(shape_problems(e, dialect) == [] for e in drive.server("response.done"))


def test_audio_counts_as_audio_tokens() -> None:
    drive = Drive("audio_answer")
    drive.update({**TEXT, "tools": tools_of(drive.scenario)})
    drive.send({"type": "response.create"})
    drive.send(output(drive.calls()[0]["call_id"]))
    drive.send({"type": "response.create"})
    usage = drive.server("response.done")[-1]["response"]["usage"]
    assert usage["output_token_details"]["audio_tokens"] == 10  # the 0.5 s spoken answer, 20 tokens a second
    assert usage["output_token_details"]["text_tokens"] > 0  # and its transcript


def test_a_scenario_may_set_the_counts() -> None:
    patched = scenario("steps:\n  - expect: response.create\n  - respond:\n      - text: hi\n"
                       "    usage: {input_text: 1200, cached_text: 1024, output_text: 7}\n")
    drive = Drive(patched)
    drive.update(TEXT)
    drive.send({"type": "response.create"})
    counts = drive.server("response.done")[0]["response"]["usage"]
    assert counts["input_tokens"] == 1200 and counts["input_token_details"]["cached_tokens"] == 1024
    assert counts["output_token_details"]["text_tokens"] == 7


def test_the_response_reports_what_the_request_asked_for() -> None:
    drive = Drive("get_your_info")
    drive.update({"type": "realtime", "tools": tools_of(drive.scenario)})
    asked = {"output_modalities": ["text"], "max_output_tokens": 200, "metadata": {"turn": "1"},
             "audio": {"output": {"voice": "marin"}}}
    drive.send({"type": "response.create", "response": asked})
    for kind in ("response.created", "response.done"):
        response = drive.server(kind)[0]["response"]
        assert response["output_modalities"] == ["text"] and response["max_output_tokens"] == 200
        assert response["metadata"] == {"turn": "1"} and response["audio"]["output"]["voice"] == "marin"
        assert response["conversation_id"].startswith("conv_")
        assert shape_problems(drive.server(kind)[0], Dialect.GA) == []


def test_a_beta_response_reports_its_request_and_session() -> None:
    drive = Drive("get_your_info", Dialect.BETA)
    drive.update({"voice": "verse", "temperature": 0.6, "tools": tools_of(drive.scenario)})
    drive.send({"type": "response.create", "response": {"modalities": ["text"], "max_response_output_tokens": 50}})
    response = drive.server("response.done")[0]["response"]
    assert (response["modalities"], response["voice"], response["temperature"], response["max_output_tokens"]) == \
        (["text"], "verse", 0.6, 50)


def test_a_text_answer_in_an_audio_only_session_is_spoken_with_its_transcript() -> None:
    drive = Drive("get_your_info")
    drive.update({"type": "realtime", "tools": tools_of(drive.scenario)})  # GA default: audio only
    drive.send({"type": "response.create"})
    drive.send(output(drive.calls()[0]["call_id"]))
    drive.send({"type": "response.create"})
    assert drive.server("response.output_text.delta") == []
    (transcript,) = drive.server("response.output_audio_transcript.done")
    assert transcript["transcript"] == "Your favorite food is pizza."
    assert drive.server("response.output_audio.delta")
    item = drive.server("response.output_item.done")[-1]["item"]
    assert item["content"] == [{"type": "output_audio", "transcript": "Your favorite food is pizza."}]


def test_audio_and_transcript_deltas_are_interleaved() -> None:
    drive = Drive("audio_answer")
    drive.update({"type": "realtime", "tools": tools_of(drive.scenario)})
    drive.send({"type": "response.create"})
    drive.send(output(drive.calls()[0]["call_id"]))
    drive.send({"type": "response.create"})
    kinds = [k for k in drive.types() if k in ("response.output_audio.delta", "response.output_audio_transcript.delta")]
    assert kinds == ["response.output_audio_transcript.delta", "response.output_audio.delta"] * 5


# ---- input transcription ---------------------------------------------------------------------------


def _transcribed(dialect: Dialect, played: str | LoadedScenario = "transcription") -> Drive:
    drive = Drive(played, dialect)
    if dialect is Dialect.GA:
        drive.update({**TEXT, "audio": {"input": {"transcription": {"model": "gpt-4o-transcribe"}}}})
    else:
        drive.update({"modalities": ["text"], "input_audio_transcription": {"model": "whisper-1"}})
    drive.speak(1.0)
    return drive


@pytest.mark.parametrize("dialect", list(Dialect))
def test_a_session_that_asks_for_transcription_gets_the_users_words(dialect: Dialect) -> None:
    drive = _transcribed(dialect)
    (committed,) = drive.server("input_audio_buffer.committed")
    deltas = drive.server("conversation.item.input_audio_transcription.delta")
    (completed,) = drive.server("conversation.item.input_audio_transcription.completed")
    assert completed["item_id"] == committed["item_id"] and completed["content_index"] == 0
    assert "".join(d["delta"] for d in deltas) == completed["transcript"]
    if dialect is Dialect.VOICE_LIVE:
        assert "usage" not in completed
    elif dialect is Dialect.BETA:  # whisper-1 is billed by duration
        assert completed["usage"]["type"] == "duration" and completed["usage"]["seconds"] > 1.0
    else:
        assert completed["usage"]["type"] == "tokens" and completed["usage"]["input_token_details"]["audio_tokens"] > 0
    if dialect is not Dialect.VOICE_LIVE:
        assert all(shape_problems(e, dialect) == [] for e in [*deltas, completed])
    assert drive.core.complete


def test_the_transcript_comes_from_the_scenario() -> None:
    patched = scenario("steps:\n  - expect: response.create\n    transcript: When do you open?\n"
                       "  - respond:\n      - text: nine\n")
    drive = _transcribed(Dialect.GA, patched)
    (completed,) = drive.server("conversation.item.input_audio_transcription.completed")
    assert completed["transcript"] == "When do you open?"
    assert [d["delta"] for d in drive.server("conversation.item.input_audio_transcription.delta")] == \
        ["When", " do", " you", " open?"]
    drive.send({"type": "conversation.item.retrieve", "item_id": completed["item_id"]})
    item = drive.server("conversation.item.retrieved")[0]["item"]
    assert item["content"][0]["transcript"] == "When do you open?"


def test_without_transcription_there_are_no_transcription_events() -> None:
    drive = Drive("transcription")
    drive.update(TEXT)
    drive.speak(1.0)
    assert drive.server("input_audio_buffer.committed")
    assert not [k for k in drive.types() if "input_audio_transcription" in k]
