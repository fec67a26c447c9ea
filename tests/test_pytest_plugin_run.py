"""The plugin bounds a client that hangs: `run` / `run_async` return the verdict and stop the client
(a coroutine cancelled, a blocking function disconnected, a command's process group stopped) at the
scenario's bound, where a client awaited by the test itself would hang it forever. Tested with
pytester on real inner test files."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[1]

#: No inner run may hang the suite.
INNER_TIMEOUT = 120


@pytest.fixture(autouse=True)
def _shared_certificates(monkeypatch: pytest.MonkeyPatch) -> None:
    """pytester gives each run a fresh HOME; keep using the already generated CA."""
    from rtmock.mockserver.net.tls import default_cache_dir

    monkeypatch.setenv("RTMOCK_CACHE_DIR", str(default_cache_dir().parent))


#: Clients for the inner tests: an asyncio one, a blocking one (websockets.sync), and the asyncio one
#: as a command (`python -m rtclient [--forget]`).
RTCLIENT = '''
import asyncio, json, os, sys
import aiohttp

ENDED = []  # how each in-process run ended: "returned", "cancelled", "disconnected"
LOOPS = []  # the event loop each asyncio run ran on
HEADERS = {"Authorization": "Bearer x"}
SESSION_UPDATE = {"type": "session.update", "session": {"type": "realtime", "tools": [
    {"type": "function", "name": "get_your_info", "parameters": {"type": "object"}}]}}


def outputs(done):
    """The outputs answering a response.done's function calls (none: it was the final answer)."""
    return [{"type": "conversation.item.create", "item": {"type": "function_call_output",
             "call_id": o["call_id"], "output": "{}"}} for o in done["response"]["output"] if o["type"] == "function_call"]


async def client(url, *, forget=False, crash=False):
    """Answers every call; `forget` leaves out the response.create after the outputs and then waits
    for an answer that never comes (the silent hang); `crash` raises on the call."""
    LOOPS.append(asyncio.get_running_loop())
    try:
        async with aiohttp.ClientSession() as s, s.ws_connect(url, headers=HEADERS) as ws:
            await ws.send_json(SESSION_UPDATE)
            await ws.send_json({"type": "response.create"})
            async for msg in ws:
                event = json.loads(msg.data)
                if event["type"] != "response.done":
                    continue
                answers = outputs(event)
                if not answers:
                    ENDED.append("returned")
                    return
                if crash:
                    raise ValueError("the tool fell over")
                for answer in answers:
                    await ws.send_json(answer)
                if not forget:
                    await ws.send_json({"type": "response.create"})
        ENDED.append("disconnected")
    except asyncio.CancelledError:
        ENDED.append("cancelled")
        raise


def blocking(url, *, forget=False):
    """`client` with a blocking websocket: it cannot be cancelled, only disconnected."""
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    try:
        with connect(url, additional_headers=HEADERS) as ws:
            ws.send(json.dumps(SESSION_UPDATE))
            ws.send(json.dumps({"type": "response.create"}))
            for msg in ws:
                event = json.loads(msg)
                if event["type"] != "response.done":
                    continue
                answers = outputs(event)
                if not answers:
                    ENDED.append("returned")
                    return
                for answer in answers:
                    ws.send(json.dumps(answer))
                if not forget:
                    ws.send(json.dumps({"type": "response.create"}))
    except ConnectionClosed:
        pass
    ENDED.append("disconnected")


if __name__ == "__main__":
    asyncio.run(client(os.environ["RTMOCK_URL"], forget="--forget" in sys.argv))
'''

#: get_your_info with a short bound on the response.create after the output.
QUICK_SCENARIO = """\
name: quick
tools:
  - name: get_your_info
    parameters: {type: object, properties: {query: {type: string}}, required: [query]}
steps:
  - expect: session.update
    within: 5s
  - expect: response.create
    within: 5s
  - respond:
      - function_call: {id: info, name: get_your_info, arguments: {query: favorite food}}
  - expect: function_call_output
    call: info
    within: 5s
  - expect: response.create
    within: 0.5s
  - respond:
      - text: Your favorite food is pizza.
"""

BOUNDED_TESTS = '''
import asyncio, functools, sys, time
import pytest
import rtclient
from rtmock.mockserver.errors import UsageError

BOUND = 0.5  # quick.yaml's bound on the response.create
SLACK = 5.0  # a loaded machine; a hang is forever

def forgetful(url):
    return rtclient.client(url, forget=True)

def test_a_coroutine_client_that_forgets_is_cancelled_at_the_bound(rtmock):
    started = time.monotonic()
    verdict = rtmock("quick.yaml").run(forgetful)
    assert verdict.rules == ["missing-response-create"], verdict.explain()
    assert time.monotonic() - started < BOUND + SLACK
    assert rtclient.ENDED[-1] == "cancelled" and verdict.result.client_stopped

def test_a_coroutine_client_that_answers_passes(rtmock):
    verdict = rtmock("quick.yaml").run(rtclient.client)
    assert verdict.passed, verdict.explain()
    assert rtclient.ENDED[-1] == "returned" and not verdict.result.client_stopped

@pytest.mark.asyncio
async def test_run_async_cancels_the_client_on_the_tests_own_loop(rtmock):
    loop = asyncio.get_running_loop()
    started = loop.time()
    verdict = await rtmock("quick.yaml").run_async(forgetful)
    assert verdict.rules == ["missing-response-create"], verdict.explain()
    assert loop.time() - started < BOUND + SLACK
    assert rtclient.ENDED[-1] == "cancelled" and rtclient.LOOPS[-1] is loop

@pytest.mark.asyncio
async def test_run_async_passes_a_client_that_answers(rtmock):
    verdict = await rtmock("quick.yaml").run_async(rtclient.client)
    assert verdict.passed, verdict.explain()

def test_a_blocking_client_that_forgets_is_disconnected_at_the_bound(rtmock):
    started = time.monotonic()
    verdict = rtmock("quick.yaml").run(functools.partial(rtclient.blocking, forget=True))
    assert verdict.rules == ["missing-response-create"], verdict.explain()
    assert time.monotonic() - started < BOUND + SLACK
    assert rtclient.ENDED[-1] == "disconnected"

def test_a_command_that_forgets_has_its_process_group_stopped_at_the_bound(rtmock):
    server = rtmock("quick.yaml")
    started = time.monotonic()
    verdict = server.run([sys.executable, "-m", "rtclient", "--forget"])
    assert verdict.rules == ["missing-response-create"], verdict.explain()
    assert time.monotonic() - started < BOUND + SLACK
    assert verdict.result.client_stopped and verdict.result.exit_code == -15  # SIGTERM
    assert len(server.judge.sessions) == 1  # judged on this server, the one the fixture made

def test_a_command_that_answers_passes(rtmock):
    verdict = rtmock("quick.yaml").run([sys.executable, "-m", "rtclient"])
    assert verdict.passed, verdict.explain()
    assert verdict.result.exit_code == 0

@pytest.mark.asyncio
async def test_run_async_stops_a_command_too(rtmock):
    verdict = await rtmock("quick.yaml").run_async([sys.executable, "-m", "rtclient", "--forget"])
    assert verdict.rules == ["missing-response-create"], verdict.explain()

def test_a_client_that_raises_is_judged_by_its_crash(rtmock):
    verdict = rtmock("quick.yaml").run(functools.partial(rtclient.client, crash=True))
    assert verdict.rules == ["client-crashed"], verdict.explain()
    assert "ValueError: the tool fell over" in verdict.explain()

def test_a_client_that_never_connects_is_no_session_at_the_connect_timeout(rtmock):
    started = time.monotonic()
    verdict = rtmock("quick.yaml", connect_timeout=0.5).run(lambda url: asyncio.Event().wait())
    assert verdict.rules == ["no-session"], verdict.explain()
    assert time.monotonic() - started < 0.5 + SLACK

def test_a_server_judges_one_run(rtmock):
    server = rtmock("quick.yaml")
    assert server.run(rtclient.client).passed
    with pytest.raises(UsageError, match="one per run"):
        server.run(rtclient.client)
    assert server.verdict().passed  # the run's verdict, kept
    with pytest.raises(UsageError, match="as a list"):
        rtmock("quick.yaml").run("python client.py")

@pytest.mark.asyncio
async def test_run_in_an_async_test_points_at_run_async(rtmock):
    with pytest.raises(UsageError, match="await server.run_async"):
        rtmock("quick.yaml").run(rtclient.client)
'''


def test_run_and_run_async_stop_a_client_that_hangs_at_the_scenarios_bound(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(rtclient=RTCLIENT, test_bounded=BOUNDED_TESTS)
    (pytester.path / "quick.yaml").write_text(QUICK_SCENARIO)
    outcome = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider", timeout=INNER_TIMEOUT)
    outcome.assert_outcomes(passed=12)
