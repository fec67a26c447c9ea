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

__all__ = [
    "TRANSCRIPT_VERSION",
    "Direction",
    "Record",
    "TranscriptError",
    "TranscriptHeader",
    "dump_header",
    "dump_record",
    "load_transcript",
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


@dataclass(slots=True)  # treat as immutable; not frozen only because one is built per frame (frozen is ~2x slower)
class Record:
    """One entry of a session's history.

    ``event`` is the frame's JSON object (or the note, for script records). A client frame that was
    not a JSON object keeps its text in ``raw`` and has ``event`` None, so nothing a client sent is lost.
    """

    index: int
    time: float
    direction: Direction
    event: dict[str, Any] | None = None
    raw: str | None = None
    #: The exact wire text of a server frame, when known: the transcript reuses it instead of
    #: encoding the event a second time (not part of the record's JSON form or equality).
    text: str | None = field(default=None, compare=False, repr=False)
    #: Set by the session for the deltas it streams, so that hot paths need not look at the type.
    delta: bool = field(default=False, compare=False, repr=False)

    @property
    def type(self) -> str:
        kind = self.event.get("type") if self.event is not None else None
        if type(kind) is str:
            return kind
        if self.event is not None:
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
        return self.direction is Direction.SERVER and self.event is not None and \
            str(self.event.get("type", "")).endswith(".delta")

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
        return cls(index=index, time=time, direction=direction, event=event, raw=raw)

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


def dump_header(header: TranscriptHeader) -> str:
    """The first line of a transcript (with the newline)."""
    return json.dumps(header.to_json(), ensure_ascii=False) + "\n"


def dump_record(record: Record) -> str:
    """One JSON line (with the newline) for a record."""
    if record.text is not None and record.direction is Direction.SERVER:
        # the same line `to_json` would give, without encoding the event again
        return f'{{"n":{record.index},"t":{round(record.time, 6)!r},"dir":"server","event":{record.text}}}\n'
    return json.dumps(record.to_json(), ensure_ascii=False, separators=(",", ":")) + "\n"


def load_transcript(path: str, lines: Iterable[str] | None = None) -> tuple[TranscriptHeader, list[Record]]:
    """Read a transcript written by the server. A torn last line (the process was killed mid-write) is
    skipped; any other bad line is a `TranscriptError` naming file:line."""
    if lines is None:
        try:
            with open(path, encoding="utf-8") as fh:
                text_lines = fh.read().splitlines()
        except OSError as exc:
            raise TranscriptError(f"{path}: cannot read transcript: {exc.strerror or exc}") from None
    else:
        text_lines = list(lines)
    header: TranscriptHeader | None = None
    records: list[Record] = []
    for lineno, line in enumerate(text_lines, start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            if lineno == len(text_lines):
                break  # torn final line: the writer was killed mid-line; everything before it stands
            raise TranscriptError(f"{path}:{lineno}: not a JSON line ({exc.msg})") from None
        if header is None:
            if not isinstance(data, dict) or "rtmock_transcript" not in data:
                raise TranscriptError(
                    f"{path}:{lineno}: not an rtmock transcript (the first line must be its header); "
                    "pass the .jsonl files that `rtmock serve --record DIR` or `rtmock run --transcript DIR` wrote"
                )
            header = TranscriptHeader.from_json(data)
            continue
        try:
            records.append(Record.from_json(data))
        except ValueError as exc:
            raise TranscriptError(f"{path}:{lineno}: {exc}") from None
    if header is None:
        raise TranscriptError(f"{path}: empty transcript (no header line)")
    return header, records


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

    def shrink(value: Any, depth: int = 0) -> Any:
        if isinstance(value, str):
            return _clip(value, 48)
        if isinstance(value, dict):
            if depth > 2:
                return "{…}"
            return {k: shrink(v, depth + 1) for k, v in value.items() if depth or k not in ("type", "event_id")}
        if isinstance(value, list):
            if depth > 2:
                return "[…]"
            items = [shrink(v, depth + 1) for v in value[:4]]
            return items + ([f"…(+{len(value) - 4})"] if len(value) > 4 else [])
        return value

    kind = event.get("type", "?")
    rest = json.dumps(shrink(event), ensure_ascii=False, separators=(",", ":"))
    line = f"{kind} {rest}" if rest != "{}" else str(kind)
    return visible(_clip(line, limit))  # the type is the client's text too
