"""rtmock's own CPU per session, without sockets: the frames of bench_sessions.py's client fed to
`SessionCore` with the observers `rtmock serve` attaches (LiveJudge, the serve log writing to a
file), on an event loop for the judge's timers and the log's writes: what `rtmock serve` spends per
session beyond the socket and websocket work that any server pays (see bench_sessions.py for that whole).

    python bench/profile_core.py [--sessions 2000] [--repeat 7] [--variant full --variant ...]
    python bench/profile_core.py --profile [VARIANT] [--sessions 2000] [--top 40]

Each variant is timed (process CPU time) over `--sessions` sessions, `--repeat` times interleaved;
the minimum is the figure (a loaded machine only ever adds), with the median beside it. A variant
takes a part away or tries a change in this process (monkeypatched for its turn only): nothing here
changes rtmock's files. `--profile VARIANT` prints cProfile's view of one variant instead (without a
name: the first `--variant`).

A session is driven as `MockServer._serve` drives it: each client frame goes to the core, the
frames it answers with are taken ("sent"), and the session task pauses (as at `ws.receive`); the
core's records of that moment reach the observers then, in one `Observer.records` call each, from
a callback the first record scheduled. At the session's end, once its last records and
`session_ended` are delivered, the core is released (`SessionCore.release`), as the server does.
Any exception an observer raises fails the run, as it would be an internal error of `rtmock serve`.

Instruction counts (steadier than time on a loaded machine): run it under valgrind's callgrind at
two session counts and take the difference, e.g.

    valgrind --tool=callgrind --callgrind-out-file=/dev/null python bench/profile_core.py \\
        --variant core --repeat 1 --warmup 20 --sessions 100      # then --sessions 300

each run's "Collected :" line on stderr, (second - first) / 200 = instructions per session.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import json
import pstats
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from _common import SEED
from bench_sessions import RESPONSE_CREATE, SESSION_UPDATE, USER_MESSAGE

from rtmock.harness.judging.live import LiveJudge
from rtmock.harness.reports.serve_log import LogLevel, LogLines, ServeLog
from rtmock.mockserver.core import session
from rtmock.mockserver.core.events import Dialect, IdSource
from rtmock.mockserver.core.records import Direction, Record, _clip, visible
from rtmock.mockserver.core.session import Action, Send, SendRun, SessionCore
from rtmock.mockserver.net.server import Moments, Observer, SessionInfo, tell_observers
from rtmock.mockserver.scenario.loader import LoadedScenario, load_scenario

#: the client's frames, encoded once: the client's work is not the server's
CLIENT_FRAMES = [json.dumps(event) for event in (SESSION_UPDATE, USER_MESSAGE, RESPONSE_CREATE)]
RESPONSE_CREATE_FRAME = json.dumps(RESPONSE_CREATE)
CALL_DONE = '{"type":"response.function_call_arguments.done"'


class Observers:
    """What `rtmock serve` attaches (the judge, then the log told of its findings), built per
    variant; `errors` holds what an observer raised (an internal error in serve)."""

    def __init__(self, *, judge: bool, log: LogLevel | None) -> None:
        self.list: list[Observer] = []
        self.judge: LiveJudge | None = None
        self.errors: list[str] = []
        self.sink = tempfile.TemporaryFile("w")  # noqa: SIM115 - a regular file, as serve's stdout redirected
        if judge:
            self.judge = LiveJudge(keep_sessions=False)
            self.list.append(self.judge)
            if log is not None:
                serve_log = ServeLog(LogLines(self.sink), log)
                serve_log.attach(self.judge)
                self.list.append(serve_log)

    def notify(self, method: str, *args: Any) -> None:
        """As `MockServer._notify`: an observer that raises is kept, and the others still hear."""
        for observer in self.list:
            try:
                getattr(observer, method)(*args)
            except Exception as exc:
                self.failed(observer, method, exc)

    def failed(self, observer: Any, method: str, exc: Exception) -> None:
        if len(self.errors) < 5:
            self.errors.append(f"{type(observer).__name__}.{method}: {type(exc).__name__}: {exc}")


async def play(scenario: LoadedScenario, observers: Observers, number: int) -> None:
    """One get_your_info session through the core, as `MockServer._serve` drives it (see the module
    doc); serve keeps no finished session (`keep_sessions=False`), so neither does this."""
    info = SessionInfo(number=number, id="", scenario=scenario, dialect=Dialect.GA,
                       request_path="/v1/realtime?model=gpt-realtime", started_at="2026-12-01T00:00:00.000+00:00")
    loop = asyncio.get_running_loop()
    moments = Moments(lambda records: tell_observers(observers.list, info, records, observers.failed))

    async def execute(actions: list[Action]) -> list[str]:
        """The frames the server writes, then the session task's pause (its next `ws.receive`)."""
        sent: list[str] = []
        while True:
            for action in actions:
                if isinstance(action, Send):
                    sent.append(action.text)
                elif isinstance(action, SendRun):
                    sent.extend(action.texts)
                else:
                    raise SystemExit(f"FAILED: session {number}: the server closed it ({action})")
            deadline = core.next_deadline
            if deadline is None or deadline > clock():
                break
            actions = core.advance(clock())  # a script timer fell due: the server goes on at once
        await asyncio.sleep(0)
        return sent

    clock = loop.time
    core = SessionCore(scenario, Dialect.GA, moments.add, ids=IdSource(None), model="gpt-realtime", started=clock(),
                       refusal=None, default_within=None)
    info.core = core
    info.id = core.session["id"]
    passed = observers.judge.passed if observers.judge is not None else 0
    try:
        observers.notify("session_started", info)
        await execute(core.start(clock()))
        for frame in CLIENT_FRAMES:
            sent = await execute(core.receive(frame, clock()))
        done = next((text for text in sent if text.startswith(CALL_DONE)), None)
        if done is None:
            raise SystemExit(f"FAILED: session {number}: no function call: {sent[-3:]}")
        output = {"type": "conversation.item.create",
                  "item": {"type": "function_call_output", "call_id": json.loads(done)["call_id"],
                           "output": '{"food": "pizza"}'}}
        await execute(core.receive(json.dumps(output), clock()))
        sent = await execute(core.receive(RESPONSE_CREATE_FRAME, clock()))
        if not core.complete or not any(text.startswith('{"type":"response.done"') for text in sent):
            raise SystemExit(f"FAILED: session {number} did not complete: {sent[-3:]}")
        core.client_closed(clock(), 1000, "")  # the client's close frame
    finally:
        if not core.closed:
            core.client_closed(clock(), None, "")
        moments.deliver()
        info.ended = True
        observers.notify("session_ended", info)
        core.release()  # as the server: freed by reference counting, not left for the cyclic collector
    await asyncio.sleep(0)  # the server's `await ws.close()`: what the session scheduled runs
    if observers.errors:
        raise SystemExit(f"FAILED: session {number}: an observer raised (an internal error in rtmock serve): "
                         + "; ".join(observers.errors))
    if observers.judge is not None and (observers.judge.failed or observers.judge.passed != passed + 1):
        raise SystemExit(f"FAILED: session {number}'s verdict is not PASS")


# ---- variants --------------------------------------------------------------------------------------


@contextlib.contextmanager
def nothing() -> Iterator[None]:
    yield


@contextlib.contextmanager
def no_validation() -> Iterator[None]:
    """Client events parsed, not checked against _shapes.json (wrong: an invalid event would be taken)."""
    with mock.patch.object(session, "validate_client_event", lambda text, dialect: json.loads(text)):
        yield


@contextlib.contextmanager
def no_copy() -> Iterator[None]:
    """No copy at all (wrong: the session's state would share the client's later objects): the upper
    bound of the copies left (items the client creates, session.update merged, a response's output),
    patched in every core module that imports json_copy."""
    modules = [module for name, module in sys.modules.items()
               if name.startswith("rtmock.mockserver.core.") and hasattr(module, "json_copy")]
    if not modules:
        raise SystemExit("FAILED: no core module imports json_copy any more: core-no-copy measures nothing")
    with contextlib.ExitStack() as stack:
        for module in modules:
            stack.enter_context(mock.patch.object(module, "json_copy", _same))
        yield


def _same(value: Any) -> Any:
    return value


@contextlib.contextmanager
def no_schedule() -> Iterator[None]:
    """LiveJudge sets no timer (wrong: a missing message would wait for the end): the upper bound
    of keeping each session's next bound on the loop."""
    with mock.patch.object(LiveJudge, "_schedule", lambda self, judged: None):
        yield


_RECORD_STR = Record.__str__


def _wire_str(self: Record) -> str:
    """Record.__str__ from the frame's wire text, when the record keeps it (server frames) and it
    is not long: the fields after `type` and `event_id` as they went out, clipped to 160, instead of
    parsing the text (if nobody did yet), shrinking the event and encoding it again. The line
    differs from today's: long strings inside are not clipped to 48 characters each. Other records
    get today's line."""
    text = self.text
    if text is None or self.direction is not Direction.SERVER or len(text) >= 4096 \
            or not text.startswith('{"type":') or ',"event_id":"' not in text[:120]:
        return _RECORD_STR(self)
    head = text.index(',"event_id":"') + 13
    cut = text.find('",', head)
    kind = self.type
    rest = "{" + text[cut + 2:] if cut != -1 else "{}"
    body = visible(_clip(f"{kind} {rest}" if rest != "{}" else kind, 160))
    return f"#{self.index} {self.time * 1000:8.1f}ms ←S {body}"


@contextlib.contextmanager
def wire_lines() -> Iterator[None]:
    """The serve log's lines of server frames cut from their wire text (see _wire_str)."""
    with mock.patch.object(Record, "__str__", _wire_str):
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
    "full-no-schedule": ("as full, no judge timers (upper bound)", lambda: Observers(judge=True, log=LogLevel.EVENTS),
                         no_schedule),
    "full-wire-lines": ("as full, log lines of server frames cut from their wire text",
                        lambda: Observers(judge=True, log=LogLevel.EVENTS), wire_lines),
}


async def run_variant(variant: str, scenario: LoadedScenario, sessions: int, first: int) -> float:
    """CPU seconds (process time) of `sessions` sessions of one variant."""
    with VARIANTS[variant][2]():
        observers = VARIANTS[variant][1]()
        try:
            began = time.process_time()
            for number in range(first, first + sessions):
                await play(scenario, observers, number)
            return time.process_time() - began
        finally:
            observers.sink.close()


async def measure(args: argparse.Namespace) -> None:
    scenario = load_scenario(SEED)
    number = 1
    for variant in args.variant:  # warm-up: the validator's and the judge's first calls, caches
        await run_variant(variant, scenario, args.warmup, number)
        number += args.warmup
    if args.profile is not None:
        variant = args.variant[0]
        profile = cProfile.Profile(time.process_time)
        with VARIANTS[variant][2]():
            observers = VARIANTS[variant][1]()
            try:
                profile.enable()
                for _ in range(args.sessions):
                    await play(scenario, observers, number)
                    number += 1
                profile.disable()
            finally:
                observers.sink.close()
        stats = pstats.Stats(profile)
        if args.save:
            stats.dump_stats(args.save)
        print(f"{variant}: {stats.total_tt / args.sessions * 1000:.3f} ms profiled per session")  # type: ignore[attr-defined]
        stats.sort_stats("tottime").print_stats(args.top)
        stats.sort_stats("cumulative").print_stats(args.top)
        return
    times: dict[str, list[float]] = {v: [] for v in args.variant}
    for _ in range(args.repeat):
        for variant in args.variant:
            spent = await run_variant(variant, scenario, args.sessions, number)
            number += args.sessions
            times[variant].append(spent / args.sessions * 1000)
    base = min(times[args.variant[0]])
    for variant in args.variant:
        best = min(times[variant])
        print(f"{variant:>20}: {best:.3f} ms/session (median {statistics.median(times[variant]):.3f}), "
              f"{base - best:+.3f} ms against {args.variant[0]}: {VARIANTS[variant][0]}", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0], formatter_class=argparse.RawTextHelpFormatter,
                                     epilog="variants:\n" + "\n".join(f"  {name}: {v[0]}" for name, v in VARIANTS.items()))
    parser.add_argument("--sessions", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--warmup", type=int, default=50, help="unmeasured sessions per variant first")
    parser.add_argument("--variant", action="append", choices=list(VARIANTS), help="repeatable; default: all")
    parser.add_argument("--profile", nargs="?", const="", choices=["", *VARIANTS], metavar="VARIANT",
                        help="cProfile VARIANT (default: the first --variant) instead")
    parser.add_argument("--save", metavar="FILE", help="with --profile: keep the profile (pstats) in FILE")
    parser.add_argument("--top", type=int, default=40)
    args = parser.parse_args(argv)
    args.variant = args.variant or list(VARIANTS)
    if args.profile:
        args.variant = [args.profile]
    asyncio.run(measure(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
