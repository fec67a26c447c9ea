"""The HTML report: what it shows for a failing get_your_info session, that client data cannot
escape into markup, that 10,000 events render fast, and (in headless Chromium, when installed) that
the page works in a browser. Set RTMOCK_UPDATE_SCREENSHOT=1 to refresh docs/report-screenshot.png."""

from __future__ import annotations

import base64
import dataclasses
import html
import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from rtmock.harness.judging.findings import Finding, Rule, SessionVerdict
from rtmock.harness.reports.html import SessionReport, render_html
from rtmock.mockserver.core.records import Direction, Record, TranscriptHeader

CALL = "call_0alUJEs97NN2N5zB"
RESPONSE = "resp_HkGopk2PvREOcGq4dIDtAq"
ITEM = "item_zpkcDclVzeCjMXGrT5p5p7"
SCENARIO = "scenarios/get_your_info.yaml"
CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
SCREENSHOT = Path(__file__).resolve().parent.parent / "docs" / "report-screenshot.png"


class Transcript:
    """Records in the order and shape the server writes them (see a real `rtmock serve --record` file)."""

    def __init__(self) -> None:
        self.records: list[Record] = []
        self.events = 0

    def add(self, t: float, direction: Direction, event: dict[str, Any] | None = None, raw: str | None = None) -> int:
        if direction is Direction.SERVER and event is not None:
            self.events += 1
            event = {"type": event.pop("type"), "event_id": f"event_{self.events:06d}", **event}
        self.records.append(Record(len(self.records), t, direction, event, raw))
        return len(self.records) - 1

    def server(self, t: float, kind: str, **fields: Any) -> int:
        return self.add(t, Direction.SERVER, {"type": kind, **fields})

    def client(self, t: float, kind: str, **fields: Any) -> int:
        return self.add(t, Direction.CLIENT, {"type": kind, **fields})

    def note(self, t: float, kind: str, **fields: Any) -> int:
        return self.add(t, Direction.SCRIPT, {"type": f"rtmock.{kind}", **fields})

    def tool_round(self, t: float, *, response: str, item: str, call_id: str, arguments: str, step: int, line: int) -> None:
        call = {"id": item, "object": "realtime.item", "type": "function_call", "name": "get_your_info",
                "call_id": call_id}
        self.server(t, "response.created", response={"object": "realtime.response", "id": response,
                                                      "status": "in_progress", "status_details": None, "output": []})
        self.note(t, "response.started", step=step, line=line, response_id=response,
                  calls=[{"call_id": call_id, "name": "get_your_info", "label": "info"}])
        self.server(t, "response.output_item.added", response_id=response, output_index=0,
                    item={**call, "status": "in_progress", "arguments": ""})
        self.server(t, "conversation.item.added", previous_item_id=None, item={**call, "status": "in_progress", "arguments": ""})
        for chunk in (arguments[:9], arguments[9:17], arguments[17:]):
            self.server(t + 0.0002, "response.function_call_arguments.delta", response_id=response, item_id=item,
                        output_index=0, call_id=call_id, delta=chunk)
        self.server(t + 0.0003, "response.function_call_arguments.done", response_id=response, item_id=item,
                    output_index=0, call_id=call_id, name="get_your_info", arguments=arguments)
        done = {**call, "status": "completed", "arguments": arguments}
        self.server(t + 0.0003, "response.output_item.done", response_id=response, output_index=0, item=done)
        self.server(t + 0.0003, "conversation.item.done", previous_item_id=None, item=done)
        self.server(t + 0.0004, "response.done", response={"object": "realtime.response", "id": response,
                                                           "status": "completed", "output": [done],
                                                           "usage": {"total_tokens": 0}})


def get_your_info(*, answered: bool, output: Any = '{"food": "pizza"}', call_id: str = CALL,
                  name: str = "get_your_info") -> SessionReport:
    """A get_your_info session like `examples/`' clients produce: the client declares the tool, asks
    for a response, gets the call, sends its output and then (``answered``) a response.create, or not."""
    tr = Transcript()
    tools = [{"type": "function", "name": "get_your_info", "description": "Look up a fact about the user.",
              "parameters": {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]}}]
    session = {"type": "realtime", "object": "realtime.session", "id": "sess_Xpj0PmVpWqbCnw6nfpkGsx",
               "model": "gpt-realtime", "output_modalities": ["audio"], "instructions": "", "tools": [],
               "audio": {"input": {"format": {"type": "audio/pcm", "rate": 24000}},
                         "output": {"format": {"type": "audio/pcm", "rate": 24000}, "voice": "alloy"}}}
    tr.server(0.0006, "session.created", session=session)
    tr.note(0.0006, "step.reached", step=1, line=17, expect="session.update", within=5.0, call_id=None,
            call_name=None, match=None)
    tr.note(0.0006, "step.reached", step=2, line=19, expect="response.create", within=5.0, call_id=None,
            call_name=None, match=None)
    update = tr.client(0.0412, "session.update", session={"type": "realtime", "tools": tools})
    tr.server(0.0413, "session.updated", session={**session, "tools": tools})
    tr.note(0.0413, "step.matched", step=1, line=17, client_index=update)
    create = tr.client(0.0431, "response.create")
    tr.note(0.0431, "step.matched", step=2, line=19, client_index=create)
    tr.tool_round(0.0432, response=RESPONSE, item=ITEM, call_id=CALL, arguments='{"query":"favorite food"}',
                  step=3, line=21)
    tr.note(0.0436, "step.reached", step=4, line=27, expect="function_call_output", within=5.0, call_id=CALL,
            call_name="get_your_info", match=None)
    tr.note(0.0436, "step.reached", step=5, line=30, expect="response.create", within=3.0, call_id=None,
            call_name=None, match=None)
    out = tr.client(0.2874, "conversation.item.create", item={"type": "function_call_output", "call_id": call_id,
                                                              "output": output})
    echo = {"type": "function_call_output", "call_id": call_id, "output": output, "id": "item_LjBpibRHXaNHDaAdsW8TVV",
            "object": "realtime.item", "status": "completed"}
    tr.server(0.2875, "conversation.item.added", previous_item_id=ITEM, item=echo)
    tr.server(0.2875, "conversation.item.done", previous_item_id=ITEM, item=echo)
    tr.note(0.2875, "step.matched", step=4, line=27, client_index=out)
    findings = []
    if answered:
        trigger = tr.client(0.2891, "response.create")
        tr.note(0.2891, "step.matched", step=5, line=30, client_index=trigger)
        tr.server(0.2892, "response.created", response={"object": "realtime.response", "id": "resp_second",
                                                         "status": "in_progress", "output": []})
        for i, piece in enumerate(("Your favorite ", "food is ", "pizza.")):
            tr.server(0.2893 + i / 10000, "response.output_text.delta", response_id="resp_second", delta=piece)
        tr.server(0.2897, "response.done", response={"object": "realtime.response", "id": "resp_second",
                                                      "status": "completed", "output": [{"type": "message"}]})
        tr.note(0.2897, "scenario.complete")
        tr.note(0.3102, "closed", by="client", code=1000, reason="", complete=True)
    else:
        tr.note(10.0233, "closed", by="client", code=1000, reason="", complete=False)
        findings.append(Finding(
            rule=Rule.MISSING_RESPONSE_CREATE,
            message=f"The client sent the output for call {name} ({call_id}) (event #{out}) but no response.create "
                    "followed within the bound: the model stays silent and the app hangs (the real service gives "
                    "no error for this).",
            hint='After sending all function_call_output items of a response, send {"type": "response.create"}.',
            index=None, time=3.0436, call_name=name, call_id=call_id, step=5, step_line=30,
            expected="response.create after the output(s)", seen="nothing"))
    header = TranscriptHeader("sess_Xpj0PmVpWqbCnw6nfpkGsx", "get_your_info", SCENARIO, "ga", "/v1/realtime",
                              "2026-11-26T00:58:16.798+00:00")
    verdict = SessionVerdict(header.session_id, "get_your_info", SCENARIO, answered, findings,
                             duration=tr.records[-1].time, events=len(tr.records))
    return SessionReport(header, tr.records, verdict)


def row_classes(page: str, sid: str = "s1") -> dict[int, set[str]]:
    """Each timeline row's classes, by event #n."""
    rows = re.findall(rf'<div class="r ([^"]*)" id="{sid}-e(\d+)"', page)
    return {int(n): set(classes.split()) for classes, n in rows}


def index_of(page: str, marker: str) -> int:
    assert marker in page, f"{marker!r} is not in the page"
    return page.index(marker)


# ---- what the page shows ---------------------------------------------------------------------------


def test_missing_response_create_is_pinned_where_its_bound_ran_out_with_the_fix() -> None:
    report = get_your_info(answered=False)
    page = render_html([report])
    finding = report.verdict.findings[0]
    # decided at no event (index None, t=3.04s): pinned at the wire event nearest its time, #23
    assert index_of(page, 'id="s1-e23"') < index_of(page, 'id="s1-f1"') < index_of(page, 'id="s1-e24"')
    block = page[index_of(page, 'id="s1-f1"'):]
    block = block[: block.index("</dl>")]
    assert "missing-response-create" in block
    assert "R4: a response.create follows the outputs of a tool round" in block
    assert "+3043.6ms" in block
    assert f"{SCENARIO}:30</span> (step 5)" in block
    assert "response.create after the output(s)" in block and "<dd>nothing</dd>" in block
    assert 'class="fix">After sending all function_call_output items of a response, send {"type": ' in block
    assert finding.message in block
    # ...and listed at the top of the session and in the summary, linking to the pinned block
    assert page.count('href="#s1-f1"') >= 3
    assert "1 session · " in page and "0 passed, 1 failed" in page


def test_call_id_links_join_the_call_its_output_and_the_response_create_that_answers_it() -> None:
    page = render_html([get_your_info(answered=True)])
    rows = row_classes(page)
    output_row = next(n for n, c in rows.items() if "c" in c and n > 20)  # the client's function_call_output
    chips = re.findall(rf'<a class="cid" href="#s1-e(\d+)" data-k="1" style="--h:(\d+)">{CALL}</a>', page)
    assert len(chips) >= 10 and set(chips) == {(str(output_row), "338")}  # every mention: one link, one colour
    related = {int(n) for n in re.findall(r'id="s1-e(\d+)" data-k="1"', page)}
    trigger = output_row + 4  # output, two echoes, the step note, then response.create
    assert "rc" in rows[trigger]  # the client's response.create, drawn as the trigger
    assert {output_row, trigger} <= related
    assert not any("ww" in c for c in rows.values())  # answered: no waiting window


def test_active_response_windows_and_the_unanswered_wait_are_shaded() -> None:
    page = render_html([get_your_info(answered=False)])
    rows = row_classes(page)
    # response.created (#8) .. response.done (#18) of the same response: shaded, and labelled once
    assert {n for n, c in rows.items() if "aw" in c} == set(range(8, 19))
    label = index_of(page, 'id="s1-r1">response <span class="mono">' + RESPONSE + "</span> active")
    assert index_of(page, 'id="s1-e7"') < label < index_of(page, 'id="s1-e8"')
    # from the last output of the round (#20) to the finding: red, saying what never came
    assert {n for n, c in rows.items() if "ww" in c} == {22, 23}
    wait = index_of(page, '<div class="wait ww">waiting for response.create — never came (2.76 s)</div>')
    assert index_of(page, 'id="s1-e21"') < wait < index_of(page, 'id="s1-e22"')
    assert '<div class="f ww" id="s1-f1"' in page


def test_summary_counts_sessions_and_findings_by_rule_with_links() -> None:
    wrong = get_your_info(answered=False, call_id="item_zpkcDclVzeCjMXGrT5p5p7")
    page = render_html([get_your_info(answered=True), get_your_info(answered=False), wrong], title="nightly")
    summary = page[index_of(page, '<header class="top">'):index_of(page, "</header>")]
    assert "<h1>nightly</h1>" in summary and "3 sessions · " in summary and "1 passed, 2 failed" in summary
    assert summary.count('<span class="badge pass">PASS</span>') == 1
    assert summary.count('<span class="badge fail">FAIL</span>') == 2
    assert '<span class="rule">missing-response-create</span></td><td>2</td>' in summary
    # failures first: the two failing sessions are #1 and #2, the passing one #3
    assert 'href="#s1-f1">get_your_info #1</a>, <a href="#s2-f1">get_your_info #2</a>' in summary
    assert "<td>310 ms</td><td>34</td>" in summary and "<td>10.02 s</td><td>26</td>" in summary
    # a call_id the server never issued is marked as such
    assert '<a class="cid unk" title="not a call of this session" href="#s2-e21"' in page


def test_events_are_pretty_printed_and_long_payloads_start_collapsed() -> None:
    audio = base64.b64encode(bytes(range(256)) * 40).decode()  # 13,656 chars
    huge = "x" * 5000
    report = get_your_info(answered=False, output=huge)
    records = list(report.records)
    records.insert(4, Record(4, 0.0420, Direction.CLIENT, {"type": "input_audio_buffer.append", "audio": audio}))
    records = [Record(i, r.time, r.direction, r.event, r.raw) for i, r in enumerate(records)]
    page = render_html([SessionReport(report.header, records, report.verdict)])
    # a short event: one line, open
    assert '<b>response.create</b>  <code class="j">{"type": "response.create"}</code>' in page
    # base64 audio: the gist says its size, the collapsed JSON its first characters (not all of it:
    # a voice session's thousands of deltas would make the page too big to open)
    row = page[index_of(page, 'id="s1-e4"'):index_of(page, 'id="s1-e5"')]
    assert "&lt;13,656 chars of base64 audio&gt;" in row
    assert row.count("<details") == 1 and "<details open" not in row
    assert f'"audio": "{audio[:96]}…" (+13,560 chars)' in row and audio[:97] not in row
    # a 5,000-char output: clipped in the gist and the JSON, whole behind its own <details>
    assert f'<details class="long"><summary>item.output · 5,000 chars</summary><pre>{huge}</pre></details>' in page
    assert "output='xxxxx" in page and "(+4,941 chars)" in page
    # multi-line JSON is indented, small containers stay on one line
    assert '\n  "session": {\n    "type": "realtime",' in page
    assert '"format": {"type": "audio/pcm", "rate": 24000}' in page


# ---- hostile client data -----------------------------------------------------------------------------

HOSTILE = '</script><script>alert(1)</script><img src=x onerror="alert(2)">'


def test_hostile_client_data_is_escaped_everywhere() -> None:
    report = get_your_info(answered=False, output=HOSTILE * 20, call_id='x"><img src=x onerror=alert(3)>',
                           name=HOSTILE)
    records = list(report.records)
    n = len(records)
    records += [
        Record(n, 9.0, Direction.CLIENT, None, raw=HOSTILE),  # not JSON at all
        Record(n + 1, 9.1, Direction.CLIENT, {"type": HOSTILE, HOSTILE: [HOSTILE, {"k": HOSTILE}]}),
        Record(n + 2, 9.2, Direction.CLIENT, {"type": "conversation.item.create",
                                              "item": {"type": "message", "role": HOSTILE,
                                                       "content": [{"type": "input_text", "text": HOSTILE}]}}),
        Record(n + 3, 9.3, Direction.CLIENT, {"type": "x", "lone": "\ud800", "ansi": "\x1b[31mred\x00"}),
        Record(n + 4, 9.4, Direction.SCRIPT, {"type": "rtmock.closed", "by": "client", "code": 4000, "reason": HOSTILE}),
    ]
    header = TranscriptHeader(HOSTILE, HOSTILE, HOSTILE, HOSTILE, HOSTILE, HOSTILE)
    verdict = SessionVerdict(HOSTILE, HOSTILE, HOSTILE, False, [
        *report.verdict.findings,
        Finding(Rule.INVALID_CLIENT_EVENT, HOSTILE, HOSTILE, index=n + 1, time=9.1, call_id=HOSTILE,
                call_name=HOSTILE, expected=HOSTILE, seen=HOSTILE)])
    page = render_html([SessionReport(header, records, verdict)], title=HOSTILE)
    assert page.count("<script") == 1  # ours, at the end
    assert page.count("</script>") == 1
    assert "<img" not in page and "<script>alert" not in page
    assert '&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror="alert(2)"&gt;' in page
    assert page.count("\ud800") == 0 and "\\ud800" in page
    page.encode("utf-8")  # writable as UTF-8 even with a lone surrogate in the client's JSON
    # every attribute value the page carries is ours: ids, classes, numbers
    for value in re.findall(r'(?:id|class|href|data-k|style)="([^"]*)"', page):
        assert re.fullmatch(r"[#\w\- :;%.()]*", value), value


# ---- size ------------------------------------------------------------------------------------------


def long_session(events: int = 10_000) -> SessionReport:
    """A long voice session: rounds of a tool call answered correctly, then streamed audio."""
    tr = Transcript()
    tr.server(0.0, "session.created", session={"type": "realtime", "id": "sess_long", "tools": []})
    chunk = base64.b64encode(bytes(range(256)) * 3).decode()  # 1,024 chars: 16 ms of audio
    t, n = 0.0, 0
    while len(tr.records) < events:
        n += 1
        t += 0.050
        tr.client(t, "input_audio_buffer.append", audio=chunk)
        call_id = f"call_{n:06d}"
        tr.tool_round(t, response=f"resp_{n:06d}a", item=f"item_{n:06d}", call_id=call_id,
                      arguments='{"query":"favorite food"}', step=3, line=21)
        t += 0.010
        tr.client(t, "conversation.item.create", item={"type": "function_call_output", "call_id": call_id,
                                                       "output": '{"food": "pizza"}'})
        tr.client(t, "response.create")
        tr.server(t, "response.created", response={"id": f"resp_{n:06d}b", "status": "in_progress", "output": []})
        for i in range(20):
            tr.server(t + i * 0.001, "response.output_audio.delta", response_id=f"resp_{n:06d}b", delta=chunk)
        tr.server(t + 0.02, "response.done", response={"id": f"resp_{n:06d}b", "status": "completed", "output": []})
    records = tr.records[:events]
    header = TranscriptHeader("sess_long", "long_voice", "scenarios/long.yaml", "ga", "/v1/realtime", "")
    verdict = SessionVerdict("sess_long", "long_voice", "scenarios/long.yaml", True, [], records[-1].time, events)
    return SessionReport(header, records, verdict)


def test_ten_thousand_events_render_well_under_a_second() -> None:
    report = long_session()
    cpu = wall = float("inf")
    for _ in range(3):
        start, start_cpu = time.perf_counter(), time.process_time()
        page = render_html([report])
        wall, cpu = min(wall, time.perf_counter() - start), min(cpu, time.process_time() - start_cpu)
    print(f"\nrender_html, 10,000 events: {cpu * 1000:.0f} ms CPU ({wall * 1000:.0f} ms wall), {len(page) / 1e6:.1f} MB")
    assert len(row_classes(page)) == 10_000
    assert cpu < 1.0  # CPU time: a busy CI machine must not fail this


# ---- in a browser ------------------------------------------------------------------------------------


def chromium(tmp_path: Path, url: str, *extra: str) -> subprocess.CompletedProcess[str]:
    if CHROMIUM is None:
        pytest.skip("headless Chromium is not installed (apt-get install chromium)")
    profile = tmp_path / f"profile-{len(list(tmp_path.iterdir()))}"
    return subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
         f"--user-data-dir={profile}", *extra, url],
        capture_output=True, text=True, timeout=120, check=True)


@pytest.mark.integration  # a browser renders the report
def test_the_report_works_in_headless_chromium(tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    page.write_text(render_html([get_your_info(answered=False)], title="rtmock report — examples/forgets_response_create.py"),
                    encoding="utf-8")
    dom = chromium(tmp_path, page.as_uri(), "--dump-dom").stdout
    assert 'id="s1-f1"' in dom and "missing-response-create" in dom
    assert f'<a class="cid" href="#s1-e21" data-k="1" style="--h:338">{CALL}</a>' in dom
    assert "waiting for response.create — never came" in dom
    assert re.search(r'data-loaded-ms="\d+"', dom)  # the inline script ran

    shot = tmp_path / "report-screenshot.png"
    chromium(tmp_path, page.as_uri(), f"--screenshot={shot}", "--window-size=1400,1000")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if os.environ.get("RTMOCK_UPDATE_SCREENSHOT"):
        SCREENSHOT.parent.mkdir(exist_ok=True)
        shutil.copyfile(shot, SCREENSHOT)


# Run in the page after load by the test below (the report itself carries no test code).
DRIVE = """<script>
addEventListener("load", function () {
  var out = {}, shown = function (id) { return getComputedStyle(document.getElementById(id)).display !== "none"; };
  document.querySelector('.r.s .cid[data-k="1"]').click();
  out.highlighted = Array.prototype.map.call(document.querySelectorAll(".hl"), function (e) { return e.id; });
  out.hash = location.hash;
  document.getElementById("only-c").click();
  out.onlyClient = [shown("s1-e21"), shown("s1-e22"), shown("s1-e19")];
  document.getElementById("only-c").click();
  out.all = [shown("s1-e21"), shown("s1-e22"), shown("s1-e19")];
  var q = document.getElementById("q");
  q.value = "favorit";
  q.dispatchEvent(new Event("input"));
  setTimeout(function () {
    out.filtered = [shown("s1-e13"), shown("s1-e15"), shown("s1-e8"), document.querySelector(".run").open];
    out.count = document.getElementById("count").textContent;
    document.documentElement.setAttribute("data-test", JSON.stringify(out));
  }, 500);
});
</script>"""


@pytest.mark.integration  # a browser renders the report
def test_call_links_highlight_and_the_filters_work_in_headless_chromium(tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    page.write_text(render_html([get_your_info(answered=True)]).replace("</body>", DRIVE + "</body>"), encoding="utf-8")
    dom = chromium(tmp_path, page.as_uri(), "--virtual-time-budget=5000", "--dump-dom").stdout
    found = re.search(r'data-test="([^"]*)"', dom)
    assert found, "the driving script did not finish"
    result = json.loads(html.unescape(found.group(1)))
    # the call, its output, the response.create that answered it, and everything between, lit up
    assert {"s1-e10", "s1-e21", "s1-e25"} <= set(result["highlighted"])
    assert not {"s1-e6", "s1-e27"} & set(result["highlighted"])  # the first response.create, the next response
    assert result["hash"] == "#s1-e21"  # and the link jumped to the output
    assert result["onlyClient"] == [True, False, False] and result["all"] == [True, True, True]
    # the filter keeps matching rows, opening a fold that holds one
    assert result["filtered"] == [True, True, False, True]
    assert re.fullmatch(r"\d+ of 34 events shown", result["count"])


@pytest.mark.integration  # a browser renders the report
def test_ten_thousand_events_load_in_headless_chromium(tmp_path: Path) -> None:
    page = tmp_path / "long.html"
    page.write_text(render_html([long_session()]), encoding="utf-8")
    start = time.perf_counter()
    dom = chromium(tmp_path, page.as_uri(), "--dump-dom").stdout
    wall = time.perf_counter() - start
    loaded = re.search(r'data-loaded-ms="(\d+)"', dom)
    assert loaded, "the page's load handler did not run"
    assert dom.count('<div class="r ') == 10_000
    print(f"\nChromium, 10,000 events ({page.stat().st_size / 1e6:.1f} MB): loaded and laid out "
          f"{int(loaded.group(1))} ms after navigation start; whole chromium run {wall:.1f} s")


def test_failures_come_first_and_open_passes_are_folded_and_each_names_its_client() -> None:
    passed = dataclasses.replace(get_your_info(answered=True), client="python good.py")
    failed = dataclasses.replace(get_your_info(answered=False), client="python forgets.py")
    page = render_html([passed, failed])
    assert page.index("python forgets.py") < page.index("python good.py"), "the failure comes first"
    failing_section = page[page.index('id="s1"'):page.index('id="s2"')]
    passing_section = page[page.index('id="s2"'):]
    assert '<details class="fold">' not in failing_section and '<details class="fold">' in passing_section
    alone = render_html([passed])
    assert '<details class="fold">' not in alone, "a report of one passing session shows it open"
