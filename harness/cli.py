"""The `rtmock` command line: serve, run, check, fuzz, report, lint, schema, proxy, scenario.

Exit codes: 0 all passed, 1 a finding (the client's fault), 2 a usage or scenario error (ours or
the user's: one line, no traceback), 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from ..mockserver.core.records import Record, TranscriptError

# Light imports only at the top: `rtmock run` starts the client before it loads aiohttp and
# pydantic (see client_process.prepare_run), and `rtmock lint --help` should not pay for them.
from ..mockserver.errors import RtmockError, ScenarioError, UsageError
from .bounds import (
    SCALE_BOUNDS_ENV,
    duration_argument,
    environment_factor,
    scale_bounds_factor,
    scaled_within,
)
from .bundled import load_scenarios

if TYPE_CHECKING:
    from ..mockserver.net.server import SessionInfo
    from ..mockserver.scenario.loader import LoadedScenario
    from .client_process import PreparedRun
    from .proxy import ProxiedResult
    from .runner import RunOptions, RunResult

__all__ = ["main"]

_Scenario = TypeVar("_Scenario", "LoadedScenario", "LoadedScenario | None")
_Result = TypeVar("_Result", bound="RunResult")

EXIT_PASS, EXIT_FINDING, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

ENV_HELP = """environment given to the command (and printed by `rtmock serve`):
  RTMOCK_URL              ws://127.0.0.1:PORT/v1/realtime?model=gpt-realtime  (the plain websocket URL)
  RTMOCK_WSS_URL          the same over TLS (wss://)
  OPENAI_BASE_URL         http://127.0.0.1:PORT/v1  (the official SDKs derive …/v1/realtime from it)
  OPENAI_WEBSOCKET_BASE_URL  ws://127.0.0.1:PORT/v1 (for clients built with websocket_base_url)
  OPENAI_API_KEY          a dummy key when unset (the server wants a key header, any value)
  AZURE_OPENAI_ENDPOINT   http://127.0.0.1:PORT     (Azure clients: /openai/realtime?api-version=…&deployment=…)
  AZURE_OPENAI_API_KEY    a dummy key
  AZURE_VOICELIVE_ENDPOINT, AZURE_VOICELIVE_API_KEY
                          the same, for azure-ai-voicelive clients (they dial …/voice-live/realtime)
  SSL_CERT_FILE, NODE_EXTRA_CA_CERTS, RTMOCK_CA_FILE
                          the CA of the server's TLS side, for clients that insist on wss://
  NO_PROXY, no_proxy      extended with 127.0.0.1, localhost, ::1
"""


# ---- serve ------------------------------------------------------------------------------------------


async def _serve(args: argparse.Namespace) -> int:
    import asyncio
    import gc

    from ..mockserver.net.server import MockServer, client_environment
    from .judging.live import LiveJudge
    from .reports.serve_log import LogLevel, LogLines, ServeLog, banner_lines

    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"rtmock: warning: listening on {args.host}: anyone who can reach it can use this server", file=sys.stderr)
    scenarios = load_scenarios(args.scenario, scale_bounds=args.scale_bounds)
    # a long-running server keeps no finished session: the log and the transcripts have them
    server = MockServer(scenarios, host=args.host, port=args.port, tls=not args.no_tls, record_dir=args.record,
                        require_auth=not args.no_auth, api_key=args.api_key, seed=args.seed, keep_sessions=False)
    out = LogLines()
    log = ServeLog(out, LogLevel.QUIET if args.quiet else LogLevel(args.log_level))
    judge = LiveJudge(keep_sessions=False)
    log.attach(judge)
    server.observers.append(judge)
    server.observers.append(log)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await out.open()
    try:
        async with server:
            first = None if len(scenarios) == 1 else scenarios[0].name
            for line in banner_lines(server, scenarios, client_environment(server, first)):
                out.line(line)
            if args.scale_bounds != 1:
                out.line(f"  every bound is {args.scale_bounds:g} times the scenario's (--scale-bounds)")
            # what start-up made (imports, the scenarios, their models) lives as long as the server:
            # out of the cyclic collector's sight, its full collections walk only the sessions' objects
            gc.collect()
            gc.freeze()
            await stop.wait()
    finally:
        out.close()
    print(f"rtmock: stopped ({judge.passed} session(s) passed, {judge.failed} failed)", file=sys.stderr)
    for lost in server.recording_errors[:5]:
        print(f"rtmock: not recorded: {lost}", file=sys.stderr)
    return EXIT_INTERRUPTED


def _print_summary(summary: Any, results: Sequence[Any]) -> None:
    """Print the verdicts; a reader that left (`| head`) must not change the exit code they earned."""
    try:
        summary(results)
        sys.stdout.flush()
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def _exit_code(results: Sequence[RunResult]) -> int:
    """0 all passed, 1 a finding; 2 when the verdict is not the client's to have: a bug in rtmock,
    transcripts that could not be written, or (through the relay) an upstream that failed."""
    bugs = [e for r in results for e in r.internal_errors]
    if bugs:
        print(f"rtmock: internal error, a bug in rtmock and not in your client ({bugs[0]}); "
              "the verdict cannot be trusted. Please report it with the transcript.", file=sys.stderr)
        return EXIT_USAGE
    lost = [e for r in results for e in r.recording_errors]
    if lost:
        print("rtmock: transcripts could not be written (the verdicts above stand: they were judged as the "
              f"sessions ran): {lost[0]}" + (f" (and {len(lost) - 1} more)" if len(lost) > 1 else ""), file=sys.stderr)
        return EXIT_USAGE
    if any(r.upstream_failed for r in results):
        return EXIT_USAGE
    if any(r.not_played for r in results):  # rtmock's limit
        print("rtmock: the client sent an event rtmock does not play (not-played-by-rtmock, above): the verdict "
              "is not your client's to have", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_PASS if all(r.passed for r in results) else EXIT_FINDING


# ---- run / check ------------------------------------------------------------------------------------


def _check_report_paths(args: argparse.Namespace) -> None:
    """Say before the run, not after it, that a report could not be written where asked: a folder on
    its path is a file, or the path is a folder."""
    for option in ("json", "junit", "html"):
        given = getattr(args, option, None)
        if not given:
            continue
        path = Path(given)
        if path.is_dir():
            raise UsageError(f"--{option} {given}: that is a folder; name the file to write, e.g. {path / ('rtmock.' + ('xml' if option == 'junit' else option))}")
        for parent in path.parents:
            if parent.exists():
                if not parent.is_dir():
                    raise UsageError(f"--{option} {given}: {parent} is a file, not a folder")
                break


def _write_reports(args: argparse.Namespace, results: Sequence[_Result], *,
                   write_json: Callable[[Sequence[_Result], str], None] | None = None) -> None:
    """`--json`, `--junit`, `--html`; `write_json` for results with more to say than a `RunResult`."""
    from .reports import summary as reports

    if getattr(args, "json", None):
        (write_json or reports.write_json)(results, args.json)
    if getattr(args, "junit", None):
        reports.write_junit(results, args.junit)
    if getattr(args, "html", None):
        reports.write_html(results, args.html)


async def _run(args: argparse.Namespace) -> int:
    from .reports.summary import console_summary
    from .runner import run_scenario

    if args.upstream:  # against the real service, through the relay (harness/proxy.py)
        from .proxy import print_upstream_problems, run_proxied, upstream_key, write_proxied_json

        key = upstream_key()

        async def proxied(scenario: LoadedScenario | None, options: RunOptions) -> ProxiedResult:
            return await run_proxied(args.upstream, args.command, scenario, options, key=key,
                                     upstream_ca=args.upstream_ca)

        upstream_results = await _run_each(args, list(load_scenarios(args.scenario, scale_bounds=args.scale_bounds))
                                           if args.scenario else [None],
                                           proxied)
        _print_summary(console_summary, upstream_results)
        print_upstream_problems(upstream_results)
        _write_reports(args, upstream_results, write_json=write_proxied_json)
        return _exit_code(upstream_results)

    prepared: list[PreparedRun] = list(getattr(args, "prepared", []))
    try:
        scenarios = load_scenarios(args.scenario, scale_bounds=args.scale_bounds)
    except BaseException:
        for early in prepared:
            early.process.kill_now()
            early.sock.close()
        raise

    async def served(scenario: LoadedScenario, options: RunOptions) -> RunResult:
        return await run_scenario(scenario, args.command, options, prepared=prepared.pop(0) if prepared else None)

    results = await _run_each(args, scenarios, served)
    _print_summary(console_summary, results)
    _write_reports(args, results)
    return _exit_code(results)


async def _run_each(args: argparse.Namespace, scenarios: Sequence[_Scenario],
                    run: Callable[[_Scenario, RunOptions], Awaitable[_Result]]) -> list[_Result]:
    """`run` each scenario with the options of the command line, `--jobs` at a time, each with its
    own transcript folder, and a progress line when there are several. A scenario of None (`run
    --upstream` without one) is named "upstream"."""
    import asyncio

    from .reports.summary import RunProgress
    from .runner import RunOptions

    stream = None
    if args.verbose:
        def stream(session: SessionInfo, record: Record) -> None:
            print(f"  [{session.number}] {record}", file=sys.stderr, flush=True)
    base = Path(args.transcript) if args.transcript else None
    semaphore = asyncio.Semaphore(max(1, args.jobs))
    progress = RunProgress(len(scenarios)) if len(scenarios) > 1 else None

    async def one(index: int, scenario: _Scenario) -> _Result:
        async with semaphore:
            name = scenario.name if scenario is not None else "upstream"
            tdir = base / f"{index:03d}-{name}" if base else None
            within = scaled_within(args.within, args.scale_bounds, scenario=scenario is not None)
            options = RunOptions(grace=args.grace, within=within, transcript_dir=tdir, stream=stream,
                                 echo_output=args.verbose, connect_timeout=args.connect_timeout, timeout=args.timeout)
            if progress:
                progress.started(name)
            result = await run(scenario, options)
            if progress:
                progress.finished(result)
            return result

    try:
        return list(await asyncio.gather(*(one(i, s) for i, s in enumerate(scenarios, start=1))))
    finally:
        if progress:
            progress.close()


async def _check(args: argparse.Namespace) -> int:
    from .judging.check import CheckedResult, check_each, check_exit_code
    from .reports.summary import check_summary

    scenario = load_scenarios([args.scenario])[0] if args.scenario else None
    outcomes = check_each(_transcript_files(args.transcript), scenario,
                          default_within=args.within)  # one verdict or error per file
    _print_summary(check_summary, outcomes)
    _write_reports(args, [o for o in outcomes if isinstance(o, CheckedResult)])
    return check_exit_code(outcomes)


def _transcript_files(paths: Sequence[str]) -> list[str]:
    """The transcripts named: a directory stands for the .jsonl files in it and below it, sorted (what
    `serve --record DIR` and `run --transcript DIR` write)."""
    files: list[str] = []
    for path in paths:
        if not os.path.isdir(path):
            files.append(path)
            continue
        found = sorted(str(f) for f in Path(path).rglob("*.jsonl") if f.is_file())
        if not found:
            raise UsageError(f"{path}: a directory with no transcript (.jsonl) in it: name the transcript files")
        files += found
    return files


async def _report(args: argparse.Namespace) -> int:
    from .judging.check import check_transcripts

    scenario = load_scenarios([args.scenario])[0] if args.scenario else None
    results = check_transcripts(_transcript_files(args.transcript), scenario)
    from .reports.summary import write_html

    write_html(results, args.output)
    print(f"rtmock: wrote {args.output}")
    return EXIT_PASS


async def _lint(args: argparse.Namespace) -> int:
    files: list[str] = []
    for path in args.path:
        p = Path(path)
        if not p.exists():
            raise UsageError(f"{path}: no such file or directory")
        # a directory's scenarios: not what hides in its dot-directories (.github's workflows) or node_modules
        files.extend(sorted(str(f) for f in p.rglob("*.y*ml") if not any(
            part.startswith(".") or part == "node_modules" for part in f.relative_to(p).parts[:-1]))
            if p.is_dir() else [path])
    if not files:
        raise UsageError("no .yaml files found in " + ", ".join(args.path))
    from ..mockserver.scenario.loader import load_scenario

    bad = 0
    for file in files:
        try:
            load_scenario(file)
            if args.verbose:
                print(f"ok  {file}")
        except ScenarioError as exc:
            bad += 1
            for problem in exc.problems:
                print(problem.one_line())
    if bad:
        print(f"{bad} of {len(files)} scenario file(s) have errors", file=sys.stderr)
        return EXIT_FINDING
    print(f"{len(files)} scenario file(s) OK")
    return EXIT_PASS


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("rtmock")
    except PackageNotFoundError:
        return "0+unknown (not installed)"


async def _init(args: argparse.Namespace) -> int:
    from .init import next_steps, write_starter

    directory = Path(args.directory)
    try:
        write_starter(directory)
    except FileExistsError as exc:
        raise UsageError(f"{exc} already exists: rtmock init writes only new files (pick an empty directory)") from None
    print(next_steps(directory))
    return EXIT_PASS


async def _schema(args: argparse.Namespace) -> int:
    from ..mockserver.scenario.schema import editor_schema

    print(json.dumps(editor_schema(), indent=2))
    return EXIT_PASS


# ---- parser -----------------------------------------------------------------------------------------


def _parser(*, full_fuzz: bool = False) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rtmock", description="A scripted fake OpenAI/Azure Realtime API, and a "
                                     "harness that judges how clients answer function calls.")
    parser.add_argument("--version", action="version", version=f"rtmock {_version()}")
    sub = parser.add_subparsers(dest="cmd", required=True, metavar="COMMAND")

    serve = sub.add_parser("serve", help="serve scenarios until Ctrl-C", epilog=ENV_HELP,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    serve.add_argument("scenario", nargs="+", help="scenario .yaml files")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: loopback only)")
    serve.add_argument("--port", type=int, default=8765, help="port (0: any free port; default 8765)")
    serve.add_argument("--record", metavar="DIR", help="write one JSON-lines transcript per session here")
    serve.add_argument("--no-tls", action="store_true", help="serve ws:// only (default: ws:// and wss:// on one port)")
    serve.add_argument("--no-auth", action="store_true", help="accept connections without an API key header")
    serve.add_argument("--api-key", help="require exactly this key")
    serve.add_argument("--seed", help="deterministic ids")
    serve.add_argument("--log-level", choices=["events", "verdicts", "quiet"], default="events",
                       help="what to print per session: notable events, findings and verdicts (default); "
                            "findings and verdicts; or nothing")
    serve.add_argument("-q", "--quiet", action="store_true", help="the same as --log-level quiet")
    _scale_bounds_option(serve)
    serve.set_defaults(func=_serve)

    run = sub.add_parser("run", help="run a client command against scenarios and judge it",
                         usage="rtmock run SCENARIO... [options] -- COMMAND [ARGS...]", epilog=ENV_HELP,
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    run.add_argument("scenario", nargs="*", help="scenario .yaml files (each run with a fresh server; with --upstream, "
                     "optional: their expectations)")
    run.add_argument("-j", "--jobs", type=int, default=1, help="scenarios to run at once")
    run.add_argument("--json", metavar="FILE", help="write machine-readable results")
    run.add_argument("--junit", metavar="FILE", help="write JUnit XML for CI")
    run.add_argument("--html", metavar="FILE", help="write the HTML report")
    run.add_argument("--transcript", metavar="DIR", help="keep the recorded sessions here")
    run.add_argument("-v", "--verbose", action="store_true", help="stream the exchange and the client's output")
    run.add_argument("--grace", type=duration_argument, default=2.0, help="seconds the client may take to exit once complete")
    run.add_argument("--within", type=duration_argument, help="default bound (s) for steps without `within` (default: the scenario's)")
    run.add_argument("--connect-timeout", type=duration_argument, default=15.0, help="seconds until the first session (default 15)")
    run.add_argument("--timeout", type=duration_argument, default=300.0, help="seconds for the whole run (default 300)")
    _scale_bounds_option(run)
    _upstream_options(run, required=False)
    run.set_defaults(func=_run)

    check = sub.add_parser("check", help="judge recorded transcripts")
    check.add_argument("transcript", nargs="+", help="transcript .jsonl files, or directories of them")
    check.add_argument("--scenario", help="the scenario they were recorded with (default: the one named inside)")
    check.add_argument("--within", type=duration_argument, help="default bound (s) for steps without `within`")
    check.add_argument("--json", metavar="FILE")
    check.add_argument("--junit", metavar="FILE")
    check.add_argument("--html", metavar="FILE")
    check.set_defaults(func=_check)

    report = sub.add_parser("report", help="render transcripts as one HTML report")
    report.add_argument("transcript", nargs="+")
    report.add_argument("-o", "--output", default="rtmock-report.html")
    report.add_argument("--scenario")
    report.set_defaults(func=_report)

    lint = sub.add_parser("lint", help="check scenario files; exit 1 on any error")
    lint.add_argument("path", nargs="+", help="files or directories")
    lint.add_argument("-v", "--verbose", action="store_true")
    lint.set_defaults(func=_lint)

    schema = sub.add_parser("schema", help="print the scenario format's JSON Schema")
    schema.set_defaults(func=_schema)

    init = sub.add_parser("init", help="write a starter project: scenarios, a client, a pytest test, a CI workflow")
    init.add_argument("directory", nargs="?", default=".", help="where (default: here); made if missing")
    init.set_defaults(func=_init)

    proxy = sub.add_parser("proxy", help="relay clients to the real service and judge them, until Ctrl-C",
                           epilog=ENV_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    _upstream_options(proxy, required=True)
    _scale_bounds_option(proxy)
    proxy.add_argument("--scenario", help="a scenario whose expect steps also judge each session (optional)")
    proxy.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: loopback only)")
    proxy.add_argument("--port", type=int, default=8765, help="port (0: any free port; default 8765)")
    proxy.add_argument("--record", metavar="DIR", help="write one JSON-lines transcript per session here")
    proxy.add_argument("--no-tls", action="store_true", help="listen on ws:// only (default: ws:// and wss://)")
    proxy.add_argument("--within", type=duration_argument, help="default bound (s) for a reply the rules await (default 5)")
    proxy.set_defaults(func=_proxy)

    to_scenario = sub.add_parser("scenario", help="write a scenario that replays a recorded session")
    to_scenario.add_argument("transcript", help="a transcript .jsonl (rtmock proxy/serve --record, run --transcript)")
    to_scenario.add_argument("-o", "--output", required=True, metavar="FILE", help="the scenario .yaml to write")
    to_scenario.add_argument("--compress-time", type=float, default=1.0, metavar="FACTOR",
                             help="divide the recorded pauses (hold:, delta_interval:) by FACTOR (default 1)")
    to_scenario.add_argument("--name", help="the scenario's name (default: the output file's stem)")
    to_scenario.set_defaults(func=_to_scenario)

    fuzz = sub.add_parser("fuzz", help="fuzz function-call arguments against a client",
                          usage="rtmock fuzz SCENARIO [options] -- COMMAND [ARGS...]")
    if full_fuzz:  # Hypothesis is heavy to import: only when the command is fuzz
        try:
            from .fuzzing.fuzz import add_fuzz_arguments, fuzz_main
        except ModuleNotFoundError as exc:
            if exc.name not in ("hypothesis", "jsonschema"):
                raise
            print(f"rtmock: rtmock fuzz needs {exc.name}, which the fuzz extra installs: pip install 'rtmock[fuzz]'",
                  file=sys.stderr)
            raise SystemExit(EXIT_USAGE) from None

        add_fuzz_arguments(fuzz)
        fuzz.set_defaults(func=fuzz_main)
    return parser


def _upstream_options(parser: argparse.ArgumentParser, *, required: bool) -> None:
    """`--upstream` for `proxy` and `run` (harness/proxy.py, mockserver/net/relay.py)."""
    parser.add_argument("--upstream", metavar="URL", required=required,
                        help="judge against the real service: wss://api.openai.com, wss://RESOURCE.openai.azure.com, "
                             "wss://RESOURCE.services.ai.azure.com (Voice Live)… The client's path and query are "
                             "appended (a URL ending in /realtime is used as given); the key is the client's own, "
                             "or $RTMOCK_UPSTREAM_API_KEY instead")
    parser.add_argument("--upstream-ca", metavar="FILE", help="also trust this CA for the upstream's TLS")


async def _proxy(args: argparse.Namespace) -> int:
    from .proxy import proxy_main

    return await proxy_main(args)


async def _to_scenario(args: argparse.Namespace) -> int:
    from .scenario_writer import scenario_main

    if os.path.isdir(args.transcript):  # (_transcript_files says so when it holds none)
        found = _transcript_files([args.transcript])
        raise UsageError(f"{args.transcript}: a directory; name one transcript in it, e.g. {found[0]} "
                         f"(of {len(found)})")
    return scenario_main(args)


def _prepare(args: argparse.Namespace) -> list[PreparedRun]:
    """Start the first clients now, before loading the rest of rtmock: their start-up overlaps ours."""
    from .client_process import prepare_run

    return [prepare_run(args.command, echo=args.verbose) for _ in range(min(max(1, args.jobs), len(args.scenario)))]


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _scale_bounds_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--scale-bounds", metavar="FACTOR",
                        help=f"make every bound FACTOR times as long: each step's `within` and the default, for a "
                             f"slow machine or a client under a debugger (default: ${SCALE_BOUNDS_ENV}, else 1)")


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    command: list[str] = []
    if "--" in args_list:
        at = args_list.index("--")
        args_list, command = args_list[:at], args_list[at + 1:]
    parser = _parser(full_fuzz=bool(args_list) and args_list[0] == "fuzz")
    args = parser.parse_args(args_list)
    args.command = command
    logging.basicConfig(level=logging.WARNING, format="rtmock: %(message)s")
    try:
        if args.cmd in ("run", "serve", "proxy"):
            given = args.scale_bounds
            args.scale_bounds = scale_bounds_factor(given) if given is not None else environment_factor()
        _check_report_paths(args)
    except RtmockError as exc:
        print(f"rtmock: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.cmd == "run":
        if not command:
            parser.error("no command to run: write it after '--', e.g. rtmock run scenario.yaml -- python client.py")
        if not args.scenario and not args.upstream:
            parser.error("no scenario: name at least one .yaml file (or judge against the real service: --upstream URL)")
        try:
            args.prepared = _prepare(args) if not args.upstream else []
        except RtmockError as exc:
            print(f"rtmock: {exc}", file=sys.stderr)
            return EXIT_USAGE
    # SIGTERM (CI cancelling a job) takes Ctrl-C's path: the client's group is stopped, what was
    # written stays valid, exit 130. `serve` handles both signals on its loop instead.
    signal.signal(signal.SIGTERM, _interrupt)
    import asyncio  # after the client has started: see _prepare

    try:
        return int(asyncio.run(args.func(args)))
    except KeyboardInterrupt:
        print("rtmock: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (RtmockError, TranscriptError) as exc:
        print(f"rtmock: {exc}" if not isinstance(exc, ScenarioError) else str(exc), file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:  # `rtmock … | head`: the reader left; nothing more to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_USAGE
    except OSError as exc:
        print(f"rtmock: {exc.filename + ': ' if exc.filename else ''}{exc.strerror or exc}", file=sys.stderr)
        return EXIT_USAGE


def console() -> None:
    """The `rtmock` console script: `main`, then exit without the interpreter's teardown (about a
    quarter of a second of collecting modules and threads, on every run). Everything rtmock writes
    is closed or flushed by then: transcripts at each session's end, reports atomically, and the
    standard streams here."""
    code = main()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


if __name__ == "__main__":
    sys.exit(main())
