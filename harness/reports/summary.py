"""What a run tells people and CI systems: console lines, `--json`, and JUnit XML.

Every writer takes the same `RunResult`s (from `rtmock run`, or built from transcripts by
`rtmock check`), so the three views never disagree.

What a finding quotes comes from the client (its frames, its stderr): each writer shows it bounded
(`report_text.bounded`: a 100 MB stderr line is a few hundred characters and a count) and, for
people and XML, with its control and bidi characters escaped (`mockserver.records.visible`).
"""

from __future__ import annotations

import json
import os
import shlex
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, TypeVar
from xml.etree import ElementTree as ET

from ...mockserver.core.records import Record, visible
from ..judging.findings import Finding
from ..runner import RunResult
from .text import bounded, shown_finding

if TYPE_CHECKING:
    from ..judging.check import CheckedResult, UnjudgedTranscript

__all__ = ["RunProgress", "check_summary", "console_summary", "shown_finding", "use_color", "write_html", "write_json",
           "write_junit"]


def use_color(stream: IO[str]) -> bool:
    return stream.isatty() and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"


def _paint(text: str, code: str, color: bool) -> str:
    return f"\033[{code}m{text}\033[0m" if color else text


def _excerpt(records: Sequence[Record], finding: Finding, color: bool) -> str:
    from .text import text_timeline  # only when something failed

    return text_timeline(records, finding, color=color)


def console_summary(results: Sequence[RunResult], stream: IO[str] | None = None) -> None:
    """One line per scenario (pass/fail, time), then each failure's findings with an excerpt."""
    out = stream or sys.stdout
    color = use_color(out)
    for result in results:
        _print_result(result, out, color)
    passed = sum(r.passed for r in results)
    if len(results) > 1:
        print(f"{passed} passed, {len(results) - passed} failed", file=out)


def check_summary(outcomes: Sequence[CheckedResult | UnjudgedTranscript], stream: IO[str] | None = None) -> None:
    """`rtmock check`: each transcript file's own verdict, or its own error line, in the order given."""
    from ..judging.check import UnjudgedTranscript

    out = stream or sys.stdout
    color = use_color(out)
    for outcome in outcomes:
        if isinstance(outcome, UnjudgedTranscript):
            for line in outcome.error.splitlines():
                print(f"{_paint('ERROR', '31;1', color)}  {visible(line)}", file=out)
        else:
            _print_result(outcome, out, color)
    if len(outcomes) > 1:
        passed = sum(not isinstance(o, UnjudgedTranscript) and o.passed for o in outcomes)
        unjudged = sum(isinstance(o, UnjudgedTranscript) or o.truncated is not None or bool(o.upstream_failures)
                       for o in outcomes)
        failed = len(outcomes) - passed - unjudged
        print(f"{passed} passed, {failed} failed" + (f", {unjudged} not judged whole" if unjudged else ""), file=out)


def _print_result(result: RunResult, out: IO[str], color: bool) -> None:
    name = visible(result.scenario.path or result.scenario.name)
    truncated: str | None = getattr(result, "truncated", None)  # a transcript `rtmock check` read cut short
    upstream: list[str] = getattr(result, "upstream_failures", [])  # a proxied session whose upstream failed
    if truncated is not None:
        status = _paint("TRUNCATED", "33;1", color)
    elif upstream:
        status = _paint("UPSTREAM", "33;1", color)
    else:
        status = _paint("PASS", "32;1", color) if result.passed else _paint("FAIL", "31;1", color)
    count = len(result.findings)
    extra = "" if result.passed or (truncated and not count) else f"  ({count} finding{'s' if count != 1 else ''})"
    print(f"{status}  {name}  {result.duration:.2f}s  {len(result.sessions)} session(s){extra}", file=out)
    if truncated is not None:
        print(f"    {visible(truncated)}", file=out)
    for line in upstream:
        print(f"    {visible(line)} (the service's side, not the client's)", file=out)
    for info, verdict in result.sessions:
        for finding in verdict.findings:
            shown = shown_finding(finding)
            where = shown.where(result.scenario.path or result.scenario.name)
            print(_indent(str(shown)), file=out)
            print(f"    at: {visible(where)} (session {visible(info.id)})", file=out)
            excerpt = _excerpt(info.records, finding, color)
            if excerpt:
                print(_indent(excerpt, "      "), file=out)
        if info.transcript_path is not None and not verdict.passed:
            print(f"    transcript: {visible(str(info.transcript_path))}", file=out)
    for finding in result.run_findings:
        print(_indent(str(shown_finding(finding))), file=out)
    for note in getattr(result, "notes", ()):  # what the verdict took into account without a finding
        print(f"    note: {visible(note)}", file=out)
    if result.client_stopped and not result.passed:
        print(f"    client: stopped by rtmock once the verdict was known (exit {result.exit_code})", file=out)


class RunProgress:
    """Progress of a multi-scenario `rtmock run`, on stderr: one line rewritten in place on a
    terminal; a plain line per finished scenario elsewhere (CI logs), coloured only where allowed."""

    def __init__(self, total: int, stream: IO[str] | None = None) -> None:
        self.total = total
        self.out = stream or sys.stderr
        self.live = self.out.isatty() and os.environ.get("TERM") != "dumb" and not os.environ.get("CI")
        self.color = use_color(self.out)
        self.running: list[str] = []
        self.passed = self.failed = 0

    def started(self, name: str) -> None:
        self.running.append(name)
        self._draw()

    def finished(self, result: RunResult) -> None:
        name = result.scenario.name
        if name in self.running:
            self.running.remove(name)
        self.passed += result.passed
        self.failed += not result.passed
        done = self.passed + self.failed
        status = _paint("PASS", "32", self.color) if result.passed else _paint("FAIL", "31", self.color)
        if self.live:
            self.out.write("\r\033[K")
            if not result.passed:  # failures stay on screen; passes only count
                print(f"[{done}/{self.total}] {status} {visible(result.scenario.path or name)}  "
                      f"{result.duration:.2f}s", file=self.out)
        else:
            print(f"[{done}/{self.total}] {status} {visible(result.scenario.path or name)}  {result.duration:.2f}s",
                  file=self.out, flush=True)
        self._draw()

    def close(self) -> None:
        if self.live:
            self.out.write("\r\033[K")
            self.out.flush()

    def _draw(self) -> None:
        if not self.live:
            return
        done = self.passed + self.failed
        running = visible(", ".join(self.running[:3])) + (f" +{len(self.running) - 3}" if len(self.running) > 3 else "")
        line = (f"rtmock: {done}/{self.total} done · {_paint(str(self.passed) + ' passed', '32', self.color)} · "
                f"{_paint(str(self.failed) + ' failed', '31' if self.failed else '0', self.color)}"
                + (f" · running {running}" if running else ""))
        self.out.write("\r\033[K" + line)
        self.out.flush()


def _indent(text: str, prefix: str = "    ") -> str:
    return "\n".join(prefix + line for line in text.splitlines())


_Result = TypeVar("_Result", bound=RunResult)


def result_json(result: RunResult) -> dict[str, Any]:
    out = {
        "scenario": result.scenario.name,
        "scenario_path": result.scenario.path,
        "command": result.command,
        "passed": result.passed,
        "duration": round(result.duration, 6),
        "exit_code": result.exit_code,
        "client_stopped": result.client_stopped,
        "sessions": [
            {**verdict.to_json(), "findings": [shown_finding(f, escape=False).to_json() for f in verdict.findings],
             "transcript": str(info.transcript_path) if info.transcript_path else None,
             # a probe, or a session after the scenario completed: not judged by the scenario (see "notes")
             "set_aside": info.id in result.probes}
            for info, verdict in result.sessions
        ],
        "findings": [shown_finding(f, escape=False).to_json() for f in result.run_findings],
        "notes": list(getattr(result, "notes", ())),
    }
    truncated: str | None = getattr(result, "truncated", None)
    if truncated is not None:
        out["truncated"] = truncated
    return out


def write_json(results: Sequence[_Result], path: str | Path, *,
               describe: Callable[[_Result], dict[str, Any]] = result_json) -> None:
    """`--json`: each result as `describe` says it (a proxied run adds its upstream's problems)."""
    data = {
        "passed": all(r.passed for r in results),
        "results": [describe(r) for r in results],
    }
    _atomic_write(Path(path), json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def _xml(text: str, *, lines: bool = True) -> str:
    """Text for XML 1.0: bounded, and no character it forbids (NUL, ESC…) nor any a CI page would
    obey (bidi overrides, C1 controls), each written as an escape instead."""
    return visible(bounded(text), lines=lines)


def write_junit(results: Sequence[RunResult], path: str | Path, *, suite: str = "rtmock") -> None:
    """One testcase per scenario, failures carrying the findings: what GitLab, Jenkins and GitHub
    test reporters display."""
    root = ET.Element("testsuites", name=suite)
    failures = sum(not r.passed for r in results)
    ts = ET.SubElement(root, "testsuite", name=suite, tests=str(len(results)), failures=str(failures), errors="0",
                       time=f"{sum(r.duration for r in results):.3f}")
    for result in results:
        case = ET.SubElement(ts, "testcase", classname=suite, name=_xml(result.scenario.name, lines=False),
                             file=_xml(result.scenario.path or "", lines=False), time=f"{result.duration:.3f}")
        truncated: str | None = getattr(result, "truncated", None)
        if not result.passed:
            findings = [shown_finding(f) for f in result.findings]
            first = findings[0].message if findings else truncated or "the scenario did not complete"
            failure = ET.SubElement(case, "failure", message=_xml(first, lines=False),
                                    type=findings[0].rule.value if findings else "truncated" if truncated else "incomplete")
            text = "\n\n".join(f"{f}\n  at: {visible(f.where(result.scenario.path))}" for f in findings)
            if truncated is not None:
                text = _xml(truncated) + ("\n\n" + text if text else "")
            failure.text = text or "no session completed the scenario"
        if result.stderr_tail:
            ET.SubElement(case, "system-err").text = _xml("\n".join(result.stderr_tail))
    ET.indent(root)
    _atomic_write(Path(path), ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n")


def write_html(results: Sequence[RunResult], path: str | Path) -> None:
    """One self-contained HTML page with a timeline per session (see report_html)."""
    from .html import SessionReport, render_html

    sessions = [SessionReport(header=info.header(), records=info.records, verdict=verdict,
                              client=shlex.join(result.command) if result.command else None)
                for result in results for info, verdict in result.sessions]
    _atomic_write(Path(path), render_html(sessions))


def _atomic_write(path: Path, text: str) -> None:
    """Write whole or not at all: a report a CI system reads is never half-written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(text, encoding="utf-8", errors="backslashreplace")  # a lone surrogate from client JSON
    os.replace(tmp, path)
