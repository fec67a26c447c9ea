"""Where `rtmock serve`'s CPU goes, per session: `rtmock serve scenarios/get_your_info.yaml` itself (its
own code, run by `harness.cli.main` in a server process of ours) played by bench_sessions.py's client
(this process), whole sessions one after another.

    python bench/profile_sessions.py [--sessions 1000] [--rounds 3] [--variant serve --variant ...]
    python bench/profile_sessions.py --profile [VARIANT] [--sessions 1000] [--top 40]

Without `--profile`: each variant's server CPU per session (ms, /proc) and sessions/s over interleaved
rounds, median (range), and what it saves against the first variant, paired by round. With it:
VARIANT (without one, the first `--variant`) under cProfile, from after the warm-up to after the last
verdict, with the functions that take the most time of their own and the most in all they call
(cProfile inflates every call: read shares and call counts, and measure a saving with a variant).

A variant takes a part away (an upper bound of what making that part free would save) or tries a
change, monkeypatched into the server process before it starts; nothing here changes rtmock's files.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import os
import pstats
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, ExitStack
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from _common import SEED, BenchFailed
from bench_sessions import BARE_SERVER, Server, capture_batches, play, settle, start

# ---- variants: what the server process changes before `rtmock serve` starts ------------------------


def _no_validation() -> None:
    from rtmock.mockserver.core import session

    session.validate_client_event = lambda text, dialect: json.loads(text)  # type: ignore[attr-defined]


def _no_judge() -> None:
    """The judge is told of sessions starting and ending, and sees none of their records."""
    from rtmock.harness.judging.live import LiveJudge

    LiveJudge.records = lambda self, session, records: None  # type: ignore[method-assign]
    LiveJudge.record = lambda self, session, record: None  # type: ignore[method-assign]


def _gc_freeze() -> None:
    """What was allocated before serving (imports, the scenario) leaves the collector's sight:
    gc.freeze() once the server listens, so that no collection walks it again."""
    import gc

    from rtmock.mockserver.net.server import MockServer

    start = MockServer.start

    async def start_then_freeze(self: MockServer) -> MockServer:
        started = await start(self)
        gc.collect()
        gc.freeze()
        return started

    MockServer.start = start_then_freeze  # type: ignore[method-assign]


def _gc_off() -> None:
    import gc

    gc.disable()


def _replay_core() -> None:
    """The server's I/O layer alone: SessionCore replaced by a replay of the frames in
    $RTMOCK_FRAMES (batch 0 on start, batch k on the client's k-th frame), as the bare server does;
    no record, so no judge and no log line."""
    from rtmock.mockserver.core.session import Send
    from rtmock.mockserver.net import server

    batches: list[list[str]] = []

    class ReplayCore:
        """What `MockServer._serve` asks of a SessionCore, and no more."""

        next_deadline = None

        def __init__(self, scenario: Any, dialect: Any, on_record: Callable[[Any], None], *,
                     started: float = 0.0, **_: Any) -> None:
            if not batches:
                batches.extend(json.loads(Path(os.environ["RTMOCK_FRAMES"]).read_text(encoding="utf-8")))
            self.on_record = on_record  # never called: no record
            self.started = started  # the judge's clock for the session (LiveJudge.session_started)
            self.session = {"id": "sess_replay"}
            self.complete = self.closed = False
            self._next = iter(batches[1:])

        def start(self, now: float) -> list[Any]:
            return [Send(text) for text in batches[0]]

        def receive(self, text: str, now: float) -> list[Any]:
            return [Send(text) for text in next(self._next, ())]

        def receive_binary(self, data: bytes, now: float) -> list[Any]:
            return []

        def advance(self, now: float) -> list[Any]:
            return []

        def client_closed(self, now: float, code: Any, reason: str = "", **_: Any) -> None:
            self.closed = self.complete = True

        def note(self, *_: Any, **__: Any) -> None:
            pass

        def release(self) -> None:
            pass

    server.SessionCore = ReplayCore  # type: ignore[attr-defined,assignment]


#: CPU seconds spent in the core's methods and the observers' hooks, and calls (the "timed" variant)
SPENT: dict[str, list[float]] = {}


def _timed() -> None:
    """As serve, with the CPU time (process_time) of the core's calls, of the hooks the server calls
    on each observer (session_started, records per moment, session_ended) and of the serve log's
    writes (one per loop turn) summed, told at exit: the share of each inside the real server.
    ServeLog.record (a line per notable record) is timed too, inside ServeLog.records; the serve
    log's findings and verdicts are written inside LiveJudge's hooks, and counted there."""
    import functools

    from rtmock.harness.judging.live import LiveJudge
    from rtmock.harness.reports.serve_log import LogLines, ServeLog
    from rtmock.mockserver.core.session import SessionCore

    def timed(cls: type, name: str) -> None:
        method = getattr(cls, name)
        key = f"{cls.__name__}.{name}"
        SPENT[key] = [0.0, 0]

        @functools.wraps(method)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            began = time.process_time()
            try:
                return method(*args, **kwargs)
            finally:
                spent = SPENT[key]
                spent[0] += time.process_time() - began
                spent[1] += 1

        setattr(cls, name, wrapper)

    for name in ("__init__", "start", "receive", "advance", "client_closed", "release"):
        timed(SessionCore, name)
    for cls in (LiveJudge, ServeLog):
        for name in ("session_started", "records", "session_ended"):
            timed(cls, name)
    timed(LogLines, "flush")


def _wire_lines() -> None:
    """profile_core.py's wire-lines prototype: the serve log's lines of server frames cut from
    their wire text."""
    import profile_core

    _keep(profile_core.wire_lines())


def _keep(patch: AbstractContextManager[None]) -> None:
    """Enter a patch for the life of the process (a dropped one would undo itself)."""
    patch.__enter__()
    _KEPT.append(patch)


_KEPT: list[Any] = []


#: name → (what it is, extra `rtmock serve` arguments, patch, whether every verdict must be PASS)
VARIANTS: dict[str, tuple[str, list[str], Callable[[], None] | None, bool]] = {
    "serve": ("`rtmock serve` as users run it (its log to a file)", [], None, True),
    "verdicts-log": ("`--log-level verdicts`: no line per notable event", ["--log-level", "verdicts"], None, True),
    "quiet": ("`--quiet`: no line per session", ["--quiet"], None, False),
    "no-validation": ("client events parsed, not checked against _shapes.json", [], _no_validation, True),
    "gc-freeze": ("gc.freeze() once listening: collections skip start-up's objects", [], _gc_freeze, True),
    "gc-off": ("no cyclic garbage collection at all (an upper bound of its cost)", [], _gc_off, True),
    "wire-lines": ("as serve, log lines of server frames cut from their wire text (profile_core.py's "
                   "full-wire-lines)", [], _wire_lines, True),
    "timed": ("as serve, the CPU of the core's calls and of the observers' hooks summed", [], _timed, True),
    "replay-core": ("rtmock's server with a core that replays the frames: its I/O layer alone", [], _replay_core, False),
    "bare": ("bench_sessions.py's bare aiohttp server replaying the same frames", [], None, False),
    "no-judge": ("the judge sees no record (verdicts are not PASS)", [], _no_judge, False),
}


def _server_main(variant: str) -> None:
    """The server process: `rtmock serve`; SIGUSR1 starts cProfile, SIGUSR2 writes its stats to
    the path in $RTMOCK_PROFILE and says so on stderr."""
    from rtmock.harness.cli import main

    _, extra, patch, _ = VARIANTS[variant]
    if patch is not None:
        patch()
    profile = cProfile.Profile(time.process_time)  # CPU time: a loaded machine's waits are not the server's

    def dump(*_: Any) -> None:
        profile.disable()
        profile.dump_stats(os.environ["RTMOCK_PROFILE"])
        print("profile written", file=sys.stderr, flush=True)

    signal.signal(signal.SIGUSR1, lambda *_: profile.enable())
    signal.signal(signal.SIGUSR2, dump)
    sys.argv = ["rtmock", "serve", str(SEED), "--port", "0", "--no-tls", *extra]
    collections = _count_collections()
    main()
    for key, (seconds, calls) in SPENT.items():
        print(f"spent: {key}: {seconds * 1000:.0f} ms in {calls} calls", file=sys.stderr, flush=True)
    print("gc: " + ", ".join(f"generation {g}: {n} collections, {t * 1000:.0f} ms" for g, (n, t) in collections.items()),
          file=sys.stderr, flush=True)


def _count_collections() -> dict[int, list[float]]:
    """Collections by generation: [count, seconds of CPU], kept up to date by a gc callback."""
    import gc

    counts: dict[int, list[float]] = {0: [0, 0.0], 1: [0, 0.0], 2: [0, 0.0]}
    began = [0.0]

    def callback(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            began[0] = time.process_time()
        else:
            counts[info["generation"]][0] += 1
            counts[info["generation"]][1] += time.process_time() - began[0]

    gc.callbacks.append(callback)
    return counts


# ---- measuring -------------------------------------------------------------------------------------


def _start(stack: ExitStack, variant: str, tmp: Path) -> Server:
    if variant == "bare":
        return stack.enter_context(start(variant, [sys.executable, "-c", BARE_SERVER, str(tmp / "frames.json")],
                                         tmp / f"{variant}.log", r"(ws://\S+)"))
    command = [sys.executable, __file__, "--_server", variant]
    return stack.enter_context(start(variant, command, tmp / f"{variant}.log", r" on (ws://\S+)",
                                     judged=VARIANTS[variant][3]))


async def profile(args: argparse.Namespace, tmp: Path) -> None:
    prof = Path(args.save) if args.save else tmp / "serve.prof"
    os.environ["RTMOCK_PROFILE"] = str(prof)  # the server inherits it
    with ExitStack() as stack:
        if args.variant[0] in ("replay-core", "bare"):  # the frames they replay, from a server of its own
            with ExitStack() as capture:
                source = _start(capture, "serve", tmp)
                async with aiohttp.ClientSession() as http:
                    frames = await capture_batches(http, source.url)
            (tmp / "frames.json").write_text(json.dumps(frames), encoding="utf-8")
            os.environ["RTMOCK_FRAMES"] = str(tmp / "frames.json")
        server = _start(stack, args.variant[0], tmp)
        async with aiohttp.ClientSession() as http:
            await play(http, server, args.warmup, "warm-up")
            await settle(server, args.warmup, "warm-up")
            server.proc.send_signal(signal.SIGUSR1)
            await play(http, server, args.sessions, "profile")
            await settle(server, args.warmup + args.sessions, "profile")
            server.proc.send_signal(signal.SIGUSR2)
            deadline = time.monotonic() + 30
            while "profile written" not in server.log.read_text(errors="replace"):
                if time.monotonic() > deadline:
                    raise BenchFailed("the server wrote no profile")
                await asyncio.sleep(0.05)
    out = io.StringIO()
    stats = pstats.Stats(str(prof), stream=out)
    total = stats.total_tt  # type: ignore[attr-defined]
    print(f"{args.variant[0]}: {args.sessions} sessions profiled, {total / args.sessions * 1000:.2f} ms of "
          "profiled time per session", flush=True)
    stats.sort_stats("tottime").print_stats(args.top)
    stats.sort_stats("cumulative").print_stats(args.top)
    print(out.getvalue())


async def compare(args: argparse.Namespace, tmp: Path) -> None:
    from bench_sessions import cpu_seconds

    with ExitStack() as stack:
        first = _start(stack, args.variant[0], tmp)
        played = dict.fromkeys(args.variant, 0)
        async with aiohttp.ClientSession() as http:
            # the frames the replaying servers send: this session of the first variant's
            (tmp / "frames.json").write_text(json.dumps(await capture_batches(http, first.url)), encoding="utf-8")
            os.environ["RTMOCK_FRAMES"] = str(tmp / "frames.json")
            played[first.name] += 1
            servers = [first, *(_start(stack, v, tmp) for v in args.variant[1:])]
            for server in servers:
                await play(http, server, args.warmup, "warm-up")
                played[server.name] += args.warmup
                await settle(server, played[server.name], "warm-up")
            for round_ in range(args.rounds):
                turn = round_ % len(servers)
                for server in servers[turn:] + servers[:turn]:
                    before = cpu_seconds(server.proc.pid)
                    began = time.perf_counter()
                    await play(http, server, args.sessions, f"round {round_ + 1}")
                    took = time.perf_counter() - began
                    played[server.name] += args.sessions
                    await settle(server, played[server.name], f"round {round_ + 1}")
                    server.cpu_ms.append((cpu_seconds(server.proc.pid) - before) / args.sessions * 1000)
                    server.rates.append(args.sessions / took)
                print(f"round {round_ + 1}: " + " | ".join(f"{s.name} {s.cpu_ms[-1]:.2f} ms {s.rates[-1]:.0f}/s"
                                                           for s in servers), flush=True)
        for server in servers:
            server.proc.send_signal(signal.SIGINT)
            server.proc.wait(10)
            gc_line = [line for line in server.log.read_text(errors="replace").splitlines() if line.startswith("gc: ")]
            print(f"{server.name:>14}: {played[server.name]} sessions, {gc_line[0] if gc_line else 'gc: ?'}")
            for line in server.log.read_text(errors="replace").splitlines():
                if line.startswith("spent: "):
                    key, rest = line[7:].split(": ", 1)
                    print(f"{'':>16}{key}: {float(rest.split()[0]) / played[server.name]:.3f} ms/session ({rest})")
    base = servers[0]
    for server in servers:
        saved = [b - s for b, s in zip(base.cpu_ms, server.cpu_ms, strict=True)]
        print(f"{server.name:>14}: server CPU/session {_spread(server.cpu_ms)} ms, {_spread(server.rates, 0)} "
              f"sessions/s, saves {_spread(saved)} ms against {base.name}: {VARIANTS[server.name][0]}", flush=True)


def _spread(values: list[float], digits: int = 2) -> str:
    return f"{statistics.median(values):.{digits}f} ({min(values):.{digits}f}–{max(values):.{digits}f})"


def main() -> int:
    if len(sys.argv) == 3 and sys.argv[1] == "--_server":
        _server_main(sys.argv[2])
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0], formatter_class=argparse.RawTextHelpFormatter,
                                     epilog="variants:\n" + "\n".join(f"  {name}: {v[0]}" for name, v in VARIANTS.items()))
    parser.add_argument("--sessions", type=int, default=1000, help="per variant per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--variant", action="append", choices=list(VARIANTS), help="repeatable; default: all")
    parser.add_argument("--profile", nargs="?", const="", choices=["", *VARIANTS], metavar="VARIANT",
                        help="cProfile VARIANT (default: the first --variant) instead")
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--save", metavar="FILE", help="keep the profile (pstats) in FILE")
    args = parser.parse_args()
    args.variant = args.variant or list(VARIANTS)
    if args.profile:
        args.variant = [args.profile]
    try:
        with tempfile.TemporaryDirectory() as tmp:
            asyncio.run(profile(args, Path(tmp)) if args.profile is not None else compare(args, Path(tmp)))
    except BenchFailed as exc:
        print(f"FAILED: {exc}", flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
