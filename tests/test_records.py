"""Records: a server frame is kept as the text that went out and read back from it; a long-running
server holds no record of a session once its observers have seen it."""

from __future__ import annotations

import asyncio
import gc
import json
from pathlib import Path

import aiohttp

from rtmock.harness.judging.live import LiveJudge
from rtmock.mockserver.core.events import Dialect, IdSource, encode
from rtmock.mockserver.core.records import Direction, Record, dump_record
from rtmock.mockserver.core.session import SessionCore
from rtmock.mockserver.net.server import MockServer, Observer, SessionInfo
from rtmock.mockserver.scenario.loader import load_scenario

SEED = Path(__file__).resolve().parents[1] / "scenarios" / "get_your_info.yaml"
AUTH = {"Authorization": "Bearer test"}
TOOLS = [{"type": "function", "name": "get_your_info", "parameters": {"type": "object"}}]


def test_a_server_record_kept_as_wire_text_reads_its_event_and_type_from_it() -> None:
    event = {"type": "session.created", "event_id": "event_1", "session": {"instructions": "é \"q\" \u2028", "tools": []}}
    text = encode(event)
    lazy = Record(3, 0.5, Direction.SERVER, None, None, text)
    assert lazy.type == "session.created" and lazy._event is None  # the type needs no parse
    assert not lazy.is_server_delta
    assert lazy == Record(3, 0.5, Direction.SERVER, event) and lazy.event == event
    assert dump_record(lazy) == dump_record(Record(3, 0.5, Direction.SERVER, event))
    delta = Record(4, 0.5, Direction.SERVER, None, None, encode({"type": "response.output_text.delta", "delta": "x"}))
    assert delta.is_server_delta and delta.type == "response.output_text.delta"
    # a scenario's `send:` may put any key first: the type then comes from the parsed event
    odd = Record(5, 0.5, Direction.SERVER, None, None, '{"a\\"b":1,"type":"x.y"}')
    assert odd.type == "x.y"


def test_what_the_records_say_was_sent_does_not_change_with_the_session_state() -> None:
    """Events are built from the live session state, not copies of it: the record must keep what
    went out, not what the state became."""
    records: list[Record] = []
    core = SessionCore(load_scenario(SEED), Dialect.GA, records.append, ids=IdSource(1))
    core.start(0.0)
    core.receive(json.dumps({"type": "session.update", "session": {"type": "realtime", "instructions": "be brief",
                                                                   "tools": TOOLS}}), 0.1)
    created, updated = (r for r in records if r.type in ("session.created", "session.updated"))
    assert created.event is not None and updated.event is not None
    assert created.event["session"]["instructions"] == "" and created.event["session"]["tools"] == []
    assert updated.event["session"]["instructions"] == "be brief"
    sent = [r for r in records if r.direction is Direction.SERVER]
    assert all(r.text is not None and json.loads(r.text) == r.event for r in sent)


class _RecordsKept(Observer):
    """What a session's info holds when it ends."""

    def __init__(self) -> None:
        self.kept: list[int] = []
        self.ended = asyncio.Event()

    def session_ended(self, session: SessionInfo) -> None:
        self.kept.append(len(session.records))
        self.ended.set()


async def _play(http: aiohttp.ClientSession, url: str) -> None:
    async with http.ws_connect(url, headers=AUTH) as ws:
        await ws.send_json({"type": "session.update", "session": {"type": "realtime", "output_modalities": ["text"],
                                                                  "tools": TOOLS}})
        await ws.send_json({"type": "response.create"})
        async for msg in ws:
            event = json.loads(msg.data)
            if event["type"] == "response.function_call_arguments.done":
                await ws.send_json({"type": "conversation.item.create", "item": {
                    "type": "function_call_output", "call_id": event["call_id"], "output": "{}"}})
                await ws.send_json({"type": "response.create"})
            elif event["type"] == "response.output_text.done":
                return


def _live_records() -> int:
    return sum(1 for o in gc.get_objects() if type(o) is Record)


async def _records_left_by_five_sessions(*observers: Observer) -> tuple[int, list[int]]:
    """Records still alive after five sessions of a server that keeps none (keep_sessions=False),
    with the cyclic garbage collector off: what only a collection would have freed counts too."""
    server = MockServer([load_scenario(SEED)], tls=False, keep_sessions=False)
    kept = _RecordsKept()
    server.observers += [*observers, kept]
    was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        before = _live_records()
        async with server, aiohttp.ClientSession() as http:
            for played in range(1, 6):
                await _play(http, server.ws_url())
                async with asyncio.timeout(10):
                    while len(kept.kept) < played:
                        kept.ended.clear()
                        await kept.ended.wait()
            assert server.sessions == []
            return _live_records() - before, kept.kept
    finally:
        if was_enabled:
            gc.enable()


async def test_a_long_running_server_holds_no_record_of_a_session() -> None:
    """`rtmock serve`'s server (keep_sessions=False) keeps no record in a session's info while it
    runs, and none survives the session's end (before, each session was a reference cycle holding
    all its records until the cyclic collector ran), so memory stays flat over any number of them."""
    left, kept = await _records_left_by_five_sessions()
    assert kept == [0] * 5
    assert left == 0


async def test_a_long_running_judge_holds_no_record_of_a_session() -> None:
    judge = LiveJudge(keep_sessions=False)
    left, _ = await _records_left_by_five_sessions(judge)
    assert judge.passed == 5 and judge.sessions == []
    assert left == 0
