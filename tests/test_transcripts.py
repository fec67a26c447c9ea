"""Transcripts as `rtmock check` and `rtmock report` read them back: a record holding U+2028 is one
line, a transcript cut short says so instead of charging the client with its missing end, and
every file given gets its own verdict or error line.

The transcripts are real: `rtmock run --transcript` records a real client process (a few lines of
the `websockets` library below) through the `rtmock` console script.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from rtmock.harness.judging.check import (
    CheckedResult,
    UnjudgedTranscript,
    check_each,
    check_exit_code,
    check_transcripts,
)
from rtmock.harness.reports.summary import check_summary
from rtmock.mockserver.core.records import (
    Direction,
    Record,
    TranscriptHeader,
    dump_header,
    dump_record,
    load_transcript,
    read_transcript,
)

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = ROOT / "scenarios" / "get_your_info.yaml"
RTMOCK = str(Path(sys.executable).parent / "rtmock")
SEPARATORS = "line\u2028paragraph\u2029next-line\x85end"

#: A correct client: declares the tool, asks, answers the call with the output given in argv[1]
#: (JSON text), then sends response.create, and exits 0 on the final answer.
CLIENT = """
import json, os, sys
from websockets.sync.client import connect

output = sys.argv[1]
with connect(os.environ["RTMOCK_URL"],
             additional_headers={"Authorization": "Bearer " + os.environ["OPENAI_API_KEY"]}) as ws:
    ws.send(json.dumps({"type": "session.update", "session": {"type": "realtime", "tools": [
        {"type": "function", "name": "get_your_info", "parameters": {"type": "object",
         "properties": {"query": {"type": "string"}}, "required": ["query"]}}]}}))
    ws.send(json.dumps({"type": "response.create"}))
    answered = False
    while True:
        event = json.loads(ws.recv(timeout=20))
        if event["type"] == "response.function_call_arguments.done":
            ws.send(json.dumps({"type": "conversation.item.create", "item": {
                "type": "function_call_output", "call_id": event["call_id"], "output": output}}, ensure_ascii=False))
            answered = True
        elif event["type"] == "response.done" and answered:
            if any(item.get("type") == "function_call" for item in event["response"]["output"]):
                ws.send(json.dumps({"type": "response.create"}))
            else:
                break
"""



def rtmock(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([RTMOCK, *args], capture_output=True, text=True, cwd=cwd, timeout=120,
                          stdin=subprocess.DEVNULL)


def record_session(tmp_path: Path, output: str) -> Path:
    """Run the client against get_your_info with `rtmock run --transcript`; the one transcript."""
    client = tmp_path / "client.py"
    client.write_text(CLIENT)
    out = rtmock("run", str(SCENARIO), "--transcript", str(tmp_path / "t"), "--", sys.executable, str(client), output,
                 cwd=ROOT)
    assert out.returncode == 0, out.stdout + out.stderr
    (path,) = (tmp_path / "t").rglob("*.jsonl")
    return path


@pytest.fixture(scope="module")
def separators_transcript(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return record_session(tmp_path_factory.mktemp("sep"), json.dumps({"answer": SEPARATORS}, ensure_ascii=False))


@pytest.fixture(scope="module")
def plain_transcript(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return record_session(tmp_path_factory.mktemp("plain"), json.dumps({"answer": "pizza"}))


# ---- line separators -------------------------------------------------------------------------------


def test_a_correct_session_whose_output_holds_line_separators_is_checked_and_reported(
        separators_transcript: Path, tmp_path: Path) -> None:
    check = rtmock("check", str(separators_transcript), cwd=ROOT)
    assert check.returncode == 0, check.stdout + check.stderr
    assert check.stdout.startswith("PASS  ")
    report = rtmock("report", str(separators_transcript), "-o", str(tmp_path / "r.html"), cwd=ROOT)
    assert report.returncode == 0, report.stdout + report.stderr
    assert "line\\u2028paragraph\\u2029next-line\\x85end" in (tmp_path / "r.html").read_text(encoding="utf-8")


def test_transcripts_are_written_with_line_separators_escaped(separators_transcript: Path) -> None:
    text = separators_transcript.read_text(encoding="utf-8")
    assert not {"\u2028", "\u2029", "\x85"} & set(text)
    assert text.splitlines() == text.split("\n")[:-1]  # one record per line for any reader
    (output,) = [(r.event or {})["item"]["output"] for r in load_transcript(str(separators_transcript))[1]
                 if r.direction is Direction.CLIENT and r.type == "conversation.item.create"]
    assert json.loads(output) == {"answer": SEPARATORS}


def test_a_transcript_holding_raw_line_separators_is_read_by_newlines_only(tmp_path: Path) -> None:
    # as older rtmock wrote them, or any JSON writer with ensure_ascii=False
    path = tmp_path / "raw.jsonl"
    header = TranscriptHeader("sess_1", "get_your_info", None, "ga", "/v1/realtime", "now")
    event = {"type": "conversation.item.create", "item": {"type": "message", "content": SEPARATORS}}
    lines = [json.dumps(header.to_json(), ensure_ascii=False),
             json.dumps({"n": 0, "t": 0.1, "dir": "client", "event": event}, ensure_ascii=False),
             json.dumps({"n": 1, "t": 0.2, "dir": "script", "event": {"type": "rtmock.closed", "by": "client"}})]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    transcript = read_transcript(str(path))
    assert transcript.records[0].event == event
    assert not transcript.truncated


def test_every_record_is_one_line_whatever_it_holds() -> None:
    for text in (SEPARATORS, "\r\n\x0b\x0c\x1c\x1d\x1e"):
        record = Record(3, 0.5, Direction.CLIENT, {"type": "x", "text": text})
        server = Record(4, 0.5, Direction.SERVER, {"type": "y"}, text=json.dumps({"type": "y", "t": text},
                                                                                  ensure_ascii=False))
        for line in (dump_record(record), dump_record(server)):
            assert line.endswith("\n") and len(line[:-1].splitlines()) == 1
            assert json.loads(line)["event"]["t" if "t" in json.loads(line)["event"] else "text"] == text


# ---- truncated transcripts -------------------------------------------------------------------------


def _cut(path: Path, tmp_path: Path, *, before: str, mid_line: bool) -> tuple[Path, int]:
    """A copy of the transcript cut at the first line holding `before`: in the middle of that line
    (the server killed mid-write), or just before it. Returns the copy and the line number cut."""
    lines = path.read_text(encoding="utf-8").split("\n")
    at = next(i for i, line in enumerate(lines) if before in line)
    kept = "\n".join(lines[:at]) + "\n" + (lines[at][: len(lines[at]) // 2] if mid_line else "")
    cut = tmp_path / f"cut-{'mid' if mid_line else 'line'}.jsonl"
    cut.write_text(kept, encoding="utf-8")
    return cut, at + 1 if mid_line else at


def _is_second_create(line: str) -> bool:
    return '"dir":"client"' in line and '"type":"response.create"' in line


@pytest.mark.parametrize("mid_line", [True, False], ids=["torn-line", "no-closing-record"])
def test_a_transcript_cut_short_says_so_and_charges_the_client_with_nothing_after_the_cut(
        plain_transcript: Path, tmp_path: Path, mid_line: bool) -> None:
    # cut where the client's second response.create was being written: judged as if the client had
    # stopped, the old reading gave missing-response-create
    lines = plain_transcript.read_text(encoding="utf-8").split("\n")
    second = [i for i, line in enumerate(lines) if _is_second_create(line)][1]
    cut, line = _cut(plain_transcript, tmp_path, before=lines[second], mid_line=mid_line)
    expected_line = line  # the torn line, or the last whole one when nothing is torn

    (result,) = check_transcripts([str(cut)])
    assert isinstance(result, CheckedResult)
    assert result.findings == []
    assert not result.passed
    reason = ("the line is cut off mid-record: the server was stopped while writing it" if mid_line else
              "no closing record (rtmock.closed) after it: the server was stopped, or is still writing")
    assert result.truncated == (
        f"{cut}:{expected_line}: transcript truncated at line {expected_line} ({reason}): the client is not judged "
        "on what the transcript lacks; record the session again to judge it whole")
    assert check_exit_code(check_each([str(cut)])) == 2

    out = rtmock("check", str(cut), "--json", str(tmp_path / "r.json"), cwd=ROOT)
    assert "Traceback" not in out.stderr
    assert out.stdout.splitlines()[:2] == [f"TRUNCATED  {SCENARIO}  "
                                           f"{result.duration:.2f}s  1 session(s)", f"    {result.truncated}"]
    assert "missing-response-create" not in out.stdout + out.stderr
    assert json.loads((tmp_path / "r.json").read_text())["results"][0]["truncated"] == result.truncated


def test_rtmock_check_of_a_truncated_transcript_exits_2(plain_transcript: Path, tmp_path: Path) -> None:
    cut, line = _cut(plain_transcript, tmp_path, before='"type":"rtmock.closed"', mid_line=True)
    out = rtmock("check", str(cut), cwd=ROOT)
    assert out.returncode == 2, out.stdout + out.stderr
    assert f"transcript truncated at line {line} " in out.stdout


def test_a_transcript_cut_after_a_finding_keeps_that_finding(tmp_path: Path) -> None:
    # what happened before the cut stands: only the missing end is not judged
    header = TranscriptHeader("sess_1", "get_your_info", str(SCENARIO), "ga", "/v1/realtime", "now")
    records = [Record(0, 0.01, Direction.CLIENT, {"type": "conversation.item.create", "item": {
        "type": "function_call_output", "call_id": "call_made_up", "output": "{}"}})]
    path = tmp_path / "t.jsonl"
    path.write_text(dump_header(header) + "".join(dump_record(r) for r in records), encoding="utf-8")
    (result,) = check_transcripts([str(path)])
    assert [f.rule.value for f in result.findings] == ["wrong-call-id"]
    assert isinstance(result, CheckedResult) and result.truncated is not None


def test_a_whole_transcript_is_not_truncated(plain_transcript: Path) -> None:
    (result,) = check_transcripts([str(plain_transcript)])
    assert isinstance(result, CheckedResult)
    assert result.truncated is None and result.passed


# ---- several files -----------------------------------------------------------------------------------


def test_each_transcript_gets_its_own_verdict_or_error_line(plain_transcript: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    missing = tmp_path / "missing.jsonl"
    outcomes = check_each([str(plain_transcript), str(empty), str(missing)])
    assert [type(o) for o in outcomes] == [CheckedResult, UnjudgedTranscript, UnjudgedTranscript]
    assert check_exit_code(outcomes) == 2
    assert check_exit_code(outcomes[:1]) == 0
    text = io.StringIO()
    check_summary(outcomes, text)
    lines = text.getvalue().splitlines()
    assert lines[0].startswith(f"PASS  {SCENARIO}  ")
    assert lines[1:] == [
        f"ERROR  {empty}: empty transcript (no header line); pass the .jsonl files that `rtmock serve --record DIR` "
        "or `rtmock run --transcript DIR` wrote",
        f"ERROR  {missing}: cannot read transcript: No such file or directory",
        "1 passed, 0 failed, 2 not judged whole",
    ]


def test_rtmock_check_of_a_good_and_an_empty_transcript_shows_both(plain_transcript: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    out = rtmock("check", str(plain_transcript), str(empty), cwd=ROOT)
    assert out.returncode == 2, out.stdout + out.stderr
    assert out.stdout.splitlines()[0].startswith("PASS  ")
    assert f"ERROR  {empty}: empty transcript (no header line)" in out.stdout


def test_a_bad_line_in_the_middle_is_an_error_naming_its_line(plain_transcript: Path, tmp_path: Path) -> None:
    lines = plain_transcript.read_text(encoding="utf-8").split("\n")
    lines[3] = lines[3][:10]
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(lines), encoding="utf-8")
    (outcome,) = check_each([str(path)])
    assert isinstance(outcome, UnjudgedTranscript)
    assert outcome.error.startswith(f"{path}:4: not a JSON line (")


def test_a_torn_last_line_cut_inside_a_character_is_still_a_truncation(tmp_path: Path) -> None:
    header = TranscriptHeader("sess_1", "get_your_info", str(SCENARIO), "ga", "/v1/realtime", "now")
    line = dump_record(Record(0, 0.01, Direction.CLIENT, {"type": "x", "text": "pizza 🍕"})).encode()
    path = tmp_path / "t.jsonl"
    path.write_bytes(dump_header(header).encode() + line[: line.index("🍕".encode()) + 2])
    transcript = read_transcript(str(path))
    assert transcript.truncated_at == 2 and transcript.records == []
