"""`rtmock fuzz`: Hypothesis generates function-call arguments, a client answers each case, the
judge decides, and a failing case is shrunk to a minimal payload and written as a reproducer.

    rtmock fuzz scenarios/get_your_info.yaml --cases 200 --seed 1 -- python my_client.py

A *case* is the scenario with each fuzzed call's `arguments` replaced by a generated payload
(`payloads.any_arguments` for the tool's schema), streamed in generated delta chunks
(`payloads.delta_chunks`). It fails when the client crashes, disconnects, sends an invalid event,
or does not answer with a string `function_call_output` (right call_id) and then `response.create`
within the scenario's bounds: the rules of `rtmock run`, judged per case and composed as `rtmock run`
composes them (`_fuzz_verdict.py`), so that a reproducer replays to the verdict its case had. The
`match:` of an expect on a fuzzed call's output is judged by the baseline case only.

By default the payloads are what the service could send: a response's arguments are bounded by the
model's output tokens (`FuzzOptions.max_output_tokens`: 4,096 for gpt-realtime, 32,000 for
gpt-realtime-2), at an estimated 4 characters a token: 16,384 characters by default, shared by the
calls of one response. `hostile` adds payloads past that (a megabyte string, 100 000 levels of
nesting), and reports mark the failures on them.

Hypothesis drives the search in a worker thread (an ordinary `@given` test, run here rather than
under pytest, through its public interface only); each example runs one case on the event loop and
raises on a failing verdict, so Hypothesis stops generating and shrinks it. `--seed` fixes the
cases. How clients are run and reused is `_fuzz_runner.py`; case scenarios and reproducers are
`_fuzz_cases.py`; the console, JSON and JUnit output is `_fuzz_report.py`; the command line,
`_fuzz_cli.py`.

From a test: `result = fuzz_client("scenarios/x.yaml", ["python", "client.py"], cases=50, seed=1)`
(or a coroutine function taking the websocket URL), then `assert result.passed, result.explain()`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, overload

from ...mockserver.scenario.loader import LoadedScenario, load_scenario
from ._cases import CaseInput
from ._clients import CoroutineClient
from ._result import CaseOutcome, FuzzOptions, FuzzResult, FuzzStatus
from ._search import Search, fuzz_with

if TYPE_CHECKING:
    from ._stream import StreamResult

__all__ = [
    "CaseInput", "CaseOutcome", "FuzzOptions", "FuzzResult", "FuzzStatus", "add_fuzz_arguments", "fuzz",
    "fuzz_client", "fuzz_client_async", "fuzz_main", "parse_fuzz_args",
]  # fmt: skip


# ---- the public entry points ----------------------------------------------------------------------


async def fuzz(scenario: LoadedScenario, client: Sequence[str] | CoroutineClient, options: FuzzOptions | None = None,
               *, progress: Callable[[FuzzStatus], None] | None = None, progress_interval: float = 2.0) -> FuzzResult:
    """Fuzz the arguments of the scenario's function calls against `client`: a command (each case's
    process gets the server in its environment, as with `rtmock run`) or a coroutine function given
    the websocket URL. First the scenario's own arguments (the baseline: a client that fails those is
    not fuzzed), then Hypothesis's cases; a failure is shrunk. Nothing is printed or written."""
    return await fuzz_with(Search, FuzzResult, scenario, client, options, mode="fuzz", progress=progress,
                           progress_interval=progress_interval)


@overload
async def fuzz_client_async(scenario: str | Path | LoadedScenario, client: Sequence[str] | CoroutineClient, *,
                            cases: int = ..., seed: int | None = ..., stream: Literal[False] = ...,
                            **options: Any) -> FuzzResult: ...
@overload
async def fuzz_client_async(scenario: str | Path | LoadedScenario, client: Sequence[str] | CoroutineClient, *,
                            cases: int = ..., seed: int | None = ..., stream: Literal[True],
                            **options: Any) -> StreamResult: ...
async def fuzz_client_async(scenario: str | Path | LoadedScenario, client: Sequence[str] | CoroutineClient, *,
                            cases: int = 100, seed: int | None = None, stream: bool = False,
                            **options: Any) -> FuzzResult | StreamResult:
    return await _fuzz_client(scenario, client, cases=cases, seed=seed, stream=stream, **options)


async def _fuzz_client(scenario: str | Path | LoadedScenario, client: Sequence[str] | CoroutineClient, *,
                       cases: int, seed: int | None, stream: bool, **options: Any) -> FuzzResult | StreamResult:
    loaded = scenario if isinstance(scenario, LoadedScenario) else load_scenario(scenario)
    opts = FuzzOptions(cases=cases, seed=seed, **options)
    if stream:
        from ._stream import fuzz_stream

        return await fuzz_stream(loaded, client, opts)
    return await fuzz(loaded, client, opts)


@overload
def fuzz_client(scenario: str | Path | LoadedScenario, client: Sequence[str] | CoroutineClient, *,
                cases: int = ..., seed: int | None = ..., stream: Literal[False] = ..., **options: Any) -> FuzzResult: ...
@overload
def fuzz_client(scenario: str | Path | LoadedScenario, client: Sequence[str] | CoroutineClient, *,
                cases: int = ..., seed: int | None = ..., stream: Literal[True], **options: Any) -> StreamResult: ...
def fuzz_client(scenario: str | Path | LoadedScenario, client: Sequence[str] | CoroutineClient, *,
                cases: int = 100, seed: int | None = None, stream: bool = False,
                **options: Any) -> FuzzResult | StreamResult:
    """Fuzz a client from a test, in a few lines; works in sync and async tests alike (the fuzz runs
    on an event loop of its own, in-process coroutine clients included):

        def test_client_survives_bad_arguments():
            result = fuzz_client("scenarios/get_your_info.yaml", [sys.executable, "client.py"], cases=50, seed=1)
            assert result.passed, result.explain()

    `client` is a command list, or a coroutine function taking the websocket URL (it must send an
    `Authorization: Bearer <anything>` header). Options: those of `FuzzOptions`. `stream=True` fuzzes
    how the service streams the calls instead of their arguments, as `rtmock fuzz --stream` does, and
    returns a `StreamResult`. To keep a reproducer of a failure: `result.write_reproducer(path)`.
    Note that Hypothesis seeds the global `random` module for every case, so an in-process client
    drawing from it sees the same numbers each case.
    """
    coro = _fuzz_client(scenario, client, cases=cases, seed=seed, stream=stream, **options)
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="rtmock-fuzz") as pool:
        return pool.submit(asyncio.run, coro).result()


# ---- the command line: `_fuzz_cli.py` (imported last: it uses the names above) -----------------------

from ._cli import add_fuzz_arguments, fuzz_main, parse_fuzz_args  # noqa: E402
