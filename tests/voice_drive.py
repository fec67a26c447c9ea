"""A scenario played by `SessionCore` to a scripted voice client, every record judged as it comes:
time is a virtual clock the test moves (no socket, no sleeping). Audio is streamed the way a
telephony bridge or a microphone loop does, in 20 ms frames of the session's format, and the clock
moves with it, so server VAD, delta pacing and the judge's bounds all see the same time."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from rtmock.harness.judging.findings import Finding, SessionVerdict
from rtmock.harness.judging.judge import Judge
from rtmock.mockserver.core.audio import PCM16, AudioFormat, tone
from rtmock.mockserver.core.events import Dialect, IdSource
from rtmock.mockserver.core.records import Direction, Record
from rtmock.mockserver.core.session import SessionCore
from rtmock.mockserver.scenario.loader import LoadedScenario, load_scenario, load_scenario_text

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"
FRAME = 0.02  # seconds of audio per append (Twilio media streams send 20 ms frames)


def scenario(name_or_text: str) -> LoadedScenario:
    if "\n" in name_or_text:
        return load_scenario_text(name_or_text, path="test.yaml")
    return load_scenario(SCENARIOS / f"{name_or_text}.yaml")


class Drive:
    def __init__(self, played: str | LoadedScenario, dialect: Dialect = Dialect.GA, *, seed: int = 3) -> None:
        self.scenario = played if isinstance(played, LoadedScenario) else scenario(played)
        self.dialect = dialect
        self.records: list[Record] = []
        self.findings: list[Finding] = []
        self.judge = Judge(session_id="sess_test", scenario_name=self.scenario.name, scenario_path=self.scenario.path,
                           default_within=self.scenario.scenario.defaults.within)
        self.core = SessionCore(self.scenario, dialect, self._record, ids=IdSource(seed))
        self.now = 0.0
        self.core.start(0.0)

    def _record(self, record: Record) -> None:
        self.records.append(record)
        self.findings += self.judge.feed(record)

    # ---- the client ------------------------------------------------------------------------------

    def send(self, event: dict[str, Any] | str, *, gap: float = 0.01) -> list[dict[str, Any]]:
        """Send a client frame `gap` seconds from now; returns the server events it caused."""
        self.advance(self.now + gap)
        start = len(self.records)
        self.core.receive(event if isinstance(event, str) else json.dumps(event), self.now)
        return [r.event for r in self.records[start:] if r.direction is Direction.SERVER and r.event]

    def stream(self, audio: bytes, fmt: AudioFormat = PCM16) -> None:
        """Append `audio` in 20 ms frames, each sent when the previous one has played."""
        size = max(fmt.width, int(fmt.bytes_per_ms * FRAME * 1000))
        for at in range(0, len(audio), size):
            self.send({"type": "input_audio_buffer.append", "audio": base64.b64encode(audio[at:at + size]).decode()},
                      gap=FRAME)

    def speak(self, seconds: float, fmt: AudioFormat = PCM16, *, pause: float = 0.6, level: float = 0.2) -> None:
        """Speech (a tone), then `pause` seconds of silence: a user's turn."""
        self.stream(tone(seconds, fmt, level=level) + silence(pause, fmt), fmt)

    def update(self, session: dict[str, Any]) -> None:
        self.send({"type": "session.update", "session": session})

    # ---- time ------------------------------------------------------------------------------------

    def advance(self, until: float) -> list[Finding]:
        """Let time pass up to `until`: the script's sleeps wake in order, then the judge's bounds."""
        start = len(self.findings)
        while (due := self.core.next_deadline) is not None and due <= until:
            self.now = max(self.now, due)
            self.core.advance(self.now)
        self.now = max(self.now, until)
        self.findings += self.judge.advance(self.now)
        return self.findings[start:]

    def wait(self, seconds: float) -> list[Finding]:
        return self.advance(self.now + seconds)

    def finish(self) -> SessionVerdict:
        return self.judge.finish(self.now)

    # ---- what happened ---------------------------------------------------------------------------

    def server(self, kind: str) -> list[dict[str, Any]]:
        return [r.event for r in self.records if r.direction is Direction.SERVER and r.event and r.event["type"] == kind]

    def types(self) -> list[str]:
        return [str(r.event["type"]) for r in self.records if r.direction is Direction.SERVER and r.event]

    def notes(self, kind: str) -> list[dict[str, Any]]:
        return [r.event for r in self.records if r.direction is Direction.SCRIPT and r.event and r.event["type"] == kind]

    def rules(self) -> list[str]:
        return [f.rule.value for f in self.findings]

    def calls(self) -> list[dict[str, Any]]:
        """The completed function call items, as a client reads them from response.output_item.done."""
        return [e["item"] for e in self.server("response.output_item.done")
                if e["item"]["type"] == "function_call" and e["item"]["status"] == "completed"]


def silence(seconds: float, fmt: AudioFormat = PCM16) -> bytes:
    return tone(seconds, fmt, level=0.0)


def tools_of(played: LoadedScenario) -> list[dict[str, Any]]:
    return [{"type": "function", "name": t.name, "parameters": t.parameters or {"type": "object"}}
            for t in played.scenario.tools]


def output(call_id: str, text: str = '{"ok": true}') -> dict[str, Any]:
    return {"type": "conversation.item.create",
            "item": {"type": "function_call_output", "call_id": call_id, "output": text}}


def user_message(text: str = "Hello") -> dict[str, Any]:
    return {"type": "conversation.item.create",
            "item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}}
