"""`rtmock fuzz` on the command line: its arguments, and fuzzing each scenario given in turn.

    rtmock fuzz scenarios/a.yaml scenarios/b.yaml --cases 200 --seed 1 -- python my_client.py

Every scenario named is fuzzed, one after the other, each with its own report and reproducer; all of
them are read first, so a missing or broken one stops the run before anything is fuzzed (exit 2,
one line per problem). The fuzzing itself is `fuzz.py`'s; what is printed and written, `_fuzz_report.py`'s.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from ...mockserver.errors import UsageError
from ...mockserver.scenario.loader import LoadedScenario, load_scenario
from ..bounds import duration_argument
from ..bundled import load_scenarios
from ._cases import fuzz_targets
from .payloads import CHARS_PER_TOKEN, DEFAULT_MAX_OUTPUT_TOKENS, max_argument_chars

if TYPE_CHECKING:
    from ._report import ProgressLine
    from ._result import FuzzOptions, SearchResult
    from ._stream import StreamResult
    from .fuzz import FuzzResult

__all__ = ["add_fuzz_arguments", "fuzz_main", "parse_fuzz_args"]

ResultT = TypeVar("ResultT", bound="SearchResult[Any]")

USAGE = "rtmock fuzz SCENARIO... [options] -- COMMAND [ARGS...]"


def add_fuzz_arguments(parser: argparse.ArgumentParser) -> None:
    parser.usage = USAGE
    parser.description = ("Generate function-call arguments (valid, schema-violating and hostile JSON, in random "
                          "delta chunks) and judge the client's answer to each; a failure is shrunk to a minimal "
                          "payload and written as a reproducer scenario for `rtmock run`. Each scenario given is "
                          "fuzzed in turn. By default only what the service could send: a response's arguments "
                          "are bounded by the model's output tokens (--max-output-tokens, at ~4 characters a "
                          "token); --hostile goes past that.")
    parser.epilog = ("A client is restarted for each case, unless it reconnects after the server closes a passing "
                     "case's session (1000, 'rtmock: case done'): then it is reused, much faster. Clients see "
                     "RTMOCK_FUZZ=1 and may loop until the close reason is 'rtmock: fuzzing done'. "
                     "Exit: 0 no failing case, 1 a failing case, 2 a usage or scenario error.")
    parser.add_argument("scenario", nargs="+", help="the scenario .yaml files whose function calls are fuzzed")
    parser.add_argument("--stream", action="store_true",
                        help="fuzz how the service streams the scenario's calls instead of their arguments: parallel "
                             "calls, delta chunking, rate_limits.updated and unknown event types (also between a "
                             "response's items), server errors and pauses between responses, text answers "
                             "incomplete or failed (only what the service "
                             "may legally send); the reproducer is the failing variant scenario")
    parser.add_argument("--call", metavar="ID", help="fuzz only this call: its id label, call_id or tool name")
    parser.add_argument("--cases", type=int, default=100, metavar="N",
                        help="cases to generate per scenario (default 100)")
    parser.add_argument("--seed", type=int, metavar="S", help="the same seed gives the same cases (default: random)")
    parser.add_argument("--max-time", type=duration_argument, metavar="SECONDS",
                        help="stop generating after this long (per scenario, counted after its first case)")
    parser.add_argument("--reproducer", metavar="PATH",
                        help="where to write the reproducer scenario (default: <scenario>.repro.yaml here; with "
                             "several scenarios, a directory)")
    parser.add_argument("--json", metavar="FILE", help="write machine-readable results")
    parser.add_argument("--junit", metavar="FILE", help="write JUnit XML for CI")
    parser.add_argument("--html", metavar="FILE",
                        help="write the HTML timeline of each minimal failing case, replayed from its reproducer "
                             "(of the scenario's own arguments when no case failed)")
    parser.add_argument("--max-output-tokens", type=int, default=DEFAULT_MAX_OUTPUT_TOKENS, metavar="N",
                        help="only payloads a response of N output tokens can carry, at an estimated "
                             f"{CHARS_PER_TOKEN} characters a token (default {DEFAULT_MAX_OUTPUT_TOKENS}, "
                             "gpt-realtime's limit: arguments up to "
                             f"{max_argument_chars(DEFAULT_MAX_OUTPUT_TOKENS):,} characters; gpt-realtime-2 allows "
                             "32000; give your session's max_output_tokens if it sets one)")
    parser.add_argument("--hostile", action="store_true",
                        help="also payloads past what the service can send (1 MB strings, 100 000 levels of "
                             "nesting): a test of the client's own defences; failures on them are marked hostile")
    parser.add_argument("--within", type=duration_argument, metavar="SECONDS",
                        help="cap every bound of the scenario while fuzzing (a silent client fails faster)")
    parser.add_argument("--no-reuse", dest="reuse", action="store_false",
                        help="a fresh client process for every case, even one that reconnects")
    parser.add_argument("--connect-timeout", type=duration_argument, default=15.0, metavar="SECONDS",
                        help="seconds a client may take to open its session (default 15)")


def parse_fuzz_args(argv: Sequence[str]) -> argparse.Namespace:
    """`rtmock fuzz`'s argument parsing on its own (the CLI splits at '--' the same way)."""
    argv = list(argv)
    command: list[str] = []
    if "--" in argv:
        at = argv.index("--")
        argv, command = argv[:at], argv[at + 1:]
    parser = argparse.ArgumentParser(prog="rtmock fuzz")
    add_fuzz_arguments(parser)
    args = parser.parse_args(argv)
    args.command = command
    return args


def _reproducer_paths(args: argparse.Namespace) -> list[Path]:
    """Where each scenario's reproducer goes: `--reproducer` (a file for one scenario, a directory for
    several), else `<stem>.repro.yaml` in the working directory (`<stem>-2.repro.yaml`... for a stem
    seen before)."""
    given = Path(args.reproducer) if args.reproducer else None
    if given is not None and len(args.scenario) == 1 and not given.is_dir():
        return [given]
    if given is not None and given.exists() and not given.is_dir():
        raise UsageError(f"--reproducer {given}: with {len(args.scenario)} scenarios, give a directory")
    folder = given if given is not None else Path.cwd()
    paths, seen = [], set()
    for scenario in args.scenario:
        stem, n = Path(scenario).stem, 1
        while (name := f"{stem}{f'-{n}' if n > 1 else ''}.repro.yaml") in seen:
            n += 1
        seen.add(name)
        paths.append(folder / name)
    return paths


def _print(text: str) -> None:
    """Print a report; a reader that left (`| head`) must not change the exit code the run earned."""
    try:
        print(text, flush=True)
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


async def fuzz_main(args: argparse.Namespace) -> int:
    import random

    from ._report import render_report, write_json, write_junit
    from .fuzz import FuzzOptions, fuzz

    command = list(args.command or [])
    if not command:
        raise UsageError("no command to fuzz: write it after '--', e.g. rtmock fuzz scenario.yaml -- python client.py")
    options = FuzzOptions(cases=args.cases, seed=args.seed, max_time=args.max_time, call=args.call,
                          reuse=args.reuse, within=args.within, connect_timeout=args.connect_timeout,
                          max_output_tokens=args.max_output_tokens, hostile=args.hostile)
    options.check()
    scenarios = load_scenarios(args.scenario)
    targets = [fuzz_targets(loaded, args.call, max_output_tokens=options.max_output_tokens)
               for loaded in scenarios]  # a usage error before any fuzzing
    reproducers = _reproducer_paths(args)
    if options.seed is None:  # one seed for the run, printed with each scenario's report
        options = replace(options, seed=random.SystemRandom().randrange(2**32))
    if args.stream:
        return await _stream_main(args, command, options, scenarios, reproducers)
    headings = [f"rtmock fuzz: {loaded.path or loaded.name}, calls: {', '.join(map(str, calls))}"
                for loaded, calls in zip(scenarios, targets, strict=True)]

    async def one(loaded: LoadedScenario, line: ProgressLine) -> FuzzResult:
        return await fuzz(loaded, command, options, progress=line.update, progress_interval=line.interval)

    results = await _fuzz_each(scenarios, headings, reproducers, one, render_report)
    if args.json:
        write_json(results if len(results) > 1 else results[0], args.json)
    if args.junit:
        write_junit(results, args.junit)
    if args.html:
        await _write_replay_html(results, command, args.html, within=args.within)
    return 0 if all(r.passed for r in results) else 1


async def _stream_main(args: argparse.Namespace, command: list[str], options: FuzzOptions,
                       scenarios: Sequence[LoadedScenario], reproducers: Sequence[Path]) -> int:
    """`--stream`: the same options, exit codes and reproducers, for variations of the stream."""
    from ._stream import fuzz_stream, render_stream_report

    async def one(loaded: LoadedScenario, line: ProgressLine) -> StreamResult:
        return await fuzz_stream(loaded, command, options, progress=line.update, progress_interval=line.interval)

    headings = [f"rtmock fuzz --stream: {loaded.path or loaded.name}" for loaded in scenarios]
    results = await _fuzz_each(scenarios, headings, reproducers, one, render_stream_report)
    if args.json:
        _write_stream_json(results, Path(args.json))
    if args.junit:
        _write_stream_junit(results, Path(args.junit))
    if args.html:
        await _write_replay_html(results, command, args.html, within=args.within)
    return 0 if all(r.passed for r in results) else 1


async def _fuzz_each(scenarios: Sequence[LoadedScenario], headings: Sequence[str], reproducers: Sequence[Path],
                     fuzz_one: Callable[[LoadedScenario, ProgressLine], Awaitable[ResultT]],
                     render: Callable[..., str]) -> list[ResultT]:
    """Fuzz each scenario in turn (`fuzz_one`), with a heading and a progress line on stderr; write
    a failure's reproducer, print the report (`render(result, color=...)`)."""
    from ._report import ProgressLine

    results: list[ResultT] = []
    for index, (loaded, heading, reproducer) in enumerate(zip(scenarios, headings, reproducers, strict=True)):
        line = ProgressLine(sys.stderr, loaded.name)
        print(heading, file=sys.stderr, flush=True)
        result = await fuzz_one(loaded, line)
        line.close()
        if result.failure is not None:
            result.write_reproducer(_relative(reproducer))
        _print(("\n" if index else "") + render(result, color=line.color))
        results.append(result)
    return results


def _write_stream_json(results: Sequence[StreamResult], path: Path) -> None:
    import json

    def one(r: StreamResult) -> dict[str, object]:
        failure = r.failure
        return {"scenario": str(r.scenario.path or r.scenario.name), "mode": "stream", "passed": r.passed,
                "seed": r.seed, "cases": r.cases, "generated": r.generated, "failing_cases": r.failing_cases,
                "duration": round(r.duration, 3), "reproducer": str(r.reproducer) if r.reproducer else None,
                "failure": None if failure is None else {
                    "variation": list(failure.case.notes) if failure.case else [],
                    "findings": [{"rule": f.rule.value, "message": f.message} for f in failure.findings]},
                "table": [{"variation": k, "verdict": v, "cases": n} for (k, v), n in sorted(r.table.items())]}

    data = [one(r) for r in results]
    path.write_text(json.dumps(data if len(data) > 1 else data[0], indent=2) + "\n", encoding="utf-8")


def _write_stream_junit(results: Sequence[StreamResult], path: Path) -> None:
    from xml.etree import ElementTree as ET

    root = ET.Element("testsuites", name="rtmock fuzz --stream")
    for r in results:
        name = str(r.scenario.path or r.scenario.name)
        suite = ET.SubElement(root, "testsuite", name=name, tests="1", failures="0" if r.passed else "1")
        case = ET.SubElement(suite, "testcase", classname=name, name="stream variations", time=f"{r.duration:.3f}")
        if not r.passed:
            failed = ET.SubElement(case, "failure", message=(r.failure.rule or "failed") if r.failure else "baseline")
            failed.text = render_text(r)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)


def render_text(result: StreamResult) -> str:
    from ._stream import render_stream_report

    return render_stream_report(result)


async def _write_replay_html(results: Sequence[SearchResult[Any]], command: list[str], path: str, *,
                             within: float | None) -> None:
    """Reproducers are deterministic: replay each once under `rtmock run`'s rules and draw that."""
    from ..reports.summary import write_html
    from ..runner import RunOptions, run_scenario

    replays = []
    for result in results:
        scenario = load_scenario(result.reproducer) if result.reproducer else result.scenario
        replay = await run_scenario(scenario, command, RunOptions(within=within, grace=0.5))
        replays.append(replay)
        print(f"rtmock fuzz: {scenario.path or scenario.name}: "
              f"{'the minimal failing case' if result.reproducer else 'the baseline'} replayed: "
              f"{'PASS' if replay.passed else 'FAIL'}", file=sys.stderr)
    write_html(replays, path)
    print(f"rtmock fuzz: wrote {path}", file=sys.stderr)


def _relative(path: Path) -> Path:
    with contextlib.suppress(ValueError):
        return path.resolve().relative_to(Path.cwd())
    return path
