"""How a run's verdict is made from what the client did as a whole, for `rtmock run` and the pytest
plugin's `run()` alike (runner.charge_client, run_sessions.conclude_sessions): an error exit after the
service failed on purpose is the client reporting it, not a crash; a crash's fix follows its cause;
a probe connection (opened and closed without a word) is not judged when another session completed
the scenario. Real server, real client processes."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from rtmock.harness._plugin_server import TestVerdict
from rtmock.harness.pytest_plugin import RtmockServer
from rtmock.harness.runner import RunOptions, RunResult, run_scenario
from rtmock.mockserver.scenario.loader import load_scenario

pytestmark = pytest.mark.integration  # client processes

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "scenarios"
RTMOCK = str(Path(sys.executable).with_name("rtmock"))

#: One client, its behaviour chosen by its first argument. Every mode answers get_your_info as a
#: correct client does, unless the mode says otherwise.
CLIENT = r'''
import asyncio, json, os, signal, sys
import websockets

MODE = sys.argv[1]
HEADERS = {"Authorization": "Bearer k"}
TOOLS = [{"type": "function", "name": "get_your_info", "description": "Look up a fact about the user.",
          "parameters": {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]}}]


async def probe():
    """A health check: open, read session.created, close with 1000."""
    async with websockets.connect(os.environ["RTMOCK_URL"], additional_headers=HEADERS) as ws:
        assert json.loads(await ws.recv())["type"] == "session.created"


async def create_elsewhere():
    """The response.create a round needs, sent on a second connection instead (a bug)."""
    async with websockets.connect(os.environ["RTMOCK_URL"], additional_headers=HEADERS) as other:
        await other.recv()
        await other.send(json.dumps({"type": "response.create"}))


async def session(*, create=True, on_call=None, on_error=None, create_on_other_socket=False):
    async with websockets.connect(os.environ["RTMOCK_URL"], additional_headers=HEADERS) as ws:
        async def send(**event):
            await ws.send(json.dumps(event))
        try:
            async for raw in ws:
                event = json.loads(raw)
                kind = event["type"]
                if kind == "error":
                    print("service error:", event["error"]["message"], file=sys.stderr)
                    if on_error:
                        on_error()
                elif kind == "session.created":
                    await send(type="session.update", session={"type": "realtime", "tools": TOOLS})
                    if create:
                        await send(type="response.create")
                elif kind == "response.done":
                    calls = [o for o in event["response"]["output"] if o["type"] == "function_call"]
                    if not calls:
                        return 0
                    if on_call:
                        on_call()
                    for call in calls:
                        await send(type="conversation.item.create", item={
                            "type": "function_call_output", "call_id": call["call_id"], "output": "pizza"})
                    if create_on_other_socket:
                        await create_elsewhere()
                    else:
                        await send(type="response.create")
        except websockets.ConnectionClosedError as exc:
            if MODE == "traceback_on_close":
                raise
            print(f"realtime session lost: {exc}", file=sys.stderr)
            return 3
        return 0 if ws.close_code == 1000 else 3


def quit_quietly():
    print("giving up", file=sys.stderr)
    os._exit(2)


def boom():
    raise ValueError("the tool fell over")


async def main():
    if MODE in ("exit_on_close", "traceback_on_close"):
        return await session()
    if MODE == "exit_on_error":
        return await session(on_error=lambda: os._exit(4))
    if MODE == "killed_on_call":
        return await session(on_call=lambda: os.kill(os.getpid(), signal.SIGKILL))
    if MODE == "exits_quietly_on_call":
        return await session(on_call=quit_quietly)
    if MODE == "raises_on_call":
        return await session(on_call=boom)
    if MODE == "create_on_other_socket":
        return await session(create_on_other_socket=True)
    if MODE == "probe_then_session":
        await probe()
        return await session()
    if MODE == "probe_only":
        await probe()
        return 0
    if MODE == "probe_then_no_create":
        await probe()
        try:
            return await asyncio.wait_for(session(create=False), 1.0)
        except asyncio.TimeoutError:
            return 0
    raise SystemExit(f"unknown mode {MODE}")

sys.exit(asyncio.run(main()))
'''

#: The service reports a failure with an error event, and the scenario ends there (no close).
ERROR_THEN_END = """\
name: error_then_end
tools:
  - name: get_your_info
    description: Look up a fact about the user.
    parameters: {type: object, properties: {query: {type: string}}, required: [query]}
steps:
  - expect: session.update
    within: 5s
  - expect: response.create
    within: 5s
  - send:
      type: error
      event_id: event_rtmock_server_error
      error: {type: server_error, code: null, message: The server had an error., param: null, event_id: null}
"""


@pytest.fixture
def client(tmp_path: Path) -> Path:
    path = tmp_path / "client.py"
    path.write_text(textwrap.dedent(CLIENT))
    return path


def _cli(scenario: Path, client: Path, mode: str) -> tuple[int, str]:
    """`rtmock run` as a user runs it: its exit code and what it prints."""
    done = subprocess.run([RTMOCK, "run", str(scenario), "--", sys.executable, str(client), mode],
                          capture_output=True, text=True, timeout=120)
    return done.returncode, done.stdout + done.stderr


def _run(scenario: Path, client: Path, mode: str) -> RunResult:
    return asyncio.run(run_scenario(load_scenario(scenario), [sys.executable, str(client), mode],
                                    RunOptions(connect_timeout=10, timeout=60)))


def _plugin(scenario: Path, client: Path, mode: str) -> RunResult:
    with RtmockServer(load_scenario(scenario), connect_timeout=10) as server:
        return server.run([sys.executable, str(client), mode], timeout=60).result


def _rules(result: RunResult) -> list[str]:
    return [f.rule.value for f in result.findings]


# ---- an error exit after the service failed on purpose -----------------------------------------------

def test_a_client_that_exits_non_zero_on_the_scripted_close_passes_rtmock_run(client: Path) -> None:
    code, out = _cli(SCENARIOS / "server_closes.yaml", client, "exit_on_close")
    assert code == 0, out
    assert "client-crashed" not in out
    assert "exited with code 3 after the scenario's close of session 1 (code 1011" in out, out


@pytest.mark.parametrize("mode", ["exit_on_close", "traceback_on_close"])
def test_a_client_that_fails_on_the_scripted_close_passes_the_plugins_run(client: Path, mode: str) -> None:
    result = _plugin(SCENARIOS / "server_closes.yaml", client, mode)
    assert result.passed, _rules(result)
    assert result.exit_code in (1, 3)
    assert any("not a crash" in note for note in result.notes), result.notes


def test_a_client_that_exits_on_a_scripted_error_event_is_not_charged_with_a_crash(client: Path, tmp_path: Path) -> None:
    scenario = tmp_path / "error_then_end.yaml"
    scenario.write_text(ERROR_THEN_END)
    result = _run(scenario, client, "exit_on_error")
    assert result.exit_code == 4
    assert "client-crashed" not in _rules(result), [f.message for f in result.findings]
    assert any("the scenario's error event in session 1" in note for note in result.notes), result.notes


def test_a_client_killed_by_a_signal_after_the_scripted_close_is_still_a_crash(client: Path) -> None:
    """A signal is no report of the service's failure: killed_on_call dies on the call, before the close."""
    result = _run(SCENARIOS / "server_closes.yaml", client, "killed_on_call")
    assert _rules(result) == ["client-crashed"]


# ---- a crash's message follows its cause --------------------------------------------------------------

@pytest.mark.parametrize("judge", [_run, _plugin], ids=["rtmock-run", "plugin-run"])
@pytest.mark.parametrize(("mode", "what", "fix"), [
    ("killed_on_call", "was killed by signal 9 (SIGKILL)", "rtmock did not send that signal"),
    ("raises_on_call", "exited with code 1", "Its traceback is shown: fix the crash"),
    ("exits_quietly_on_call", "exited with code 2", "without a traceback"),
])
def test_a_crash_says_its_cause_and_the_last_call(client: Path, judge: object, mode: str, what: str, fix: str) -> None:
    assert callable(judge)
    result = judge(SCENARIOS / "get_your_info.yaml", client, mode)
    assert _rules(result) == ["client-crashed"], [f.message for f in result.findings]
    crash = result.findings[0]
    assert f"The client {what}" in crash.message, crash.message
    assert fix in crash.hint, crash.hint
    # the plugin named no call before the runner's crash verdict was shared
    assert crash.call_name == "get_your_info" and "The last call it was sent: get_your_info" in crash.message


# ---- a probe connection -------------------------------------------------------------------------------

def test_a_probe_before_the_real_session_is_listed_not_judged_by_rtmock_run(client: Path, tmp_path: Path) -> None:
    report = tmp_path / "run.json"
    done = subprocess.run([RTMOCK, "run", str(SCENARIOS / "get_your_info.yaml"), "--json", str(report), "--",
                           sys.executable, str(client), "probe_then_session"], capture_output=True, text=True, timeout=120)
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    # the note stands under its run's verdict, and in the JSON report
    verdict, note = out.splitlines()[:2]
    assert verdict.startswith("PASS") and note.startswith("    note: session 1 (sess_"), out
    assert "opened and closed by the client without sending anything" in note
    (result,) = json.loads(report.read_text())["results"]
    assert [n for n in result["notes"] if "without sending anything" in n], result


def test_a_probe_before_the_real_session_passes_the_plugins_run(client: Path) -> None:
    result = _plugin(SCENARIOS / "get_your_info.yaml", client, "probe_then_session")
    assert result.passed, [f.message for f in result.findings]
    assert len(result.sessions) == 2 and len(result.probes) == 1
    assert result.sessions[0][0].id in result.probes
    explained = TestVerdict(result).explain()
    assert explained.startswith("PASS") and "note: session 1 (sess_" in explained, explained


@pytest.mark.parametrize("judge", [_run, _plugin], ids=["rtmock-run", "plugin-run"])
def test_a_run_of_only_a_probe_still_fails(client: Path, judge: object) -> None:
    assert callable(judge)
    result = judge(SCENARIOS / "get_your_info.yaml", client, "probe_only")
    assert not result.passed
    assert _rules(result) and not result.probes, _rules(result)


def test_a_probe_beside_a_session_that_did_not_complete_is_judged_and_says_which_session(client: Path) -> None:
    result = _run(SCENARIOS / "get_your_info.yaml", client, "probe_then_no_create")
    assert not result.passed and not result.probes
    _, verdict = result.sessions[0]
    assert verdict.findings, "the probe's own findings stand when no session completed"
    assert all("(session 1 of 2, which the client closed without sending anything" in f.message
               for f in verdict.findings), [f.message for f in verdict.findings]


# ---- several sessions that did not pass ---------------------------------------------------------------

def test_a_run_whose_sessions_each_failed_says_what_each_did(client: Path) -> None:
    """The create sent on a second socket: that session never declares the tools, which waits on the
    first (it may yet complete the scenario, and the second be a spare); the first never gets the
    round's create: the note names what each did."""
    result = _run(SCENARIOS / "get_your_info.yaml", client, "create_on_other_socket")
    assert not result.passed
    (first, _), (second, _) = result.sessions
    note = next(n for n in result.notes if n.startswith("2 sessions did not pass"))
    assert f"session 1 ({first.id}): missing-response-create" in note
    assert f"session 2 ({second.id}): scenario-mismatch" in note
