"""An observer that raises is rtmock's bug: the session goes on and the error is kept, never
blamed on the client."""

from __future__ import annotations

import asyncio
import json
import os
import socket
from pathlib import Path

import aiohttp

from rtmock.mockserver.core.records import Record
from rtmock.mockserver.net.server import MockServer, Observer, SessionInfo
from rtmock.mockserver.scenario.loader import load_scenario

SCENARIO = Path(__file__).resolve().parents[1] / "scenarios" / "get_your_info.yaml"


class Broken(Observer):
    def record(self, session: SessionInfo, record: Record) -> None:
        if record.type == "response.create":
            raise RuntimeError("boom")


async def test_a_raising_observer_does_not_end_the_session() -> None:
    async with MockServer([load_scenario(SCENARIO)], tls=False) as server:
        server.observers.append(Broken())
        async with aiohttp.ClientSession() as http, http.ws_connect(
            server.ws_url(), headers={"Authorization": "Bearer x"}
        ) as ws:
            await ws.send_json({"type": "session.update", "session": {"type": "realtime", "tools": [
                {"type": "function", "name": "get_your_info", "parameters": {"type": "object"}}]}})
            await ws.send_json({"type": "response.create"})
            seen = []
            async with asyncio.timeout(10):
                async for msg in ws:
                    seen.append(json.loads(msg.data)["type"])
                    if seen[-1] == "response.done":
                        break
        assert "response.function_call_arguments.done" in seen
        assert server.internal_errors and "RuntimeError: boom" in server.internal_errors[0]


def test_a_transcript_line_reuses_the_wire_text_and_equals_the_json_form() -> None:
    from rtmock.mockserver.core.events import encode
    from rtmock.mockserver.core.records import Direction, dump_record

    event = {"type": "response.output_text.delta", "event_id": "event_1", "delta": "é \"q\" \n", "output_index": 0}
    with_text = Record(7, 0.1234567, Direction.SERVER, event, text=encode(event))
    without = Record(7, 0.1234567, Direction.SERVER, event)
    assert dump_record(with_text) == dump_record(without)
    assert json.loads(encode(event)) == event
    nested = {"type": "session.created", "event_id": "e", "session": {"type": "realtime", "tools": [], "temperature": 0.8}}
    assert json.loads(encode(nested)) == nested


def test_a_delta_stream_builds_what_the_generic_path_builds() -> None:
    from rtmock.mockserver.core.events import Dialect, EventFactory, IdSource, encode

    pieces = ["a", "é\"\\\n", "😀"]
    for dialect in Dialect:
        fast, slow = EventFactory(dialect, IdSource(3)), EventFactory(dialect, IdSource(3))
        kind = "response.audio_transcript.delta" if dialect.beta_shaped else "response.output_audio_transcript.delta"
        built = list(fast.content_deltas("transcript", "resp_1", "item_1", 2)(pieces))
        ids = slow.ids.many("event", len(pieces))
        assert len(set(ids)) == len(pieces) and all(i.startswith("event_") and len(i) == 28 for i in ids)
        for text, piece, event_id in zip(built, pieces, ids, strict=True):
            event = {"type": kind, "event_id": event_id, "response_id": "resp_1", "item_id": "item_1",
                     "output_index": 2, "content_index": 0, "delta": piece}
            assert text == encode(event) and json.loads(text) == event
        [text] = fast.arguments_deltas("resp_1", "item_1", 0, "call_x")(['{"q":'])
        event = {"type": "response.function_call_arguments.delta", "event_id": slow.ids.many("event", 1)[0],
                 "response_id": "resp_1", "item_id": "item_1", "output_index": 0, "call_id": "call_x",
                 "delta": '{"q":'}
        assert text == encode(event) and json.loads(text) == event


class PeeksAtTheClient(Observer):
    """At the response.done record, what has already reached the client's socket (not yet read)."""

    def __init__(self) -> None:
        self.client_socket: socket.socket | None = None
        self.waiting_at_done: bytes | None = None

    def record(self, session: SessionInfo, record: Record) -> None:
        if record.type == "response.done" and self.waiting_at_done is None and self.client_socket is not None:
            try:
                self.waiting_at_done = self.client_socket.recv(1 << 20, socket.MSG_PEEK | socket.MSG_DONTWAIT)
            except BlockingIOError:
                self.waiting_at_done = b""


async def test_observers_see_a_turn_after_its_frames_are_written() -> None:
    # Judging and logging a turn must not delay the client's answer: the frames of a turn are on
    # their way before the observers are told of them.
    peek = PeeksAtTheClient()
    async with MockServer([load_scenario(SCENARIO)], tls=False) as server:
        server.observers.append(peek)
        async with aiohttp.ClientSession() as http, http.ws_connect(
            server.ws_url(), headers={"Authorization": "Bearer x"}
        ) as ws:
            transport = ws._response.connection.transport  # type: ignore[union-attr]
            fd = transport.get_extra_info("socket").fileno()
            peek.client_socket = socket.socket(fileno=os.dup(fd))
            try:
                await ws.send_json({"type": "session.update", "session": {"type": "realtime", "tools": [
                    {"type": "function", "name": "get_your_info", "parameters": {"type": "object"}}]}})
                await ws.send_json({"type": "response.create"})
                async with asyncio.timeout(10):
                    async for msg in ws:
                        if json.loads(msg.data)["type"] == "response.done":
                            break
            finally:
                peek.client_socket.close()
    assert peek.waiting_at_done is not None
    assert b'"type":"response.done"' in peek.waiting_at_done


async def test_a_long_running_server_judges_sessions_that_end_with_no_internal_error() -> None:
    # As `rtmock serve` runs: sessions are dropped once judged. Whatever the server delivers after
    # a session's end must not reach an observer that has already let the session go.
    from test_hardening import play_correctly

    from rtmock.harness.judging.live import LiveJudge

    judge = LiveJudge(keep_sessions=False)
    async with MockServer([load_scenario(SCENARIO)], tls=False, keep_sessions=False) as server:
        server.observers.append(judge)
        async with aiohttp.ClientSession() as http:
            for _ in range(3):
                await play_correctly(http, server.ws_url())
            async with asyncio.timeout(10):
                while judge.passed + judge.failed < 3:
                    judge.changed.clear()
                    await judge.changed.wait()
        await asyncio.sleep(0)  # what the last session's end left scheduled runs here
    assert server.internal_errors == []
    assert (judge.passed, judge.failed) == (3, 0)
