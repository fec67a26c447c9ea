"""What a client sends or prints reaches people and CI systems shown, never obeyed, and bounded.

A client's frames and stderr can hold NUL, ESC sequences, the one-byte CSI U+009B and bidi overrides
(U+202E): in a terminal they recolour, clear or reorder the verdict, and in JUnit XML they make the
file ill-formed, so CI drops the whole report. And a client can print one 100 MB line: the verdict
quotes its stderr, so it must quote a bounded excerpt. These tests judge real client processes
through the `rtmock` console script and read what every output holds.
"""

from __future__ import annotations

import io
import json
import os
import re
import selectors
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from rtmock.harness.judging.findings import Finding, Rule
from rtmock.harness.reports.summary import console_summary, write_junit
from rtmock.harness.reports.text import QUOTE_LIMIT, bounded, shown_finding, text_timeline
from rtmock.mockserver.core.records import Direction, Record, short, visible

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = ROOT / "scenarios" / "get_your_info.yaml"
RTMOCK = str(Path(sys.executable).parent / "rtmock")

EVIL = "\x00\x1b[2J\x1b[31mRED\x9b1m\u202eLIVE\u2028x\x07\r"
#: What no human or XML output may hold raw (tab and newline are fine).
RAW = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff]")

#: Writes EVIL to its stderr, declares the tool with EVIL instructions, then sends an event whose
#: type and fields are EVIL: the server refuses it with an error quoting the type, and the judge's
#: finding quotes that error.
#: It leaves once the error came.
CLIENT = f"""
import json, os, sys
from websockets.sync.client import connect

EVIL = {EVIL!r}
sys.stderr.write("stderr says " + EVIL + "\\n")
sys.stderr.flush()
url = os.environ.get("URL") or os.environ["RTMOCK_URL"]
with connect(url, additional_headers={{"Authorization": "Bearer " + os.environ["OPENAI_API_KEY"]}}) as ws:
    ws.send(json.dumps({{"type": "session.update", "session": {{"type": "realtime", "instructions": EVIL, "tools": [
        {{"type": "function", "name": "get_your_info", "parameters": {{"type": "object",
         "properties": {{"query": {{"type": "string"}}}}, "required": ["query"]}}}}]}}}}))
    ws.send(json.dumps({{"type": EVIL, "item": {{"type": "message", "content": EVIL}}}}))
    while json.loads(ws.recv(timeout=20))["type"] != "error":
        pass
"""

def rtmock(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([RTMOCK, *args], capture_output=True, text=True, cwd=cwd, timeout=120,
                          stdin=subprocess.DEVNULL)


def no_raw_controls(text: str, what: str) -> None:
    found = RAW.search(text)
    assert found is None, f"{what} holds {found.group()!r} raw: …{text[max(0, found.start() - 80):found.end() + 40]!r}…"


# ---- a judged session whose client sends control characters ---------------------------------------


def test_control_characters_from_a_client_are_escaped_in_every_report(tmp_path: Path) -> None:
    client = tmp_path / "client.py"
    client.write_text(CLIENT)
    junit, report, html = tmp_path / "junit.xml", tmp_path / "r.json", tmp_path / "r.html"
    out = rtmock("run", str(SCENARIO), "--junit", str(junit), "--json", str(report), "--html", str(html),
                 "--", sys.executable, str(client), cwd=ROOT)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "[invalid-client-event]" in out.stdout

    # the terminal: shown as escapes, never as themselves (stdout is no terminal here: no colours either)
    no_raw_controls(out.stdout, "stdout")
    no_raw_controls(out.stderr, "stderr")
    assert "\\x1b[2J\\x1b[31mRED\\x9b1m\\u202eLIVE" in out.stdout

    # JUnit: well-formed (xml.etree parses it) and readable
    root = ET.parse(junit).getroot()
    failure = root.find("./testsuite/testcase/failure")
    assert failure is not None and failure.text is not None
    no_raw_controls(ET.tostring(root, encoding="unicode"), "JUnit")
    assert "\\x1b[2J\\x1b[31mRED\\x9b1m\\u202eLIVE" in failure.text
    assert "\\x1b[2J" in failure.get("message", "")
    system_err = root.find("./testsuite/testcase/system-err")
    assert system_err is not None and "stderr says \\x00\\x1b[2J" in (system_err.text or "")

    # HTML: the page shows the escapes; none of the characters themselves
    page = html.read_text(encoding="utf-8")
    no_raw_controls(page, "HTML")
    assert "\\x1b[2J\\x1b[31mRED\\x9b1m\\u202eLIVE" in page

    # JSON is data: it keeps what the client sent exactly (JSON escapes what it must)
    (session,) = json.loads(report.read_text(encoding="utf-8"))["results"][0]["sessions"]
    assert EVIL in session["findings"][0]["message"]


class _Output:
    """A process's stdout read as it comes, straight from the pipe (no buffering in between that a
    select() cannot see), each wait bounded by a deadline."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None
        self.fd = proc.stdout.fileno()
        self.text = ""

    def until(self, pattern: str, deadline: float) -> str:
        with selectors.DefaultSelector() as selector:
            selector.register(self.fd, selectors.EVENT_READ)
            while not re.search(pattern, self.text):
                assert time.monotonic() < deadline, f"no {pattern!r} in:\n{self.text}"
                if selector.select(timeout=max(0.0, deadline - time.monotonic())):
                    chunk = os.read(self.fd, 65536)
                    assert chunk, f"rtmock serve exited; it printed:\n{self.text}"
                    self.text += chunk.decode("utf-8", "replace")
        return self.text


def _serve_log(tmp_path: Path) -> str:
    """The log `rtmock serve` prints for a session of the client above, up to its verdict."""
    client = tmp_path / "client.py"
    client.write_text(CLIENT)
    serve = subprocess.Popen([RTMOCK, "serve", "--port", "0", "--no-tls", str(SCENARIO)], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, cwd=ROOT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        deadline = time.monotonic() + 60
        output = _Output(serve)
        url = shlex.split(re.findall(r"export RTMOCK_URL=(\S+)\n", output.until(r"Ctrl-C stops the server", deadline))[0])[0]
        subprocess.run([sys.executable, str(client)], env={**os.environ, "URL": url, "OPENAI_API_KEY": "k"},
                       capture_output=True, timeout=60, check=False)
        output.until(r"\] ended: ", deadline)
        serve.send_signal(signal.SIGINT)
        rest, _ = serve.communicate(timeout=30)
        return output.text + rest.decode("utf-8", "replace")
    finally:
        if serve.poll() is None:
            serve.kill()
            serve.wait()


def test_serve_logs_client_frames_with_control_characters_escaped(tmp_path: Path) -> None:
    log = _serve_log(tmp_path)
    frames = [line for line in log.splitlines() if "C→" in line]
    assert any("session.update" in line and "RED" in line for line in frames), log
    no_raw_controls("\n".join(frames), "the session log's frame lines")
    assert "[invalid-client-event]" in log, log
    no_raw_controls(log, "the session log")  # its findings and verdicts too


def test_short_and_the_record_line_escape_the_clients_type() -> None:
    record = Record(6, 0.0033, Direction.CLIENT, {"type": EVIL, "text": EVIL})
    no_raw_controls(short({"type": EVIL, "text": EVIL}), "short()")
    no_raw_controls(str(record), "str(record)")
    no_raw_controls(str(Record(7, 0.1, Direction.CLIENT, None, raw=EVIL)), "str(raw record)")


@pytest.mark.parametrize("char", ["\x00", "\x1b", "\x9b", "\u202e", "\u2028", "\x85", "\ufeff", "\ud800", "\r", "\x7f"])
def test_visible_escapes_what_a_terminal_or_xml_would_obey_or_refuse(char: str) -> None:
    shown = visible(f"a{char}b")
    assert shown.startswith("a\\") and shown.endswith("b") and char not in shown
    assert visible("tab\tand\nnewline", lines=True) == "tab\tand\nnewline"
    assert visible("one\nline") == "one\\nline"


def _finding() -> Finding:
    return Finding(Rule.INVALID_CLIENT_EVENT, f"The server refused client event #6 ({EVIL}).", "Send valid events.",
                   index=6, time=0.0033, call_name=EVIL, call_id=EVIL, expected=f"a valid {EVIL}", seen=EVIL)


def test_console_summary_and_junit_of_a_finding_quoting_control_characters(tmp_path: Path) -> None:
    from rtmock.harness.judging.check import check_transcripts
    from rtmock.mockserver.core.records import TranscriptHeader, dump_header, dump_record

    header = TranscriptHeader("sess_1", "get_your_info", str(SCENARIO), "ga", "/v1/realtime", "now")
    records = [Record(0, 0.01, Direction.CLIENT, {"type": "conversation.item.create", "item": {
        "type": "function_call_output", "call_id": EVIL, "output": EVIL}}),
        Record(1, 0.02, Direction.SCRIPT, {"type": "rtmock.closed", "by": "client", "code": 1000, "reason": EVIL})]
    path = tmp_path / "t.jsonl"
    path.write_text(dump_header(header) + "".join(dump_record(r) for r in records), encoding="utf-8")
    results = check_transcripts([str(path)])
    text = io.StringIO()
    console_summary(results, text)
    assert "[wrong-call-id]" in text.getvalue()
    no_raw_controls(text.getvalue(), "console_summary")
    write_junit(results, tmp_path / "j.xml")
    ET.parse(tmp_path / "j.xml")
    no_raw_controls(text_timeline(records, _finding(), color=False), "text_timeline")
    no_raw_controls(str(shown_finding(_finding())) + shown_finding(_finding()).where(), "shown_finding")


# ---- unbounded quoting ---------------------------------------------------------------------------------


def test_a_client_that_prints_one_100_mb_stderr_line_gets_a_bounded_verdict(tmp_path: Path) -> None:
    client = tmp_path / "client.py"
    client.write_text("import sys\nsys.stderr.write('Traceback (most recent call last):\\n')\n"
                      "sys.stderr.write('RuntimeError: ' + 'x' * 100_000_000 + '\\x1b[2J\\n')\nsys.exit(1)\n")
    junit, report = tmp_path / "junit.xml", tmp_path / "r.json"
    out = rtmock("run", str(SCENARIO), "--junit", str(junit), "--json", str(report), "--connect-timeout", "30",
                 "--", sys.executable, str(client), cwd=ROOT)
    assert out.returncode == 1, out.stdout[:2000] + out.stderr[:2000]
    assert "[client-crashed] The client exited with code 1" in out.stdout
    assert len(out.stdout) < 20_000, f"{len(out.stdout):,} characters on stdout"
    assert "RuntimeError: xxxx" in out.stdout and "(+99,99" in out.stdout  # the start, and how much was cut
    no_raw_controls(out.stdout, "stdout")
    assert report.stat().st_size < 50_000
    (finding,) = [f for f in json.loads(report.read_text())["results"][0]["findings"] if f["rule"] == "client-crashed"]
    assert finding["seen"].startswith("Traceback (most recent call last):\nRuntimeError: xxxx")
    assert junit.stat().st_size < 50_000
    ET.parse(junit)


def test_bounded_keeps_the_first_and_the_last_lines_of_a_long_text() -> None:
    text = "Traceback (most recent call last):\n" + "".join(f"  frame {i}\n" for i in range(10_000)) + "ValueError: bad"
    shown = bounded(text)
    lines = shown.splitlines()
    assert len(shown) <= QUOTE_LIMIT + 100
    assert lines[0] == "Traceback (most recent call last):" and lines[-1] == "ValueError: bad"
    assert any(re.fullmatch(r"… [\d,]+ line\(s\) left out …", line) for line in lines)
    assert bounded("short\ntext") == "short\ntext"
    assert bounded("y" * 1000) == "y" * 499 + "…(+501 chars)"
