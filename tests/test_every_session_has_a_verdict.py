"""A verdict for every session: whatever a client does — cancel, barge in, send out-of-band
requests, garbage, go silent mid-audio, close — each bundled scenario, played through the session
core and judged record by record on a virtual clock, ends in a verdict (the scenario completes, or a
finding) by its last bound once the client goes quiet, and never in an exception. A session whose
script waits for something no bound covers would leave `rtmock run` waiting for its --timeout: this
test fails on such a state, naming it."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from voice_drive import FRAME, Drive, silence, tools_of

from rtmock.mockserver.core.audio import input_format, tone
from rtmock.mockserver.core.events import Dialect
from rtmock.mockserver.scenario.loader import LoadedScenario, load_scenario
from rtmock.mockserver.scenario.model import (
    AudioPart,
    ExpectStep,
    FunctionCallPart,
    PauseStep,
    RespondStep,
    TextPart,
)

SCENARIOS = sorted((Path(__file__).resolve().parent.parent / "scenarios").glob("*.yaml"))

# ---- what a client may do -----------------------------------------------------------------------------

_update = st.fixed_dictionaries({
    "tools": st.booleans(), "modality": st.sampled_from(["text", "audio"]),
    "format": st.sampled_from(["pcm", "pcmu", "pcma"]),
    "vad": st.sampled_from(["server", "semantic", "off", "no_create", "no_interrupt"]),
    "transcribe": st.booleans(), "bogus": st.booleans()})
_create = st.sampled_from(["plain", "oob_summary", "oob", "instructions", "metadata", "bad"])
_ACTION_KINDS = [
    st.tuples(st.just("update"), _update),
    st.tuples(st.just("user_message")),
    st.tuples(st.just("create"), _create),
    st.tuples(st.just("cancel"), st.sampled_from(["none", "last", "wrong"])),
    st.tuples(st.just("output"), st.integers(0, 5), st.sampled_from(["ok", "ok", "not_string", "unknown", "item_id", "dup"])),
    st.tuples(st.just("speak"), st.sampled_from([0.1, 0.3, 0.6]), st.sampled_from([0.0, 0.1, 0.4, 0.8])),
    st.tuples(st.just("commit")), st.tuples(st.just("clear")),
    st.tuples(st.just("item"), st.sampled_from(["truncate", "delete", "retrieve"]), st.integers(0, 9), st.integers(0, 5000)),
    st.tuples(st.just("history")),
    st.tuples(st.just("garbage"), st.sampled_from(["{not json", '{"type": "no.such"}', "[]", "binary", '{"type": 1}'])),
    st.tuples(st.just("wait"), st.sampled_from([0.05, 0.3, 1.0, 2.5])),
    st.tuples(st.just("close")),
]
#: the exchanges that decide a scenario's course come up more often than the rest
ACTIONS = st.one_of(*_ACTION_KINDS, _ACTION_KINDS[0], _ACTION_KINDS[2], _ACTION_KINDS[2], _ACTION_KINDS[3],
                    _ACTION_KINDS[4], _ACTION_KINDS[5], _ACTION_KINDS[11])

_TEXT_CLIENT = {"tools": True, "modality": "text", "format": "pcm", "vad": "server", "transcribe": False, "bogus": False}
#: Sessions that once had no verdict: each ran until `rtmock run --timeout`.
STUCK_BEFORE: list[list[tuple[Any, ...]]] = [
    # cancel a response while its function call streams, leave the call unanswered, start a new turn
    [("update", _TEXT_CLIENT), ("user_message",), ("create", "plain"), ("wait", 0.3), ("cancel", "none"),
     ("user_message",), ("create", "plain")],
    # a voice turn, then the user speaks again while the calling response is still active
    [("update", _TEXT_CLIENT), ("speak", 0.3, 0.4), ("speak", 0.3, 0.4), ("wait", 0.3)],
    # an out-of-band request while a response is active, then the round as it should be
    [("update", _TEXT_CLIENT), ("create", "plain"), ("create", "oob_summary"), ("output", 0, "ok"), ("wait", 1.0),
     ("create", "plain")],
]


def _session_update(drive: Drive, spec: dict[str, Any]) -> dict[str, Any]:
    vad: Any = {"server": {"type": "server_vad"}, "semantic": {"type": "semantic_vad"}, "off": None,
                "no_create": {"type": "server_vad", "create_response": False},
                "no_interrupt": {"type": "server_vad", "interrupt_response": False}}[spec["vad"]]
    tools = tools_of(drive.scenario) if spec["tools"] else []
    if drive.dialect is Dialect.GA:
        fmt = {"type": {"pcm": "audio/pcm", "pcmu": "audio/pcmu", "pcma": "audio/pcma"}[spec["format"]]}
        session: dict[str, Any] = {
            "type": "realtime", "output_modalities": [spec["modality"]], "tools": tools,
            "audio": {"input": {"format": fmt, "turn_detection": vad,
                                "transcription": {"model": "gpt-4o-transcribe"} if spec["transcribe"] else None},
                      "output": {"format": fmt}}}
    else:
        if drive.dialect is Dialect.VOICE_LIVE and vad is not None and vad["type"] == "semantic_vad":
            vad = {"type": "azure_semantic_vad"}
        fmt_name = {"pcm": "pcm16", "pcmu": "g711_ulaw", "pcma": "g711_alaw"}[spec["format"]]
        session = {"modalities": ["text"] if spec["modality"] == "text" else ["text", "audio"], "tools": tools,
                   "input_audio_format": fmt_name, "output_audio_format": fmt_name, "turn_detection": vad,
                   "input_audio_transcription": {"model": "whisper-1"} if spec["transcribe"] else None}
    if spec["bogus"]:
        session["no_such_key"] = 1
    return {"type": "session.update", "session": session}


def _create_event(drive: Drive, kind: str) -> dict[str, Any] | str:
    modalities = {"output_modalities": ["text"]} if drive.dialect is Dialect.GA else {"modalities": ["text"]}
    return {"plain": {"type": "response.create"},
            "oob_summary": {"type": "response.create",
                            "response": {"conversation": "none", "metadata": {"purpose": "summary"}, **modalities}},
            "oob": {"type": "response.create", "response": {"conversation": "none"}},
            "instructions": {"type": "response.create", "response": {"instructions": "Answer briefly."}},
            "metadata": {"type": "response.create", "response": {"metadata": {"turn": "x"}}},
            "bad": {"type": "response.create", "response": {"conversation": 5}}}[kind]


def _items(drive: Drive) -> list[str]:
    return [e["item"]["id"] for e in drive.server("conversation.item.added") + drive.server("conversation.item.created")]


def _act(drive: Drive, action: tuple[Any, ...]) -> bool:
    """Carry out one client action; False when the client closed the session."""
    kind = action[0]
    if kind == "update":
        drive.send(_session_update(drive, action[1]))
    elif kind == "user_message":
        drive.send({"type": "conversation.item.create",
                    "item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Hi"}]}})
    elif kind == "create":
        drive.send(_create_event(drive, action[1]))
    elif kind == "cancel":
        created = drive.server("response.created")
        wanted = {"none": None, "last": created[-1]["response"]["id"] if created else None, "wrong": "resp_nope"}[action[1]]
        drive.send({"type": "response.cancel", **({"response_id": wanted} if wanted else {})})
    elif kind == "output":
        calls = [e["item"] for e in drive.server("response.output_item.added") if e["item"]["type"] == "function_call"]
        call = calls[action[1] % len(calls)] if calls else None
        call_id = {"unknown": "call_unknown", "item_id": call["id"] if call else "item_x"}.get(
            action[2], call["call_id"] if call else "call_none")
        out: Any = {"n": 1} if action[2] == "not_string" else "{}"
        event = {"type": "conversation.item.create", "item": {"type": "function_call_output", "call_id": call_id,
                                                              "output": out}}
        drive.send(event)
        if action[2] == "dup":
            drive.send(event)
    elif kind == "speak":
        fmt = input_format(drive.core.session, drive.dialect.beta_shaped)
        drive.stream(tone(action[1], fmt) + silence(action[2], fmt), fmt)
    elif kind == "commit":
        drive.send({"type": "input_audio_buffer.commit"})
    elif kind == "clear":
        drive.send({"type": "input_audio_buffer.clear"})
    elif kind == "item":
        items = _items(drive)
        item_id = items[action[2] % len(items)] if items else "item_none"
        extra = {"content_index": 0, "audio_end_ms": action[3]} if action[1] == "truncate" else {}
        drive.send({"type": f"conversation.item.{action[1]}", "item_id": item_id, **extra})
    elif kind == "history":
        drive.send({"type": "conversation.item.create",
                    "item": {"type": "function_call", "call_id": f"call_h{len(drive.records)}", "name": "x",
                             "arguments": "{}"}})
    elif kind == "garbage":
        if action[1] == "binary":
            drive.core.receive_binary(b"\x00\x01", drive.now)
        else:
            drive.send(action[1])
    elif kind == "wait":
        drive.wait(action[1])
    elif kind == "close":
        drive.now += 0.01
        drive.core.client_closed(drive.now, 1000)
        return False
    return True


# ---- the bound ---------------------------------------------------------------------------------------


def _last_bound(played: LoadedScenario) -> float:
    """How long after the client's last event a verdict may take, at most: every bound of the script
    and every sleep in it, one after another (and one default bound for a call no step awaits)."""
    default = played.scenario.defaults.within
    total = default + FRAME
    for step in played.scenario.steps:
        if isinstance(step, ExpectStep):
            total += step.within if step.within is not None else default
        elif isinstance(step, PauseStep):
            total += step.pause
        elif isinstance(step, RespondStep):
            frames = 0
            for part in step.respond:
                if isinstance(part, FunctionCallPart):
                    frames += len(part.deltas) if part.deltas is not None else part.chunks
                elif isinstance(part, TextPart | AudioPart):
                    frames += 2 * part.chunks + 2
            total += step.hold + step.delta_interval * frames
    return total


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(dialect=st.sampled_from(list(Dialect)), actions=st.lists(ACTIONS, max_size=12))
@example(dialect=Dialect.GA, actions=STUCK_BEFORE[0])
@example(dialect=Dialect.BETA, actions=STUCK_BEFORE[1])
@example(dialect=Dialect.GA, actions=STUCK_BEFORE[2])
def test_every_session_ends_in_a_verdict_by_its_last_bound(path: Path, dialect: Dialect,
                                                           actions: list[tuple[Any, ...]]) -> None:
    played = load_scenario(path)
    drive = Drive(played, dialect)
    for action in actions:
        if not _act(drive, action):
            verdict = drive.finish()  # the client went away: the verdict is decided now
            assert verdict.passed or verdict.findings or drive.judge.closed_by == "server"
            return
    quiet, limit = drive.now, drive.now + _last_bound(played)
    while not (drive.findings or drive.core.complete or drive.core.closed):
        pending = [t for t in (drive.core.next_deadline, drive.judge.next_deadline()) if t is not None]
        assert pending, _stuck(drive)
        assert min(pending) <= limit, f"the next bound, t={min(pending):.2f}, is past the last one ({limit:.2f})"
        drive.advance(max(drive.now, min(pending)))
    assert drive.now <= limit, f"a verdict at t={drive.now:.2f}, {drive.now - quiet:.2f}s after the client went quiet"
    drive.finish()


def _stuck(drive: Drive) -> str:
    """What the session was waiting for, when nothing is pending and no verdict came."""
    reached = [n for n in drive.notes("rtmock.step.reached")]
    matched = {n["step"] for n in drive.notes("rtmock.step.matched")} | {n["step"] for n in drive.notes("rtmock.step.skipped")}
    waiting = [f"step {n['step']} ({n['expect']})" for n in reached if n["step"] not in matched]
    last = [f"{r.direction.value} {r.type}" for r in drive.records[-12:]]
    return f"no verdict and nothing pending: the script waits for {waiting}; last records: {json.dumps(last)}"


def test_the_bound_counts_every_wait_of_the_script() -> None:
    played = load_scenario(Path(__file__).resolve().parent.parent / "scenarios" / "cancel_function_call.yaml")
    # 5 + 5 + 5 + 5 (expects) + 8 × 0.25 + 1 (the call's deltas, hold) + 5 (a call no step awaits) + a frame
    assert _last_bound(played) == pytest.approx(5 * 4 + 2 + 1 + 5 + FRAME)


def test_audio_for_the_property_is_base64_of_the_sessions_format() -> None:
    drive = Drive("barge_in")
    _act(drive, ("update", {"tools": False, "modality": "audio", "format": "pcmu", "vad": "server",
                            "transcribe": False, "bogus": False}))
    _act(drive, ("speak", 0.3, 0.4))
    appended = [json.loads(r.raw or "null") or r.event for r in drive.records if r.event and
                r.event["type"] == "input_audio_buffer.append"]
    assert all(len(base64.b64decode(e["audio"])) == 160 for e in appended)  # 20 ms of µ-law
    assert drive.server("input_audio_buffer.speech_started")
