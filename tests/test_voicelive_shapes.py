"""Azure Voice Live: every server event rtmock sends on `…/voice-live/realtime` is one the
`azure-ai-voicelive` models accept, and its client events are checked against the same models.

The SDK reads a frame with `ServerEvent._deserialize(payload, [])` (`azure/ai/voicelive/aio/_patch.py`,
`VoiceLiveConnection.recv`), which is lenient: it picks the class by `type` and reads fields lazily,
so a missing or misspelled field only shows when the application touches it. The check here is
strict instead: the SDK must pick the event's own class (and the item's, the content part's…), every
field the model declares as required (not `Optional`) must be there with the annotated type, and no
field the model does not declare may appear, except the few in `KNOWN_EXTRAS` / `KNOWN_MISSING`,
each with its reason. Then every field is read through the SDK, as an application would.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import enum
import json
import typing
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

vl_models = pytest.importorskip("azure.ai.voicelive.models", reason="azure-ai-voicelive is not installed")

import azure.ai.voicelive._unions as vl_unions  # noqa: E402
from azure.ai.voicelive._utils.model_base import Model, _RestField  # noqa: E402
from azure.ai.voicelive.models import _models as vl_generated  # noqa: E402
from test_event_shapes import AUDIO_200MS, PROBE, Peer, function_output, play, user_message  # noqa: E402

from rtmock.mockserver.core import _voicelive_shapes  # noqa: E402
from rtmock.mockserver.core._voicelive_generate import shapes as generated_shapes  # noqa: E402
from rtmock.mockserver.core.client_events import Rejection, validate_client_event  # noqa: E402
from rtmock.mockserver.core.events import Dialect  # noqa: E402
from rtmock.mockserver.net.server import MockServer  # noqa: E402
from rtmock.mockserver.scenario.loader import LoadedScenario, load_scenario, load_scenario_text  # noqa: E402

SCENARIO_DIR = Path(__file__).resolve().parent.parent / "scenarios"
BUNDLED = sorted(SCENARIO_DIR.glob("*.yaml"))
VL = Dialect.VOICE_LIVE
#: how the SDK dials (aio/_patch.py `_prepare_url`, `_get_auth_headers` with an AzureKeyCredential)
QUERY = "?api-version=2026-07-15&model=gpt-realtime"
HEADERS = {"api-key": "rtmock-test"}

# ---- a strict reading of the azure-ai-voicelive models ---------------------------------------------

#: the models annotate with "_models.X" / "_unions.Voice", imported only under TYPE_CHECKING
_NAMESPACE = {**vars(vl_generated), "_models": vl_models, "_unions": vl_unions}

#: (model, field) the service sends though the model does not declare it
KNOWN_EXTRAS = {
    # Azure's example session.created (azure-rest-api-specs VoiceLive/examples/2025-10-01/
    # SessionInitialization.json) has `"object": "realtime.session"`; `ResponseSession` does not declare it
    ("ResponseSession", "object"),
}
#: (model, field) the model requires but rtmock leaves out
KNOWN_MISSING = {
    # a user audio item committed from the buffer: `RequestAudioContentPart.audio` is required, but
    # the service echoes a committed item without its audio bytes (as OpenAI's does: `transcript` only)
    ("RequestAudioContentPart", "audio"),
}


def _fields(cls: type) -> dict[str, Any]:
    """REST name → annotation of every field of a model class (its bases' first)."""
    hints = typing.get_type_hints(cls, globalns=_NAMESPACE, localns=_NAMESPACE)
    out: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):
        for attr, value in vars(klass).items():
            if isinstance(value, _RestField):
                out[value._rest_name_input or attr] = hints[attr]
    return out


def _nullable(annotation: Any) -> bool:
    return typing.get_origin(annotation) is typing.Union and type(None) in typing.get_args(annotation)


def _literal_values(annotation: Any) -> list[Any]:
    return [v.value if isinstance(v, enum.Enum) else v for v in typing.get_args(annotation)]


def problems(value: Any, annotation: Any, path: str) -> list[str]:
    """Why `value` is not what `annotation` (a models annotation) describes; empty when it is."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Union:
        if value is None:
            return [] if type(None) in args else [f"{path}: null"]
        tried = [problems(value, option, path) for option in args if option is not type(None)]
        return [] if any(not p for p in tried) else min(tried, key=len)
    if origin is typing.Literal:
        return [] if value in _literal_values(annotation) else [f"{path}: {value!r} is not one of {_literal_values(annotation)}"]
    if origin is list:
        if not isinstance(value, list):
            return [f"{path}: not an array: {value!r}"]
        return [p for i, element in enumerate(value) for p in problems(element, args[0], f"{path}[{i}]")]
    if origin is dict:
        if not isinstance(value, dict):
            return [f"{path}: not an object: {value!r}"]
        return [p for key, element in value.items() for p in problems(element, args[1], f"{path}.{key}")]
    if annotation is Any:
        return []
    if isinstance(annotation, type) and issubclass(annotation, Model):
        return _model_problems(value, annotation, path)
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return [] if value in [m.value for m in annotation] else [f"{path}: {value!r} is not a {annotation.__name__}"]
    checks = {
        str: lambda v: isinstance(v, str),
        bool: lambda v: isinstance(v, bool),
        int: lambda v: isinstance(v, int) and not isinstance(v, bool),
        float: lambda v: isinstance(v, int | float) and not isinstance(v, bool),
        bytes: _is_base64,  # rest_field(format="base64")
        datetime.datetime: lambda v: isinstance(v, int) and not isinstance(v, bool),  # format="unix-timestamp"
    }
    if annotation not in checks:
        return [f"{path}: the check does not know {annotation!r}"]
    return [] if checks[annotation](value) else [f"{path}: {value!r} is not a {annotation.__name__}"]


def _is_base64(value: Any) -> bool:
    try:
        return isinstance(value, str) and (base64.b64decode(value, validate=True) is not None)
    except binascii.Error:
        return False


def _model_problems(value: Any, cls: type, path: str) -> list[str]:
    if not isinstance(value, dict):
        return [f"{path}: not an object: {value!r}"]
    concrete = type(cls._deserialize(value, [])) if cls.__dict__.get("__mapping__") else cls  # as the SDK picks it
    if concrete.__dict__.get("__mapping__"):
        return [f"{path}: the SDK has no {cls.__name__} for {value!r}"]
    fields = _fields(concrete)
    found = [f"{path}.{key}: {concrete.__name__} declares no such field" for key in value
             if key not in fields and (concrete.__name__, key) not in KNOWN_EXTRAS]
    for key, annotation in fields.items():
        if key in value:
            found += problems(value[key], annotation, f"{path}.{key}")
        elif not _nullable(annotation) and annotation is not Any and (concrete.__name__, key) not in KNOWN_MISSING:
            found.append(f"{path}.{key}: required by {concrete.__name__}, missing")
    return found


def _touch(model: Any) -> None:
    """Read every field through the SDK, as an application would (lazy deserialisation raises here)."""
    for attr in type(model)._attr_to_rest_field:
        value = getattr(model, attr)
        for element in value if isinstance(value, list) else [value]:
            if isinstance(element, Model):
                _touch(element)


def shape_problems(event: dict[str, Any]) -> list[str]:
    """Why azure-ai-voicelive's models refuse `event` (empty when they accept it)."""
    kind = event.get("type")
    if not isinstance(event.get("event_id"), str) or not event["event_id"]:
        return [f"{kind}: no event_id"]
    cls = vl_models.ServerEvent.__mapping__.get(kind)
    if cls is None:
        return [f"{kind}: not a Voice Live server event type"]
    found = _model_problems(event, cls, "event")
    if not found:
        parsed = vl_models.ServerEvent._deserialize(json.loads(json.dumps(event)), [])
        assert type(parsed) is cls
        _touch(parsed)
    return [f"{kind}: {p}" for p in found]


def assert_shapes(frames: list[dict[str, Any]]) -> None:
    found = [p for f in frames for p in shape_problems(f)]
    assert not found, "\n".join(found)


# ---- the server's events -------------------------------------------------------------------------


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def voice_live_url(srv: MockServer, scenario: str | None = None) -> str:
    return srv.http_base(scenario).replace("http://", "ws://", 1) + "/voice-live/realtime" + QUERY


def test_there_are_bundled_scenarios() -> None:
    assert {"get_your_info.yaml", "parallel_calls.yaml", "audio_answer.yaml"} <= {p.name for p in BUNDLED}


async def test_every_event_of_every_bundled_scenario_fits_the_voicelive_models(http: aiohttp.ClientSession) -> None:
    # Voice Live has no out-of-band responses (its `ResponseCreateParams` has no `conversation`)
    bundled = [s for s in (load_scenario(p) for p in BUNDLED)
               if not any(getattr(step, "match", None) and "response.conversation" in step.match
                          for step in s.scenario.steps)]
    async with MockServer(bundled, tls=False) as srv:
        for scenario in bundled:
            async with http.ws_connect(voice_live_url(srv, scenario.name), headers=HEADERS) as ws:
                peer = Peer(ws)
                await play(peer, scenario, VL)
            session = srv.sessions[-1]
            assert session.scenario is scenario and session.dialect is VL
            assert session.complete, f"{scenario.name}: the scripted client did not complete the scenario"
            assert peer.frames[0]["type"] == "session.created"
            errors = [f for f in peer.frames if f["type"] == "error" and f["event_id"] != "event_rtmock_server_error"]
            assert errors == [], f"{scenario.name}: a correct client got errors"
            assert_shapes(peer.frames)
            kinds = {f["type"] for f in peer.frames}
            assert not kinds & {"conversation.item.added", "conversation.item.done", "response.output_text.delta",
                                "response.output_audio.delta"}, f"{scenario.name}: GA event names on Voice Live"


async def test_errors_echoes_cancel_and_audio_commit_fit_the_voicelive_models(http: aiohttp.ClientSession) -> None:
    probe = load_scenario_text(PROBE)
    async with MockServer([probe], tls=False) as srv, http.ws_connect(voice_live_url(srv), headers=HEADERS) as ws:
        peer = Peer(ws)
        created = await peer.until_type("session.created")
        errors: dict[str, str | None] = {}

        async def refused(event: dict[str, Any] | str, name: str) -> None:
            await (ws.send_str(event) if isinstance(event, str) else peer.send({**event, "event_id": name}))
            error = await peer.until_type("error")
            errors[name] = error["error"]["code"]

        await refused({"type": "input_audio_buffer.commit"}, "commit_empty")
        await refused({"type": "response.cancel"}, "cancel_idle")
        await refused("{not json", "bad_json")
        await refused({"type": "conversation.item.added"}, "unknown_type")
        await refused({"type": "session.update", "session": {"speed": 1.2}}, "unknown_parameter")
        await refused({"type": "session.update", "session": {"voice": {"type": "azure-standard"}}}, "missing_voice_name")
        await refused({"type": "conversation.item.retrieve", "item_id": "item_missing"}, "retrieve_missing")
        await refused(function_output("call_nope", "{}"), "unknown_call")
        await refused({"type": "session.avatar.connect", "client_sdp": "v=0"}, "avatar")

        # Azure's own session keys, set and echoed back merged into the session
        azure = {"modalities": ["text", "audio"], "voice": {"type": "azure-standard", "name": "en-US-AvaNeural"},
                 "input_audio_sampling_rate": 24000, "input_audio_echo_cancellation": {"type": "server_echo_cancellation"},
                 "input_audio_noise_reduction": {"type": "azure_deep_noise_suppression"},
                 "turn_detection": {"type": "azure_semantic_vad", "silence_duration_ms": 500, "remove_filler_words": True},
                 "output_audio_timestamp_types": ["word"], "animation": {"outputs": ["viseme_id"]},
                 "avatar": {"character": "lisa", "customized": False, "style": "casual-sitting"},
                 "tools": [{"type": "function", "name": "lookup", "description": "",
                            "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}}]}
        await peer.send({"type": "session.update", "session": azure})
        updated = (await peer.until_type("session.updated"))["session"]
        assert {k: updated[k] for k in azure} == azure
        assert updated["id"] == created["session"]["id"] and updated["instructions"] == ""
        assert "threshold" not in updated["turn_detection"]  # another type replaces, not merges

        await peer.send(user_message("Hi", "msg_client_1"))
        await peer.until(lambda e: e["type"] == "conversation.item.created" and e["item"]["id"] == "msg_client_1")
        await peer.send({"type": "conversation.item.retrieve", "item_id": "msg_client_1"})
        await peer.until_type("conversation.item.retrieved")
        await peer.send({"type": "conversation.item.delete", "item_id": "msg_client_1"})
        await peer.until_type("conversation.item.deleted")
        await peer.send({"type": "input_audio_buffer.append", "audio": AUDIO_200MS})
        await peer.send({"type": "input_audio_buffer.clear"})
        await peer.until_type("input_audio_buffer.cleared")
        await peer.send({"type": "input_audio_buffer.append", "audio": AUDIO_200MS})
        await peer.send({"type": "input_audio_buffer.commit"})
        await peer.until_type("input_audio_buffer.committed")

        await peer.send({"type": "response.create", "additional_instructions": "Be brief.",
                         "response": {"metadata": {"topic": "probe"}, "commit": True}})
        done = await peer.until_type("response.done")
        call = done["response"]["output"][2]
        audio_item = done["response"]["output"][1]["id"]  # only assistant audio can be truncated
        await peer.send({"type": "conversation.item.truncate", "item_id": audio_item, "content_index": 0,
                         "audio_end_ms": 50})
        await peer.until_type("conversation.item.truncated")
        assert [o["type"] for o in done["response"]["output"]] == ["message", "message", "function_call"]
        assert done["response"]["metadata"] == {"topic": "probe"}
        assert done["response"]["voice"] == azure["voice"]  # the session's voice, as the response used it
        await peer.send(function_output(call["call_id"], json.dumps({"answer": 42})))
        echo = await peer.until_type("conversation.item.created")
        assert echo["item"]["type"] == "function_call_output" and "status" not in echo["item"]
        await peer.send({"type": "response.create", "response": None})
        created_response = await peer.until_type("response.created")
        await refused({"type": "response.create", "response": {"cancel_previous": False}}, "create_while_active")
        await peer.send({"type": "response.cancel", "response_id": created_response["response"]["id"]})
        cancelled = await peer.until_type("response.done")
        assert cancelled["response"]["status"] == "cancelled"
        for status in ("incomplete", "failed"):
            await peer.send({"type": "response.create"})
            done = await peer.until_type("response.done")
            assert done["response"]["status"] == status

        assert srv.sessions[0].complete and srv.sessions[0].dialect is VL
        assert errors == {
            "commit_empty": "input_audio_buffer_commit_empty",
            "cancel_idle": "response_cancel_not_active",
            "bad_json": "invalid_json",
            "unknown_type": "invalid_value",
            "unknown_parameter": "unknown_parameter",
            "missing_voice_name": "missing_required_parameter",
            "retrieve_missing": "item_retrieve_invalid_item_id",
            "unknown_call": "invalid_tool_call_id",
            "avatar": "unsupported",
            "create_while_active": "conversation_already_has_active_response",
        }
        kinds = {f["type"] for f in peer.frames}
        # (the session's modalities are ["text", "audio"]: the scripted text is spoken, as the service
        # does; text deltas are checked by the bundled scenarios' text-only sessions)
        assert {"response.function_call_arguments.delta", "response.audio.delta",
                "response.audio_transcript.delta", "response.content_part.added", "input_audio_buffer.committed",
                "conversation.item.created"} <= kinds
        assert_shapes(peer.frames)


def test_the_shape_check_catches_a_bad_event() -> None:
    item = {"id": "item_1", "object": "realtime.item", "type": "function_call", "status": "in_progress",
            "name": "f", "call_id": "call_1", "arguments": ""}
    good: dict[str, Any] = {"type": "response.output_item.added", "event_id": "event_1", "response_id": "resp_1",
                            "output_index": 0, "item": item}
    assert shape_problems(good) == []
    assert shape_problems({**good, "event_id": None}) == ["response.output_item.added: no event_id"]
    assert shape_problems({k: v for k, v in good.items() if k != "response_id"})  # a required field
    assert shape_problems({**good, "output_index": "0"})  # a wrong type
    assert shape_problems({**good, "outputindex": 0})  # a field the model does not declare
    assert shape_problems({**good, "item": {k: v for k, v in item.items() if k != "call_id"}})  # nested
    assert shape_problems({**good, "item": {**item, "type": "functioncall"}})  # no such item type
    assert shape_problems({**good, "type": "conversation.item.added"})  # a GA event name
    session = {"type": "session.created", "event_id": "e", "session": {"id": "s", "expires_at": "soon"}}
    assert shape_problems(session)  # format unix-timestamp
    audio = {"type": "response.audio.delta", "event_id": "e", "response_id": "r", "item_id": "i",
             "output_index": 0, "content_index": 0, "delta": "not base64!"}
    assert shape_problems(audio)


# ---- which connections speak Voice Live ----------------------------------------------------------


def _pinned(dialect: str) -> LoadedScenario:
    return load_scenario_text(f"name: pinned\ndialect: {dialect}\nsteps:\n  - expect: session.update\n")


@pytest.mark.parametrize(("path", "dialect", "served"), [
    ("/voice-live/realtime", "any", VL),
    ("/some/prefix/voice-live/realtime/", "any", VL),
    ("/voice-live/realtime", "ga", Dialect.GA),  # a pinned dialect wins
    ("/v1/realtime", "voice-live", VL),
    ("/openai/realtime", "any", Dialect.BETA),
])
async def test_the_path_or_the_scenario_picks_voice_live(http: aiohttp.ClientSession, path: str, dialect: str,
                                                          served: Dialect) -> None:
    async with MockServer([_pinned(dialect)], tls=False) as srv:
        url = srv.http_base().replace("http://", "ws://", 1) + path + QUERY
        async with http.ws_connect(url, headers=HEADERS) as ws:
            created = await Peer(ws).until_type("session.created")
        assert srv.sessions[0].dialect is served
        assert ("modalities" in created["session"]) == served.beta_shaped


def test_a_scenario_may_pin_voice_live() -> None:
    assert _pinned("voice-live").scenario.dialect == "voice-live"


# ---- the client events: generated from the models -----------------------------------------------


def test_the_client_event_shapes_are_generated_from_the_installed_package() -> None:
    """`_voicelive_shapes.py` is what `_voicelive_generate.py` makes of the installed
    `azure-ai-voicelive`: a release that changes a client event fails here until it is regenerated."""
    defs, events = generated_shapes()
    assert (events, defs) == (_voicelive_shapes.EVENTS, _voicelive_shapes.DEFS), (
        f"mockserver/core/_voicelive_shapes.py was made from {_voicelive_shapes.GENERATED_FROM}: run "
        "`python -m rtmock.mockserver.core._voicelive_generate > mockserver/core/_voicelive_shapes.py`")
    assert set(events) == set(vl_models.ClientEvent.__mapping__)


def _sdk_events() -> list[Any]:
    """Client events as the SDK builds them: the README's minimal session, the function-calling
    sample's session, its FunctionCallOutputItem, a response.create with Voice Live's own fields."""
    m = vl_models
    minimal = m.RequestSession(
        modalities=[m.Modality.TEXT, m.Modality.AUDIO], instructions="You are a helpful assistant.",
        input_audio_format=m.InputAudioFormat.PCM16, output_audio_format=m.OutputAudioFormat.PCM16,
        input_audio_echo_cancellation=m.AudioEchoCancellation(),
        turn_detection=m.ServerVad(threshold=0.5, prefix_padding_ms=300, silence_duration_ms=500))
    sample = m.RequestSession(
        modalities=[m.Modality.TEXT, m.Modality.AUDIO], instructions="Use the functions.",
        voice=m.AzureStandardVoice(name="en-US-AvaNeural"), input_audio_format=m.InputAudioFormat.PCM16,
        output_audio_format=m.OutputAudioFormat.PCM16, input_audio_echo_cancellation=m.AudioEchoCancellation(),
        turn_detection=m.ServerVad(threshold=0.5, prefix_padding_ms=300, silence_duration_ms=500),
        tools=[m.FunctionTool(name="get_current_time", description="Get the current time",
                              parameters={"type": "object", "properties": {}, "required": []})],
        tool_choice=m.ToolChoiceLiteral.AUTO, input_audio_transcription=m.AudioInputTranscriptionOptions(model="whisper-1"),
        input_audio_noise_reduction=m.AudioNoiseReduction(type="azure_deep_noise_suppression"), temperature=None)
    return [
        m.ClientEventSessionUpdate(session=minimal),
        m.ClientEventSessionUpdate(session=sample),  # temperature=None: the SDK sends an explicit null
        m.ClientEventConversationItemCreate(previous_item_id="item_1", item=m.FunctionCallOutputItem(
            call_id="call_1", output=json.dumps({"time": "noon"}))),
        m.ClientEventConversationItemCreate(item=m.UserMessageItem(content=[m.InputTextContentPart(text="Hi")])),
        m.ClientEventResponseCreate(additional_instructions="Be brief.", response=m.ResponseCreateParams(
            modalities=["text"], voice=m.AzureStandardVoice(name="en-US-AvaNeural"), max_output_tokens="inf",
            cancel_previous=False, metadata={"topic": "t"})),
        m.ClientEventInputTextDelta(id="item_1", delta="Hel"),
    ]


@pytest.mark.parametrize("event", _sdk_events(), ids=lambda e: e.type)
def test_events_the_sdk_builds_are_accepted(event: Any) -> None:
    text = json.dumps(event.as_dict())
    assert validate_client_event(text, VL.value) == json.loads(text)


@pytest.mark.parametrize(("event", "code", "param"), [
    # the GA session layout on Voice Live
    ({"type": "session.update", "session": {"type": "realtime", "output_modalities": ["audio"]}},
     "unknown_parameter", "session.type"),
    ({"type": "session.update", "session": {"voice": {"type": "azure-standart", "name": "x"}}},
     "invalid_value", "session.voice.type"),
    ({"type": "session.update", "session": {"tools": [{"type": "function", "name": "f", "strict": True}]}},
     "unknown_parameter", "session.tools[0].strict"),
    ({"type": "session.update", "session": {"input_audio_sampling_rate": "24000"}},
     "invalid_type", "session.input_audio_sampling_rate"),
    ({"type": "conversation.item.create", "item": {"type": "function_call_output", "call_id": "c", "output": {}}},
     "invalid_type", "item.output"),
    ({"type": "conversation.item.create"}, "missing_required_parameter", "item"),  # rtmock's choice: see the generator
    ({"type": "response.create", "response": {"conversation": "none"}}, "unknown_parameter", "response.conversation"),
    ({"type": "transcription_session.update", "session": {}}, "invalid_value", "type"),
])
def test_what_the_models_do_not_define_is_refused(event: dict[str, Any], code: str, param: str) -> None:
    verdict = validate_client_event(json.dumps(event), VL.value)
    assert isinstance(verdict, Rejection) and (verdict.code, verdict.param) == (code, param), verdict
