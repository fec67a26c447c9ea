"""A flooding client: per-event cost stays flat however long the session, and one connection that
floods the server does not starve another.

The cost tests are structural, never timed: they count the work a core or a judge does per event
(the held events, the rounds it looks at, the `_fits` calls) at the start and after 20,000 events.
The fairness test runs a flooding raw client beside a correct one on one real server; waits are
bounded conditions, never sleeps."""

from __future__ import annotations

import asyncio
import base64
import json
import signal
import sys
from pathlib import Path
from typing import Any

import aiohttp

from rtmock.harness.judging.judge import Judge
from rtmock.harness.judging.live import LiveJudge
from rtmock.mockserver.core.events import Dialect, IdSource
from rtmock.mockserver.core.records import Direction, Record
from rtmock.mockserver.core.session import SessionCore
from rtmock.mockserver.net.server import MockServer
from rtmock.mockserver.scenario.loader import LoadedScenario, load_scenario, load_scenario_text

ROOT = Path(__file__).resolve().parents[1]
GET_YOUR_INFO = ROOT / "scenarios" / "get_your_info.yaml"
TOOLS = [{"type": "function", "name": "get_your_info", "parameters": {"type": "object"}}]
AUTH = {"Authorization": "Bearer test"}
SILENCE = base64.b64encode(bytes(1920)).decode()  # 40 ms of 24 kHz PCM16: below any VAD threshold
APPEND = json.dumps({"type": "input_audio_buffer.append", "audio": SILENCE})
N = 20_000


class CountingCore:
    """A core on a virtual clock that counts how many (expectation, event) pairs it tries."""

    def __init__(self, scenario: LoadedScenario) -> None:
        self.records: list[Record] = []
        self.core = SessionCore(scenario, Dialect.GA, self.records.append, ids=IdSource(5))
        self.fits = 0
        fits = self.core._fits

        def counted(*args: Any, **kwargs: Any) -> bool:
            self.fits += 1
            return fits(*args, **kwargs)

        self.core._fits = counted  # type: ignore[method-assign]
        self.now = 0.0
        self.core.start(0.0)

    def send(self, event: dict[str, Any] | str) -> None:
        self.now += 0.04
        self.core.receive(event if isinstance(event, str) else json.dumps(event), self.now)

    def held(self, kind: str) -> int:
        held = self.core._held.get(kind)
        return 0 if held is None else len(held)

    def notes(self, kind: str) -> list[dict[str, Any]]:
        return [r.event for r in self.records if r.direction is Direction.SCRIPT and r.event and r.event["type"] == kind]


def test_appends_no_step_takes_are_not_held_and_cost_nothing_to_match() -> None:
    client = CountingCore(load_scenario(GET_YOUR_INFO))
    client.send({"type": "session.update", "session": {"type": "realtime", "tools": TOOLS}})
    first = client.fits
    for _ in range(N):
        client.send(APPEND)
    # the group waits for response.create: 20,000 appends are neither held nor tried against it
    assert client.held("input_audio_buffer.append") == 0
    assert client.fits == first
    client.send({"type": "response.create"})
    assert [n["step"] for n in client.notes("rtmock.step.matched")] == [1, 2]
    assert client.notes("rtmock.response.started")  # the script went on: the tool call is out


AWAITS_A_TAGGED_APPEND = """\
name: tagged_append
steps:
  - expect: input_audio_buffer.append
    match: {audio: QUJD}
    within: 60s
  - respond:
      - text: Heard it.
"""


def test_a_step_waiting_for_one_append_tries_each_append_once() -> None:
    client = CountingCore(load_scenario_text(AWAITS_A_TAGGED_APPEND, path="test.yaml"))
    counts = []
    for i in range(N):
        before = client.fits
        client.send(APPEND)
        if i < 1000 or i >= N - 1000:
            counts.append(client.fits - before)
    # each append is tried once against the open step, at event 1 as at event 20,000 (it used to
    # be every held append against the step again, on every new one)
    assert counts == [1] * 2000
    assert client.held("input_audio_buffer.append") == N  # unmatched, held (a later step could take them)
    client.send({"type": "input_audio_buffer.append", "audio": "QUJD"})
    tagged = next(r.index for r in reversed(client.records) if r.direction is Direction.CLIENT)
    assert [n["client_index"] for n in client.notes("rtmock.step.matched")] == [tagged]
    assert client.notes("rtmock.response.started")


def test_an_event_held_for_a_later_step_still_meets_it() -> None:
    scenario = load_scenario_text("""\
name: later
steps:
  - expect: response.create
    within: 60s
  - respond:
      - text: One.
  - expect: conversation.item.delete
    within: 60s
  - respond:
      - text: Two.
""", path="test.yaml")
    client = CountingCore(scenario)
    client.send({"type": "conversation.item.create", "item": {"type": "message", "role": "user",
                                                              "content": [{"type": "input_text", "text": "hi"}]}})
    item_id = next(r.event["item"]["id"] for r in client.records
                   if r.event and r.event["type"] == "conversation.item.added")
    client.send({"type": "conversation.item.delete", "item_id": item_id})  # before its step is reached
    for _ in range(100):
        client.send(APPEND)
    client.send({"type": "response.create"})
    client.core.advance(client.now + 60)
    assert [n["step"] for n in client.notes("rtmock.step.matched")] == [1, 3]
    assert client.held("input_audio_buffer.append") == 0


def _round(judge: Judge, n: int, index: int, time: float) -> int:
    """One tool round of a relayed session, fed record by record: the call, its output, the create."""
    rid, call_id, item_id = f"resp_{n}", f"call_{n}", f"item_{n}"
    events: list[tuple[Direction, dict[str, Any]]] = [
        (Direction.SERVER, {"type": "response.created", "response": {"id": rid, "conversation_id": "conv_1"}}),
        (Direction.SERVER, {"type": "response.output_item.added", "response_id": rid,
                            "item": {"id": item_id, "type": "function_call", "call_id": call_id, "name": "f"}}),
        (Direction.SERVER, {"type": "response.done", "response": {"id": rid, "status": "completed"}}),
        (Direction.CLIENT, {"type": "conversation.item.create",
                            "item": {"type": "function_call_output", "call_id": call_id, "output": "{}"}}),
        (Direction.CLIENT, {"type": "response.create"}),
    ]
    for direction, event in events:
        assert judge.feed(Record(index, time, direction, event)) == []
        assert judge.settle() == []  # relayed: each frame is a moment of its own
        index += 1
    return index


def test_the_judge_looks_only_at_rounds_still_in_play() -> None:
    judge = Judge(default_within=5.0)
    index = 0
    for n in range(N // 5):
        index = _round(judge, n, index, n * 0.5)
        assert len(judge._undecided) <= 1  # answered rounds leave the set every record scans
        assert judge.next_deadline() is None
    for n in range(100):  # responses without calls leave nothing behind
        rid = f"resp_plain_{n}"
        judge.feed(Record(index, 9999.0, Direction.SERVER, {"type": "response.created", "response": {"id": rid}}))
        judge.feed(Record(index + 1, 9999.0, Direction.SERVER, {"type": "response.done", "response": {"id": rid}}))
        index += 2
    assert len(judge._undecided) == 0
    assert judge.finish(10_000.0, settle_pending=False).findings == []


#: A raw flooding client in its own process, so that the server's loop does not pace it: small
#: valid appends (about 90 bytes a frame, thousands a socket read), as fast as the socket takes them.
FLOODER = """
import asyncio, json, signal, sys, aiohttp
WINDOW = 5000  # appends between two session.updates (450 kB: a socket read is full of them)
async def main(url, least):
    frame = json.dumps({"type": "input_audio_buffer.append", "audio": "AAAAAA=="})
    update = json.dumps({"type": "session.update", "session": {"type": "realtime"}})
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, stop.set)
    async with aiohttp.ClientSession() as http, http.ws_connect(url, headers={"Authorization": "Bearer x"}) as ws:
        print("connected", flush=True)
        sent = windows = answered = 0

        async def answered_until(count):
            nonlocal answered
            while answered < count:
                msg = await ws.receive()
                if msg.type is not aiohttp.WSMsgType.TEXT:
                    sys.exit(f"the server ended the flood: {msg}")
                answered += json.loads(msg.data)["type"] == "session.updated"

        # Floods until told to stop (and at least `least` frames), a window of appends and a
        # session.update at a time, with three windows in flight: the socket is never empty while
        # the server works (a server that drained one socket before serving another would starve the
        # other sessions for as long as the flood goes on), and it has no seconds of flood left to
        # work through once the flood stops.
        while sent < least or not stop.is_set():
            for _ in range(WINDOW):
                await ws.send_str(frame)
            sent += WINDOW
            await ws.send_str(update)
            windows += 1
            await answered_until(windows - 2)
        await answered_until(windows)  # every frame sent was taken, in order
        print(sent, flush=True)
asyncio.run(main(sys.argv[1], int(sys.argv[2])))
"""


async def _play(http: aiohttp.ClientSession, url: str) -> None:
    """A correct client of get_your_info, to the end of the scenario."""
    async with http.ws_connect(url, headers=AUTH) as ws:

        async def until(kind: str) -> dict[str, Any]:
            async for msg in ws:
                event: dict[str, Any] = json.loads(msg.data)
                if event["type"] == kind:
                    return event
            raise ConnectionError("the server closed the session")

        await until("session.created")
        await ws.send_str(json.dumps({"type": "session.update", "session": {"type": "realtime", "tools": TOOLS}}))
        await until("session.updated")
        await ws.send_str(json.dumps({"type": "response.create"}))
        done = await until("response.function_call_arguments.done")
        await until("response.done")
        output = {"type": "function_call_output", "call_id": done["call_id"], "output": "{}"}
        await ws.send_str(json.dumps({"type": "conversation.item.create", "item": output}))
        await ws.send_str(json.dumps({"type": "response.create"}))
        await until("response.created")
        await until("response.done")


async def test_a_flooding_client_does_not_starve_a_correct_one() -> None:
    judge = LiveJudge()
    async with MockServer([load_scenario(GET_YOUR_INFO)], tls=False) as server, aiohttp.ClientSession() as http:
        server.observers.append(judge)
        flooder = await asyncio.create_subprocess_exec(sys.executable, "-c", FLOODER, server.ws_url(), "10000",
                                                       stdout=asyncio.subprocess.PIPE)
        try:
            assert flooder.stdout is not None
            async with asyncio.timeout(30):
                assert await flooder.stdout.readline() == b"connected\n"
                while len(server.sessions) < 1 or not server.sessions[0].records:
                    await asyncio.sleep(0.001)
            async with asyncio.timeout(5):  # five sessions in a row, each a few ms alone
                for _ in range(5):
                    await _play(http, server.ws_url())
            assert flooder.returncode is None  # all five completed while the flood still ran
            flooder.send_signal(signal.SIGUSR1)  # stop flooding: the frames sent are then all answered, in order
            async with asyncio.timeout(120):
                sent = int(await flooder.stdout.readline())
                assert await flooder.wait() == 0
        finally:
            if flooder.returncode is None:
                flooder.kill()
                await flooder.wait()
    played = [j for j in judge.sessions if j.complete]
    assert len(played) == 5
    assert sent >= 10_000
    assert all(j.verdict is not None and j.verdict.passed for j in played)
