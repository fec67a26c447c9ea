"""The plugin, tested with pytester on real inner test files: sync and async tests, xdist, the cost of
loading it, where scenarios are found, and errors inside the server. Bounded runs of clients that
hang: test_pytest_plugin_run.py; the README's examples: test_pytest_plugin_readme.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _shared_certificates(monkeypatch: pytest.MonkeyPatch) -> None:
    """pytester gives each run a fresh HOME; keep using the already generated CA."""
    from rtmock.mockserver.net.tls import default_cache_dir

    monkeypatch.setenv("RTMOCK_CACHE_DIR", str(default_cache_dir().parent))


CLIENT = '''
import asyncio, json, aiohttp

async def client(url, send_create=True):
    """Answers the call; without send_create it forgets response.create and returns."""
    async with aiohttp.ClientSession() as s:
        async with s.ws_connect(url, headers={"Authorization": "Bearer x"}) as ws:
            await ws.send_json({"type": "session.update", "session": {"type": "realtime", "tools": [
                {"type": "function", "name": "get_your_info", "parameters": {"type": "object"}}]}})
            await ws.send_json({"type": "response.create"})
            async for msg in ws:
                ev = json.loads(msg.data)
                if ev["type"] != "response.done":
                    continue
                calls = [o for o in ev["response"]["output"] if o["type"] == "function_call"]
                if not calls:
                    return  # the answer
                for call in calls:
                    await ws.send_json({"type": "conversation.item.create", "item": {
                        "type": "function_call_output", "call_id": call["call_id"], "output": "{}"}})
                if not send_create:
                    return
                await ws.send_json({"type": "response.create"})
'''

#: No inner run may hang the suite.
INNER_TIMEOUT = 120


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


def test_plugin_judges_sync_and_async_tests(pytester: pytest.Pytester) -> None:
    scenario = ROOT / "scenarios" / "get_your_info.yaml"
    pytester.makepyfile(client=CLIENT)
    pytester.makepyfile(test_it=f'''
import asyncio, pytest
from client import client

SCENARIO = {str(scenario)!r}

@pytest.mark.rtmock_scenario(SCENARIO)
def test_sync_pass(rtmock_server):
    asyncio.run(client(rtmock_server.url))
    result = rtmock_server.verdict()
    assert result.passed, result.explain()

@pytest.mark.asyncio
async def test_async_pass(rtmock):
    server = rtmock(SCENARIO)
    await client(server.url)
    assert (await server.verdict_async()).passed

def test_missing_trigger_fails(rtmock):
    server = rtmock(SCENARIO, within=0.3)
    asyncio.run(client(server.url, send_create=False))
    result = server.verdict()
    assert result.rules == ["missing-response-create"], result.explain()
    assert "response.create" in result.explain()
''')
    outcome = pytester.runpytest_subprocess("-q", "-p", "asyncio", "-W", "ignore::DeprecationWarning",
                                           timeout=INNER_TIMEOUT)
    outcome.assert_outcomes(passed=3)


def test_plugin_works_under_xdist(pytester: pytest.Pytester) -> None:
    scenario = ROOT / "scenarios" / "get_your_info.yaml"
    pytester.makepyfile(client=CLIENT)
    pytester.makepyfile(test_many=f'''
import asyncio, pytest
from client import client

@pytest.mark.parametrize("n", range(6))
def test_each(rtmock, n):
    server = rtmock({str(scenario)!r})
    asyncio.run(client(server.url))
    assert server.verdict().passed
''')
    outcome = pytester.runpytest_subprocess("-q", "-n", "2", timeout=INNER_TIMEOUT)
    outcome.assert_outcomes(passed=6)


# ---- what loading the plugin costs ---------------------------------------------------------------

HEAVY = ["aiohttp", "yaml", "rtmock.mockserver.net.server", "rtmock.mockserver.scenario.loader", "rtmock.harness.runner",
         "rtmock.harness.judging.live", "rtmock.harness.judging.judge", "rtmock.harness._plugin_server"]


def test_importing_the_plugin_imports_no_server() -> None:
    """The entry point's module is loaded by every pytest run and xdist worker: only pytest and the
    standard library may come with it (aiohttp alone is 0.2-0.3 s)."""
    code = ("import json, sys; import rtmock.harness.pytest_plugin; "
            f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert json.loads(done.stdout) == []


def test_a_pytest_run_loads_the_server_only_when_a_fixture_is_used(pytester: pytest.Pytester,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")  # no other plugin's imports in the way
    pytester.makepyfile(client=CLIENT, test_lazy=f'''
import asyncio, sys

HEAVY = {HEAVY!r}

def test_1_collected_and_run_without_the_server():
    assert [m for m in HEAVY if m in sys.modules] == []

def test_2_the_fixture_loads_it(rtmock):
    from client import client  # (aiohttp)
    server = rtmock({str(ROOT / "scenarios" / "get_your_info.yaml")!r})
    asyncio.run(client(server.url))
    assert server.verdict().passed
    assert "rtmock.mockserver.net.server" in sys.modules
''')
    outcome = pytester.runpytest_subprocess("-q", "-p", "rtmock.harness.pytest_plugin", "-p", "no:cacheprovider", timeout=INNER_TIMEOUT)
    outcome.assert_outcomes(passed=2)


# ---- where a test's scenario is found --------------------------------------------------------------

def test_scenarios_are_found_next_to_the_test_file_then_under_rootdir_then_bundled(
        pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    pytester.makeini("[pytest]\n")  # the rootdir
    (pytester.path / "tests" / "scenarios").mkdir(parents=True)
    (pytester.path / "tests" / "scenarios" / "quick.yaml").write_text(QUICK_SCENARIO)
    (pytester.path / "shared").mkdir()
    (pytester.path / "shared" / "other.yaml").write_text(QUICK_SCENARIO.replace("name: quick", "name: other"))
    (pytester.path / "tests" / "client.py").write_text(CLIENT)
    (pytester.path / "tests" / "test_paths.py").write_text('''
import asyncio, pytest
from rtmock.mockserver.errors import UsageError
from client import client

@pytest.mark.rtmock_scenario("scenarios/quick.yaml")
def test_next_to_the_test_file(rtmock_server):
    asyncio.run(client(rtmock_server.url))
    verdict = rtmock_server.verdict()
    assert verdict.passed, verdict.explain()
    assert rtmock_server.scenario.name == "quick"

def test_under_the_rootdir(rtmock):
    assert rtmock("shared/other.yaml").scenario.name == "other"

def test_bundled_by_name(rtmock):
    server = rtmock("get_your_info")
    assert server.scenario.name == "get_your_info"
    asyncio.run(client(server.url))
    assert server.verdict().passed

def test_a_missing_one_says_where_it_looked(rtmock):
    with pytest.raises(UsageError) as caught:
        rtmock("scenarios/nope.yaml")
    message = str(caught.value)
    assert "tests/scenarios/nope.yaml" in message and "get_your_info" in message, message
''')
    elsewhere = pytester.path.parent / f"{pytester.path.name}-elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # pytest started from another directory than the project's
    outcome = pytester.runpytest_subprocess("-q", str(pytester.path / "tests"), "-p", "no:cacheprovider", timeout=INNER_TIMEOUT)
    outcome.assert_outcomes(passed=4)


def test_bundled_scenario_finds_the_shipped_scenarios_by_name() -> None:
    from rtmock.harness.bundled import bundled_scenario, bundled_scenario_names

    assert bundled_scenario("get_your_info") == ROOT / "scenarios" / "get_your_info.yaml"
    assert bundled_scenario("get_your_info.yaml") == ROOT / "scenarios" / "get_your_info.yaml"
    assert bundled_scenario("no_such_scenario") is None
    assert bundled_scenario("scenarios/get_your_info.yaml") is None  # a path is never a bundled name
    assert "parallel_calls" in bundled_scenario_names()


# ---- errors inside the server, closing, teardown -------------------------------------------------

def test_errors_inside_the_server_are_raised_in_the_test_with_their_traceback(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(client=CLIENT)
    (pytester.path / "quick.yaml").write_text(QUICK_SCENARIO)
    pytester.makepyfile(test_errors='''
import asyncio, pytest
from client import client
from rtmock.harness.pytest_plugin import ServerError

class BrokenObserver:
    def session_started(self, session): pass
    def record(self, session, record): raise RuntimeError("observer fell over")
    def session_ended(self, session): pass

def test_an_observer_that_raises(rtmock):
    server = rtmock("quick.yaml")
    server.server.observers.append(BrokenObserver())
    with pytest.raises(ServerError) as caught:
        server.run(client)
    message = str(caught.value)
    assert "inside rtmock's server" in message and "not a finding about your client" in message
    assert "BrokenObserver.record" in message and 'raise RuntimeError("observer fell over")' in message, message
    server.check()  # raised once: the test has seen them

def test_a_session_that_raises(rtmock, monkeypatch):
    from rtmock.mockserver.core.session import SessionCore  # (`import rtmock…` would shadow the fixture)
    def broken(self, *args):
        raise ZeroDivisionError("core fell over")
    monkeypatch.setattr(SessionCore, "receive", broken)
    server = rtmock("quick.yaml")
    with pytest.raises(ServerError, match="core fell over") as caught:
        server.run(client)
    assert "in broken" in str(caught.value)  # the traceback, down to the failing function

def test_unseen_errors_fail_the_teardown(rtmock):
    server = rtmock("quick.yaml")
    server.server.observers.append(BrokenObserver())
    asyncio.run(client(server.url))  # and no verdict asked for
''')
    outcome = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider", timeout=INNER_TIMEOUT)
    outcome.assert_outcomes(passed=3, errors=1)
    outcome.stdout.fnmatch_lines(["*ERROR at teardown of test_unseen_errors_fail_the_teardown*",
                                  "*ServerError: * error(s) inside rtmock's server*"])


def test_servers_close_in_reverse_and_close_is_safe_twice(pytester: pytest.Pytester) -> None:
    (pytester.path / "quick.yaml").write_text(QUICK_SCENARIO)
    pytester.makepyfile(test_close='''
from rtmock.harness.pytest_plugin import RtmockServer

CLOSED = []
SERVERS = []

def test_1_start_three_and_close_one_twice(monkeypatch, rtmock):
    real_close = RtmockServer.close
    def close(self):
        CLOSED.append(SERVERS.index(self))
        real_close(self)
    monkeypatch.setattr(RtmockServer, "close", close)  # undone after rtmock's teardown (set up before it)
    SERVERS.extend(rtmock("quick.yaml") for _ in range(3))
    SERVERS[0].close()
    SERVERS[0].close()
    with SERVERS[1]:
        pass

def test_2_the_teardown_closed_the_last_first():
    assert CLOSED == [0, 0, 1, 2, 1, 0]
    assert not any(server._thread.thread.is_alive() for server in SERVERS)
''')
    outcome = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider", timeout=INNER_TIMEOUT)
    outcome.assert_outcomes(passed=2)


def test_a_scenario_mistake_in_a_test_reads_as_rtmocks_one_line_not_a_traceback(pytester: pytest.Pytester) -> None:
    (pytester.path / "bad.yaml").write_text("steps:\n  - expect: respons.create\n")
    pytester.makepyfile(test_bad="""
import pytest
from rtmock.mockserver.errors import ScenarioError

def test_bad(rtmock):
    rtmock("bad.yaml")

def test_still_catchable(rtmock):
    with pytest.raises(ScenarioError):
        rtmock("bad.yaml")
""")
    outcome = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider", timeout=INNER_TIMEOUT)
    outcome.assert_outcomes(failed=1, passed=1)
    out = outcome.stdout.str()
    assert "rtmock ScenarioError: bad.yaml:2:13: step 1, expect: 'respons.create' is not a client event" in out
    assert "(raised at " in out and "test_bad.py:5)" in out, out
    assert "loader.py" not in out and "Traceback" not in out, out


def test_a_fuzz_result_reads_short_in_an_assertion() -> None:
    from rtmock.harness.fuzzing._result import FuzzResult
    from rtmock.harness.fuzzing.fuzz import FuzzOptions
    from rtmock.mockserver.scenario.loader import load_scenario

    result = FuzzResult(load_scenario(ROOT / "scenarios" / "get_your_info.yaml"), [], None, 1, FuzzOptions(), cases=7)
    assert repr(result) == "<rtmock fuzz FAIL get_your_info: 7 case(s)>"
