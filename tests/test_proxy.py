"""`rtmock proxy` / `rtmock run --upstream`: a client judged against the real service, here played by
rtmock's own server (no internet): in this process on a thread, over ws:// and wss://.

- the example clients get the verdicts they get served directly (test_examples.py) when proxied,
  and a scenario written from a proxied recording (`rtmock scenario`) gives them those verdicts again;
- the upstream's faults (a refused handshake, an error about the session, a close, no upstream at
  all) are the upstream's: exit 2, with its status and message, never a finding about the client;
- secrets (the key given to rtmock, the client's own key, an ephemeral client_secret) are found
  nowhere in transcripts, logs or reports.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from client_programs import CRASHES_ON_A_CALL
from run_once import once_per_run
from test_examples import VERDICTS

from rtmock.harness.judging.check import check_transcripts
from rtmock.harness.judging.findings import Rule
from rtmock.harness.judging.judge import Judge
from rtmock.mockserver.core.records import Direction, Record
from rtmock.mockserver.core.relay_core import PROBLEM_NOTE, RelayCore, passthrough_scenario
from rtmock.mockserver.net.redact import REDACTED, Secrets
from rtmock.mockserver.net.relay import upstream_url
from rtmock.mockserver.net.server import MockServer
from rtmock.mockserver.net.tls import ensure_certificates
from rtmock.mockserver.scenario.loader import load_scenario, load_scenario_text

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
SCENARIOS = ROOT / "scenarios"

# example → {scenario: the rule ids of its findings ([] = PASS)}: examples/README.md's table, the one
# test_examples.py checks `rtmock run` against with the bundled scenarios (served directly)
CASES = [(example, scenario) for example, verdicts in VERDICTS.items() for scenario in verdicts]


class Upstream:
    """`MockServer`s on their own loop in a thread: the "real service" for a proxied client."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.servers: list[MockServer] = []

    def serve(self, scenario: str | Path, **options: Any) -> MockServer:
        loaded = load_scenario(scenario) if not isinstance(scenario, str) or scenario.endswith(".yaml") else \
            load_scenario_text(scenario, path=None, default_name="upstream")
        server = MockServer([loaded], **options)
        asyncio.run_coroutine_threadsafe(server.start(), self.loop).result(30)
        self.servers.append(server)
        return server

    def close(self) -> None:
        for server in self.servers:
            asyncio.run_coroutine_threadsafe(server.close(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture(scope="module")
def upstream() -> Iterator[Upstream]:
    up = Upstream()
    yield up
    up.close()


@pytest.fixture(scope="module")
def served(upstream: Upstream) -> dict[str, MockServer]:
    """One upstream per bundled scenario of the table (each serves every session it gets)."""
    return {name: upstream.serve(SCENARIOS / f"{name}.yaml") for name in ("get_your_info", "parallel_calls",
                                                                            "slow_response_done")}


def rtmock(*args: str, env: dict[str, str] | None = None, timeout: float = 180) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "rtmock", *args], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, **(env or {})})


def finish(proc: subprocess.Popen[str], timeout: float = 180) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def rules(report: Path) -> list[str]:
    results = json.loads(report.read_text())["results"]
    return sorted(f["rule"] for r in results for s in r["sessions"] for f in s["findings"]) + \
        sorted(f["rule"] for r in results for f in r["findings"])


def upstream_arg(server: MockServer, secure: bool) -> list[str]:
    if secure:
        return ["--upstream", f"wss://127.0.0.1:{server.port}", "--upstream-ca", str(ensure_certificates().ca_file)]
    return ["--upstream", f"ws://127.0.0.1:{server.port}"]


TIMEOUTS = ["--connect-timeout", "120", "--timeout", "120"]  # a loaded machine imports the openai package slowly


# ---- where a connection goes, and what is redacted ----------------------------------------------------


def test_the_upstream_is_a_base_the_clients_path_and_query_are_appended_to() -> None:
    assert upstream_url("wss://api.openai.com", "/v1/realtime", "model=gpt-realtime") == \
        "wss://api.openai.com/v1/realtime?model=gpt-realtime"
    assert upstream_url("https://res.openai.azure.com/", "/openai/realtime", "api-version=2024-10-01-preview&deployment=d") \
        == "wss://res.openai.azure.com/openai/realtime?api-version=2024-10-01-preview&deployment=d"
    assert upstream_url("ws://127.0.0.1:9/prefix", "/v1/realtime", "") == "ws://127.0.0.1:9/prefix/v1/realtime"
    # the SDKs' base URL as the upstream: its path is not appended twice
    assert upstream_url("https://api.openai.com/v1", "/v1/realtime", "model=m") == "wss://api.openai.com/v1/realtime?model=m"


def test_an_upstream_url_ending_in_realtime_is_used_as_given_with_the_clients_other_parameters() -> None:
    given = "wss://res.services.ai.azure.com/voice-live/realtime?api-version=2025-10-01&model=gpt-realtime"
    assert upstream_url(given, "/v1/realtime", "model=other&voice=alloy") == (
        "wss://res.services.ai.azure.com/voice-live/realtime?api-version=2025-10-01&model=gpt-realtime&voice=alloy")


def test_secrets_are_redacted_from_headers_subprotocols_urls_and_session_events() -> None:
    secrets = Secrets(["sk-env-key-0001"])
    secrets.add_headers({"Authorization": "Bearer sk-client-0002", "api-key": "azure-key-0003",
                         "Sec-WebSocket-Protocol": "realtime, openai-insecure-api-key.sk-browser-0004"})
    secrets.add_url("wss://host/openai/realtime?api-key=query-key-0005&deployment=d")
    text = "sk-env-key-0001 Bearer sk-client-0002 azure-key-0003 sk-browser-0004 query-key-0005"
    assert secrets.text(text).split() == [REDACTED, "Bearer", REDACTED, REDACTED, REDACTED, REDACTED]
    assert secrets.url("wss://u:pw@host/v1/realtime?model=m&api-key=x&token=y") == \
        "wss://host/v1/realtime?model=m&api-key=[redacted]&token=[redacted]"
    frame = json.dumps({"type": "session.created", "session": {"id": "sess_1", "client_secret": {
        "value": "ek_ephemeral_0006", "expires_at": 123}}})
    event, raw, changed = secrets.frame(frame)
    assert changed and raw is None and event is not None
    assert event["session"]["client_secret"] == {"value": REDACTED, "expires_at": 123}
    later, _, _ = secrets.frame(json.dumps({"type": "x", "note": "token ek_ephemeral_0006 again"}))
    assert later == {"type": "x", "note": f"token {REDACTED} again"}  # remembered once seen
    untouched = '{"type":"response.done","response":{"id":"resp_1"}}'
    assert secrets.frame(untouched) == (json.loads(untouched), None, False)


def test_the_relay_core_plays_a_scenarios_expectations_over_the_upstreams_responses() -> None:
    """Labels take the real call ids; the steps are reached and matched as the mock notes them, so
    the judge bounds the output and the create by the scenario's steps."""
    records: list[Record] = []
    core = RelayCore(load_scenario(SCENARIOS / "get_your_info.yaml"), records.append, Secrets())
    core.start(0.0, "ws://up/v1/realtime")
    server = [{"type": "session.created", "session": {"id": "sess_up"}},
              {"type": "response.created", "response": {"id": "resp_1"}},
              {"type": "response.output_item.added", "response_id": "resp_1", "output_index": 0,
               "item": {"id": "item_1", "type": "function_call", "name": "get_your_info", "call_id": "call_real"}},
              {"type": "response.done", "response": {"id": "resp_1", "status": "completed"}}]
    core.client_text(json.dumps({"type": "session.update", "session": {"tools": [
        {"type": "function", "name": "get_your_info"}]}}), 0.1)
    core.client_text('{"type": "response.create"}', 0.2)
    for n, event in enumerate(server):
        core.server_text(json.dumps(event), 0.3 + n / 100)
    core.client_text(json.dumps({"type": "conversation.item.create", "item": {
        "type": "function_call_output", "call_id": "call_real", "output": "{}"}}), 0.5)
    core.client_text('{"type": "response.create"}', 0.6)
    core.server_text('{"type": "response.created", "response": {"id": "resp_2"}}', 0.7)
    core.server_text('{"type": "response.done", "response": {"id": "resp_2"}}', 0.8)
    core.client_closed(0.9, 1000)
    notes = [r.event for r in records if r.direction is Direction.SCRIPT and r.event]
    reached = [n for n in notes if n["type"] == "rtmock.step.reached"]
    assert [(n["step"], n["expect"]) for n in reached] == [(1, "session.update"), (2, "response.create"),
                                                          (4, "function_call_output"), (5, "response.create")]
    assert reached[2]["call_id"] == "call_real" and reached[3]["within"] == 3.0
    assert [n["step"] for n in notes if n["type"] == "rtmock.step.matched"] == [1, 2, 4, 5]
    assert notes[0]["type"] == "rtmock.relay.started"
    assert [n["type"] for n in notes][-2:] == ["rtmock.scenario.complete", "rtmock.closed"]
    assert core.upstream_session_id == "sess_up" and not core.problems


@pytest.mark.parametrize("voice_live", [True, False])
def test_a_relayed_create_while_active_is_judged_by_what_the_upstream_does_with_it(voice_live: bool) -> None:
    """Voice Live ends the active response for a create that comes during it (cancel_previous, true by
    default); OpenAI refuses it. The relayed judge charges only the second."""
    records: list[Record] = []
    core = RelayCore(passthrough_scenario("none"), records.append, Secrets(),
                     voice_live=voice_live)
    core.start(0.0, "ws://up/voice-live/realtime")
    core.server_text('{"type": "session.created", "session": {"id": "sess_up"}}', 0.05)
    core.client_text('{"type": "response.create"}', 0.1)
    core.server_text('{"type": "response.created", "response": {"id": "resp_1"}}', 0.2)
    core.client_text('{"type": "response.create"}', 0.3)  # while resp_1 is active
    if voice_live:
        core.server_text('{"type": "response.done", "response": {"id": "resp_1", "status": "cancelled"}}', 0.35)
        core.server_text('{"type": "response.created", "response": {"id": "resp_2"}}', 0.4)
        core.server_text('{"type": "response.done", "response": {"id": "resp_2", "status": "completed"}}', 0.5)
    else:
        core.server_text(json.dumps({"type": "error", "error": {
            "type": "invalid_request_error", "code": "conversation_already_has_active_response", "message": "busy"}}),
            0.35)
        core.server_text('{"type": "response.done", "response": {"id": "resp_1", "status": "completed"}}', 0.5)
    core.client_closed(0.9, 1000)
    judge = Judge(session_id="s", scenario_name="none", scenario_path=None, default_within=5.0)
    for record in records:
        judge.feed(record)
    rules = [f.rule for f in judge.finish().findings]
    assert rules == ([] if voice_live else [Rule.CREATE_WHILE_ACTIVE]), rules


def test_a_relayed_voice_live_response_that_completes_after_all_still_owes_its_calls() -> None:
    """The relay notes that a create during a response ends it, as Voice Live documents; should the
    upstream finish that response after all, its response.done says so, and its call is owed."""
    records: list[Record] = []
    core = RelayCore(passthrough_scenario("none"), records.append, Secrets(), voice_live=True)
    core.start(0.0, "ws://up/voice-live/realtime")
    core.server_text('{"type": "session.created", "session": {"id": "sess_up"}}', 0.05)
    core.client_text('{"type": "response.create"}', 0.1)
    core.server_text('{"type": "response.created", "response": {"id": "resp_1"}}', 0.2)
    core.server_text(json.dumps({"type": "response.output_item.added", "response_id": "resp_1", "output_index": 0,
                                 "item": {"id": "item_1", "type": "function_call", "name": "f", "call_id": "call_1"}}),
                     0.25)
    core.client_text(json.dumps({"type": "conversation.item.create", "item": {  # the user says something new
        "type": "message", "role": "user", "content": [{"type": "input_text", "text": "Actually, wait."}]}}), 0.28)
    core.client_text('{"type": "response.create"}', 0.3)  # while resp_1 is active: a barge-in
    core.server_text('{"type": "response.done", "response": {"id": "resp_1", "status": "completed"}}', 0.35)
    core.server_text('{"type": "response.created", "response": {"id": "resp_2"}}', 0.4)
    core.server_text('{"type": "response.done", "response": {"id": "resp_2", "status": "completed"}}', 0.5)
    judge = Judge(session_id="s", scenario_name="none", scenario_path=None, default_within=5.0)
    for record in records:
        judge.feed(record)
    assert [f.rule for f in judge.advance(10.0)] == [Rule.MISSING_OUTPUT]


def test_a_relayed_client_that_configures_each_response_itself_meets_the_session_update_step() -> None:
    records: list[Record] = []
    core = RelayCore(load_scenario(SCENARIOS / "get_your_info.yaml"), records.append, Secrets())
    core.start(0.0, "ws://up/v1/realtime")
    core.server_text('{"type": "session.created", "session": {"id": "sess_up"}}', 0.05)
    core.client_text(json.dumps({"type": "response.create", "response": {"tools": [
        {"type": "function", "name": "get_your_info"}]}}), 0.1)
    notes = [r.event for r in records if r.direction is Direction.SCRIPT and r.event]
    assert [n["step"] for n in notes if n["type"] == "rtmock.step.matched"] == [2, 1]  # the create meets both


def test_a_close_code_aiohttp_gives_as_its_enum_is_noted_as_a_number() -> None:
    from aiohttp import WSCloseCode

    from rtmock.mockserver.core.notes import read_note

    records: list[Record] = []
    core = RelayCore(load_scenario(SCENARIOS / "get_your_info.yaml"), records.append, Secrets())
    core.start(0.0, "ws://up/v1/realtime")
    core.client_closed(0.5, WSCloseCode.ABNORMAL_CLOSURE, "")  # a client killed mid-session (`ws.close_code`)
    closed = records[-1].event
    assert closed is not None and closed["type"] == "rtmock.closed"
    assert type(closed["code"]) is int and closed["code"] == 1006
    read_note(closed)  # what the judge reads: it refuses anything but a number


def test_a_response_that_does_not_call_what_the_scenario_scripts_is_the_upstreams_problem() -> None:
    records: list[Record] = []
    core = RelayCore(load_scenario(SCENARIOS / "get_your_info.yaml"), records.append, Secrets())
    core.start(0.0)
    core.client_text('{"type": "session.update", "session": {"tools": [{"name": "get_your_info"}]}}', 0.1)
    core.client_text('{"type": "response.create"}', 0.2)
    core.server_text('{"type": "response.created", "response": {"id": "resp_1"}}', 0.3)
    core.server_text('{"type": "response.done", "response": {"id": "resp_1"}}', 0.4)  # no call at all
    (problem,) = core.problems
    assert problem.kind == "diverged" and "get_your_info" in problem.message and "get_your_info.yaml:" in problem.message
    assert any(r.event and r.event["type"] == PROBLEM_NOTE for r in records)
    assert not core.complete


# ---- the example clients: direct, proxied, replayed ------------------------------------------------------


@pytest.fixture(scope="module")
def recordings(served: dict[str, MockServer], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A scenario written by `rtmock scenario` from a proxied session of the correct SDK client, per
    bundled scenario (recorded over wss:// for one of them). Recorded once per test run: xdist
    workers share them (the first to come records them through its own upstream)."""
    def record(where: Path) -> None:
        for name, server in served.items():
            code, stdout, stderr = finish(rtmock("run", *upstream_arg(server, secure=name == "parallel_calls"),
                                                 *TIMEOUTS, "--transcript", str(where / f"t-{name}"), "--",
                                                 sys.executable, str(EXAMPLES / "correct_openai_sdk.py")))
            assert code == 0, stdout + stderr
            (transcript,) = (where / f"t-{name}").rglob("*.jsonl")
            scenario = where / f"{name}.recorded.yaml"
            code, stdout, stderr = finish(rtmock("scenario", str(transcript), "-o", str(scenario)))
            assert code == 0, stdout + stderr
            code, stdout, stderr = finish(rtmock("lint", str(scenario)))
            assert code == 0, stdout + stderr + scenario.read_text()

    where = once_per_run(tmp_path_factory, "proxy-recordings", record)
    return {name: where / f"{name}.recorded.yaml" for name in served}


@pytest.mark.integration
@pytest.mark.parametrize(("example", "scenario"), CASES)
def test_an_example_gets_its_documented_verdict_proxied_and_from_the_recorded_scenario(
        example: str, scenario: str, served: dict[str, MockServer], recordings: dict[str, Path], tmp_path: Path) -> None:
    # served directly, each example gets the same verdicts (VERDICTS): test_examples.py runs every
    # pair of this table through `rtmock run` with the bundled scenario
    client = ["--", sys.executable, str(EXAMPLES / f"{example}.py")]
    secure = example in ("correct_rtclient_style", "buggy_wrong_call_id")  # some over wss://, the others ws://
    runs = {  # one after the other: a client that waits for a loaded machine's CPU waits out its own 20 s
        "proxied": [*upstream_arg(served[scenario], secure), *TIMEOUTS, "--json", str(tmp_path / "proxied.json"),
                    "--transcript", str(tmp_path / "t"), *client],
        "replayed": [str(recordings[scenario]), *TIMEOUTS, "--json", str(tmp_path / "replayed.json"), *client],
    }
    done = {how: finish(rtmock("run", *args)) for how, args in runs.items()}
    seen = {how: rules(tmp_path / f"{how}.json") for how in runs}
    expected = sorted(VERDICTS[example][scenario])
    assert seen == {"proxied": expected, "replayed": expected}, done
    assert {how: code for how, (code, _, _) in done.items()} == dict.fromkeys(runs, 1 if expected else 0), done
    # `rtmock check` judges the proxied transcript with no scenario named: the same findings
    (transcript,) = (tmp_path / "t").rglob("*.jsonl")
    (checked,) = check_transcripts([str(transcript)])
    ((_, verdict),) = checked.sessions
    assert sorted(f.rule.value for f in verdict.findings) == expected


# ---- the upstream's faults are the upstream's --------------------------------------------------------------

RAW_CLIENT = """
import asyncio, json, os, sys
import aiohttp

async def main():
    assert "RTMOCK_UPSTREAM_API_KEY" not in os.environ, "the client saw rtmock's key"
    url = os.environ["RTMOCK_URL"]
    headers = {"Authorization": "Bearer " + os.environ.get("CLIENT_KEY", "none")}
    protocols = ["openai-insecure-api-key." + os.environ["CLIENT_PROTOCOL_KEY"]] if "CLIENT_PROTOCOL_KEY" in os.environ else []
    async with aiohttp.ClientSession() as http, http.ws_connect(url, headers=headers, protocols=protocols) as ws:
        await ws.send_json({"type": "session.update", "session": {"type": "realtime", "output_modalities": ["text"], "tools": [
            {"type": "function", "name": "get_your_info", "parameters": {"type": "object"}}]}})
        await ws.send_json({"type": "response.create"})
        async for msg in ws:
            if msg.type is not aiohttp.WSMsgType.TEXT:
                break
            event = json.loads(msg.data)
            if event["type"] == "response.output_item.done" and event["item"]["type"] == "function_call":
                await ws.send_json({"type": "conversation.item.create", "item": {
                    "type": "function_call_output", "call_id": event["item"]["call_id"], "output": "{}"}})
            elif event["type"] == "response.done" and event["response"]["output"] and \\
                    event["response"]["output"][0]["type"] == "function_call":
                await ws.send_json({"type": "response.create"})
            elif event["type"] == "response.done" and any(o["type"] == "message" for o in event["response"]["output"]):
                return 0  # the answer, once its response is done (closing at its text raced the response.done)
            elif event["type"] == "error":
                print("error:", event["error"]["message"], file=sys.stderr)
                return 3
    return 4

sys.exit(asyncio.run(main()))
"""


@pytest.fixture
def raw_client(tmp_path: Path) -> list[str]:
    path = tmp_path / "client.py"
    path.write_text(RAW_CLIENT)
    return [sys.executable, str(path)]


def test_a_refused_handshake_is_the_upstreams_with_its_status_and_message(upstream: Upstream, raw_client: list[str],
                                                                          tmp_path: Path) -> None:
    server = upstream.serve(SCENARIOS / "get_your_info.yaml", api_key="sk-the-right-key-1234", tls=False)
    # Azure's paths refuse a wrong key with HTTP 401 before the upgrade
    code, out, err = finish(rtmock("run", "--upstream", f"ws://127.0.0.1:{server.port}/openai/realtime?api-version=x",
                                   "--json", str(tmp_path / "r.json"), "--", *raw_client,
                                   env={"RTMOCK_UPSTREAM_API_KEY": "sk-a-wrong-key-5678"}))
    assert code == 2, out + err
    assert "upstream problem (refused)" in err and "HTTP 401" in err and "this server requires a specific key" in err
    assert "no-session" not in out and "client-crashed" not in out  # not the client's fault
    result = json.loads((tmp_path / "r.json").read_text())["results"][0]
    assert result["upstream_problems"][0]["status"] == 401 and not result["passed"]
    assert "sk-a-wrong-key-5678" not in out + err + (tmp_path / "r.json").read_text()


def test_an_upstream_error_about_the_session_and_its_close_are_the_upstreams(upstream: Upstream, raw_client: list[str]) -> None:
    server = upstream.serve("""
steps:
  - expect: response.create
  - send: {type: error, error: {type: server_error, code: null, message: "The server had an error while processing your request."}}
  - close: {code: 1011, reason: internal error}
""", tls=False)
    code, out, err = finish(rtmock("run", "--upstream", f"ws://127.0.0.1:{server.port}", "--", *raw_client))
    assert code == 2, out + err
    assert "upstream problem (error): The upstream sent an error (server_error): The server had an error" in err
    assert "[" not in out  # no finding is charged to the client
    # the run ends at the upstream's first problem: whether its close came before the client was
    # stopped is a race, so the close is tested alone
    closing = upstream.serve("""
steps:
  - expect: response.create
  - close: {code: 1011, reason: internal error}
""", tls=False)
    code, out, err = finish(rtmock("run", "--upstream", f"ws://127.0.0.1:{closing.port}", "--", *raw_client))
    assert code == 2, out + err
    assert "upstream problem (closed): The upstream closed the session with code 1011 (internal error)" in err
    assert "[" not in out


def test_rtmock_check_of_a_recording_whose_upstream_failed_says_so(upstream: Upstream, raw_client: list[str],
                                                                   tmp_path: Path) -> None:
    server = upstream.serve("""
steps:
  - expect: response.create
  - send: {type: error, error: {type: server_error, code: null, message: "The server had an error while processing your request."}}
  - close: {code: 1011, reason: internal error}
""", tls=False)
    code, out, err = finish(rtmock("run", "--upstream", f"ws://127.0.0.1:{server.port}", "--transcript",
                                   str(tmp_path / "t"), "--", *raw_client))
    assert code == 2, out + err
    # `rtmock check` says the same of the recording: the upstream's, exit 2
    (recorded,) = (tmp_path / "t").glob("**/*.jsonl")
    code, out, err = finish(rtmock("check", str(recorded)))
    assert code == 2 and out.startswith("UPSTREAM"), out + err
    assert "upstream error: The upstream sent an error (server_error)" in out and "not the client's" in out


def test_an_unreachable_upstream_is_the_upstreams(raw_client: list[str]) -> None:
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    code, out, err = finish(rtmock("run", "--upstream", f"ws://127.0.0.1:{port}", "--connect-timeout", "20", "--",
                                   *raw_client))
    assert code == 2, out + err
    assert "upstream problem (unreachable): rtmock could not reach the upstream" in err


def test_a_client_that_crashes_on_a_call_is_charged_with_the_call_it_choked_on(served: dict[str, MockServer],
                                                                              tmp_path: Path) -> None:
    # as `rtmock run` against the mock says it (test_hardening): the crash is the verdict, the
    # unanswered call its consequence, and the last call the client was sent is named
    client = tmp_path / "crash.py"
    client.write_text(CRASHES_ON_A_CALL)
    report = tmp_path / "r.json"
    code, out, err = finish(rtmock("run", "--upstream", f"ws://127.0.0.1:{served['get_your_info'].port}",
                                   "--json", str(report), "--", sys.executable, str(client)))
    assert code == 1, out + err
    result = json.loads(report.read_text())["results"][0]
    assert [f["rule"] for f in result["findings"]] == ["client-crashed"], result
    crash = result["findings"][0]
    assert "leaving its session short: missing-output" in crash["message"]
    assert "The last call it was sent: get_your_info with arguments '{\"query\":\"favorite food\"}'." in crash["message"]
    assert crash["call_name"] == "get_your_info" and crash["call_id"].startswith("call_")
    assert "KeyError: 'no tool for this call'" in crash["seen"]


async def test_a_full_disk_while_recording_cuts_the_transcript_short_and_the_session_is_still_judged(
        served: dict[str, MockServer], raw_client: list[str], tmp_path: Path) -> None:
    # as `rtmock run` against the mock (test_internal_errors): never the client's fault, exit 2
    from rtmock.harness.cli import _exit_code
    from rtmock.harness.proxy import run_proxied
    from rtmock.harness.runner import RunOptions

    url = f"ws://127.0.0.1:{served['get_your_info'].port}"
    scratch, full = tmp_path / "scratch", tmp_path / "full"
    first = await run_proxied(url, raw_client, options=RunOptions(transcript_dir=scratch, seed="disk", tls=False))
    assert first.passed and not first.recording_errors, first.findings
    full.mkdir()
    for made in scratch.glob("*.jsonl"):  # the same seed names the same file: a full disk
        (full / made.name).symlink_to("/dev/full")
    result = await run_proxied(url, raw_client, options=RunOptions(transcript_dir=full, seed="disk", tls=False))
    assert result.passed and not result.internal_errors, result.findings + result.internal_errors  # judged from memory
    (lost,) = result.recording_errors
    assert "No space left on device" in lost and "cut short" in lost
    assert _exit_code([result]) == 2


def test_run_with_a_scenario_adds_its_expectations_to_the_protocol_rules(served: dict[str, MockServer],
                                                                         raw_client: list[str], tmp_path: Path) -> None:
    upstream = ["--upstream", f"ws://127.0.0.1:{served['get_your_info'].port}"]
    code, out, err = finish(rtmock("run", str(SCENARIOS / "get_your_info.yaml"), *upstream, "--", *raw_client))
    assert code == 0, out + err
    assert out.startswith("PASS  ") and "get_your_info.yaml" in out
    # a `match:` the client's output does not meet: the real call's id stands for the label `info`
    strict = tmp_path / "strict.yaml"
    strict.write_text((SCENARIOS / "get_your_info.yaml").read_text().replace(
        "    call: info\n", "    call: info\n    match: {item.output: {json_contains: {answer: pizza}}}\n"))
    code, out, err = finish(rtmock("run", str(strict), *upstream, "--", *raw_client))
    assert code == 1, out + err
    assert "[scenario-mismatch] The output for call get_your_info" in out and "strict.yaml:" in out


def test_a_probe_before_the_real_session_is_not_judged_through_the_relay_either(served: dict[str, MockServer],
                                                                              tmp_path: Path) -> None:
    """A relayed session's notes carry only their JSON form: the probe is recognised from it."""
    from test_run_verdicts import CLIENT

    client = tmp_path / "client.py"
    client.write_text(CLIENT)
    upstream = ["--upstream", f"ws://127.0.0.1:{served['get_your_info'].port}"]
    code, out, err = finish(rtmock("run", str(SCENARIOS / "get_your_info.yaml"), *upstream, *TIMEOUTS,
                                   "--", sys.executable, str(client), "probe_then_session"))
    assert code == 0, out + err
    assert "opened and closed by the client without sending anything" in out, out


def test_no_secret_reaches_a_transcript_a_log_or_a_report(upstream: Upstream, raw_client: list[str],
                                                           tmp_path: Path) -> None:
    env_key, client_key, protocol_key, ephemeral = ("sk-env-KEY-ffff0001", "sk-client-KEY-ffff0002",
                                                    "sk-browser-KEY-ffff0003", "ek_EPHEMERAL_ffff0004")
    # the upstream takes only rtmock's key (so it was really sent), and hands out an ephemeral secret
    server = upstream.serve(f"""
tools: [{{name: get_your_info}}]
steps:
  - expect: session.update
  - send: {{type: session.updated, session: {{client_secret: {{value: {ephemeral}, expires_at: 1}}}}}}
  - expect: response.create
  - respond: [function_call: {{id: c, name: get_your_info, arguments: {{q: food}}}}]
  - expect: function_call_output
  - expect: response.create
  - respond: [text: done]
""", api_key=env_key)
    out_dir = tmp_path / "out"
    code, out, err = finish(rtmock("run", *upstream_arg(server, secure=True), "-v", "--transcript", str(out_dir / "t"),
                                   "--json", str(out_dir / "r.json"), "--junit", str(out_dir / "r.xml"),
                                   "--html", str(out_dir / "r.html"), "--", *raw_client,
                                   env={"RTMOCK_UPSTREAM_API_KEY": env_key, "CLIENT_KEY": client_key,
                                        "CLIENT_PROTOCOL_KEY": protocol_key}))
    assert code == 0, out + err
    (transcript,) = (out_dir / "t").rglob("*.jsonl")
    assert REDACTED in transcript.read_text()  # the ephemeral secret was there, and is gone
    for command in (["check", str(transcript), "--json", str(out_dir / "c.json"), "--html", str(out_dir / "c.html")],
                    ["report", str(transcript), "-o", str(out_dir / "report.html")],
                    ["scenario", str(transcript), "-o", str(out_dir / "s.yaml")]):
        c, o, e = finish(rtmock(*command))
        assert c == 0, o + e
        out, err = out + o, err + e
    # `rtmock proxy` logs every notable event: run it too, with the same client
    proxy = rtmock("proxy", *upstream_arg(server, secure=True), "--port", "0", "--record", str(out_dir / "p"),
                   env={"RTMOCK_UPSTREAM_API_KEY": env_key})
    try:
        assert proxy.stdout is not None
        first = proxy.stdout.readline()
        url = first.split(" proxying ", 1)[1].split(" ", 1)[0]
        client = subprocess.run(raw_client, env={**os.environ, "RTMOCK_URL": url, "CLIENT_KEY": client_key},
                                capture_output=True, text=True, timeout=60)
        assert client.returncode == 0, client.stderr
    finally:
        proxy.send_signal(2)
        o, e = proxy.communicate(timeout=30)
    assert proxy.returncode == 130 and "ended: PASS" in o, o + e
    logs = out + err + first + o + e
    files = "".join(p.read_text(errors="replace") for p in out_dir.rglob("*") if p.is_file())
    for secret in (env_key, client_key, protocol_key, ephemeral):
        assert secret not in logs and secret not in files, secret


def test_a_relayed_session_notes_the_events_it_cannot_put_into_the_real_services_response() -> None:
    scenario = load_scenario_text("""\
steps:
  - expect: response.create
  - respond:
      - text: One.
      - send: {type: rate_limits.updated, rate_limits: []}
      - text: Two.
""", path="mid.yaml")
    records: list[Record] = []
    core = RelayCore(scenario, records.append, Secrets())
    core.start(0.0, "ws://up/v1/realtime")
    core.client_text('{"type": "response.create"}', 0.1)
    notes = [r.event for r in records if r.direction is Direction.SCRIPT and r.event]
    (not_injected,) = [n for n in notes if n["type"] == "rtmock.fault.not_injected"]
    assert not_injected["step"] == 2 and not_injected["line"] == 3 and "send:" in not_injected["why"]


def test_a_relayed_session_holds_only_the_client_events_its_steps_can_take() -> None:
    # A voice client appends audio 25 times a second for as long as it talks: a relayed session
    # that kept every client event to match against its steps grew with the conversation.
    records: list[Record] = []
    core = RelayCore(load_scenario(SCENARIOS / "get_your_info.yaml"), records.append, Secrets())
    core.start(0.0, "ws://up/v1/realtime")
    for n in range(2000):
        core.client_text('{"type": "input_audio_buffer.append", "audio": "AAAA"}', 0.1 + n / 10_000)
    assert core._held.get("input_audio_buffer.append") is None  # no step of the scenario takes one
    core.client_text(json.dumps({"type": "session.update", "session": {"tools": [{"type": "function", "name": "get_your_info"}]}}), 0.4)
    assert [r.event["step"] for r in records if r.event and r.event["type"] == "rtmock.step.matched"] == [1]
