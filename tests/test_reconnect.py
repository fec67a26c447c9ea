"""A client that reconnects after the scenario is over (the service closed it, as `server_closes`
scripts): the scenario scripts one session, so the new one is judged by the protocol's rules
alone; a rule it breaks is still a finding."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RTMOCK = [sys.executable, "-m", "rtmock"]
#: a correct client the wrappers below run after their own connection (exec'd from $REAL_CLIENT)
EXAMPLE_CLIENT = {"REAL_CLIENT": str(ROOT / "examples" / "correct_rtclient_style.py")}


def rtmock(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*RTMOCK, *args], capture_output=True, text=True, timeout=90, cwd=tmp_path,
                          env=None if env is None else {**os.environ, **env})


def run_client(tmp_path: Path, scenario: str, program: str, *client_args: str, options: tuple[str, ...] = (),
               env: dict[str, str] | None = None, prelude: bool = False) -> subprocess.CompletedProcess[str]:
    """`rtmock run SCENARIO [OPTIONS] -- python PROGRAM ARGS`, the program (after `PRELUDE`, with
    `prelude`) written to tmp_path."""
    client = tmp_path / "client.py"
    client.write_text(PRELUDE + program if prelude else program)
    return rtmock(tmp_path, "run", scenario, *options, "--", sys.executable, str(client), *client_args, env=env)

#: What the client programs below share (`run_client(..., prelude=True)` puts it first): a session
#: set up with the tools (or without), a user's question, an answer to a call.
PRELUDE = """\
import json, os, sys, threading, time
from websockets.sync.client import connect
TOOLS = [{"type": "function", "name": "get_your_info", "parameters": {"type": "object"}}]

def until(ws, kind):
    while True:
        event = json.loads(ws.recv(timeout=20))
        if event["type"] == kind:
            return event

def send(ws, **event):
    ws.send(json.dumps(event))

def set_up(tools=True):
    ws = connect(os.environ["RTMOCK_URL"], additional_headers={"Authorization": "Bearer x"})
    until(ws, "session.created")
    send(ws, type="session.update", session={"type": "realtime", "output_modalities": ["text"],
                                             **({"tools": TOOLS} if tools else {})})
    until(ws, "session.updated")
    return ws

def ask(ws):
    send(ws, type="conversation.item.create", item={"type": "message", "role": "user",
                                                    "content": [{"type": "input_text", "text": "What is my favorite food?"}]})
    send(ws, type="response.create")

def answer(ws, call_id, *, create=True):
    send(ws, type="conversation.item.create", item={"type": "function_call_output", "call_id": call_id, "output": "pizza"})
    if create:
        send(ws, type="response.create")
"""


#: get_your_info played to the service's close (server_closes), then a reconnect: "idle" declares
#: its tools and waits for the user (nobody spoke: nothing to ask); "output-no-create" answers a
#: call the new session's script makes and forgets the response.create (R4).
CLIENT = """\
import json, os, sys
from websockets.sync.client import connect
from websockets.exceptions import ConnectionClosed
TOOLS = [{"type": "function", "name": "get_your_info", "parameters": {"type": "object"}}]
HEADERS = {"Authorization": "Bearer x"}

def play(ws, *, create_after_output):
    ws.send(json.dumps({"type": "conversation.item.create", "item": {"type": "message", "role": "user",
        "content": [{"type": "input_text", "text": "What is my favorite food?"}]}}))
    ws.send(json.dumps({"type": "response.create"}))
    while True:
        event = json.loads(ws.recv(timeout=10))
        if event["type"] == "response.done":
            calls = [i for i in event["response"]["output"] if i["type"] == "function_call"]
            for call in calls:
                ws.send(json.dumps({"type": "conversation.item.create", "item": {
                    "type": "function_call_output", "call_id": call["call_id"], "output": "{}"}}))
            if calls and create_after_output:
                ws.send(json.dumps({"type": "response.create"}))
            if calls and not create_after_output:
                ws.recv(timeout=10)  # waits: the bug (rtmock stops it once judged)

def session(first):
    with connect(os.environ["RTMOCK_URL"], additional_headers=HEADERS) as ws:
        json.loads(ws.recv(timeout=10))
        ws.send(json.dumps({"type": "session.update", "session": {"type": "realtime", "output_modalities": ["text"],
                                                                  "tools": TOOLS}}))
        while json.loads(ws.recv(timeout=10))["type"] != "session.updated":
            pass
        if first or sys.argv[1] == "output-no-create":
            try:
                play(ws, create_after_output=first)
            except ConnectionClosed:
                return

session(True)
session(False)
"""


def _run(tmp_path: Path, mode: str, *options: str) -> subprocess.CompletedProcess[str]:
    return run_client(tmp_path, "server_closes", CLIENT, mode, options=options)


def test_a_session_after_the_scenario_completed_is_not_asked_to_play_it_again(tmp_path: Path) -> None:
    done = _run(tmp_path, "idle", "--json", "r.json")
    assert done.returncode == 0 and done.stdout.startswith("PASS"), done.stdout + done.stderr
    assert "began after an earlier session completed the scenario" in done.stdout
    (result,) = json.loads((tmp_path / "r.json").read_text())["results"]
    assert [s["set_aside"] for s in result["sessions"]] == [False, True]  # what the JSON says of each


def test_a_rule_broken_in_a_session_after_the_scenario_completed_is_still_a_finding(tmp_path: Path) -> None:
    done = _run(tmp_path, "output-no-create")
    assert done.returncode == 1 and "[missing-response-create]" in done.stdout, done.stdout + done.stderr


#: A connection check as a browser or the `ws` package makes it: upgrade, read session.created,
#: close with a close frame that has no status code (RFC 6455: 1005); then the real session.
PROBE_THEN_CLIENT = """\
import base64, json, os, socket, sys, urllib.parse
from websockets.sync.client import connect
url = urllib.parse.urlsplit(os.environ["RTMOCK_URL"])
probe = socket.create_connection((url.hostname, url.port))
probe.sendall((f"GET {url.path}?{url.query} HTTP/1.1\\r\\nHost: {url.netloc}\\r\\nUpgrade: websocket\\r\\n"
               "Connection: Upgrade\\r\\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\\r\\nSec-WebSocket-Version: 13\\r\\n"
               "Authorization: Bearer x\\r\\n\\r\\n").encode())
data = b""
while b"session.created" not in data:
    data += probe.recv(65536)
probe.sendall(bytes([0x88, 0x80, 0, 0, 0, 0]))  # a close frame, masked with a zero key, no status
probe.recv(65536)
probe.close()
sys.argv = [sys.argv[0]]
exec(open(os.environ["REAL_CLIENT"]).read())
"""


def test_a_connection_check_closed_without_a_status_code_is_a_probe_not_a_failed_session(tmp_path: Path) -> None:
    done = run_client(tmp_path, "get_your_info", PROBE_THEN_CLIENT, env=EXAMPLE_CLIENT)
    assert done.returncode == 0 and done.stdout.startswith("PASS"), done.stdout + done.stderr
    assert "opened and closed by the client without sending anything" in done.stdout


def test_rtmock_check_of_a_runs_transcripts_gives_the_runs_verdict(tmp_path: Path) -> None:
    """The transcripts of one run name it: `rtmock check` judges its sessions together, as the run
    did (a reconnect after the scenario, a connection check), not each alone."""
    ran = _run(tmp_path, "idle", "--transcript", "recorded")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    checked = rtmock(tmp_path, "check", "recorded")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "began after an earlier session completed the scenario" in checked.stdout


#: A session the client sets up and leaves, and another that plays get_your_info in full (or, with
#: "forgets-create", forgets the last response.create): "replaced" closes the first before the
#: second opens (a framework that reconnects when its options change); "spare" keeps it open beside
#: the second and leaves it to the process's exit (no close frame: 1006); "diverges" sends the first
#: a user message the scenario does not script in place of its response.create step; "both-left"
#: leaves the second as the first.
SPARE_CLIENT = """\
mode = sys.argv[1]
first = set_up()
if mode == "diverges":
    send(first, type="response.cancel")
    until(first, "error")
if mode != "spare":
    first.close()
second = set_up()
if mode != "both-left":
    ask(second)
    call = until(second, "response.function_call_arguments.done")
    until(second, "response.done")
    answer(second, call["call_id"], create=mode != "forgets-create")
    if mode == "forgets-create":
        second.recv(timeout=30)  # waits: the bug (rtmock stops it once judged)
    else:
        until(second, "response.done")
second.close()
os._exit(0)  # a spare left open goes with the process: no close frame
"""


def _run_spare(tmp_path: Path, mode: str) -> subprocess.CompletedProcess[str]:
    return run_client(tmp_path, "get_your_info", SPARE_CLIENT, mode, options=("--transcript", f"rec-{mode}"),
                      prelude=True)


def test_a_connection_left_before_another_completed_the_scenario_is_set_aside(tmp_path: Path) -> None:
    for mode in ("replaced", "spare"):
        done = _run_spare(tmp_path, mode)
        assert done.returncode == 0 and done.stdout.startswith("PASS"), mode + done.stdout + done.stderr
        assert "session 1 (" in done.stdout and "left before the scenario's end" in done.stdout
        checked = rtmock(tmp_path, "check", f"rec-{mode}")
        assert checked.returncode == 0, checked.stdout + checked.stderr  # the transcripts tell the same


def test_a_left_connection_still_fails_when_no_session_completed_or_it_played_a_step_differently(
        tmp_path: Path) -> None:
    both_left = _run_spare(tmp_path, "both-left")
    assert both_left.returncode == 1 and "[scenario-mismatch]" in both_left.stdout, both_left.stdout
    assert "2 sessions did not pass" in both_left.stdout
    forgot = _run_spare(tmp_path, "forgets-create")
    assert forgot.returncode == 1 and "[missing-response-create]" in forgot.stdout, forgot.stdout


#: A transcription session (`?intent=transcription`) beside the conversation, opened first and kept
#: streaming the caller's audio until the conversation is done: it can make no responses.
TRANSCRIBER_THEN_CLIENT = """\
import base64, json, os, sys, threading
from websockets.sync.client import connect
url = os.environ["RTMOCK_URL"].split("?")[0] + "?intent=transcription"
ready, stop = threading.Event(), threading.Event()

def transcribe():
    with connect(url, additional_headers={"Authorization": "Bearer x"}) as ws:
        ws.recv(timeout=10)
        ws.send(json.dumps({"type": "session.update", "session": {"type": "transcription", "audio": {"input": {
            "format": {"type": "audio/pcm", "rate": 24000}, "transcription": {"model": "gpt-4o-transcribe"}}}}}))
        ready.set()
        while not stop.wait(0.02):
            ws.send(json.dumps({"type": "input_audio_buffer.append", "audio": base64.b64encode(bytes(960)).decode()}))

side = threading.Thread(target=transcribe)
side.start()
ready.wait(10)
sys.argv = [sys.argv[0]]
try:
    exec(open(os.environ["REAL_CLIENT"]).read())
finally:
    stop.set()
    side.join()
"""


def test_a_transcription_session_beside_the_conversation_is_set_aside(tmp_path: Path) -> None:
    done = run_client(tmp_path, "get_your_info", TRANSCRIBER_THEN_CLIENT, env=EXAMPLE_CLIENT)
    assert done.returncode == 0 and done.stdout.startswith("PASS"), done.stdout + done.stderr
    assert "session 1 (" in done.stdout and "a transcription session (it plays no responses)" in done.stdout


#: get_your_info in full, then a second, tool-less chat: the scenario's model plays the script again
#: there and calls get_your_info, which the session never declared; "ignores" leaves that call be
#: (the app has no such tool), "answers" answers it anyway; "beside" holds the tool-less chat open
#: beside the conversation (a side request).
TOOLLESS_CHAT_AFTER = """\
def chat(tools, answers):
    with set_up(tools) as ws:
        ask(ws)
        while True:
            calls = [o for o in until(ws, "response.done")["response"]["output"] if o["type"] == "function_call"]
            if not calls or not answers:
                return
            for call in calls:
                answer(ws, call["call_id"], create=False)
            send(ws, type="response.create")

if sys.argv[1] == "beside":  # the tool-less chat opened first and held open beside the conversation
    side = threading.Thread(target=chat, args=(False, False))
    side.start()
    chat(True, True)
    side.join()
else:
    chat(True, True)
    chat(False, sys.argv[1] == "answers")
"""


def test_a_toolless_chat_after_or_beside_the_conversation_is_not_charged_with_the_scripts_call(tmp_path: Path) -> None:
    for mode in ("ignores", "answers", "beside"):
        done = run_client(tmp_path, "get_your_info", TOOLLESS_CHAT_AFTER, mode, prelude=True)
        assert done.returncode == 0 and done.stdout.startswith("PASS"), mode + done.stdout + done.stderr
    assert "a conversation without the scenario's tools beside it" in done.stdout


#: The call answered from a connection of its own (a tool worker's), not the one that got it.
OUTPUT_ON_ANOTHER_CONNECTION = """\
with set_up() as ws:
    ask(ws)
    call = until(ws, "response.function_call_arguments.done")
    with connect(os.environ["RTMOCK_URL"], additional_headers={"Authorization": "Bearer x"}) as worker:
        worker.recv(timeout=10)
        answer(worker, call["call_id"])
        worker.recv(timeout=10)
"""


def test_an_output_sent_on_another_connection_says_which_session_made_the_call(tmp_path: Path) -> None:
    done = run_client(tmp_path, "get_your_info", OUTPUT_ON_ANOTHER_CONNECTION, prelude=True)
    assert done.returncode == 1 and "[wrong-call-id]" in done.stdout, done.stdout + done.stderr
    assert "It is a call of session 1 (" in done.stdout and "on the websocket whose session made the call" in done.stdout


#: Two conversations side by side; the second's tool takes a while (inside its bound), and the client
#: keeps running afterwards (a server-style client: rtmock stops it once all is done).
TWO_CONVERSATIONS = """\
def conversation(tool_seconds):
    with set_up() as ws:
        ask(ws)
        call = until(ws, "response.function_call_arguments.done")
        time.sleep(tool_seconds)
        answer(ws, call["call_id"])
        until(ws, "response.done")
        until(ws, "response.done")
        time.sleep(600)  # stays connected until rtmock stops the client

threads = [threading.Thread(target=conversation, args=(seconds,), daemon=True) for seconds in (0, 1.5)]
for thread in threads:
    thread.start()
time.sleep(600)
"""


def test_a_second_conversation_mid_round_when_the_first_completes_is_not_cut_short(tmp_path: Path) -> None:
    # the run waits for the second's round (its bound is 5 s) before the grace, then stops the client
    done = run_client(tmp_path, "get_your_info", TWO_CONVERSATIONS, options=("--grace", "500ms", "--timeout", "60s"),
                      prelude=True)
    assert done.returncode == 0 and done.stdout.startswith("PASS"), done.stdout + done.stderr
