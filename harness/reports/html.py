"""One HTML file a person would rather look at: sessions, their timelines, and where each finding was decided.

`render_html` takes finished sessions (header, records, verdict) and returns a self-contained page:
inline CSS and a little inline JS, no network, so it works opened straight from a CI artifact. Per
session it draws a two-column timeline (client | server) of every event with its offset and `#n`,
the scenario's notes discreetly in the middle, each function call and everything that answers it
in one colour and linked by call_id, the active-response windows shaded, and each finding pinned
to the event where it was decided, with the fix. A summary at the top counts sessions and findings.

Rows are plain server-side HTML (the page shows everything without JS; JS only highlights and
filters), and every byte that came from a client is escaped: client data is hostile.

What belongs here: layout and the small analyses it needs (which rows a window covers, where a
finding is pinned). What does not: judging (the rules decide findings) and file I/O (the caller writes).
"""

from __future__ import annotations

import bisect
import dataclasses
import functools
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...mockserver.core.records import Direction, Record, TranscriptHeader, visible
from ..judging.findings import RULES, Finding, Rule, SessionVerdict
from .text import GistPart, clip, gist_parts, note_parts, shown_finding

__all__ = ["SessionReport", "render_html"]

ONE_LINE = 80  # a JSON event this short is shown on one line
OPEN_LIMIT = 300  # a pretty-printed event longer than this (or holding a longer string) starts collapsed
OPEN_LINES = 6  # ... and so does one of more lines: the gist line above it says the essentials
STRING_LIMIT = 300  # strings longer than this are clipped in the JSON and shown whole on request
STRING_CLIP = 96  # characters of a clipped string kept in the JSON
FULL_LIMIT = 100_000  # characters of one long string embedded in the page at most
GAP = 1.0  # seconds of silence between two events that get a marker
RUN_MIN = 3  # this many successive deltas of one kind show as one row and a fold


@dataclass(frozen=True, slots=True)
class SessionReport:
    """One session to show: its transcript header, its records, and the verdict on it."""

    header: TranscriptHeader
    records: Sequence[Record]
    verdict: SessionVerdict
    client: str | None = None  # the command that ran the client, when rtmock ran it


def render_html(sessions: Sequence[SessionReport], *, title: str = "rtmock report") -> str:
    """The whole report as one HTML document (a ``str``; write it with ``encoding="utf-8"``)."""
    style, script = _assets()
    # what a finding quotes (a client's stderr, its frames) is bounded here as in every report
    sessions = [dataclasses.replace(s, verdict=dataclasses.replace(
        s.verdict, findings=[shown_finding(f, escape=False) for f in s.verdict.findings])) for s in sessions]
    # what needs a look comes first and open; a passing session's timeline is folded when others are shown
    sessions = sorted(sessions, key=lambda s: s.verdict.passed)
    fold_passes = len(sessions) > 1
    out = [_HEAD.replace("{title}", _esc(title)).replace("{style}", style), _toolbar(), '<main>']
    out.append(_summary(sessions, title))
    for number, session in enumerate(sessions, start=1):
        out.append(_SessionPage(session, f"s{number}").render(fold=fold_passes and session.verdict.passed))
    out.append("</main>")
    out.append(_FOOT.replace("{script}", script))
    page = "".join(out)
    try:
        page.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates from "\ud800" escapes in client JSON: show them escaped
        page = page.encode("utf-8", "backslashreplace").decode("utf-8")
    return page


# ---- small formatting helpers --------------------------------------------------------------------

def _esc(text: str) -> str:
    """Escape text for an element's content (never an attribute: no client data goes in one).
    Quotes need no escaping there, and JSON is full of them. Control, bidi and other invisible
    characters are shown as escapes (``\\x1b``, ``\\u202e``), never obeyed by the page."""
    return visible(text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"), lines=True)


def _ms(seconds: float) -> str:
    return f"+{seconds * 1000:.1f}ms"


def _duration(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.2f} s"


def _hue(number: int) -> int:
    """A call's colour: successive calls step around the wheel by the golden angle, so neighbours differ."""
    return round(200 + number * 137.508) % 360


_encoder = json.JSONEncoder(ensure_ascii=False, check_circular=False, default=str)
_dumps = _encoder.encode  # one encoder for all: json.dumps with options builds a new one per call
_string_encoder: Any = getattr(json.encoder, "c_encode_basestring", None) or json.encoder.py_encode_basestring


def _string(value: Any) -> str:
    """A JSON string literal (dict keys may be other scalars in hand-built records)."""
    return str(_string_encoder(value)) if isinstance(value, str) else _dumps(str(value))


def _pretty(value: Any, indent: int, longs: list[tuple[str, str]], path: str, one: str | None = None) -> str:
    """JSON with containers kept on one line when they fit and long strings clipped (their full text
    goes to ``longs``, to be shown on request). ``one`` is ``value`` on one line, when known."""
    if isinstance(value, str):
        if len(value) <= STRING_LIMIT:
            return _string(value)
        longs.append((path, value))
        return f"{_string(value[:STRING_CLIP])[:-1]}…\" (+{len(value) - STRING_CLIP:,} chars)"
    if not isinstance(value, dict | list) or not value:
        return _dumps(value)
    values = value.values() if isinstance(value, dict) else value
    if one is None and any(v.__class__ is str and len(v) > ONE_LINE for v in values):
        one = ""  # it cannot fit on one line: do not encode its long strings twice
    one = one if one is not None else _dumps(value)
    if one and indent + len(one) <= ONE_LINE:
        return one
    if indent > 40:  # nested this deep, more lines help nobody
        return clip(one or _dumps(value), STRING_LIMIT)
    pad = " " * (indent + 2)
    enc, lines = _string_encoder, []
    is_dict = isinstance(value, dict)
    pairs: Iterable[tuple[Any, Any]] = value.items() if isinstance(value, dict) else enumerate(value)
    for key, v in pairs:
        kind = v.__class__
        if kind is str and len(v) <= STRING_LIMIT:  # the common cases, without a call per value
            text = enc(v)
        elif kind is int:
            text = int.__repr__(v)
        else:
            text = _pretty(v, indent + 2, longs, f"{path}.{key}" if is_dict else f"{path}[{key}]")
        if is_dict:
            lines.append(f"{pad}{enc(key) if key.__class__ is str else _string(key)}: {text}")
        else:
            lines.append(pad + text)
    open_, close = "{}" if is_dict else "[]"
    return f"{open_}\n" + ",\n".join(lines) + f"\n{' ' * indent}{close}"


def _body(record: Record) -> tuple[bool, str]:
    """An event pretty-printed, and whether it is short enough to show open; a long one goes in
    the ``<details>`` whose summary is the event's head line, its long strings clipped and each
    shown whole behind its own ``<details>``. Base64 audio is not: nobody reads it, and a voice
    session's thousands of deltas would make the page too big to open (the transcript has it)."""
    if record.event is None:
        raw = record.raw or ""
        if len(raw) <= OPEN_LIMIT and raw.count("\n") < OPEN_LINES:
            return True, f"<pre>{_esc(raw)}</pre>"
        return False, _full(raw)
    longs: list[tuple[str, str]] = []
    try:
        pretty = _pretty(record.event, 0, longs, "event")
    except (RecursionError, ValueError):
        return True, '<pre class="bad">(this event is nested too deeply to print; the transcript has it)</pre>'
    if len(pretty) <= ONE_LINE and "\n" not in pretty:
        return True, f' <code class="j">{_esc(pretty)}</code>'
    if len(pretty) <= OPEN_LIMIT and pretty.count("\n") < OPEN_LINES and not longs:
        return True, f"<pre>{_esc(pretty)}</pre>"
    audio = ("event.delta", "event.audio") if "audio" in record.type and "transcript" not in record.type else ()
    return False, f"<pre>{_esc(pretty)}</pre>" + "".join(
        _long_value(path.removeprefix("event."), text) for path, text in longs if path not in audio)


def _full(text: str) -> str:
    if len(text) <= FULL_LIMIT:
        return f"<pre>{_esc(text)}</pre>"
    return (f"<pre>{_esc(text[:FULL_LIMIT])}\n<i>… {len(text) - FULL_LIMIT:,} more chars not shown here; "
            "the transcript has them.</i></pre>")


def _long_value(label: str, text: str) -> str:
    return f'<details class="long"><summary>{_esc(clip(label, 80))} · {len(text):,} chars</summary>{_full(text)}</details>'


# ---- the summary -----------------------------------------------------------------------------------


def _summary(sessions: Sequence[SessionReport], title: str) -> str:
    failed = sum(not s.verdict.passed for s in sessions)
    findings = sum(len(s.verdict.findings) for s in sessions)
    out = [f'<header class="top"><h1>{_esc(title)}</h1> <p class="totals">'
           f"{len(sessions)} session{'s' * (len(sessions) != 1)} · "
           f'<span class="{"fail" if failed else "pass"}">{len(sessions) - failed} passed, {failed} failed</span>'
           f" · {findings} finding{'s' * (findings != 1)}</p>"]
    out.append('<div class="tables"><table class="sessions"><thead><tr><th>#</th><th>scenario</th><th>result</th><th>duration</th>'
               "<th>events</th><th>findings</th></tr></thead><tbody>")
    for number, s in enumerate(sessions, start=1):
        v = s.verdict
        out.append(f'<tr><td>{number}</td><td><a href="#s{number}">{_esc(v.scenario_name or s.header.scenario_name)}</a>'
                   f"</td><td>{_badge(v)}</td><td>{_duration(v.duration)}</td><td>{v.events or len(s.records)}</td>"
                   f"<td>{len(v.findings) or ''}</td></tr>")
    out.append("</tbody></table>")
    by_rule: dict[str, list[str]] = {}
    for number, s in enumerate(sessions, start=1):
        for k, f in enumerate(s.verdict.findings, start=1):
            by_rule.setdefault(f.rule.value, []).append(
                f'<a href="#s{number}-f{k}">{_esc(s.verdict.scenario_name)} #{number}</a>')
    if by_rule:
        out.append('<table class="rules"><thead><tr><th>finding</th><th>count</th><th>rule</th><th>where</th>'
                   "</tr></thead><tbody>")
        for rule, links in sorted(by_rule.items(), key=lambda kv: (-len(kv[1]), kv[0])):
            more = f" … +{len(links) - 30} more" if len(links) > 30 else ""
            out.append(f'<tr><td><span class="rule">{_esc(rule)}</span></td><td>{len(links)}</td>'
                       f"<td>{_esc(RULES.get(rule, ''))}</td><td>{', '.join(links[:30])}{more}</td></tr>")
        out.append("</tbody></table>")
    out.append("</div></header>")
    return "".join(out)


def _badge(verdict: SessionVerdict) -> str:
    if verdict.passed:
        return '<span class="badge pass">PASS</span>'
    return '<span class="badge fail">FAIL</span>' + ("" if verdict.complete else ' <span class="badge inc">incomplete</span>')


# ---- one session -----------------------------------------------------------------------------------


def _call_ids(event: Mapping[str, Any], *, calls_only: bool = False) -> list[str]:
    """The call_ids an event mentions: its own, its item's, (response.done) its outputs', or (the
    script's response.started note) its calls'. With ``calls_only``, not those of output items:
    a call_id the server echoes back in an output is not one it issued."""
    found = []
    if isinstance(event.get("call_id"), str):
        found.append(event["call_id"])
    item = event.get("item")
    if (isinstance(item, Mapping) and isinstance(item.get("call_id"), str)
            and not (calls_only and item.get("type") == "function_call_output")):
        found.append(item["call_id"])
    response = event.get("response")
    if isinstance(response, Mapping) and isinstance(response.get("output"), list):
        found += [o["call_id"] for o in response["output"] if isinstance(o, Mapping) and isinstance(o.get("call_id"), str)]
    if event.get("type") == "rtmock.response.started" and isinstance(event.get("calls"), list):
        found += [c["call_id"] for c in event["calls"] if isinstance(c, Mapping) and isinstance(c.get("call_id"), str)]
    return found


def _response_id(event: Mapping[str, Any]) -> str | None:
    response = event.get("response")
    if isinstance(response, Mapping) and isinstance(response.get("id"), str):
        return str(response["id"])
    return None


def _is_output(record: Record) -> bool:
    event = record.event
    return (record.direction is Direction.CLIENT and event is not None and event.get("type") == "conversation.item.create"
            and isinstance(event.get("item"), Mapping) and event["item"].get("type") == "function_call_output")


class _SessionPage:
    """The analysis one session's page needs, then its HTML. Positions are offsets into ``records``."""

    def __init__(self, session: SessionReport, sid: str) -> None:
        self.session = session
        self.sid = sid
        self.records = list(session.records)
        self.path = session.verdict.scenario_path or session.header.scenario_path
        self.calls: dict[str, int] = {}  # call_id -> its number (1-based, in order of appearance)
        self.known: set[str] = set()  # call_ids the server emitted (others are the client's invention)
        self.row_calls: dict[int, list[int]] = {}  # position -> numbers of the calls the row concerns
        self.target: dict[int, int] = {}  # call number -> record index its link jumps to (first output)
        self.round: dict[str, list[str]] = {}  # call_id -> the call_ids of the same response (its tool round)
        self._link_calls()
        self.pins = self._pin_findings()
        self.waiting = self._waiting_windows()
        self.runs = self._delta_runs()

    # ---- analysis ------------------------------------------------------------------------------

    def _link_calls(self) -> None:
        by_response: dict[str, list[str]] = {}
        for r in self.records:
            if r.event is None or r.direction is Direction.CLIENT:
                continue
            response = r.event.get("response_id", _response_id(r.event))
            for call_id in _call_ids(r.event, calls_only=True):
                self.known.add(call_id)
                if isinstance(response, str) and call_id not in by_response.setdefault(response, []):
                    by_response[response].append(call_id)
        for ids in by_response.values():
            for call_id in ids:
                self.round[call_id] = ids
        pending: list[int] = []  # outputs sent since the last response.create: the create answers them
        for pos, r in enumerate(self.records):
            if r.event is None:
                continue
            output = _is_output(r)
            numbers = [self._number(c) for c in _call_ids(r.event)
                       if r.direction is not Direction.CLIENT or output or c in self.known]
            if output:
                for n in numbers:
                    self.target.setdefault(n, r.index)
                pending += [n for n in numbers if n not in pending]
            elif r.direction is Direction.CLIENT and r.event.get("type") == "response.create":
                numbers, pending = pending, []
            if numbers:
                self.row_calls[pos] = list(dict.fromkeys(numbers))
        for pos, ns in self.row_calls.items():  # a call without output: its link jumps to where it was made
            for n in ns:
                self.target.setdefault(n, self.records[pos].index)

    def _number(self, call_id: str) -> int:
        return self.calls.setdefault(call_id, len(self.calls) + 1)

    def _pin_findings(self) -> dict[int, list[tuple[int, Finding]]]:
        """Each finding at the event where it was decided; one decided at a script note or at no
        event (a bound ran out) goes to the wire event nearest its time."""
        wire = [pos for pos, r in enumerate(self.records) if r.direction is not Direction.SCRIPT]
        times = [self.records[pos].time for pos in wire]
        at_index = {r.index: pos for pos, r in enumerate(self.records)}
        pins: dict[int, list[tuple[int, Finding]]] = {}
        for k, f in enumerate(self.session.verdict.findings, start=1):
            pos = at_index.get(f.index) if f.index is not None else None
            if pos is None or self.records[pos].direction is Direction.SCRIPT:
                when = f.time if f.time is not None else (self.records[pos].time if pos is not None else None)
                if when is None or not wire:
                    pos = len(self.records) - 1 if pos is None else pos  # -1: no records, shown at the end
                else:
                    right = bisect.bisect_right(times, when)
                    left = right - 1
                    if left < 0 or (right < len(times) and times[right] - when < when - times[left]):
                        left = right
                    pos = wire[left]
            pins.setdefault(pos, []).append((k, f))
        return pins

    def _waiting_windows(self) -> dict[int, tuple[int, Finding]]:
        """start position -> (end position, finding): from the last output of the round to where
        a missing response.create was decided."""
        windows: dict[int, tuple[int, Finding]] = {}
        for end, pinned in self.pins.items():
            for _, f in pinned:
                if f.rule is not Rule.MISSING_RESPONSE_CREATE:
                    continue
                round_ids = set(self.round.get(f.call_id, [f.call_id])) if f.call_id else None
                start = None
                for pos in range(min(end, len(self.records) - 1), -1, -1):
                    r = self.records[pos]
                    if _is_output(r) and (round_ids is None or set(_call_ids(r.event or {})) & round_ids):
                        start = pos
                        break
                if start is not None:
                    windows[start] = (end, f)
        return windows

    def _delta_runs(self) -> dict[int, int]:
        """Runs of the same server ``*.delta`` event (audio comes in thousands): position of the
        first row to fold -> position of the last. A run never folds a finding's row, nor a gap."""
        runs: dict[int, int] = {}
        records, marked = self.records, self.pins.keys() | self.waiting.keys()
        pos = 0
        while pos < len(records):
            first = records[pos]
            end = pos
            if first.direction is Direction.SERVER and first.type.endswith(".delta") and pos not in marked:
                while (end + 1 < len(records) and records[end + 1].direction is Direction.SERVER
                       and records[end + 1].type == first.type and end + 1 not in marked
                       and records[end + 1].time - records[end].time < GAP):
                    end += 1
                if end - pos + 1 >= RUN_MIN:
                    runs[pos + 1] = end
            pos = end + 1
        return runs

    def _run_summary(self, start: int, end: int) -> str:
        first = self.records[start]
        deltas = [r.event.get("delta") for r in self.records[start - 1:end + 1] if r.event is not None]
        text = "".join(d for d in deltas if isinstance(d, str))
        together = (f" · {len(text):,} chars in all" if "audio" in first.type and "transcript" not in first.type
                    else f" · together <span class=\"v\">{_esc(repr(clip(text, 120)))}</span>")
        return (f"{end - start + 1} more {_esc(clip(first.type, 80))} (#{first.index}–#{self.records[end].index})"
                f"{together}")

    # ---- HTML ----------------------------------------------------------------------------------

    def render(self, *, fold: bool = False) -> str:
        v, h, sid = self.session.verdict, self.session.header, self.sid
        client = f' <span class="client mono">{_esc(clip(self.session.client, 100))}</span>' if self.session.client else ""
        out = [f'<section class="session" id="{sid}"><div class="shead"><h2><a href="#{sid}">'
               f"{_esc(v.scenario_name or h.scenario_name)}</a>{client} {_badge(v)}</h2><p class=\"meta\">"]
        meta = [("session", v.session_id or h.session_id), ("scenario", self.path or ""), ("dialect", h.dialect),
                ("request", h.request_path), ("started", h.started_at)]
        out.append(" · ".join(f'{k} <span class="mono">{_esc(val)}</span>' for k, val in meta if val))
        out.append(f" · {_duration(v.duration)} · {len(self.records)} events")
        out.append("</p>")
        if v.findings:
            out.append('<ol class="flist">')
            for k, f in enumerate(v.findings, start=1):
                out.append(f'<li><a href="#{sid}-f{k}"><span class="rule">{_esc(f.rule.value)}</span></a> '
                           f'{_esc(f.message)} <a href="#{sid}-f{k}">where ↓</a><br><span class="fix">fix: {_esc(f.hint)}</span></li>')
            out.append("</ol>")
        elif not v.complete:
            out.append('<p class="meta">The scenario did not complete.</p>')
        out.append("</div>")
        if fold:
            out.append(f'<details class="fold"><summary>timeline: {len(self.records)} events (passed)</summary>')
        out.append('<div class="cols"><span>client</span><span>server</span></div><div class="tl">')
        out.append(self._rows())
        out.append("</div>" + ("</details>" if fold else "") + "</section>")
        return "".join(out)

    def _rows(self) -> str:
        esc, sid, records = _esc, self.sid, self.records
        out: list[str] = []
        active: set[str] = set()
        responses = 0
        waiting_until = run_end = -1
        previous_time: float | None = None
        if not records:
            out.append('<div class="note">no events were recorded</div>')
        for pos, r in enumerate(records):
            event = r.event
            kind = r.type
            band = ("aw " if active else "") + ("ww " if pos <= waiting_until else "")
            if previous_time is not None and r.time - previous_time >= GAP:
                out.append(f'<div class="gap {band}">⋯ {r.time - previous_time:.1f} s later ⋯</div>')
            previous_time = r.time
            response_id = _response_id(event) if event is not None and r.direction is Direction.SERVER else None
            if kind == "response.created" and response_id is not None:
                active.add(response_id)
                responses += 1
                band = "aw " + ("ww " if pos <= waiting_until else "")
                out.append(f'<div class="wl {band}" id="{sid}-r{responses}">response <span class="mono">'
                           f"{esc(response_id)}</span> active</div>")
            if pos in self.runs:
                run_end = self.runs[pos]
                out.append(f'<details class="run {band}"><summary>{self._run_summary(pos, run_end)}</summary>')
            numbers = self.row_calls.get(pos)
            data = f' data-k="{" ".join(map(str, numbers))}"' if numbers else ""
            if r.direction is Direction.SCRIPT:
                text, line, ref = note_parts(event or {})
                loc = f' <span class="loc">{esc(_basename(self.path))}:{line}</span>' if line is not None else ""
                by = f' by <a href="#{sid}-e{ref}">#{ref}</a>' if ref is not None else ""
                out.append(f'<div class="r x {band}" id="{sid}-e{r.index}"{data}><div class="b">'
                           f'<a class="n" href="#{sid}-e{r.index}">#{r.index} <i>{_ms(r.time)}</i></a> '
                           f"{esc(text)}{by}{loc}</div></div>")
            else:
                side = "c" if r.direction is Direction.CLIENT else "s"
                extra = " rc" if side == "c" and kind == "response.create" else " er" if kind == "error" else ""
                style = f' style="--h:{_hue(numbers[0])}"' if numbers and kind != "response.create" else ""
                gist = self._gist(gist_parts(event)) if event is not None else (
                    '<span class="bad">refused by the server</span>' if kind.endswith("(refused)")
                    else '<span class="bad">not a JSON object</span>')
                head = (f'<a class="n" href="#{sid}-e{r.index}">#{r.index} <i>{_ms(r.time)}</i></a> '
                        f"<b>{esc(clip(kind, 80))}</b> {gist}")
                shown, body = _body(r)
                card = (f'<div class="b">{head}{body}</div>' if shown else
                        f'<details class="b"><summary>{head}</summary>{body}</details>')
                out.append(f'<div class="r {side}{extra} {band}" id="{sid}-e{r.index}"{data}{style}>{card}</div>')
            if pos == run_end:
                out.append("</details>")
            if response_id is not None and kind == "response.done":
                active.discard(response_id)
            if pos in self.waiting:
                end, f = self.waiting[pos]
                waiting_until = max(waiting_until, end)
                waited = f" ({_duration(f.time - r.time)})" if f.time is not None and f.time >= r.time else ""
                out.append(f'<div class="wait ww">waiting for response.create — never came{waited}</div>')
            for k, f in self.pins.get(pos, ()):
                out.append(self._finding(k, f, "ww" if pos <= waiting_until else ""))
        for k, f in self.pins.get(-1, ()):
            out.append(self._finding(k, f, ""))
        if active:
            out.append(f'<div class="wl aw">response {esc(", ".join(sorted(active)))} never finished</div>')
        return "".join(out)

    def _chip(self, call_id: str) -> str:
        n = self.calls.get(call_id)
        if n is None:
            return f'<span class="cid">{_esc(call_id)}</span>'
        unknown = "" if call_id in self.known else ' unk" title="not a call of this session'
        target = self.target.get(n)
        href = f' href="#{self.sid}-e{target}"' if target is not None else ""
        return f'<a class="cid{unknown}"{href} data-k="{n}" style="--h:{_hue(n)}">{_esc(call_id)}</a>'

    def _gist(self, parts: list[GistPart]) -> str:
        out = []
        for kind, text in parts:
            if kind == "call":
                out.append(self._chip(text))
            elif kind == "word":
                out.append(_esc(text))
            else:
                out.append(f'<span class="{_PART_CLASS[kind]}">{_esc(text)}</span>')
        return " ".join(out)

    def _finding(self, k: int, f: Finding, band: str) -> str:
        sid = self.sid
        where = []
        if f.index is not None:
            where.append(f'decided at <a href="#{sid}-e{f.index}">#{f.index}</a>')
        if f.time is not None:
            where.append(_ms(f.time))
        if f.call_id or f.call_name:
            where.append(f"call {_esc(f.call_name or '?')} " + (self._chip(f.call_id) if f.call_id else ""))
        if f.step_line is not None:
            where.append(f'<span class="loc">{_esc(self.path or "scenario")}:{f.step_line}</span> (step {f.step})')
        rows = [(label, value) for label, value in (("expected", f.expected), ("seen", f.seen)) if value is not None]
        dl = "".join(f"<dt>{label}</dt><dd>{_esc(value)}</dd>" for label, value in rows)
        n = self.calls.get(f.call_id or "")
        data = f' data-k="{n}"' if n is not None else ""
        where.insert(0, _esc(RULES.get(f.rule, "")))
        return (f'<div class="f {band}" id="{sid}-f{k}"{data}><div class="fb"><p class="fh">'
                f'<span class="rule">{_esc(f.rule.value)}</span> <span class="fm">{_esc(f.message)}</span></p>'
                f'<p class="fw">{" · ".join(where)}</p>'
                f'<dl><dt>fix</dt><dd class="fix">{_esc(f.hint)}</dd>{dl}</dl></div></div>')


_PART_CLASS = {"name": "nm", "id": "d", "value": "v", "bad": "bad"}


def _basename(path: str | None) -> str:
    return (path or "scenario").replace("\\", "/").rsplit("/", 1)[-1]


def _toolbar() -> str:
    return ('<nav class="bar"><input id="q" type="search" placeholder="filter events (type, call_id, text…)" '
            'aria-label="filter events"><label><input type="checkbox" id="show-c" checked> client</label>'
            '<label><input type="checkbox" id="show-s" checked> server</label>'
            '<label><input type="checkbox" id="show-x" checked> script notes</label>'
            '<button type="button" id="only-c">only client events</button>'
            '<button type="button" id="expand">expand all</button><button type="button" id="collapse">collapse all</button>'
            '<span id="count"></span></nav>')


_HEAD = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:">
<title>{title}</title>
<style>
{style}</style></head><body>
"""

_FOOT = """<script>
{script}</script></body></html>
"""


@functools.cache
def _assets() -> tuple[str, str]:
    """The page's stylesheet and script (report.css, report.js beside this module), inlined into
    every report so that it works opened from a CI artifact, with no network."""
    here = Path(__file__).parent  # shipped as package data (pyproject: [tool.setuptools.package-data])
    return (here / "report.css").read_text(encoding="utf-8"), (here / "report.js").read_text(encoding="utf-8")
