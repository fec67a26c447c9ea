"""What a stream fuzz case *is*: a variant of the scenario document, in which the service does
something else it may legally do around the scenario's function calls. The variant is a plain
scenario, so it is also the reproducer `rtmock run` replays.

A case varies, each draw shrinking toward the scenario as written:
- **parallel calls**: a fuzzed call is duplicated into 2 or 3 calls of the same response, each with
  a label of its own (`<label>_2`, ...; a scenario call_id gets the same suffix) and its own
  `expect: function_call_output` next to the original's (same `within`, same `match:`: the copies
  carry the same arguments). One `response.create` still follows all outputs (R4, R5).
- **delta chunking**: `deltas:` lists splitting each call's arguments anywhere, with split points
  drawn near non-ASCII characters and inside escapes. A delta may end between any two characters
  (code points) of the arguments text, so inside a `\\u00e9` or `\\"` escape of the JSON text too; it
  never ends inside a character: each delta is a JSON string in a text frame, which must be valid
  UTF-8 (RFC 6455 §5.6), so half a UTF-8 sequence cannot be sent, and the service writes an emoji
  as one character, never as two `\\ud83d` `\\ude00` escapes in two deltas (a lone surrogate is no
  Unicode text: RFC 8259 §8.2). A client that joins the deltas as strings is correct wherever the
  split falls; one that decodes each delta on its own as a JSON fragment is not.
- **extra legal events** before or after a response (`send:` steps): `rate_limits.updated` (which
  the service sends around every response), events of a type no client knows yet
  (`response.future_event.x`, ...: the service adds event types, and clients must ignore them), and,
  only after a response's `response.done`, a server `error` of type `server_error` (it is about no
  client event, so it asks nothing of the client; before a response a client could take it for the
  refusal of its `response.create` and retry, which would make a correct client fail).
- **events inside a response** (`send:` parts of a respond step), in a response of several output
  items (parallel calls, or a scenario's own): `rate_limits.updated` and unknown future types, only
  between two items, after one item's `response.output_item.done` (and its echo) and before the next
  one's `response.output_item.added`, never among an item's deltas. Not an order the service is
  known to produce (it sends `rate_limits.updated` after `response.done`), but one a client must
  tolerate: nothing in the protocol ties an event to the gaps between responses, and a client must
  ignore an event type it does not know wherever it comes.
- nothing after a response that no `expect` follows: the conversation is over, and a correct client
  may close at once (a step left unplayed would fail it).
- **pauses** (`pause:`) around responses and a `delta_interval:` between a response's deltas.
- **status** `incomplete` (max_output_tokens) or `failed` of a response without function calls: a
  call in such a response would be owed nothing, so only text/audio answers are varied.

Orders the protocol leaves open are used only as the service is known to produce them: each call's
`response.function_call_arguments.done` comes before its `response.output_item.done`, output items
follow each other (no interleaving of two calls' deltas), and an event inside a response comes
only between two of its items (see above). What the service never does is never generated: a
correct client must pass every case.

Running the cases is `_stream_fuzz.py`'s; the case runner and reproducer writing are shared with
argument fuzzing (`_fuzz_runner.py`, `_fuzz_cases.py`).
"""

from __future__ import annotations

import copy
import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml
from hypothesis import strategies as st

from ...mockserver.scenario.loader import LoadedScenario, load_scenario_text
from ...mockserver.scenario.model import ExpectStep, FunctionCallPart, RespondStep, SendPart
from ._cases import FuzzTarget, _Dumper

__all__ = ["DELTA_INTERVALS", "MAX_COPIES", "STREAM_KINDS", "StreamCase", "stream_case_strategy", "stream_document"]

#: The most calls one fuzzed call becomes in its response (itself and its copies).
MAX_COPIES = 3
#: What a case may vary, as reports count them.
STREAM_KINDS = ("as-written", "parallel-calls", "deltas", "rate-limits", "unknown-event", "server-error", "pause",
                "delta-interval", "status")

#: Event types the service does not send today: a client must ignore what it does not know.
FUTURE_TYPES = ("response.future_event.x", "conversation.future_event", "session.future_event.updated")


@dataclass(frozen=True, slots=True)
class StreamCase:
    """One case: the variant scenario document as YAML text, what it changes (`notes`, for reports),
    and the kinds of change (`STREAM_KINDS`, for the table)."""

    text: str
    notes: tuple[str, ...]
    kinds: tuple[str, ...]

    @property
    def key(self) -> str:
        return self.text

    def load(self, *, name: str = "stream-case") -> LoadedScenario:
        return load_scenario_text(self.text, default_name=name)

    def __repr__(self) -> str:
        return f"StreamCase({'; '.join(self.notes) or 'as written'})"


@dataclass(frozen=True, slots=True)
class _Slot:
    """Events and pauses placed right before (`after=False`) or after a respond step."""

    step: int
    after: bool
    items: tuple[dict[str, Any], ...]


@dataclass(frozen=True, slots=True)
class _Variation:
    copies: dict[int, int]  # fuzzed target index → extra copies
    deltas: dict[tuple[int, int], tuple[str, ...]]  # (target index, copy number; 0: the original) → deltas
    slots: tuple[_Slot, ...]
    intervals: dict[int, float]  # respond step → delta_interval
    statuses: dict[int, str]  # respond step (without calls) → status
    inside: dict[int, tuple[tuple[int, dict[str, Any]], ...]] = field(default_factory=dict)
    # respond step → (gap: after its item #gap, counted from 0, among the variant's items; the event)


def _event_id(n: int) -> str:
    return f"event_rtmockstream{n:04d}"


def _rate_limits(n: int) -> dict[str, Any]:
    return {"type": "rate_limits.updated", "event_id": _event_id(n), "rate_limits": [
        {"name": "requests", "limit": 5000, "remaining": 4999, "reset_seconds": 0.012},
        {"name": "tokens", "limit": 40000, "remaining": 39000, "reset_seconds": 1.5}]}


def _future(n: int, kind: str) -> dict[str, Any]:
    return {"type": kind, "event_id": _event_id(n), "response_id": "resp_rtmockfuture", "payload": {"x": 1}}


def _server_error(n: int) -> dict[str, Any]:
    return {"type": "error", "event_id": _event_id(n), "error": {
        "type": "server_error", "code": "server_error", "param": None, "event_id": None,
        "message": "The server had an error while processing your request. Sorry about that!"}}


_UNICODE_ESCAPE = re.compile(r"\\u[0-9a-fA-F]{4}")


def _split_points(text: str) -> list[int]:
    """Places worth splitting at: either side of a non-ASCII character (an emoji is one character
    here, as on the wire: the service never splits its two UTF-16 halves, see the module docstring)
    and of a backslash, and inside a `\\uXXXX` escape (`\\u00e9` is six characters of the text)."""
    points = {i for i in range(1, len(text))
              if ord(text[i - 1]) > 127 or ord(text[i]) > 127 or text[i - 1] == "\\" or text[i] == "\\"}
    for escape in _UNICODE_ESCAPE.finditer(text):
        points.update(range(escape.start() + 1, escape.end()))
    return sorted(points)


def _deltas(text: str) -> st.SearchStrategy[tuple[str, ...] | None]:
    """None (the scenario's own chunking, the simplest), or deltas split at drawn points."""
    if len(text) < 2:
        return st.none()
    points: st.SearchStrategy[int] = st.integers(1, len(text) - 1)
    special = _split_points(text)
    if special:
        points = st.one_of(st.sampled_from(special), points)

    def cut(at: list[int]) -> tuple[str, ...]:
        bounds = [0, *sorted(set(at)), len(text)]
        return tuple(text[a:b] for a, b in itertools.pairwise(bounds))

    return st.one_of(st.none(), st.lists(points, min_size=1, max_size=min(len(text) - 1, 16)).map(cut))


_PAUSES = (0.05, 0.1, 0.25)
#: `delta_interval:` values drawn: the service streams a response over time, not in one burst.
DELTA_INTERVALS: tuple[float, ...] = (0.002, 0.01, 0.03)


def stream_case_strategy(loaded: LoadedScenario, targets: Sequence[FuzzTarget]) -> st.SearchStrategy[StreamCase]:
    """Cases for `loaded`, varying around `targets` (its fuzzed calls). Each draw's simplest value
    leaves the scenario as it is, so Hypothesis shrinks a failure to the one variation that matters."""
    responds = {i: s for i, s in enumerate(loaded.scenario.steps) if isinstance(s, RespondStep)}
    respond_steps = list(responds)
    # After the scenario's last expect the conversation is over: a client may close at once, so nothing
    # is added after a response that no expect follows (the session would end "short" through no fault).
    last_expect = max((i for i, s in enumerate(loaded.scenario.steps) if isinstance(s, ExpectStep)), default=-1)
    plain_steps = [i for i, s in responds.items() if not any(isinstance(p, FunctionCallPart) for p in s.respond)]
    item_counts = {i: sum(not isinstance(p, SendPart) for p in s.respond) for i, s in responds.items()}
    awaited = {(ref.step, ref.part) for ref in loaded.output_calls.values()}

    @st.composite
    def draw_case(draw: st.DrawFn) -> StreamCase:
        copies: dict[int, int] = {}
        deltas: dict[tuple[int, int], tuple[str, ...]] = {}
        for t, target in enumerate(targets):
            extra = draw(st.integers(0, MAX_COPIES - 1))
            if extra:
                copies[t] = extra
            for k in range(extra + 1):
                chunks = draw(_deltas(target.ref.spec.arguments_text))
                if chunks is not None:
                    deltas[(t, k)] = chunks
        slots = []
        n = 0
        for step in respond_steps:
            for after in (False, True) if step < last_expect else (False,):
                kinds = ["rate-limits", "unknown-event", "pause", *(["server-error"] if after else [])]
                chosen = draw(st.lists(st.sampled_from(kinds), max_size=2))
                items: list[dict[str, Any]] = []
                for kind in chosen:
                    n += 1
                    if kind == "rate-limits":
                        items.append({"send": _rate_limits(n)})
                    elif kind == "unknown-event":
                        items.append({"send": _future(n, draw(st.sampled_from(FUTURE_TYPES)))})
                    elif kind == "server-error":
                        items.append({"send": _server_error(n)})
                    else:
                        items.append({"pause": draw(st.sampled_from(_PAUSES))})
                if items:
                    slots.append(_Slot(step, after, tuple(items)))
        inside: dict[int, tuple[tuple[int, dict[str, Any]], ...]] = {}
        for step in respond_steps:
            # the response's items in the variant: its own, and the copies of its awaited fuzzed calls
            count = item_counts[step] + sum(copies.get(t, 0) for t, target in enumerate(targets)
                                      if target.ref.step == step and (target.ref.step, target.ref.part) in awaited)
            if count < 2 or step > last_expect:  # (after the last expect the client may be gone: see above)
                continue
            drawn = draw(st.lists(st.tuples(st.integers(0, count - 2), st.sampled_from(["rate-limits", "unknown-event"])),
                                  max_size=2))
            events = []
            for gap, kind in sorted(drawn, key=lambda d: d[0]):
                n += 1
                events.append((gap, _rate_limits(n) if kind == "rate-limits"
                               else _future(n, draw(st.sampled_from(FUTURE_TYPES)))))
            if events:
                inside[step] = tuple(events)
        intervals = {}
        for step in respond_steps:
            interval = draw(st.one_of(st.none(), st.sampled_from(DELTA_INTERVALS)))
            if interval is not None:
                intervals[step] = interval
        statuses = {}
        for step in plain_steps:
            status = draw(st.sampled_from(("completed", "incomplete", "failed")))
            if status != "completed":
                statuses[step] = status
        return stream_document(loaded, targets, _Variation(copies, deltas, tuple(slots), intervals, statuses, inside))

    return draw_case()


def _label(target: FuzzTarget, k: int) -> str:
    return target.label if k == 0 else f"{target.label}_{k + 1}"


def stream_document(loaded: LoadedScenario, targets: Sequence[FuzzTarget], variation: _Variation) -> StreamCase:
    """The variant document for `variation`, written out as YAML (and checked to load)."""
    data: dict[str, Any] = copy.deepcopy(loaded.data)
    steps: list[dict[str, Any]] = data["steps"]
    notes: list[str] = []
    kinds: list[str] = []
    expect_of = {(ref.step, ref.part): i for i, ref in loaded.output_calls.items()}
    extra_expects: dict[int, list[dict[str, Any]]] = {}  # expect step → copies to add after it
    parts_after: dict[tuple[int, int], list[dict[str, Any]]] = {}
    for t, target in enumerate(targets):
        place = (target.ref.step, target.ref.part)
        call = steps[place[0]]["respond"][place[1]]["function_call"]
        extra = variation.copies.get(t, 0)
        text = target.ref.spec.arguments_text
        if extra:
            expect = expect_of.get(place)
            if expect is None:
                continue  # a call the scenario does not await: no copy (it would be owed an output unjudged)
            call["id"] = target.label  # the original's expect names it, so that the copies' cannot be confused
            steps[expect]["call"] = target.label
            copies = []
            for k in range(1, extra + 1):
                twin = copy.deepcopy(call)
                twin["id"] = _label(target, k)
                if "call_id" in twin:
                    twin["call_id"] = f"{twin['call_id']}_{k + 1}"
                copies.append({"function_call": twin})
                extra_expects.setdefault(expect, []).append({**copy.deepcopy(steps[expect]), "call": _label(target, k)})
            parts_after[place] = copies
            notes.append(f"call {target}: {extra + 1} parallel calls in its response "
                         f"({', '.join(_label(target, k) for k in range(extra + 1))}), each answered")
            kinds.append("parallel-calls")
        for k in range(extra + 1):
            chunks = variation.deltas.get((t, k))
            if chunks is None:
                continue
            part = call if k == 0 else parts_after[place][k - 1]["function_call"]
            part.pop("chunks", None)
            part["arguments"] = text
            part["deltas"] = list(chunks)
            notes.append(f"call {_label(target, k)}: arguments in {len(chunks)} deltas {list(chunks)!r}")
            kinds.append("deltas")
    for place in sorted(parts_after, reverse=True):  # the later parts first: earlier places stay put
        steps[place[0]]["respond"][place[1] + 1:place[1] + 1] = parts_after[place]
    for step, events in variation.inside.items():
        respond = steps[step]["respond"]
        at = [j for j, part in enumerate(respond) if "send" not in part]  # the items, in the variant
        for gap, event in sorted(events, key=lambda e: e[0], reverse=True):  # later gaps first: places stay put
            j = at[gap] + 1
            while j < len(respond) and "send" in respond[j]:
                j += 1  # after the events already there (the scenario's, or drawn for this gap)
            respond.insert(j, {"send": event})
        for gap, event in events:
            notes.append(f"inside {loaded.step_label(step)}, between its items {gap + 1} and {gap + 2}: "
                         f"the server sends {event['type']}")
            kinds.append("rate-limits" if event["type"] == "rate_limits.updated" else "unknown-event")
    for step, interval in variation.intervals.items():
        steps[step]["delta_interval"] = interval
        notes.append(f"{loaded.step_label(step)}: {interval:g}s between deltas")
        kinds.append("delta-interval")
    for step, status in variation.statuses.items():
        steps[step]["status"] = status
        notes.append(f"{loaded.step_label(step)}: response.done with status {status}")
        kinds.append("status")
    before = {s.step: list(s.items) for s in variation.slots if not s.after}
    after = {s.step: list(s.items) for s in variation.slots if s.after}
    for slot in variation.slots:
        where = f"{'after' if slot.after else 'before'} {loaded.step_label(slot.step)}"
        for item in slot.items:
            if "pause" in item:
                notes.append(f"{where}: a pause of {item['pause']:g}s")
                kinds.append("pause")
            else:
                event = item["send"]
                kind = {"rate_limits.updated": "rate-limits", "error": "server-error"}.get(event["type"], "unknown-event")
                notes.append(f"{where}: the server sends {event['type']}")
                kinds.append(kind)
    out: list[dict[str, Any]] = []
    for i, written in enumerate(steps):
        out.extend(before.get(i, []))
        out.append(written)
        out.extend(extra_expects.get(i, []))
        out.extend(after.get(i, []))
    data["steps"] = out
    text = yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=False, width=1 << 30)
    case = StreamCase(text, tuple(notes), tuple(dict.fromkeys(kinds)) or ("as-written",))
    case.load()  # a variant that does not load is an rtmock bug: fail here, loudly
    return case
