"""A fuzz case's verdict, by `rtmock run`'s rules: which findings it has, which fuzzed call each one is
charged to, and why a client whose websocket library refused a frame failed.

- `compose_findings` makes the verdict from the session's findings and the client's exit exactly as
  `runner.run_scenario` does: a crash is the verdict when no finding was caused by anything else
  than the client's closing (cut short), and names what the session lacked because of it. The same
  crash is then `client-crashed` in the fuzz report and when its reproducer is replayed.
- `charges` says which fuzzed call's payload each finding is about, for the table by payload kind: a
  failure of one call is never counted under another call's kind.
- `CaseWatch` is what the server's records showed beyond the judge's findings (call ids, answers,
  the client's close, the largest frame), and `FrameLimit` explains a close with 1009.

Running cases is `_fuzz_runner.py`'s; the rules themselves are `judge.py`'s.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field

from ...mockserver.core.records import Direction, Record
from ...mockserver.scenario.loader import LoadedScenario
from ...mockserver.scenario.model import FunctionCallPart, RespondStep
from ..judging.findings import Finding

__all__ = ["CaseWatch", "FrameLimit", "charges", "compose_findings", "frame_limit"]

Place = tuple[int, int]  # a function call's place in the scenario: (step index, part index)


@dataclass(slots=True)
class CaseWatch:
    """What a case's session showed beyond the judge's findings: the call_id each call got, the calls
    the client answered, how the client closed, and the largest frame the server sent."""

    parts: dict[int, list[int]]  # respond step index → the indexes of its function call parts
    calls: list[tuple[str, Place]] = field(default_factory=list)  # (call_id, place), in the order sent
    answered: set[str] = field(default_factory=set)  # call_ids of the outputs the client sent
    client_close: tuple[int | None, str] | None = None  # code and reason of the client's close
    largest: tuple[int, int, str] = (0, -1, "")  # bytes, event #, type of the largest frame the server sent

    @classmethod
    def of(cls, loaded: LoadedScenario) -> CaseWatch:
        parts = {i: [j for j, part in enumerate(step.respond) if isinstance(part, FunctionCallPart)]
                 for i, step in enumerate(loaded.scenario.steps) if isinstance(step, RespondStep)}
        return cls(parts)

    def record(self, record: Record) -> None:
        if record.delta:  # thousands per response: small, and nothing here depends on one
            return
        if record.direction is Direction.SERVER:
            text = record.text
            if text is not None and len(text) * 4 > self.largest[0]:  # a character is at most 4 bytes
                size = len(text.encode("utf-8", "surrogatepass"))
                if size > self.largest[0]:
                    self.largest = (size, record.index, record.type)
            return
        event = record.event or {}
        if record.direction is Direction.CLIENT:
            item = event.get("item")
            if event.get("type") == "conversation.item.create" and isinstance(item, dict) \
                    and item.get("type") == "function_call_output" and isinstance(item.get("call_id"), str):
                self.answered.add(item["call_id"])
        elif event.get("type") == "rtmock.response.started":
            step = int(event["step"]) - 1  # the note counts steps from 1
            for call, part in zip(event.get("calls", []), self.parts.get(step, []), strict=False):
                self.calls.append((str(call["call_id"]), (step, part)))
        elif event.get("type") == "rtmock.closed" and event.get("by") == "client":
            code = event.get("code")
            self.client_close = (code if isinstance(code, int) else None, str(event.get("reason") or ""))


def compose_findings(session_findings: Sequence[Finding], run_findings: Sequence[Finding],
                     crash: Finding | None) -> list[Finding]:
    """The case's findings, as `rtmock run` composes them (`runner.run_scenario`): the sessions',
    then the run's own (no session, a timeout). A crash of a client that rtmock did not stop is the
    verdict when no finding was caused by anything but its closing: the findings it cut short are
    named in its message and dropped. After a finding of another cause, the exit is that finding's
    consequence, and not reported."""
    caused = [f for f in session_findings if not f.cut_short]
    if crash is None or caused:
        return [*session_findings, *run_findings]
    left = [f.rule.value + (f" ({f.call_name} {f.call_id})" if f.call_id else "") for f in session_findings]
    if left:
        crash = dataclasses.replace(crash, message=crash.message.removesuffix(".")
                                    + f", leaving its session short: {', '.join(left)}.")
    return [crash, *run_findings]


def charges(findings: Sequence[Finding], watch: CaseWatch, places: Sequence[Place], *,
            passed: bool) -> list[str | None]:
    """For each fuzzed call (by place), what its payload is charged with: the rule of the first finding
    about it, "passed", or None when it was never reached (another call's payload stopped the client
    first, or the session ended before the server sent it).

    A finding that names a fuzzed call is about that call. One that names no call (a crash, a
    disconnect, an invalid event), or a call that is not fuzzed, is about the first fuzzed call the
    client left unanswered, in the order the server sent them: a client answers calls in order, and
    stops at the one that breaks it. When it answered every one, the finding is charged to all."""
    if passed:
        return ["passed"] * len(places)
    by_id = dict(watch.calls)
    sent = [(call_id, place) for call_id, place in watch.calls if place in places]
    first_unanswered = next((place for call_id, place in sent if call_id not in watch.answered), None)
    charged: dict[Place, str] = {}
    for rule, call_id in [(f.rule.value, f.call_id) for f in findings] or [("incomplete", None)]:
        about = by_id.get(call_id) if call_id is not None else None
        who = [about] if about is not None and about in places else \
            [first_unanswered] if first_unanswered is not None else list(places)
        for place in who:
            charged.setdefault(place, rule)
    answered = {place for call_id, place in sent if call_id in watch.answered}
    return [charged.get(place) or ("passed" if place in answered else None) for place in places]


@dataclass(frozen=True, slots=True)
class FrameLimit:
    """The client's websocket library refused a frame as too big (it closed with 1009, "message too
    big"), with the largest frame the server had sent: the likely one."""

    code: int | None
    reason: str
    largest_bytes: int
    largest_index: int
    largest_type: str

    def explain(self, *, oversized: bool | None = None) -> str:
        """In words; `oversized`: whether the payload is past what the service can send (None: unknown)."""
        closed = (f"closed the connection with {self.code} (message too big)" if self.code == 1009
                  else "failed on a message too big for it")
        said = f" ({self.reason!r})" if self.reason else ""
        text = (f"the client's websocket library {closed}{said}: the largest frame the server had sent was "
                f"{self.largest_bytes:,} bytes (event #{self.largest_index}, {self.largest_type}), past the "
                "library's frame limit (websockets: max_size, 1 MiB by default; aiohttp: max_msg_size, 4 MiB).")
        if oversized:
            text += " The payload is past what the service can send (--hostile): the real service never sends it."
        elif oversized is not None:
            text += (" The service can send arguments this long: raise the client's limit (or keep what its outputs "
                     "quote short: the server echoes every output).")
        return text


#: Words a client's last output holds when its library refused a frame it did not close with 1009 for.
_TOO_BIG = ("message too big", "exceeds limit", "message size", "frame too large")


def frame_limit(watch: CaseWatch, output_tail: Sequence[str]) -> FrameLimit | None:
    """A `FrameLimit` when the client closed with 1009, or its connection broke and its output says a
    message was too big (a library that drops the connection without a close frame); else None."""
    code, reason = watch.client_close or (None, "")
    if code != 1009:
        said = "\n".join(output_tail[-20:]).lower()
        if code not in (None, 1006) or not any(words in said for words in _TOO_BIG):
            return None
    return FrameLimit(code, reason, *watch.largest)
