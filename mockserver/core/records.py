"""What a session looked like on the wire: the records every observer sees and every transcript holds.

A record is one frame in either direction, or one note from the scenario script, stamped with its
position in the session and seconds since the session started. The same records feed the live
judge (through the server's observer hook) and are written, one JSON line each, to transcripts that
`rtmock check` judges later. This module holds the record type and its JSON-lines form; nothing here
does I/O beyond reading and writing text.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .events import encode
from .notes import Note, OtherNote, read_note

__all__ = [
    "CLOSING_NOTE",
    "TRANSCRIPT_VERSION",
    "Direction",
    "Record",
    "Transcript",
    "TranscriptError",
    "TranscriptHeader",
    "dump_header",
    "dump_record",
    "load_transcript",
    "read_transcript",
    "short",
    "visible",
]

TRANSCRIPT_VERSION = 1

#: Script notes are records whose event type starts with this prefix; they never go on the wire.
NOTE_PREFIX = "rtmock."


class Direction(enum.StrEnum):
    CLIENT = "client"  # a frame the client sent
    SERVER = "server"  # a frame the server sent
    SCRIPT = "script"  # a note from the scenario runner (step reached/matched, scenario complete, closed)


class Record:
    """One entry of a session's history (treat as immutable).

    ``event`` is the frame's JSON object (or the note, for script records). A client frame that was
    not a JSON object keeps its text in ``raw`` and has ``event`` None, so nothing a client sent is lost.

    A server frame rtmock sent is kept as its wire text (``text``) alone, and its ``event`` is parsed
    from that text when first asked for: the record holds exactly what went out, so the session
    need not copy its live state (the session object, items, responses) into every event it sends,
    and the frames nobody looks at (every delta; most frames once a session is judged) are never
    parsed. Its ``type`` is read from the text without parsing it.
    """

    __slots__ = ("_event", "_type", "delta", "direction", "index", "note", "raw", "text", "time")

    def __init__(self, index: int, time: float, direction: Direction, event: dict[str, Any] | None = None,
                 raw: str | None = None, text: str | None = None, delta: bool = False,
                 note: Note | None = None, kind: str | None = None) -> None:
        self.index = index
        self.time = time
        self.direction = direction
        self._event = event
        self.raw = raw
        #: The exact wire text of a server frame, when known: the transcript writes it as it is, and
        #: ``event`` is parsed from it (not part of the record's JSON form or equality).
        self.text = text
        #: Set by the session for the deltas it streams, so that hot paths need not look at the type.
        self.delta = delta
        #: A script record's typed note (`event` is its JSON form, made when first asked for); read
        #: from `event` when the record comes from a transcript.
        self.note = note
        #: The event's type when the maker knows it (the session does, for what it sends): `type`
        #: then reads neither the text nor the event.
        self._type = kind if kind is not None else (note.kind if isinstance(note, OtherNote)
                                                    else note.KIND if note is not None else None)

    @property
    def event(self) -> dict[str, Any] | None:
        event = self._event
        if event is None:
            if self.text is not None and self.raw is None:
                event = self._event = json.loads(self.text)
            elif self.note is not None:
                event = self._event = self.note.to_event()
        return event

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Record):
            return NotImplemented
        return (self.index, self.time, self.direction, self.event, self.raw) == \
            (other.index, other.time, other.direction, other.event, other.raw)

    __hash__ = None  # type: ignore[assignment]  # mutable, like the dataclass it was

    def __repr__(self) -> str:
        return (f"Record(index={self.index!r}, time={self.time!r}, direction={self.direction!r}, "
                f"event={self.event!r}, raw={self.raw!r})")

    @property
    def type(self) -> str:
        if self._type is not None:
            return self._type
        text = self.text
        if self._event is None and text is not None and self.raw is None and text.startswith('{"type":"'):
            end = text.find('"', 9)
            named = text[9:end]
            if end != -1 and "\\" not in named:  # rtmock's own types need no escaping
                return named
        event = self.event
        kind = event.get("type") if event is not None else None
        if type(kind) is str:
            return kind
        if event is not None:
            return "(no type)"
        if self.raw is None:
            return "(empty)"
        # a frame the server refused: still say what it tried to be, when it was a JSON object
        try:
            tried = json.loads(self.raw)
        except (ValueError, RecursionError):
            return "(not JSON)"
        if isinstance(tried, dict) and isinstance(tried.get("type"), str):
            return f"{tried['type']} (refused)"
        return "(not a JSON object)"

    @property
    def is_server_delta(self) -> bool:
        """A streamed piece (`….delta` from the server): thousands per response, and no rule
        depends on one, so hot paths skip them."""
        if self.delta:
            return True
        return self.direction is Direction.SERVER and \
            (self._event is not None or (self.text is not None and self.raw is None)) and self.type.endswith(".delta")

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"n": self.index, "t": round(self.time, 6), "dir": self.direction.value}
        if self.event is not None:
            out["event"] = self.event
        if self.raw is not None:
            out["raw"] = self.raw
        return out

    @classmethod
    def from_json(cls, data: Any) -> Record:
        if not isinstance(data, dict):
            raise ValueError("a record must be a JSON object")
        try:
            direction = Direction(data["dir"])
            index = int(data["n"])
            time = float(data["t"])
        except (KeyError, ValueError, TypeError) as exc:
            raise ValueError(f"a record needs 'n', 't' and 'dir' ({exc})") from None
        event = data.get("event")
        raw = data.get("raw")
        if event is not None and not isinstance(event, dict):
            raise ValueError("'event' must be a JSON object")
        if raw is not None and not isinstance(raw, str):
            raise ValueError("'raw' must be a string")
        note = read_note(event) if direction is Direction.SCRIPT and event is not None else None
        return cls(index=index, time=time, direction=direction, event=event, raw=raw, note=note)

    def __str__(self) -> str:
        arrow = {"client": "C→", "server": "←S", "script": "··"}[self.direction.value]
        body = short(self.event) if self.event is not None else visible(repr(_clip(self.raw or "", 80)))
        return f"#{self.index} {self.time * 1000:8.1f}ms {arrow} {body}"


@dataclass(frozen=True, slots=True)
class TranscriptHeader:
    """The first line of a transcript: which session, which scenario, which dialect, which request."""

    session_id: str
    scenario_name: str
    scenario_path: str | None
    dialect: str
    request_path: str
    started_at: str
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "rtmock_transcript": TRANSCRIPT_VERSION,
            "session": self.session_id,
            "scenario": {"name": self.scenario_name, "path": self.scenario_path},
            "dialect": self.dialect,
            "request": self.request_path,
            "started_at": self.started_at,
            **self.extra,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TranscriptHeader:
        scenario = data.get("scenario") or {}
        known = {"rtmock_transcript", "session", "scenario", "dialect", "request", "started_at"}
        return cls(
            session_id=str(data.get("session", "")),
            scenario_name=str(scenario.get("name", "")),
            scenario_path=scenario.get("path"),
            dialect=str(data.get("dialect", "ga")),
            request_path=str(data.get("request", "")),
            started_at=str(data.get("started_at", "")),
            extra={k: v for k, v in data.items() if k not in known},
        )


class TranscriptError(Exception):
    """A transcript file that cannot be read; the message names file:line."""


#: Characters that end a line for `str.splitlines()` and for JavaScript, but that JSON keeps raw in
#: strings: written as escapes, so that a transcript is one record per line for every reader.
_LINE_BREAKS = {0x85: "\\u0085", 0x2028: "\\u2028", 0x2029: "\\u2029"}


def _one_line(line: str) -> str:
    """`line` (JSON text) with the line breaks JSON leaves raw escaped. Outside its strings JSON text
    is ASCII, so each of them is inside a string, where the escape means the same character."""
    if line.isascii() or not ("\u2028" in line or "\u2029" in line or "\x85" in line):
        return line
    return line.translate(_LINE_BREAKS)


def dump_header(header: TranscriptHeader) -> str:
    """The first line of a transcript (with the newline)."""
    return _one_line(json.dumps(header.to_json(), ensure_ascii=False)) + "\n"


def dump_record(record: Record) -> str:
    """One JSON line (with the newline) for a record."""
    if record.text is not None and record.direction is Direction.SERVER:
        # the same line `to_json` would give, without encoding the event again
        return _one_line(f'{{"n":{record.index},"t":{round(record.time, 6)!r},"dir":"server","event":{record.text}}}') + "\n"
    return _one_line(json.dumps(record.to_json(), ensure_ascii=False, separators=(",", ":"))) + "\n"


#: The note that closes every session's transcript (the server writes it however the session ends).
CLOSING_NOTE = NOTE_PREFIX + "closed"


@dataclass(frozen=True, slots=True)
class Transcript:
    """A transcript as read: its header, its records, and whether it was cut short.

    A transcript the server finished ends with its closing note (`rtmock.closed`). One without it
    (the server was killed, or is still writing) is *truncated*: what the client did after the cut
    is unknown, so its end must not be judged as if the client had stopped there.
    """

    path: str
    header: TranscriptHeader
    records: list[Record]
    #: The line where the transcript is cut short (a line torn mid-record, or the last line when the
    #: closing note never came); None for a whole transcript.
    truncated_at: int | None = None
    #: Why, in a few words, when truncated.
    truncation: str | None = None

    @property
    def truncated(self) -> bool:
        return self.truncated_at is not None

    def truncation_line(self) -> str | None:
        """One line for a person: where the transcript is cut, and what that means for its verdict."""
        if self.truncated_at is None:
            return None
        return (f"{self.path}:{self.truncated_at}: transcript truncated at line {self.truncated_at} "
                f"({self.truncation}): the client is not judged on what the transcript lacks; "
                "record the session again to judge it whole")


def _lines(path: str) -> list[str]:
    """The file's lines, split at '\\n' only: a record's JSON may hold U+2028, U+2029 or U+0085 raw
    (older transcripts, or any JSON writer), which `str.splitlines()` would cut it at."""
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        raise TranscriptError(f"{path}: cannot read transcript: {exc.strerror or exc}") from None
    try:
        return data.decode("utf-8").split("\n")
    except UnicodeDecodeError as exc:
        end = data.rfind(b"\n") + 1
        if exc.start >= end:  # in a torn last line: the writer may have stopped inside a character
            return [*data[:end].decode("utf-8").split("\n")[:-1], data[end:].decode("utf-8", "replace")]
        line = data.count(b"\n", 0, exc.start) + 1
        raise TranscriptError(f"{path}:{line}: not UTF-8 text (byte 0x{data[exc.start]:02x}); a transcript is "
                              "UTF-8 JSON lines, as rtmock writes it") from None


def read_transcript(path: str, lines: Iterable[str] | None = None) -> Transcript:
    """Read a transcript written by the server, saying whether it is truncated. Lines are split at
    '\\n' only (the last element, after the final newline, is empty for a whole file). A torn last
    line (the writer was killed mid-line) is left out and marks the transcript truncated; any other
    bad line is a `TranscriptError` naming file:line."""
    text_lines = _lines(path) if lines is None else [line.removesuffix("\n") for line in lines]
    if lines is not None:
        text_lines.append("")  # given lines are whole lines
    header: TranscriptHeader | None = None
    records: list[Record] = []
    last = len(text_lines)  # the element after the final newline: '' unless that line is torn
    torn_at: int | None = None
    closed = False
    for lineno, line in enumerate(text_lines, start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except (json.JSONDecodeError, RecursionError) as exc:
            if lineno == last:
                torn_at = lineno  # the writer was killed mid-line; everything before it stands
                break
            msg = exc.msg if isinstance(exc, json.JSONDecodeError) else "nested too deeply"
            raise TranscriptError(f"{path}:{lineno}: not a JSON line ({msg}); a transcript holds one JSON object "
                                  "per line, as `rtmock serve --record` and `rtmock run --transcript` write it") from None
        if lineno == last:
            torn_at = lineno  # whole JSON, but its newline never came: the writer stopped right there
        if header is None:
            if not isinstance(data, dict) or "rtmock_transcript" not in data:
                raise TranscriptError(
                    f"{path}:{lineno}: not an rtmock transcript (the first line must be its header); "
                    "pass the .jsonl files that `rtmock serve --record DIR` or `rtmock run --transcript DIR` wrote"
                )
            header = TranscriptHeader.from_json(data)
            continue
        try:
            record = Record.from_json(data)
        except ValueError as exc:
            raise TranscriptError(f"{path}:{lineno}: {exc}") from None
        records.append(record)
        closed = closed or (record.direction is Direction.SCRIPT and record.type == CLOSING_NOTE)
    if header is None:
        raise TranscriptError(f"{path}: empty transcript (no header line); pass the .jsonl files that "
                              "`rtmock serve --record DIR` or `rtmock run --transcript DIR` wrote")
    if torn_at is not None and not closed:
        return Transcript(path, header, records, torn_at, "the line is cut off mid-record: the server was stopped "
                          "while writing it")
    if not closed:
        at = max((n for n, line in enumerate(text_lines, start=1) if line.strip()), default=1)
        return Transcript(path, header, records, at, f"no closing record ({CLOSING_NOTE}) after it: the server was "
                          "stopped, or is still writing")
    return Transcript(path, header, records)


def load_transcript(path: str, lines: Iterable[str] | None = None) -> tuple[TranscriptHeader, list[Record]]:
    """The header and records of a transcript, whole or truncated (see `read_transcript`, which says
    which). Any bad line but a torn last one is a `TranscriptError` naming file:line."""
    transcript = read_transcript(path, lines)
    return transcript.header, transcript.records


#: Characters that must never reach a terminal, a log or an XML or HTML report as themselves:
#: C0 controls (NUL, ESC, CR… but tab), DEL and C1 controls (U+009B is a one-byte CSI), the soft
#: hyphen and the other invisible format characters, bidi overrides and isolates (U+202E turns the
#: rest of a line around), line and paragraph separators, the BOM, noncharacters, lone surrogates
#: and tag characters. Client frames, stderr and scenario text can hold any of them.
_UNSEEN = "\x00-\x08\x0b-\x1f\x7f-\x9f\xad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff" \
          "\ufff9-\ufffb\ufffe\uffff\ud800-\udfff\U000e0000-\U000e007f"
_UNSEEN_IN_LINE = re.compile(f"[\n{_UNSEEN}]")
_UNSEEN_IN_TEXT = re.compile(f"[{_UNSEEN}]")


_NAMED = {"\n": "\\n", "\r": "\\r"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def visible(text: str, *, lines: bool = False) -> str:
    """`text` with every control, format and separator character written as an escape (``\\x1b``,
    ``\\u202e``): shown, never obeyed, and valid in XML 1.0. With `lines`, newlines stay (text of
    several lines, such as a finding); without, the result is one line."""
    return (_UNSEEN_IN_TEXT if lines else _UNSEEN_IN_LINE).sub(_escape, text)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else f"{text[: limit - 1]}…(+{len(text) - limit + 1} chars)"


def short(event: dict[str, Any], limit: int = 160) -> str:
    """A one-line rendering of an event for logs: the type first, long strings (audio, huge
    arguments) clipped, so a log line stays readable."""
    kind = event.get("type", "?")
    rest = encode(_shrink(event))  # compact JSON, text kept (the encoder made once: json.dumps makes one a call)
    line = f"{kind} {rest}" if rest != "{}" else str(kind)
    return visible(_clip(line, limit))  # the type is the client's text too


def _shrink(value: Any, depth: int = 0) -> Any:
    """`value` for a log line: strings clipped, nesting past two levels elided, the top level
    without its type and event_id (the line names the type). (A module function: a nested one that
    calls itself is a reference cycle per call, for the cyclic collector to find.)"""
    if isinstance(value, str):
        return _clip(value, 48)
    if isinstance(value, dict):
        if depth > 2:
            return "{…}"
        return {k: _shrink(v, depth + 1) for k, v in value.items() if depth or k not in ("type", "event_id")}
    if isinstance(value, list):
        if depth > 2:
            return "[…]"
        items = [_shrink(v, depth + 1) for v in value[:4]]
        return items + ([f"…(+{len(value) - 4})"] if len(value) > 4 else [])
    return value
