"""Every server event the mock sends is one the official `openai` models accept, in both dialects.

A scripted client plays each bundled scenario (and a probe scenario covering text, audio, function
calls, errors, item echoes, cancel and audio commit) over a real socket; each frame it receives is
validated with pydantic against the official model for its `type`: GA
`openai.types.realtime.RealtimeServerEvent` or beta `openai.types.beta.realtime.RealtimeServerEvent`.
Strict clients (openai-agents, Azure's rtclient) validate like this and stop reading on a failure.
The client-event tables are checked against the official client-event params the same way.
"""

from __future__ import annotations

import asyncio
import base64
import json
import typing
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, get_args, get_origin

import aiohttp
import openai.types.beta.realtime as beta_types
import openai.types.realtime as ga_types
import openai.types.realtime.realtime_tools_config_union_param as ga_tools_union
import pytest
from pydantic import BaseModel, TypeAdapter, ValidationError

from rtmock.mockserver.core import client_events
from rtmock.mockserver.core._shapes_generate import generate
from rtmock.mockserver.core.client_events import Rejection, validate_client_event
from rtmock.mockserver.core.events import Dialect
from rtmock.mockserver.net.server import MockServer
from rtmock.mockserver.scenario.loader import LoadedScenario, load_scenario, load_scenario_text
from rtmock.mockserver.scenario.model import CloseStep, ExpectStep, RespondStep, SendStep

BOUND = 10.0  # seconds any awaited condition may take
SCENARIO_DIR = Path(__file__).resolve().parent.parent / "scenarios"
BUNDLED = sorted(SCENARIO_DIR.glob("*.yaml"))

# ---- the official models -------------------------------------------------------------------------


def _members(union: Any) -> dict[str, type[BaseModel]]:
    """The official union's member models by their `type` literal."""
    if get_origin(union) is typing.Annotated:
        union = get_args(union)[0]
    out: dict[str, type[BaseModel]] = {}
    for model in get_args(union):
        for literal in get_args(model.model_fields["type"].annotation):
            out[literal] = model
    return out


OFFICIAL = {
    Dialect.GA: (ga_types.RealtimeServerEvent, _members(ga_types.RealtimeServerEvent)),
    Dialect.BETA: (beta_types.RealtimeServerEvent, _members(beta_types.RealtimeServerEvent)),
}
_ADAPTERS: dict[Any, TypeAdapter[Any]] = {}


def _adapter(kind: Any) -> TypeAdapter[Any]:
    if kind not in _ADAPTERS:
        _ADAPTERS[kind] = TypeAdapter(kind)
    return _ADAPTERS[kind]


#: Fields the real service sends that the official models do not declare. GA session objects carry
#: `id`, `object` and `expires_at` on the wire (clients log and compare the session id), though
#: `RealtimeSessionCreateRequest` models the request shape only (beta's `Session` declares `id` but
#: not the other two). Beta `arguments.done` carries the function `name`: Azure's rtclient requires it
#: (`ResponseFunctionCallArgumentsDoneMessage.name: str`).
KNOWN_EXTRAS = {
    Dialect.GA: {"event.session.id", "event.session.object", "event.session.expires_at"},
    Dialect.BETA: {"event.session.object", "event.session.expires_at", "event.name"},
}


def _extras(value: Any, path: str) -> list[str]:
    """Keys the official models do not declare (they allow extras, so validation alone misses a
    misspelled optional field or one from the other dialect)."""
    found: list[str] = []
    if isinstance(value, BaseModel):
        found += [f"{path}.{key}" for key in (value.model_extra or {})]
        for name in type(value).model_fields:
            found += _extras(getattr(value, name), f"{path}.{name}")
    elif isinstance(value, list):
        for i, element in enumerate(value):
            found += _extras(element, f"{path}[{i}]")
    return found


def shape_problems(event: dict[str, Any], dialect: Dialect) -> list[str]:
    """Why the official models of `dialect` refuse `event` (empty when they accept it)."""
    union, members = OFFICIAL[dialect]
    kind = event.get("type")
    if not isinstance(event.get("event_id"), str) or not event["event_id"]:
        return [f"{kind}: no event_id"]
    if kind not in members:
        return [f"{kind}: not a {dialect.value} server event type"]
    try:
        parsed = _adapter(members[kind]).validate_python(event)
        _adapter(union).validate_python(event)  # the union as a client would use it
    except ValidationError as exc:
        return [f"{kind}: {exc}"]
    return [f"{kind}: unknown field {p}" for p in _extras(parsed, "event") if p not in KNOWN_EXTRAS[dialect]]


# ---- a scripted client ---------------------------------------------------------------------------


class Peer:
    """A raw websocket client that keeps every server frame and reads until a condition holds."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.frames: list[dict[str, Any]] = []
        self.closed_with: int | None = None

    async def send(self, event: dict[str, Any]) -> None:
        await self.ws.send_str(json.dumps(event))

    async def until(self, condition: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        async with asyncio.timeout(BOUND):
            while True:
                message = await self.ws.receive()
                if message.type is not aiohttp.WSMsgType.TEXT:
                    self.closed_with = self.ws.close_code
                    raise ConnectionError(f"socket closed ({message.type.name}, code {self.ws.close_code}) "
                                          f"while waiting; last frames: {[f['type'] for f in self.frames[-5:]]}")
                frame: dict[str, Any] = json.loads(message.data)
                self.frames.append(frame)
                if condition(frame):
                    return frame

    async def until_type(self, kind: str) -> dict[str, Any]:
        return await self.until(lambda e: e["type"] == kind)

    async def until_closed(self) -> None:
        async with asyncio.timeout(BOUND):
            while True:
                message = await self.ws.receive()
                if message.type is aiohttp.WSMsgType.TEXT:
                    self.frames.append(json.loads(message.data))
                else:
                    self.closed_with = self.ws.close_code
                    return


def tools_for(scenario: LoadedScenario) -> list[dict[str, Any]]:
    return [{"type": "function", "name": t.name, "description": t.description or "",
             "parameters": t.parameters or {"type": "object", "properties": {}}} for t in scenario.scenario.tools]


def session_update(scenario: LoadedScenario, dialect: Dialect) -> dict[str, Any]:
    if dialect is Dialect.GA:
        session: dict[str, Any] = {"type": "realtime", "output_modalities": ["text"], "instructions": "Be brief.",
                                   "tools": tools_for(scenario), "tool_choice": "auto"}
    else:
        session = {"modalities": ["text"], "instructions": "Be brief.", "tools": tools_for(scenario),
                   "tool_choice": "auto", "temperature": 0.8}
    if scenario.name == "phone_call_g711":  # its session.update step asks for G.711 both ways
        if dialect is Dialect.GA:
            session["audio"] = {"input": {"format": {"type": "audio/pcmu"}}, "output": {"format": {"type": "audio/pcmu"}}}
        else:
            session["input_audio_format"] = session["output_audio_format"] = "g711_ulaw"
    return {"type": "session.update", "session": session}


def user_message(text: str, item_id: str | None = None) -> dict[str, Any]:
    item: dict[str, Any] = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}
    if item_id:
        item["id"] = item_id
    return {"type": "conversation.item.create", "item": item}


def function_output(call_id: str, output: str) -> dict[str, Any]:
    return {"type": "conversation.item.create",
            "item": {"type": "function_call_output", "call_id": call_id, "output": output}}


AUDIO_200MS = base64.b64encode(b"\x00\x00" * 4800).decode()


async def play(peer: Peer, scenario: LoadedScenario, dialect: Dialect) -> None:
    """Walk the scenario's steps as a correct client would: send what each expect asks for, wait for
    each response's `response.done` (learning the call ids), for each scripted send, and for a close."""
    await peer.until_type("session.created")
    call_ids: dict[tuple[int, int], str] = {}
    user_turn_sent = False
    for i, step in enumerate(scenario.scenario.steps):
        if isinstance(step, ExpectStep):
            kind = step.expect
            if kind == "session.update":
                await peer.send(session_update(scenario, dialect))
                await peer.until_type("session.updated")
            elif kind == "response.create":
                if not user_turn_sent:
                    await peer.send(user_message("Hello!"))
                    user_turn_sent = True
                await peer.send(_meeting(step.match, {"type": "response.create"}))
            elif kind == "user_message":
                await peer.send(user_message("Hello!"))
                user_turn_sent = True
            elif kind == "function_call_output":
                ref = scenario.output_calls[i]
                await peer.send(function_output(call_ids[(ref.step, ref.part)], json.dumps({"status": "ok"})))
            elif kind == "input_audio_buffer.commit":
                await peer.send({"type": "input_audio_buffer.append", "audio": AUDIO_200MS})
                await peer.send({"type": "input_audio_buffer.commit"})
            elif kind == "conversation.item.truncate":  # the last assistant message, at its start
                said = [f["item"]["id"] for f in peer.frames if f["type"] == "response.output_item.done"
                        and f["item"]["type"] == "message"]
                await peer.send({"type": kind, "item_id": said[-1], "content_index": 0, "audio_end_ms": 0})
                await peer.until_type("conversation.item.truncated")
            else:
                await peer.send({"type": kind})
        elif isinstance(step, RespondStep):
            done = await peer.until_type("response.done")
            for index, item in enumerate(done["response"]["output"]):
                if item["type"] == "function_call":
                    call_ids[(i, index)] = item["call_id"]
        elif isinstance(step, SendStep) and isinstance(step.send, dict) and "type" in step.send:
            await peer.until_type(str(step.send["type"]))
        elif isinstance(step, CloseStep):
            await peer.until_closed()


def _meeting(match: dict[str, Any], event: dict[str, Any]) -> dict[str, Any]:
    """`event` with the values a step's `match:` asks for with `equals` (e.g. an out-of-band create's
    `response.conversation: none`) set at their paths."""
    for path, condition in match.items():
        if isinstance(condition, dict) and "equals" in condition:
            *parents, last = path.split(".")
            at = event
            for key in parents:
                at = at.setdefault(key, {})
            at[last] = condition["equals"]
    return event


def dial_headers(dialect: Dialect) -> dict[str, str]:
    return {"Authorization": "Bearer rtmock-test"}


def dial_url(srv: MockServer, dialect: Dialect, scenario: str | None = None) -> str:
    """GA on OpenAI's path; beta where it still lives, Azure's preview path (OpenAI retired it)."""
    if dialect is Dialect.BETA:
        base = srv.http_base(scenario).replace("http://", "ws://", 1)
        return f"{base}/openai/realtime?api-version=2024-10-01-preview&deployment=gpt-4o-realtime-preview"
    return srv.ws_url(scenario)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture(scope="module")
def bundled() -> list[LoadedScenario]:
    return [load_scenario(p) for p in BUNDLED]


def assert_shapes(frames: list[dict[str, Any]], dialect: Dialect) -> None:
    problems = [p for f in frames for p in shape_problems(f, dialect)]
    assert not problems, "\n".join(problems)


# ---- the tests -----------------------------------------------------------------------------------


def test_there_are_bundled_scenarios() -> None:
    assert {"get_your_info.yaml", "parallel_calls.yaml"} <= {p.name for p in BUNDLED}


@pytest.mark.parametrize("dialect", list(OFFICIAL))  # the openai dialects; Voice Live: test_voicelive_shapes.py
async def test_every_event_of_every_bundled_scenario_fits_the_official_models(
    dialect: Dialect, bundled: list[LoadedScenario], http: aiohttp.ClientSession
) -> None:
    async with MockServer(bundled, tls=False) as srv:

        async def one(scenario: LoadedScenario) -> tuple[str, Peer]:
            url = dial_url(srv, dialect, scenario.name)
            async with http.ws_connect(url, headers=dial_headers(dialect)) as ws:
                peer = Peer(ws)
                await play(peer, scenario, dialect)
                return scenario.name, peer

        played = await asyncio.gather(*(one(s) for s in bundled))
        for name, peer in played:
            session = next(s for s in srv.sessions if s.scenario.name == name)
            assert session.dialect is dialect
            assert session.complete, f"{name}: the scripted client did not complete the scenario"
            assert peer.frames and peer.frames[0]["type"] == "session.created"
            errors = [f for f in peer.frames if f["type"] == "error" and f["event_id"] != "event_rtmock_server_error"]
            assert errors == [], f"{name}: a correct client got errors"
            assert_shapes(peer.frames, dialect)


PROBE = """
name: probe
tools:
  - name: lookup
    parameters: {type: object, properties: {q: {type: string}}}
steps:
  - expect: session.update
  - expect: input_audio_buffer.commit
  - expect: response.create
  - respond:
      - text: {text: Hello there., chunks: 2}
      - audio: {transcript: Hi., duration: 0.1s, chunks: 2}
      - function_call: {id: q, name: lookup, arguments: {q: "naïve ☃"}, chunks: 4}
  - expect: function_call_output
    call: q
  - expect: response.create
  - respond:
      - text: This answer is cancelled.
    hold: 60s
  - expect: response.create
  - respond:
      - text: cut short
    status: incomplete
  - expect: response.create
  - respond:
      - text: broken
    status: failed
"""


@pytest.mark.parametrize("dialect", list(OFFICIAL))
async def test_errors_echoes_cancel_and_audio_commit_fit_the_official_models(
    dialect: Dialect, http: aiohttp.ClientSession
) -> None:
    probe = load_scenario_text(PROBE)
    async with MockServer([probe], tls=False) as srv, \
            http.ws_connect(dial_url(srv, dialect), headers=dial_headers(dialect)) as ws:
        peer = Peer(ws)
        await peer.until_type("session.created")
        errors: dict[str, str | None] = {}

        async def refused(event: dict[str, Any] | str, name: str) -> None:
            await (ws.send_str(event) if isinstance(event, str) else peer.send({**event, "event_id": name}))
            error = await peer.until_type("error")
            errors[name] = error["error"]["code"]

        await refused({"type": "input_audio_buffer.commit"}, "commit_empty")
        await refused({"type": "response.cancel"}, "cancel_idle")
        await refused("{not json", "bad_json")
        await refused({"type": "no.such.event"}, "unknown_type")
        await refused({"type": "session.update", "session": {"type": "realtime", "tools": [{"type": "function", "name": "x", "meta": 1}]}},
                      "unknown_parameter")
        await refused({"type": "conversation.item.retrieve", "item_id": "item_missing"}, "retrieve_missing")
        await refused(function_output("call_nope", "{}"), "unknown_call")
        await ws.send_bytes(b"\x00\x01")
        await peer.until_type("error")

        await peer.send(session_update(probe, dialect))
        await peer.until_type("session.updated")
        await peer.send(user_message("Hi", "msg_client_1"))
        echo = "conversation.item.created" if dialect is Dialect.BETA else "conversation.item.done"
        await peer.until(lambda e: e["type"] == echo and e["item"]["id"] == "msg_client_1")
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

        await peer.send({"type": "response.create", "response": {"metadata": {"topic": "probe"}}})
        done = await peer.until_type("response.done")
        call = done["response"]["output"][2]
        audio_item = done["response"]["output"][1]["id"]  # only assistant audio can be truncated
        await peer.send({"type": "conversation.item.truncate", "item_id": audio_item, "content_index": 0,
                         "audio_end_ms": 50})
        await peer.until_type("conversation.item.truncated")
        assert [o["type"] for o in done["response"]["output"]] == ["message", "message", "function_call"]
        assert done["response"]["metadata"] == {"topic": "probe"}
        await peer.send(function_output(call["call_id"], json.dumps({"answer": 42})))
        await peer.send({"type": "response.create"})
        created = await peer.until_type("response.created")
        await refused({"type": "response.create"}, "create_while_active")
        await peer.send({"type": "response.cancel", "response_id": created["response"]["id"]})
        cancelled = await peer.until_type("response.done")
        assert cancelled["response"]["status"] == "cancelled"
        for status in ("incomplete", "failed"):
            await peer.send({"type": "response.create"})
            done = await peer.until_type("response.done")
            assert done["response"]["status"] == status

        await asyncio.wait_for(_until(lambda: srv.sessions[0].complete), BOUND)
        assert errors == {
            "commit_empty": "input_audio_buffer_commit_empty",
            "cancel_idle": "response_cancel_not_active",
            "bad_json": "invalid_json",
            "unknown_type": "invalid_value",
            "unknown_parameter": "unknown_parameter",
            "retrieve_missing": "item_retrieve_invalid_item_id",
            "unknown_call": "invalid_tool_call_id",
            "create_while_active": "conversation_already_has_active_response",
        }
        kinds = {f["type"] for f in peer.frames}
        assert {"response.function_call_arguments.delta", "response.content_part.added", "response.output_item.done",
                "input_audio_buffer.committed"} <= kinds
        assert_shapes(peer.frames, dialect)


async def _until(condition: Callable[[], bool]) -> None:
    while not condition():
        await asyncio.sleep(0.01)


def test_the_shape_check_catches_a_bad_event() -> None:
    item = {"id": "item_1", "object": "realtime.item", "type": "function_call", "status": "in_progress",
            "name": "f", "call_id": "call_1", "arguments": ""}
    good: dict[str, Any] = {"type": "response.output_item.added", "event_id": "event_1", "response_id": "resp_1",
                            "output_index": 0, "item": item}
    assert shape_problems(good, Dialect.GA) == []
    assert shape_problems({**good, "event_id": None}, Dialect.GA) == ["response.output_item.added: no event_id"]
    assert shape_problems({**good, "item": {**item, "status": "done"}}, Dialect.BETA)
    assert shape_problems({k: v for k, v in good.items() if k != "response_id"}, Dialect.GA)
    assert shape_problems({**good, "outputindex": 0}, Dialect.GA) == [
        "response.output_item.added: unknown field event.outputindex"]
    assert shape_problems({**good, "type": "response.text.delta"}, Dialect.GA)


# ---- client-event shapes against the official params ---------------------------------------------


def test_client_event_shapes_are_generated_from_the_installed_openai_package() -> None:
    """`_shapes.json` is what `_shapes_generate.py` makes of the installed `openai` package: a new
    release that changes a client event's params fails here until the table is regenerated."""
    committed = json.loads((Path(client_events.__file__).parent / "_shapes.json").read_text())
    generated = json.loads(generate())
    assert committed["events"] == generated["events"] and committed["defs"] == generated["defs"], (
        f"mockserver/core/_shapes.json was made from {committed['generated_from']}, the tests run "
        f"{generated['generated_from']}: run `python -m rtmock.mockserver.core._shapes_generate > mockserver/core/_shapes.json`")


@pytest.mark.parametrize(("where", "mcp_tool"), [
    ("session", ga_tools_union.Mcp),
    ("response", ga_types.RealtimeResponseCreateMcpToolParam),
])
def test_ga_mcp_tools_with_every_official_key_are_not_unknown_parameters(where: str, mcp_tool: Any) -> None:
    tool = {"type": "mcp", "server_label": "x"}
    body = {"type": "realtime", "tools": [tool]} if where == "session" else {"tools": [tool]}
    event = {"type": f"{where}.update" if where == "session" else "response.create", where: body}
    verdict = validate_client_event(json.dumps(event), "ga")
    assert not isinstance(verdict, Rejection), verdict
