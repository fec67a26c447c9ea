"""What led up to a finding, as text for a terminal: the last events before it, one line each.

    #24     +9.6ms  C→ conversation.item.create function_call_output call_0al… output='{"food": "pizza"}'
    #26     +9.6ms  ←S conversation.item.done function_call_output call_0al… output='{"food": "pizza"}'
    #27     +9.6ms  ·· step 4 matched by #24 (line 27)
    >>   +3007.7ms  ✗ [missing-response-create] The client sent the output of get_your_info but …

This module also owns the one-line *gist* of an event (its type plus the few fields a person looks
for: call ids, names, response ids, clipped outputs) and the wording of script notes, which the HTML
report (`harness.report_html`) reuses. What does not belong here: judging (see the rules) and any
I/O; the caller prints, and decides whether to colour (from ``isatty`` and ``NO_COLOR``).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from ...mockserver.core.records import Direction, Record, visible
from ..judging.findings import Finding

__all__ = ["GistPart", "bounded", "clip", "event_line", "gist_parts", "note_parts", "shown_finding", "text_timeline"]

#: One piece of an event's gist: ``("word", "function_call_output")``, ``("call", "call_abc")``,
#: ``("id", "resp_X")``, ``("value", "output='{…}'")`` or ``("bad", "failed")``.
GistPart = tuple[Literal["word", "name", "call", "id", "value", "bad"], str]

VALUE_LIMIT = 60  # characters of a value shown in a gist
LINE_LIMIT = 220  # characters of a gist line in a terminal
ID_LIMIT = 120  # characters of a call id or name a report quotes (the client chose it)
QUOTE_LINE_LIMIT = 500  # characters of one line of a quoted text (a finding's message, its stderr excerpt)
QUOTE_LIMIT = 6000  # characters of a quoted text in all


def clip(text: str, limit: int = VALUE_LIMIT) -> str:
    """``text`` cut to ``limit`` characters, saying how much was cut."""
    return text if len(text) <= limit else f"{text[: limit - 1]}…(+{len(text) - limit + 1:,} chars)"


def bounded(text: str, *, line_limit: int = QUOTE_LINE_LIMIT, limit: int = QUOTE_LIMIT) -> str:
    """A text a report quotes (a client's stderr excerpt, a message quoting its frames), at most
    ``line_limit`` characters a line and about ``limit`` in all: the first lines and the last (where
    a traceback names its error), with what was left out counted. A client that writes one 100 MB
    line gets a verdict of a few hundred characters, not of 100 MB."""
    if len(text) <= line_limit or (len(text) <= limit and all(len(line) <= line_limit for line in text.split("\n"))):
        return text
    lines = [clip(line, line_limit) for line in text.split("\n")]
    if sum(len(line) + 1 for line in lines) <= limit:
        return "\n".join(lines)
    head: list[str] = []
    tail: list[str] = []
    budget = limit // 3  # the start says what it is, the end how it ended: the end gets more
    for line in lines:
        if len(line) + 1 > budget:
            break
        head.append(line)
        budget -= len(line) + 1
    budget += limit - limit // 3
    for line in reversed(lines[len(head):]):
        if len(line) + 1 > budget:
            break
        tail.append(line)
        budget -= len(line) + 1
    tail.reverse()
    left_out = lines[len(head):len(lines) - len(tail)]
    return "\n".join([*head, f"… {len(left_out):,} line(s) left out …", *tail])


def shown_finding(finding: Finding, *, escape: bool = True) -> Finding:
    """`finding` as a report shows it: its texts bounded (they may quote megabytes of the client's
    output) and, with `escape`, its control and bidi characters written as escapes (for a terminal,
    a log or XML; JSON and HTML escape in their own way)."""

    def text(value: str) -> str:
        value = bounded(value)
        return visible(value, lines=True) if escape else value

    def ident(value: str | None) -> str | None:
        if value is None:
            return None
        value = clip(value, ID_LIMIT)
        return visible(value) if escape else value

    return dataclasses.replace(
        finding, message=text(finding.message), hint=text(finding.hint),
        expected=None if finding.expected is None else text(finding.expected),
        seen=None if finding.seen is None else text(finding.seen),
        call_name=ident(finding.call_name), call_id=ident(finding.call_id))


def _shown(value: Any) -> str:
    """A value as it appears in a gist: strings as a Python repr, anything else as JSON, clipped."""
    if isinstance(value, str):
        return repr(clip(value))
    try:
        text = json.dumps(value, ensure_ascii=False, default=str)
    except (ValueError, RecursionError):
        text = "(unprintable)"
    return clip(text)


def _dict(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _item_parts(item: Mapping[str, Any]) -> list[GistPart]:
    kind = item.get("type")
    parts: list[GistPart] = [("word", str(kind))] if kind is not None else []
    if kind == "function_call":
        if item.get("name") is not None:
            parts.append(("name", str(item["name"])))
        if item.get("call_id") is not None:
            parts.append(("call", str(item["call_id"])))
        if item.get("arguments"):
            parts.append(("value", f"arguments={_shown(item['arguments'])}"))
    elif kind == "function_call_output":
        if item.get("call_id") is not None:
            parts.append(("call", str(item["call_id"])))
        output = item.get("output")
        parts.append(("value" if isinstance(output, str) else "bad", f"output={_shown(output)}"))
    elif kind == "message":
        if item.get("role") is not None:
            parts.append(("word", str(item["role"])))
        for content in _list(item.get("content")):
            content = _dict(content)
            text = content.get("text", content.get("transcript"))
            if isinstance(text, str) and text:
                parts.append(("value", repr(clip(text))))
                break
    return parts


def _response_parts(response: Mapping[str, Any], *, outputs: bool) -> list[GistPart]:
    parts: list[GistPart] = []
    if response.get("id") is not None:
        parts.append(("id", str(response["id"])))
    status = response.get("status")
    if status is not None:
        parts.append(("word" if status in ("in_progress", "completed") else "bad", str(status)))
    if outputs:
        for item in _list(response.get("output")):
            item = _dict(item)
            if item.get("type") == "function_call":
                parts += [("word", "→"), ("name", str(item.get("name"))), ("call", str(item.get("call_id")))]
            elif item.get("type") is not None:
                parts.append(("word", f"→ {item['type']}"))
    return parts


def gist_parts(event: Mapping[str, Any]) -> list[GistPart]:
    """The fields of a wire event worth a glance, after its type (which the caller shows)."""
    kind = str(event.get("type", ""))
    if kind.startswith("session."):
        session = _dict(event.get("session"))
        if "tools" in session:
            names = [str(_dict(t).get("name")) for t in _list(session.get("tools"))]
            return [("word", "tools:"), ("name", ", ".join(names) if names else "(none)")]
        return []
    if kind == "error":
        error = _dict(event.get("error"))
        parts: list[GistPart] = [("bad", str(error.get("code") or error.get("type") or "error"))]
        if error.get("message") is not None:
            parts.append(("value", repr(clip(str(error["message"]), 120))))
        return parts
    if isinstance(event.get("item"), Mapping):
        return _item_parts(event["item"])
    if isinstance(event.get("response"), Mapping):
        if kind == "response.create":
            return [("value", f"response={_shown(event['response'])}")]
        return _response_parts(event["response"], outputs=kind == "response.done")
    if kind.startswith("response.function_call_arguments."):
        parts = [("name", str(event["name"]))] if event.get("name") is not None else []
        if event.get("call_id") is not None:
            parts.append(("call", str(event["call_id"])))
        key = "delta" if kind.endswith(".delta") else "arguments"
        if key in event:
            parts.append(("value", f"{key}={_shown(event[key])}"))
        return parts
    for key in ("delta", "audio"):  # base64 audio: its size says more than its first characters
        value = event.get(key)
        if isinstance(value, str) and ("audio" in kind and "transcript" not in kind):
            return [("word", f"<{len(value):,} chars of base64 audio>")]
    if isinstance(event.get("delta"), str):
        return [("value", f"delta={_shown(event['delta'])}")]
    scalars = [(k, v) for k, v in event.items() if k not in ("type", "event_id") and not isinstance(v, dict | list)]
    return [("value", f"{k}={_shown(v)}") for k, v in scalars[:3]]


def note_parts(event: Mapping[str, Any]) -> tuple[str, int | None, int | None]:
    """A script note in words: ``(text, scenario line or None, client event #n it refers to or None)``."""
    kind = str(event.get("type", ""))
    step = event.get("step")
    line = event.get("line") if isinstance(event.get("line"), int) else None
    if kind == "rtmock.step.reached":
        text = f"step {step} reached: expect {event.get('expect')}"
        if event.get("call_name") or event.get("call_id"):
            text += f" (call {' '.join(str(v) for v in (event.get('call_name'), event.get('call_id')) if v)})"
        if event.get("within") is not None:
            text += f" within {_seconds(event['within'])}"
        return text, line, None
    if kind == "rtmock.step.matched":
        ref = event.get("client_index")
        return f"step {step} matched", line, ref if isinstance(ref, int) else None
    if kind == "rtmock.response.started":
        calls = [_dict(c) for c in _list(event.get("calls"))]
        said = ", ".join(f"{c.get('name')}" + (f" ({c.get('label')})" if c.get("label") else "") for c in calls)
        return f"step {step}: response {event.get('response_id')}" + (f" calls {said}" if said else ""), line, None
    if kind == "rtmock.response.unscripted":
        return "unscripted response (the scenario has no step for it)", line, None
    if kind == "rtmock.client_event.refused":
        param = f" (param {event['param']})" if event.get("param") else ""
        return f"client event #{event.get('client_index')} refused: {event.get('code')}{param}", None, None
    if kind == "rtmock.scenario.complete":
        return "scenario complete", None, None
    if kind == "rtmock.closed":
        reason = f": {clip(str(event['reason']), 80)}" if event.get("reason") else ""
        return f"closed by {event.get('by')} (code {event.get('code')}){reason}", None, None
    rest = {k: v for k, v in event.items() if k != "type"}
    return (f"{kind.removeprefix('rtmock.')} {_shown(rest)}" if rest else kind.removeprefix("rtmock.")), line, None


def _seconds(value: Any) -> str:
    try:
        return f"{float(value):g}s"
    except (TypeError, ValueError):
        return str(value)


# ---- terminal lines --------------------------------------------------------------------------------

_RESET = "\x1b[0m"
_STYLE = {
    "dim": "\x1b[2m",
    "bold": "\x1b[1m",
    "client": "\x1b[36m",  # cyan
    "server": "\x1b[35m",  # magenta
    "call": "\x1b[33m",  # yellow
    "bad": "\x1b[31m",  # red
    "trigger": "\x1b[1;32m",  # response.create from the client: the event this tool is about
    "finding": "\x1b[1;31m",
}
_ARROW = {Direction.CLIENT: "C→", Direction.SERVER: "←S", Direction.SCRIPT: "··"}


def _offset(seconds: float) -> str:
    return f"{f'+{seconds * 1000:.1f}ms':>11}"


def _printable(text: str) -> str:
    """Client data may hold escape sequences, newlines or bidi controls: show them, never obey them."""
    return text if text.isprintable() else repr(text)[1:-1]


def event_line(record: Record, *, color: bool = False, index_width: int = 4) -> str:
    """One record as one terminal line: ``#n  +ms  arrow type gist``."""

    def paint(style: str, text: str) -> str:
        return f"{_STYLE[style]}{text}{_RESET}" if color else text

    head = f"{paint('dim', f'#{record.index:<{index_width}}')} {_offset(record.time)}  "
    direction = record.direction
    if direction is Direction.SCRIPT:
        text, line, ref = note_parts(record.event or {})
        text += f" by #{ref}" if ref is not None else ""
        text += f" (line {line})" if line is not None else ""
        return head + paint("dim", f"{_ARROW[direction]} {_printable(clip(text, LINE_LIMIT))}")
    arrow = paint("client" if direction is Direction.CLIENT else "server", _ARROW[direction])
    if record.event is None:
        # "(not JSON)", "(not a JSON object)", or "conversation.item.create (refused)": the server said why
        body = f"{_printable(clip(record.type, 80))} raw={_printable(repr(clip(record.raw or '')))}"
        return f"{head}{arrow} {paint('bad', body)}"
    kind = _printable(clip(record.type, 80))
    if direction is Direction.CLIENT and record.type == "response.create":
        kind = paint("trigger", kind)
    elif record.type == "error":
        kind = paint("bad", kind)
    else:
        kind = paint("bold", kind)
    pieces: list[str] = []
    budget = LINE_LIMIT
    for part_kind, text in gist_parts(record.event):
        text = _printable(text)
        if budget <= 0:
            pieces.append("…")
            break
        budget -= len(text) + 1
        pieces.append(paint("call", text) if part_kind == "call" else
                      paint("bad", text) if part_kind == "bad" else
                      paint("dim", text) if part_kind == "id" else text)
    return f"{head}{arrow} {kind}" + (" " + " ".join(pieces) if pieces else "")


def _decided_before(records: Sequence[Record], finding: Finding) -> list[Record]:
    """The records up to the one where the finding was decided (by index, else by time)."""
    if finding.index is not None:
        return [r for r in records if r.index <= finding.index]
    if finding.time is not None:
        return [r for r in records if r.time <= finding.time]
    return list(records)


#: A run of this many streamed events in a row shows as one line.
_RUN = 4


def _streamed(record: Record) -> bool:
    return record.is_server_delta or (record.direction is Direction.CLIENT and record.type == "input_audio_buffer.append")


def text_timeline(records: Sequence[Record], finding: Finding, *, before: int = 12, color: bool) -> str:
    """The last ``before`` wire events up to where ``finding`` was decided, with the script notes
    among them, then the finding itself on the last line. Pass ``color=True`` only for a terminal
    that wants it (``isatty()`` and no ``NO_COLOR`` in the environment)."""
    upto = _decided_before(records, finding)
    # from the end back: wire events count against `before`; a run of streamed events (audio the
    # client appends, deltas the server streams) counts once and shows as one line
    shown: list[Record | list[Record]] = []
    budget, at_index = before, len(upto) - 1
    while at_index >= 0 and budget > 0:
        record = upto[at_index]
        first = at_index
        while first > 0 and _streamed(record) and upto[first - 1].type == record.type:
            first -= 1
        if at_index - first + 1 >= _RUN:
            shown.append(upto[first:at_index + 1])
        else:
            first = at_index
            shown.append(record)
        budget -= record.direction is not Direction.SCRIPT
        at_index = first - 1
    shown.reverse()
    start = at_index + 1
    width = max((len(str(r.index)) for item in shown for r in (item if isinstance(item, list) else [item])), default=1)
    lines = []
    if start > 0:
        lines.append(f"{'':{width + 1}}  … {start} earlier event(s)")
    for item in shown:
        if isinstance(item, list):
            lines.append(f"{'':{width + 1}}  … {len(item)} × {_printable(item[0].type)} "
                         f"(#{item[0].index}–#{item[-1].index}, {_offset(item[0].time).strip()} to {_offset(item[-1].time).strip()})")
        else:
            lines.append(event_line(item, color=color, index_width=width))
    at = _offset(finding.time) if finding.time is not None else f"{'':11}"
    text = _printable(clip(f"✗ [{finding.rule.value}] {finding.message}", QUOTE_LINE_LIMIT))
    call_name, call_id = clip(finding.call_name or "?", ID_LIMIT), clip(finding.call_id or "?", ID_LIMIT)
    where = ", ".join(part for part in (
        f"event #{finding.index}" if finding.index is not None else "",
        f"call {call_name} ({call_id})" if finding.call_name or finding.call_id else "",
        f"line {finding.step_line} (step {finding.step})" if finding.step_line is not None else "",
    ) if part)
    line = f"{'>>':<{width + 1}} {at}  {text}" + (f"  ({_printable(where)})" if where else "")
    lines.append(f"{_STYLE['finding']}{line}{_RESET}" if color else line)
    return "\n".join(lines)
