"""From a recorded session to a scenario that replays it: `rtmock scenario TRANSCRIPT -o FILE.yaml`.

A transcript (from `rtmock proxy --record`, `rtmock serve --record` or `rtmock run --transcript`)
holds what the service sent and what the client sent. The scenario written from it has:
- `respond:` steps that replay each response of the service: function calls with their exact
  arguments and argument chunking (`deltas:`), text answers (as many deltas as recorded), audio
  answers (transcript, duration, deltas); `delta_interval:` and `hold:` from the recorded timing
  (divided by `--compress-time`; a hold under 50 ms is jitter, and a response the client did not
  wait to see end gets none);
- `expect:` steps for what the client sent: `session.update` (with the tools it declared, which
  become the scenario's `tools:`), each call's `function_call_output` (by the call's label), and
  the `response.create` that started each response; each with a bound derived from the recording:
  five times the delay the client took, rounded up to half a second, and at least 3 s.
So replaying it against the same client passes, and against one that drops a step fails at that
step's bound. The result is checked with the scenario loader before it is written.

Pure: records in, YAML text out (`scenario_main` does the file I/O for the CLI).
"""

from __future__ import annotations

import argparse
import base64
import binascii
import json
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..mockserver.core.records import Direction, Record, TranscriptHeader, load_transcript
from ..mockserver.errors import ScenarioError, UsageError
from ..mockserver.scenario.loader import load_scenario_text

__all__ = ["MIN_WITHIN", "WITHIN_FACTOR", "scenario_from_records", "scenario_main"]

#: An expect's bound is this many times the delay the client took in the recording…
WITHIN_FACTOR = 5.0
#: …and never less than this (seconds): a replay on a loaded machine must not fail a correct client.
MIN_WITHIN = 3.0
#: A pause between deltas shorter than this (seconds, after compression) is left out…
_MIN_INTERVAL = 0.005
#: …and so is a `hold` (a response kept active after its last item) shorter than this: the wire's
#: and the machine's jitter, which would otherwise open a window the recorded service never had.
_MIN_HOLD = 0.05
#: PCM16 mono at 24 kHz, the realtime API's default audio: bytes per second.
_PCM16_RATE = 48_000

_TEXT_DELTAS = ("response.output_text.delta", "response.text.delta")
_TEXT_DONE = ("response.output_text.done", "response.text.done")
_AUDIO_DELTAS = ("response.output_audio.delta", "response.audio.delta")
_TRANSCRIPT_DELTAS = ("response.output_audio_transcript.delta", "response.audio_transcript.delta")
_TRANSCRIPT_DONE = ("response.output_audio_transcript.done", "response.audio_transcript.done")


@dataclass(slots=True)
class _Item:
    output_index: int
    kind: str  # function_call, message, or another item type (not replayed)
    name: str = ""
    call_id: str = ""
    arguments: str | None = None
    arg_deltas: list[str] = field(default_factory=list)
    text: str | None = None
    text_parts: list[str] = field(default_factory=list)
    transcript: str | None = None
    transcript_parts: list[str] = field(default_factory=list)
    audio_bytes: int = 0
    audio_deltas: int = 0
    label: str = ""


@dataclass(slots=True)
class _Response:
    id: str
    index: int  # record index of response.created
    created_at: float
    trigger: Record | None  # the client's response.create it answered (None: the server started it)
    items: dict[str, _Item] = field(default_factory=dict)  # by item id
    delta_times: list[float] = field(default_factory=list)
    last_frame_at: float = 0.0  # the last frame of the response before response.done
    done_at: float | None = None
    status: str = "completed"


@dataclass(slots=True)
class _Output:
    record: Record
    call_id: str


def scenario_from_records(header: TranscriptHeader, records: list[Record], *, name: str,
                          source: str = "", compress_time: float = 1.0) -> str:
    """The YAML text of a scenario that replays the session `records` show. Raises `UsageError`
    when there is nothing to replay (no response of the service)."""
    if not compress_time > 0 or not math.isfinite(compress_time):
        raise UsageError("--compress-time must be a positive number (2 plays the recorded pauses twice as fast)")
    reading = _read(records)
    responses = [r for r in reading.responses if _parts(r)]
    if not responses:
        raise UsageError(f"{source or 'the transcript'}: no response of the service to replay (it holds "
                         f"{len(records)} records); record a session in which the model answered")
    _label(responses)
    calls = {item.call_id: item for r in responses for item in r.items.values() if item.kind == "function_call"}

    timeline: list[tuple[float, dict[str, Any]]] = []
    if reading.session_update is not None:
        timeline.append((reading.session_update.index, {"expect": "session.update",
                                                        "within": _within(reading, reading.session_update)}))
    for response in responses:
        if response.trigger is not None:
            timeline.append((response.trigger.index, {"expect": "response.create",
                                                      "within": _within(reading, response.trigger)}))
        else:  # the server started it (voice activity): the mock's VAD meets this step as the service's did
            timeline.append((response.index - 0.5, {"expect": "response.create", "within": MIN_WITHIN}))
        waited = reading.last_client_at is not None and response.done_at is not None \
            and reading.last_client_at > response.done_at
        timeline.append((response.index, _respond(response, compress_time, waited)))
    for output in reading.outputs:
        item = calls.get(output.call_id)
        if item is not None:
            timeline.append((output.record.index, {"expect": "function_call_output", "call": item.label,
                                                   "within": _within(reading, output.record)}))
    timeline.sort(key=lambda entry: entry[0])

    tools = reading.tools
    called = {item.name for item in calls.values()}
    document: dict[str, Any] = {"name": name}
    what = "a proxied session" if header.extra.get("proxied") else "a recorded session"
    document["description"] = f"Replays {what} ({header.session_id}, {header.dialect}), written by `rtmock scenario`."
    if tools and called <= {t["name"] for t in tools}:
        document["tools"] = tools
    document["steps"] = [step for _, step in timeline]
    text = _yaml(document, header, source)
    try:
        load_scenario_text(text, path=source or "<scenario>", default_name=name)
    except ScenarioError as exc:  # a bug here, not in the recording: say so, with what the loader said
        raise RuntimeError(f"rtmock wrote a scenario it cannot load: {exc}") from exc
    return text


# ---- reading the session -----------------------------------------------------------------------


@dataclass(slots=True)
class _Reading:
    responses: list[_Response] = field(default_factory=list)
    outputs: list[_Output] = field(default_factory=list)
    session_update: Record | None = None
    update_declares: bool = False
    tools: list[dict[str, Any]] = field(default_factory=list)
    #: times the service finished something the client may answer (response.done), in order
    done_times: list[float] = field(default_factory=list)
    output_times: list[float] = field(default_factory=list)
    last_client_at: float | None = None  # the client's last event
    start: float = 0.0


def _read(records: list[Record]) -> _Reading:
    reading = _Reading(start=records[0].time if records else 0.0)
    by_id: dict[str, _Response] = {}
    items: dict[str, tuple[_Response, _Item]] = {}
    pending: list[Record] = []  # the client's response.create events the service has not answered yet
    for record in records:
        event = record.event
        if event is None or record.direction is Direction.SCRIPT:
            continue
        kind = event.get("type")
        if record.direction is Direction.CLIENT:
            reading.last_client_at = record.time
            _client(reading, record, event, pending)
            continue
        response = by_id.get(str(event.get("response_id"))) if "response_id" in event else None
        if response is not None and kind != "response.done":
            response.last_frame_at = record.time
        if kind == "response.created":
            rid = str(_dict(event.get("response")).get("id", ""))
            response = _Response(rid, record.index, record.time, pending.pop(0) if pending else None,
                                 last_frame_at=record.time)
            by_id[rid] = response
            reading.responses.append(response)
        elif kind == "response.done":
            body = _dict(event.get("response"))
            done = by_id.get(str(body.get("id")))
            reading.done_times.append(record.time)
            if done is not None:
                done.done_at = record.time
                done.status = str(body.get("status") or "completed")
        elif kind == "error" and _dict(event.get("error")).get("code") == "conversation_already_has_active_response":
            if pending:
                pending.pop()  # that create was refused: it starts nothing
        elif kind == "response.output_item.added" and response is not None:
            added = _dict(event.get("item"))
            entry = _Item(int(event.get("output_index") or 0), str(added.get("type")), str(added.get("name") or ""),
                          str(added.get("call_id") or ""))
            response.items[str(added.get("id"))] = entry
            items[str(added.get("id"))] = (response, entry)
        elif str(event.get("item_id")) in items:
            owner, entry = items[str(event.get("item_id"))]
            _item_event(owner, entry, record, event)
        elif kind == "response.output_item.done" and str(_dict(event.get("item")).get("id")) in items:
            _, entry = items[str(_dict(event.get("item")).get("id"))]
            _item_done(entry, _dict(event.get("item")))
    return reading


def _client(reading: _Reading, record: Record, event: dict[str, Any], pending: list[Record]) -> None:
    kind = event.get("type")
    if kind == "session.update":
        session = _dict(event.get("session"))
        tools = session.get("tools")
        declares = isinstance(tools, list) and bool(tools)
        if isinstance(tools, list):  # the last declaration counts (an update without tools keeps them)
            reading.tools = [_tool(t) for t in tools if isinstance(t, dict) and t.get("type", "function") == "function"
                             and isinstance(t.get("name"), str) and t.get("name")]
        # the step: the first update that declares tools (or the first update, when none does)
        if reading.session_update is None or (declares and not reading.update_declares):
            reading.session_update = record
            reading.update_declares = declares
    elif kind == "response.create":
        if _dict(event.get("response")).get("conversation") != "none":
            pending.append(record)
    elif kind == "conversation.item.create":
        item = _dict(event.get("item"))
        if item.get("type") == "function_call_output" and isinstance(item.get("call_id"), str):
            reading.outputs.append(_Output(record, item["call_id"]))
            reading.output_times.append(record.time)


def _tool(tool: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"name": tool["name"]}
    if isinstance(tool.get("description"), str) and tool["description"]:
        out["description"] = tool["description"]
    if isinstance(tool.get("parameters"), dict):
        out["parameters"] = tool["parameters"]
    return out


def _item_event(response: _Response, item: _Item, record: Record, event: dict[str, Any]) -> None:
    kind = event.get("type")
    delta = event.get("delta")
    if isinstance(kind, str) and kind.endswith(".delta"):
        response.delta_times.append(record.time)
    if kind == "response.function_call_arguments.delta" and isinstance(delta, str):
        item.arg_deltas.append(delta)
    elif kind == "response.function_call_arguments.done" and isinstance(event.get("arguments"), str):
        item.arguments = event["arguments"]
    elif kind in _TEXT_DELTAS and isinstance(delta, str):
        item.text_parts.append(delta)
    elif kind in _TEXT_DONE and isinstance(event.get("text"), str):
        item.text = event["text"]
    elif kind in _AUDIO_DELTAS and isinstance(delta, str):
        item.audio_deltas += 1
        try:
            item.audio_bytes += len(base64.b64decode(delta, validate=True))
        except (binascii.Error, ValueError):
            pass
    elif kind in _TRANSCRIPT_DELTAS and isinstance(delta, str):
        item.transcript_parts.append(delta)
    elif kind in _TRANSCRIPT_DONE and isinstance(event.get("transcript"), str):
        item.transcript = event["transcript"]


def _item_done(item: _Item, done: dict[str, Any]) -> None:
    if item.kind == "function_call" and isinstance(done.get("arguments"), str):
        item.arguments = done["arguments"]
    for content in done.get("content") or []:
        if not isinstance(content, dict):
            continue
        if isinstance(content.get("text"), str) and item.text is None:
            item.text = content["text"]
        if isinstance(content.get("transcript"), str) and item.transcript is None:
            item.transcript = content["transcript"]


# ---- writing the steps ---------------------------------------------------------------------------


def _parts(response: _Response) -> list[dict[str, Any]]:
    """The respond parts that replay a response's output, in output order (items of other kinds,
    and empty messages, are left out)."""
    parts: list[dict[str, Any]] = []
    for item in sorted(response.items.values(), key=lambda i: i.output_index):
        if item.kind == "function_call":
            parts.append({"function_call": _call(item)})
        elif item.kind == "message":
            if item.audio_deltas or item.transcript_parts or item.transcript is not None:
                transcript = item.transcript if item.transcript is not None else "".join(item.transcript_parts)
                chunks = max(1, len(item.transcript_parts), item.audio_deltas)
                seconds = round(min(60.0, item.audio_bytes / _PCM16_RATE), 3)
                parts.append({"audio": {"transcript": transcript, "duration": f"{seconds:g}s",
                                        "chunks": min(chunks, 10_000)}})
            elif item.text is not None or item.text_parts:
                text = item.text if item.text is not None else "".join(item.text_parts)
                parts.append({"text": {"text": text, "chunks": min(max(1, len(item.text_parts)), 100_000)}})
    return parts


def _call(item: _Item) -> dict[str, Any]:
    arguments = item.arguments if item.arguments is not None else "".join(item.arg_deltas)
    call: dict[str, Any] = {"id": item.label, "name": item.name, "arguments": _arguments(arguments)}
    if "".join(item.arg_deltas) == arguments:
        call["deltas"] = list(item.arg_deltas)  # the exact chunking the service used
    else:
        call["chunks"] = max(1, min(len(item.arg_deltas), 100_000))
    return call


def _arguments(text: str) -> Any:
    """The arguments as a mapping when that reads back to the very same text (a scenario sends a
    mapping as compact JSON), else as the text itself (spacing, key order, invalid JSON kept)."""
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return text
    if not isinstance(value, dict) or json.dumps(value, ensure_ascii=False, separators=(",", ":")) != text:
        return text
    try:
        if yaml.safe_load(yaml.safe_dump(value, allow_unicode=True)) != value:
            return text
    except yaml.YAMLError:
        return text
    return value


def _respond(response: _Response, compress: float, waited: bool) -> dict[str, Any]:
    """A respond step for `response`. Its `hold` only when the client `waited` for the response's
    end (it sent something after response.done): a client that was done at the last item (it
    printed the answer and left) would otherwise seem to leave a scenario unfinished."""
    step: dict[str, Any] = {"respond": _parts(response)}
    deltas = response.delta_times
    if deltas:
        # the mock pauses `delta_interval` after each delta of a message, and between the deltas of a
        # call's arguments (their done event follows the last at once): the stream takes as long as recorded
        calls = sum(1 for item in response.items.values() if item.arg_deltas)
        pauses = max(1, len(deltas) - calls)
        interval = (response.last_frame_at - response.created_at) / pauses / compress
        if interval >= _MIN_INTERVAL:
            step["delta_interval"] = f"{round(interval * 1000)}ms"
    if response.done_at is not None and waited:
        hold = (response.done_at - response.last_frame_at) / compress
        if hold >= _MIN_HOLD:
            step["hold"] = f"{round(hold * 1000)}ms"
    if response.status in ("incomplete", "failed"):
        step["status"] = response.status
    return step


def _label(responses: list[_Response]) -> None:
    """Each call's label: its tool's name, numbered when the tool is called more than once."""
    calls = [item for r in responses for item in sorted(r.items.values(), key=lambda i: i.output_index)
             if item.kind == "function_call"]
    totals: dict[str, int] = {}
    for item in calls:
        totals[item.name] = totals.get(item.name, 0) + 1
    seen: dict[str, int] = {}
    for item in calls:
        seen[item.name] = seen.get(item.name, 0) + 1
        item.label = item.name if totals[item.name] == 1 else f"{item.name}_{seen[item.name]}"


def _within(reading: _Reading, record: Record) -> str:
    """A bound for the client's event `record`: from what it answered (the service's last
    response.done before it, or the session's start; for a response.create, also the last output
    before it), five times the delay it took, rounded up to half a second, at least `MIN_WITHIN`."""
    since = max([reading.start] + [t for t in reading.done_times if t <= record.time])
    if record.event is not None and record.event.get("type") == "response.create":
        since = max([since] + [t for t in reading.output_times if t <= record.time])
    bound = max(MIN_WITHIN, math.ceil(WITHIN_FACTOR * max(0.0, record.time - since) * 2) / 2)
    return f"{bound:g}s"


def _yaml(document: dict[str, Any], header: TranscriptHeader, source: str) -> str:
    lines = ["# Written by `rtmock scenario`" + (f" from {source}" if source else "") + f" (session {header.session_id}).",
             "# respond: steps replay what the service sent; expect: steps are what the client sent, with bounds",
             f"# of {WITHIN_FACTOR:g}x the client's recorded delay (at least {MIN_WITHIN:g}s). Edit freely; `rtmock lint` checks it."]
    upstream = header.extra.get("upstream")
    if isinstance(upstream, str) and upstream:
        lines.append(f"# Upstream: {upstream}")
    body = yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=110, default_flow_style=False)
    return "\n".join(lines) + "\n" + body


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


# ---- the command line ---------------------------------------------------------------------------


def scenario_main(args: argparse.Namespace) -> int:
    """`rtmock scenario TRANSCRIPT -o FILE.yaml`: 0 written, 2 nothing to write (one line why)."""
    header, records = load_transcript(args.transcript)
    output = Path(args.output)
    name = args.name or output.stem
    text = scenario_from_records(header, records, name=name, source=args.transcript, compress_time=args.compress_time)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8")
    steps = text.count("\n- expect:") + text.count("\n- respond:")
    print(f"rtmock: wrote {output} ({steps} steps); replay it: rtmock run {output} -- <your client>", file=sys.stdout)
    return 0
