"""rtmock's own CPU per session, without sockets: the frames of bench_sessions.py's client fed to
`SessionCore` with the observers `rtmock serve` attaches (LiveJudge, the serve log writing to a
file), on an event loop for the judge's timers: what `rtmock serve` spends per session beyond the
socket and websocket work that any server pays (see bench_sessions.py for that whole).

    python bench/profile_core.py [--sessions 2000] [--repeat 7] [--variant full --variant ...]

Each variant is timed (process CPU time) over `--sessions` sessions, `--repeat` times interleaved;
the minimum is the figure (a loaded machine only ever adds), with the median beside it. A variant
takes a part away or tries a change in this process (monkeypatched for its turn only): nothing here
changes rtmock's files. `--profile VARIANT` prints cProfile's view of one variant instead.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import gc
import json
import pstats
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from _common import SEED
from bench_sessions import RESPONSE_CREATE, SESSION_UPDATE, USER_MESSAGE

from rtmock.harness.judging.live import LiveJudge
from rtmock.harness.reports.serve_log import LogLevel, LogLines, ServeLog
from rtmock.mockserver import events, session, streams
from rtmock.mockserver.core.events import Dialect, IdSource
from rtmock.mockserver.core.records import Record, _clip, short, visible
from rtmock.mockserver.core.session import Send, SendRun, SessionCore
from rtmock.mockserver.net.server import SessionInfo
from rtmock.mockserver.scenario.loader import LoadedScenario, load_scenario


class CycleBreaker:
    """An observer told last that a session ended: it undoes the references that make a session a
    reference cycle (the core's record callback holds the SessionInfo, which holds the core; the
    core holds its script generator and its streams' bound methods), so the session is freed by
    reference counting, not by the cyclic garbage collector."""

    def session_started(self, info: SessionInfo) -> None:
        pass

    def record(self, info: SessionInfo, record: Record) -> None:
        pass

    def session_ended(self, info: SessionInfo) -> None:
        core = info.core
        if core is not None:
            if core._script is not None:
                core._script.close()
            core._script = core._wait = None
            core._streams = None  # type: ignore[assignment]
            core.on_record = _ignore
            info.core = None
        info.records = []


def _ignore(record: Record) -> None:
    pass


class Observers:
    """What `rtmock serve` attaches, built per variant."""

    def __init__(self, *, judge: bool, log: LogLevel | None, break_cycles: bool = False) -> None:
        self.list: list[Any] = []
        self.sink = tempfile.TemporaryFile("w")  # noqa: SIM115 - a regular file, as serve's stdout redirected
        if judge:
            live = LiveJudge(keep_sessions=False)
            self.list.append(live)
            if log is not None:
                serve_log = ServeLog(LogLines(self.sink), log)
                serve_log.attach(live)
                self.list.append(serve_log)
        if break_cycles:
            self.list.append(CycleBreaker())


def play(scenario: LoadedScenario, observers: Observers, number: int, loop: asyncio.AbstractEventLoop) -> None:
    """One get_your_info session through the core, as MockServer._serve drives it."""
    info = SessionInfo(number=number, id="", scenario=scenario, dialect=Dialect.GA,
                       request_path="/v1/realtime?model=gpt-realtime", started_at="2026-12-01T00:00:00.000+00:00")

    def on_record(record: Record) -> None:
        info.records.append(record)
        for observer in observers.list:
            observer.record(info, record)

    clock = loop.time
    core = SessionCore(scenario, Dialect.GA, on_record, ids=IdSource(None), model="gpt-realtime", started=clock(),
                       refusal=None, default_within=None)
    info.core = core
    info.id = core.session["id"]
    for observer in observers.list:
        observer.session_started(info)
    sent = _texts(core.start(clock()))
    for event in (SESSION_UPDATE, USER_MESSAGE, RESPONSE_CREATE):
        sent = _texts(core.receive(json.dumps(event), clock()))
    call_id = next(e["call_id"] for e in map(json.loads, sent) if e["type"] == "response.function_call_arguments.done")
    output = {"type": "conversation.item.create",
              "item": {"type": "function_call_output", "call_id": call_id, "output": '{"food": "pizza"}'}}
    core.receive(json.dumps(output), clock())
    sent = _texts(core.receive(json.dumps(RESPONSE_CREATE), clock()))
    if not core.complete or '"type":"response.done"' not in "".join(sent):
        raise SystemExit(f"FAILED: session {number} did not complete: {sent[-3:]}")
    core.client_closed(clock(), 1000, "")
    info.ended = True
    for observer in observers.list:
        observer.session_ended(info)
    if observers.list and observers.list[0].failed:
        raise SystemExit(f"FAILED: session {number}'s verdict is not PASS")


def _texts(actions: list[Any]) -> list[str]:
    out: list[str] = []
    for action in actions:
        if isinstance(action, Send):
            out.append(action.text)
        elif isinstance(action, SendRun):
            out.extend(action.texts)
    return out


# ---- variants --------------------------------------------------------------------------------------


@contextlib.contextmanager
def no_validation() -> Iterator[None]:
    with mock.patch.object(session, "validate_client_event", lambda text, dialect: json.loads(text)):
        yield


@contextlib.contextmanager
def nothing() -> Iterator[None]:
    yield


@contextlib.contextmanager
def no_copy() -> Iterator[None]:
    """No copy at all (wrong: records would share later changes): the upper bound of copying."""
    with mock.patch.object(events, "json_copy", _same), mock.patch.object(session, "json_copy", _same), \
            mock.patch.object(streams, "json_copy", _same):
        yield


def _same(value: Any) -> Any:
    return value


@contextlib.contextmanager
def union_by_tag() -> Iterator[None]:
    """_Checker.check_union tries only the options whose tags (`type`, then `role`) the value
    carries, when there are such; the error path (no option fits) is unchanged."""
    from rtmock.mockserver.core.client_events import _Checker

    check_union = _Checker.check_union

    def by_tag(self: Any, value: Any, shape: dict[str, Any], path: str, depth: int) -> Any:
        if type(value) is dict:
            options = [self.resolve(o) for o in shape["options"]]
            for tag in ("type", "role"):
                if tag in value:
                    fitting = [o for o in options if o["t"] == "object" and tag in o["fields"]
                               and value[tag] in self.resolve(o["fields"][tag]).get("values", ())]
                    if fitting:
                        options = fitting
            if len(options) == 1 and self.check(value, options[0], path, depth) is None:
                return None
        return check_union(self, value, shape, path, depth)

    with mock.patch.object(_Checker, "check_union", by_tag):
        yield


def _wire_str(self: Record) -> str:
    """Record.__str__ from the frame's wire text, when the record keeps it (server frames) and it
    is not long: the fields after `type` and `event_id`, as short() shows them, clipped to 160."""
    text = self.text
    if text is not None and len(text) < 4096 and text.startswith('{"type":') and ',"event_id":"' in text[:120]:
        head = text.index(',"event_id":"') + 13
        cut = text.find('",', head)
        kind = self.type
        rest = "{" + text[cut + 2:] if cut != -1 else "{}"
        body = visible(_clip(f"{kind} {rest}" if rest != "{}" else kind, 160))
    else:
        body = short(self.event) if self.event is not None else visible(repr(_clip(self.raw or "", 80)))
    arrow = {"client": "C→", "server": "←S", "script": "··"}[self.direction.value]
    return f"#{self.index} {self.time * 1000:8.1f}ms {arrow} {body}"


@contextlib.contextmanager
def wire_lines() -> Iterator[None]:
    """The serve log's lines of server frames cut from their wire text: no shrinking and
    re-encoding of the event (the suffix then counts the characters of the wire text cut)."""
    with mock.patch.object(Record, "__str__", _wire_str):
        yield


@contextlib.contextmanager
def no_schedule() -> Iterator[None]:
    """LiveJudge sets no timer (wrong: a missing message would wait for the end): the upper bound
    of keeping each session's next bound on the loop."""
    with mock.patch.object(LiveJudge, "_schedule", lambda self, judged: None):
        yield


@contextlib.contextmanager
def gc_threshold() -> Iterator[None]:
    """A young generation of 50,000 (Python's default is 700). It does not pay: a session is a
    reference cycle, so its objects wait for a collection however rare (see full-break-cycles)."""
    before = gc.get_threshold()
    gc.set_threshold(50_000, 10, 10)
    try:
        yield
    finally:
        gc.set_threshold(*before)


@contextlib.contextmanager
def batched_log() -> Iterator[None]:
    """The serve log's lines written once per event-loop turn (here: once per session), not one
    flushed write each."""
    pending: list[str] = []

    def line(self: LogLines, text: str) -> None:
        if not pending:
            asyncio.get_running_loop().call_soon(flush, self)
        pending.append(text)

    def flush(self: LogLines) -> None:
        self.stream.write("\n".join(pending) + "\n")
        self.stream.flush()
        pending.clear()

    with mock.patch.object(LogLines, "line", line):
        yield


@contextlib.contextmanager
def fresh_responses() -> Iterator[None]:
    """response.created and response.done take the response object they are given (always a fresh
    one from response_object) instead of copying it again."""
    def created(self: Any, response: dict[str, Any]) -> dict[str, Any]:
        return self._event("response.created", response=response)  # type: ignore[no-any-return]

    def done(self: Any, response: dict[str, Any]) -> dict[str, Any]:
        return self._event("response.done", response=response)  # type: ignore[no-any-return]

    with mock.patch.object(events.EventFactory, "response_created", created), \
            mock.patch.object(events.EventFactory, "response_done", done):
        yield


@contextlib.contextmanager
def judge_when_due() -> Iterator[None]:
    """The judge looks at its bounds only when one may have changed or come due: LiveJudge
    reschedules after client records, notes and response.done (the server events that set bounds),
    and Judge._expire returns at once before the earliest bound (kept from the last schedule)."""
    from rtmock.harness.judging.judge import Judge
    from rtmock.mockserver.core.records import Direction

    record, schedule, expire = LiveJudge.record, LiveJudge._schedule, Judge._expire

    def record_when_due(self: LiveJudge, info: Any, rec: Record) -> None:
        judged = self._by_info[id(info)]
        if rec.delta or (rec.direction is Direction.SERVER and rec.event is not None
                         and rec.event.get("type") != "response.done"):
            judged.judge.feed(rec)  # no bound changes with it: no reschedule
            return
        record(self, info, rec)

    def schedule_noting_due(self: LiveJudge, judged: Any) -> None:
        schedule(self, judged)
        judged.judge._due = judged.judge.next_deadline()

    def expire_when_due(self: Judge, now: float, *, at: float | None = None) -> None:
        due = getattr(self, "_due", 0.0)
        if due is None or now < due:
            return
        expire(self, now, at=at)

    with mock.patch.object(LiveJudge, "record", record_when_due), \
            mock.patch.object(LiveJudge, "_schedule", schedule_noting_due), \
            mock.patch.object(Judge, "_expire", expire_when_due):
        yield


#: the server events Judge._server acts on (the others it reads and drops)
_JUDGED_SERVER_KINDS = frozenset({"response.created", "response.done", "response.output_item.added",
                                  "conversation.item.added", "conversation.item.created", "conversation.item.done",
                                  "input_audio_buffer.committed", "conversation.item.deleted", "error"})


@contextlib.contextmanager
def judge_by_type() -> Iterator[None]:
    """Judge._server looks at a server record's type (read from its wire text) before its event, and
    leaves the frames no rule reads unparsed (session.created/updated, content parts, *.done of items
    and arguments, rate limits)."""
    from rtmock.harness.judging.judge import Judge

    server = Judge._server

    def by_type(self: Judge, record: Record) -> None:
        if record.type in _JUDGED_SERVER_KINDS:
            server(self, record)

    with mock.patch.object(Judge, "_server", by_type):
        yield


@contextlib.contextmanager
def all_of(*patches: Callable[[], contextlib.AbstractContextManager[None]]) -> Iterator[None]:
    with contextlib.ExitStack() as stack:
        for patch in patches:
            stack.enter_context(patch())
        yield


#: name → (what it is, observers, patch)
VARIANTS: dict[str, tuple[str, Callable[[], Observers], Callable[[], contextlib.AbstractContextManager[None]]]] = {
    "full": ("as `rtmock serve`: judge and the events log", lambda: Observers(judge=True, log=LogLevel.EVENTS), nothing),
    "log-verdicts": ("`--log-level verdicts`", lambda: Observers(judge=True, log=LogLevel.VERDICTS), nothing),
    "log-quiet": ("`--quiet`", lambda: Observers(judge=True, log=LogLevel.QUIET), nothing),
    "no-log": ("judge, no serve log at all", lambda: Observers(judge=True, log=None), nothing),
    "core": ("the core alone: no judge, no log", lambda: Observers(judge=False, log=None), nothing),
    "core-no-validation": ("the core alone, client events only parsed",
                           lambda: Observers(judge=False, log=None), no_validation),
    "full-no-validation": ("as full, client events only parsed", lambda: Observers(judge=True, log=LogLevel.EVENTS),
                           no_validation),
    "core-no-copy": ("the core alone, no copying at all (upper bound)", lambda: Observers(judge=False, log=None),
                     no_copy),
    "full-union-by-tag": ("as full, unions checked by their tags first", lambda: Observers(judge=True, log=LogLevel.EVENTS),
                          union_by_tag),
    "full-no-schedule": ("as full, no judge timers (upper bound)", lambda: Observers(judge=True, log=LogLevel.EVENTS),
                         no_schedule),
    "full-gc-threshold": ("as full, gc.set_threshold(50_000, 10, 10)", lambda: Observers(judge=True, log=LogLevel.EVENTS),
                          gc_threshold),
    "full-batched-log": ("as full, log lines written once per loop turn", lambda: Observers(judge=True, log=LogLevel.EVENTS),
                         batched_log),
    "full-break-cycles": ("as full, the session's reference cycles undone once it is judged",
                          lambda: Observers(judge=True, log=LogLevel.EVENTS, break_cycles=True), nothing),
    "full-fresh-responses": ("as full, response.created/done not copied twice",
                             lambda: Observers(judge=True, log=LogLevel.EVENTS), fresh_responses),
    "full-judge-when-due": ("as full, the judge's bounds looked at only when due or changed",
                            lambda: Observers(judge=True, log=LogLevel.EVENTS), judge_when_due),
    "full-wire-lines": ("as full, log lines of server frames cut from their wire text",
                        lambda: Observers(judge=True, log=LogLevel.EVENTS), wire_lines),
    "full-judge-by-type": ("as full, the judge parses only the server events its rules read",
                           lambda: Observers(judge=True, log=LogLevel.EVENTS), judge_by_type),
    "full-all": ("as full, with fresh-responses, union-by-tag, judge-when-due, wire-lines, "
                 "batched-log and break-cycles",
                 lambda: Observers(judge=True, log=LogLevel.EVENTS, break_cycles=True),
                 lambda: all_of(fresh_responses, union_by_tag, judge_when_due, wire_lines, batched_log)),
}


async def measure(args: argparse.Namespace) -> None:
    scenario = load_scenario(SEED)
    loop = asyncio.get_running_loop()
    times: dict[str, list[float]] = {v: [] for v in args.variant}
    number = 0
    for variant in args.variant:  # warm-up
        with VARIANTS[variant][2]():
            observers = VARIANTS[variant][1]()
            for _ in range(args.warmup):
                number += 1
                play(scenario, observers, number, loop)
    if args.profile:
        variant = args.variant[0]
        profile = cProfile.Profile(time.process_time)
        with VARIANTS[variant][2]():
            observers = VARIANTS[variant][1]()
            profile.enable()
            for _ in range(args.sessions):
                number += 1
                play(scenario, observers, number, loop)
                await asyncio.sleep(0)
            profile.disable()
        stats = pstats.Stats(profile)
        print(f"{variant}: {stats.total_tt / args.sessions * 1000:.3f} ms profiled per session")  # type: ignore[attr-defined]
        stats.sort_stats("tottime").print_stats(args.top)
        stats.sort_stats("cumulative").print_stats(args.top)
        return
    for _ in range(args.repeat):
        for variant in args.variant:
            with VARIANTS[variant][2]():
                observers = VARIANTS[variant][1]()
                spent = 0.0
                for _ in range(args.sessions):
                    number += 1
                    began = time.process_time()
                    play(scenario, observers, number, loop)
                    spent += time.process_time() - began
                    await asyncio.sleep(0)  # the loop drops the judge's cancelled timers, as serve's does
                times[variant].append(spent / args.sessions * 1000)
    base = min(times[args.variant[0]])
    for variant in args.variant:
        best = min(times[variant])
        print(f"{variant:>20}: {best:.3f} ms/session (median {statistics.median(times[variant]):.3f}), "
              f"{base - best:+.3f} ms against {args.variant[0]}: {VARIANTS[variant][0]}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0], formatter_class=argparse.RawTextHelpFormatter,
                                     epilog="variants:\n" + "\n".join(f"  {name}: {v[0]}" for name, v in VARIANTS.items()))
    parser.add_argument("--sessions", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--warmup", type=int, default=50, help="unmeasured sessions per variant first")
    parser.add_argument("--variant", action="append", choices=list(VARIANTS), help="repeatable; default: all")
    parser.add_argument("--profile", action="store_true", help="cProfile the first variant instead")
    parser.add_argument("--top", type=int, default=40)
    args = parser.parse_args()
    args.variant = args.variant or list(VARIANTS)
    asyncio.run(measure(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
