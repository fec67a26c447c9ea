"""What `rtmock fuzz` tells people and CI systems: the progress line, the console report (the minimal
failing case, its findings, the summary table by payload kind × finding rule), `--json` and JUnit XML.
All of them read one `FuzzResult`, so they never disagree."""

from __future__ import annotations

import json
import os
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any
from xml.etree import ElementTree as ET

from ._cases import HOSTILE_MARK, FuzzTarget, kind_label, replay_command
from .payloads import CHARS_PER_TOKEN, KINDS, Payload

if TYPE_CHECKING:
    from ._result import SearchResult
    from .fuzz import CaseOutcome, FuzzResult, FuzzStatus

from ..reports.text import shown_finding

__all__ = ["ProgressLine", "render_report", "write_json", "write_junit"]

_PHASES = {"baseline": "the scenario's own arguments first", "generate": "generating", "shrink": "shrinking",
           "done": "done"}


def _tty(stream: IO[str]) -> bool:
    return stream.isatty() and "NO_COLOR" not in os.environ and not os.environ.get("CI") \
        and os.environ.get("TERM") != "dumb"


class ProgressLine:
    """On a terminal, one line rewritten in place; elsewhere (CI, NO_COLOR, a pipe) a plain line
    every `interval` seconds."""

    def __init__(self, stream: IO[str], name: str) -> None:
        self.stream = stream
        self.name = name
        self.tty = _tty(stream)
        self.color = self.tty
        self.interval = 0.2 if self.tty else 2.0
        self._shown = False

    def update(self, status: FuzzStatus) -> None:
        text = (f"fuzz {self.name}: {status.cases} cases, {status.rate:.1f} cases/s, {status.failing} failing, "
                f"{_PHASES.get(status.phase, status.phase)} ({status.elapsed:.0f}s)")
        if self.tty:
            self.stream.write("\r\033[K" + text)
        else:
            self.stream.write(text + "\n")
        self.stream.flush()
        self._shown = True

    def close(self) -> None:
        if self.tty and self._shown:
            self.stream.write("\n")
            self.stream.flush()


def _paint(text: str, code: str, color: bool) -> str:
    return f"\033[{code}m{text}\033[0m" if color else text


def clip(text: str, limit: int = 300) -> str:
    """`repr(text)`, cut in the middle past `limit` characters (with the full length)."""
    if len(text) <= limit:
        return repr(text)
    return f"{text[: limit - 60]!r} … {text[-40:]!r} ({len(text)} characters)"


def _indent(text: str, prefix: str) -> str:
    return "\n".join(prefix + line for line in text.splitlines())


def _deltas(deltas: tuple[str, ...]) -> str:
    if not deltas:
        return "(none: only arguments.done carries the empty text)"
    if sum(map(len, deltas)) <= 300:
        return f"({len(deltas)}): {list(deltas)!r}"
    sizes = ", ".join(str(len(d)) for d in deltas[:12]) + (" …" if len(deltas) > 12 else "")
    return f"({len(deltas)}) of {sizes} characters"


def level_text(result: FuzzResult) -> str:
    """What the payloads were: only what the service could send, or (--hostile) more."""
    options = result.options
    sizes = sorted({t.max_chars for t in result.targets})
    size = " or ".join(f"{n:,}" for n in sizes)
    bound = (f"arguments up to {size} characters: {options.max_output_tokens:,} output tokens at ~{CHARS_PER_TOKEN} "
             "characters a token (--max-output-tokens)")
    if options.hostile:
        return (f"payloads: hostile (--hostile): also past what the service could send ({bound}); the failures "
                f"on those are marked{HOSTILE_MARK}")
    return f"payloads: what the service could send, {bound}; --hostile adds payloads past it"


def _hostile_note(target: FuzzTarget, payload: Payload) -> str:
    return (f"hostile: {len(payload.text):,} characters, past the {target.max_chars:,} a response can carry: the "
            "real service never sends this (--hostile)")


def _case(result: FuzzResult, outcome: CaseOutcome, color: bool) -> list[str]:
    lines = []
    for target, case in zip(result.targets, outcome.inputs, strict=True):
        lines.append(f"  call {target}: {_paint(case.payload.kind, '1', color)} ({case.payload.note})")
        if target.oversized(case.payload):
            lines.append(_paint(f"    {_hostile_note(target, case.payload)}", "33", color))
        lines.append(f"    arguments: {clip(case.payload.text)}")
        lines.append(f"    deltas {_deltas(case.deltas)}")
    lines.append("  findings:")
    for finding in outcome.findings:
        lines.append(_indent(str(shown_finding(finding)), "    "))
    if outcome.frame_limit is not None:
        lines.append(f"  why: {frame_limit_text(result, outcome)}")
    if not any(f.seen and "\n" in f.seen for f in outcome.findings) and outcome.output_tail:
        lines.append("  client output (last lines):")
        lines.append(_indent("\n".join(outcome.output_tail[-8:]), "    "))
    return lines


def frame_limit_text(result: FuzzResult, outcome: CaseOutcome) -> str:
    """Why the client failed, when its websocket library refused a frame as too big."""
    assert outcome.frame_limit is not None
    oversized = any(t.oversized(c.payload) for t, c in zip(result.targets, outcome.inputs, strict=True))
    return outcome.frame_limit.explain(oversized=oversized if outcome.inputs else None)


def table_rows(result: FuzzResult) -> list[tuple[str, str, int, int, dict[str, int]]]:
    """(call, payload kind, cases, passed, {rule: failing cases}) in KINDS order. A case counts under
    each fuzzed call its failure is charged to (`_fuzz_verdict.charges`), and as passed for the calls
    the client answered; a call never reached (another call's payload stopped the client) is not
    counted. Kinds past what the service could send are rows of their own (`HOSTILE_MARK`)."""
    rows: dict[tuple[str, str], dict[str, int]] = defaultdict(dict)
    for (call, kind, outcome), count in result.table.items():
        rows[(call, kind)][outcome] = count
    order = {kind: i for i, kind in enumerate(KINDS)}

    def key(row: tuple[tuple[str, str], dict[str, int]]) -> tuple[str, int, str]:
        (call, kind), _ = row
        return call, order.get(kind.removesuffix(HOSTILE_MARK), 99), kind

    out = []
    for (call, kind), counts in sorted(rows.items(), key=key):
        failed = {rule: n for rule, n in sorted(counts.items(), key=lambda kv: -kv[1]) if rule != "passed"}
        out.append((call, kind, sum(counts.values()), counts.get("passed", 0), failed))
    return out


def headline(result: SearchResult[Any], *, color: bool, mode: str = "") -> str:
    """A report's first line: the verdict, the scenario, how many cases how fast, the seed, the clients."""
    name = result.scenario.path or result.scenario.name
    status = _paint("PASS", "32;1", color) if result.passed else _paint("FAIL", "31;1", color)
    return (f"{status}  {name}  {mode}{result.cases} cases in {result.duration:.1f}s ({result.cases_per_second:.1f} "
            f"cases/s), seed {result.seed}, {result.clients_started} client(s) started")


def stopped_lines(result: SearchResult[Any]) -> list[str]:
    """The line saying generation stopped early, if it did."""
    if result.stopped != "max-time":
        return []
    return [f"  stopped generating at --max-time after {result.generated} of {result.options.cases} cases"]


def reproducer_lines(result: SearchResult[Any]) -> list[str]:
    """Where the reproducer is and how to replay it, if one was written."""
    if result.reproducer is None:
        return []
    return [f"Reproducer: {result.reproducer}",
            f"  replay: {replay_command(str(result.reproducer), result.command)}"]


def render_report(result: FuzzResult, *, color: bool = False) -> str:
    name = result.scenario.path or result.scenario.name
    lines = [headline(result, color=color)]
    lines.append(f"  {level_text(result)}")
    if (unjudged := result.unjudged_text()) is not None:
        lines.append(f"  {unjudged}")
    lines.extend(stopped_lines(result))
    baseline = result.baseline
    if baseline is not None and not baseline.passed:
        lines.append("  The client fails the scenario with its own arguments (before any fuzzing): fix that first.")
        lines.extend(_indent(str(shown_finding(f)), "    ") for f in baseline.findings)
        if baseline.output_tail and not any(f.seen and "\n" in f.seen for f in baseline.findings):
            lines.append(_indent("\n".join(baseline.output_tail[-8:]), "    | "))
        lines.append(f"  See the whole exchange: {replay_command(name, result.command)}")
        return "\n".join(lines)
    failure = result.failure
    if failure is not None:
        shrink = f", shrunk by Hypothesis in {result.shrink_cases} more cases" if result.shrink_cases else ""
        lines.append("")
        lines.append(f"Minimal failing case (first failure after {result.generated} generated cases{shrink}):")
        if result.flaky:
            lines.append(_paint("  flaky: this case failed, then passed when replayed; the client's failure depends "
                                "on more than the payload (timing, state from earlier cases: try --no-reuse)", "33", color))
        lines.extend(_case(result, failure, color))
        lines.extend(reproducer_lines(result))
    rows = table_rows(result)
    if rows:
        lines.append("")
        lines.append("Cases by payload kind" + (" (generated, then shrinking)" if result.shrink_cases else "") + ":")
        width = max(len(r[0]) for r in rows)
        multi = len(result.targets) > 1
        kinds = max(20, *(len(r[1]) for r in rows))
        head = (f"  {'call':<{width}}  " if multi else "  ") + f"{'payload kind':<{kinds}} {'cases':>6} {'passed':>6}  failed by rule"
        lines.append(head.rstrip())
        for call, kind, cases, passed, failed in rows:
            by_rule = ", ".join(f"{rule} ×{n}" for rule, n in failed.items())
            row = ((f"  {call:<{width}}  " if multi else "  ") + f"{kind:<{kinds}} {cases:>6} {passed:>6}  {by_rule}").rstrip()
            lines.append(_paint(row, "31", color) if failed else row)
    return "\n".join(lines)


# ---- files -------------------------------------------------------------------------------------------


def _outcome_json(result: FuzzResult, outcome: CaseOutcome) -> dict[str, Any]:
    return {
        "case": outcome.number,
        "phase": outcome.phase,
        "passed": outcome.passed,
        "inputs": [
            {"call": t.label, "name": t.name, "kind": c.payload.kind, "note": c.payload.note,
             "text": c.payload.text if len(c.payload.text) <= 4096 else c.payload.text[:4096],
             "text_length": len(c.payload.text), "deltas": [len(d) for d in c.deltas],
             "hostile": t.oversized(c.payload)}
            for t, c in zip(result.targets, outcome.inputs, strict=False)  # the baseline has none
        ],
        "findings": [shown_finding(f, escape=False).to_json() for f in outcome.findings],
        "frame_limit": None if outcome.frame_limit is None else {
            "code": outcome.frame_limit.code, "reason": outcome.frame_limit.reason,
            "largest_frame_bytes": outcome.frame_limit.largest_bytes,
            "largest_frame_event": outcome.frame_limit.largest_index,
            "largest_frame_type": outcome.frame_limit.largest_type,
            "explanation": frame_limit_text(result, outcome)},
    }


def result_json(result: FuzzResult) -> dict[str, Any]:
    return {
        "tool": "rtmock fuzz",
        "scenario": result.scenario.name,
        "scenario_path": result.scenario.path,
        "command": result.command,
        "seed": result.seed,
        "max_output_tokens": result.options.max_output_tokens,
        "hostile": result.options.hostile,
        "passed": result.passed,
        "cases": result.cases,
        "generated": result.generated,
        "shrink_cases": result.shrink_cases,
        "failing_cases": result.failing_cases,
        "duration": round(result.duration, 3),
        "cases_per_second": round(result.cases_per_second, 2),
        "stopped": result.stopped,
        "flaky": result.flaky,
        "unjudged_match_steps": [i + 1 for i in result.unjudged],
        "calls": [{"label": t.label, "name": t.name, "max_chars": t.max_chars} for t in result.targets],
        "baseline": _outcome_json(result, result.baseline) if result.baseline else None,
        "failure": _outcome_json(result, result.failure) if result.failure else None,
        "reproducer": str(result.reproducer) if result.reproducer else None,
        "summary": [{"call": call, "payload_kind": kind, "cases": cases, "passed": passed, "failed": failed}
                    for call, kind, cases, passed, failed in table_rows(result)],
    }


def write_json(results: FuzzResult | Sequence[FuzzResult], path: str | Path) -> None:
    """One scenario's result as one object (`result_json`); several as {"tool", "passed", "results": [...]}."""
    if isinstance(results, Sequence):
        data = {"tool": "rtmock fuzz", "passed": all(r.passed for r in results),
                "results": [result_json(r) for r in results]}
    else:
        data = result_json(results)
    _atomic_write(Path(path), json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def write_junit(results: FuzzResult | Sequence[FuzzResult], path: str | Path) -> None:
    """A testsuite per scenario: a testcase for the baseline and one per (call, payload kind); a kind
    fails when any of its cases failed; the minimal failing case is attached to its kind's testcase."""
    root = ET.Element("testsuites", name="rtmock fuzz")
    for result in results if isinstance(results, Sequence) else [results]:
        _junit_suite(root, result)
    ET.indent(root)
    _atomic_write(Path(path), ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n")


def _junit_suite(root: ET.Element, result: FuzzResult) -> None:
    suite_name = f"rtmock fuzz {result.scenario.name}"
    rows = table_rows(result)
    failures = sum(1 for r in rows if r[4]) + (1 if result.baseline and not result.baseline.passed else 0)
    suite = ET.SubElement(root, "testsuite", name=suite_name, tests=str(len(rows) + 1), failures=str(failures),
                          errors="0", time=f"{result.duration:.3f}")
    props = ET.SubElement(suite, "properties")
    for key, value in (("seed", result.seed), ("cases", result.cases), ("reproducer", result.reproducer or "")):
        ET.SubElement(props, "property", name=key, value=str(value))
    classname = f"rtmock.fuzz.{result.scenario.name}"
    base = ET.SubElement(suite, "testcase", classname=classname, name="baseline (the scenario's own arguments)",
                         file=result.scenario.path or "")
    if result.baseline is not None and not result.baseline.passed:
        first = result.baseline.findings[0] if result.baseline.findings else None
        failure = ET.SubElement(base, "failure", message=shown_finding(first).message if first else "the scenario did not complete",
                                type=result.baseline.rule or "incomplete")
        failure.text = "\n\n".join(str(shown_finding(f)) for f in result.baseline.findings)
    minimal = result.failure
    for call, kind, cases, passed, failed in rows:
        case = ET.SubElement(suite, "testcase", classname=classname, name=f"{call}[{kind}]", file=result.scenario.path or "")
        if not failed:
            continue
        rules = ", ".join(f"{rule} ×{n}" for rule, n in failed.items())
        element = ET.SubElement(case, "failure", message=f"{cases - passed} of {cases} cases failed: {rules}",
                                type=next(iter(failed)))
        if minimal is not None and any(t.label == call and kind_label(t, c) == kind
                                       for t, c in zip(result.targets, minimal.inputs, strict=True)):
            element.text = "\n".join(_case(result, minimal, False)) + (
                f"\nReproducer: {result.reproducer}" if result.reproducer else "")


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
