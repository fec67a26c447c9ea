"""The server behind the pytest fixtures: a judged `MockServer` on an event loop of its own, in a
daemon thread, so that one object serves sync tests, async tests (any loop), subprocess clients and
pytest-xdist workers alike (each binds its own port 0).

`run` / `run_async` bound a client the way `rtmock run` does: the client is stopped as soon as the
verdict is known (the first finding, the scenario complete plus `grace`, or the run's `timeout`), so a
client that forgets `response.create` fails its test at the scenario's bound instead of hanging it.

Errors inside the server (an exception in a session, an observer or a timer on the server's loop:
bugs in rtmock, never the client's fault) are kept and raised in the test by `check()`, which
`verdict()`, `run()` and the fixture's teardown call, as pytest-httpserver's `check()` does.

This module is imported when a fixture is first used, never by the plugin's entry point.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import io
import logging
import os
import threading
import traceback
import warnings
from collections.abc import Callable, Coroutine, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from aiohttp.http_exceptions import HttpProcessingError

from ..mockserver.errors import UsageError
from ..mockserver.net.server import MockServer, client_environment
from ..mockserver.scenario.loader import LoadedScenario
from ._plugin_clients import (
    STOP_PATIENCE,
    CommandClient,
    InProcessClient,
    PluginClient,
    TaskClient,
    ThreadClient,
)
from .judging.findings import Finding
from .run_sessions import RunJudge, conclude_sessions, new_run_id
from .runner import (
    RunResult,
    charge_client,
    client_env,
    no_session_finding,
    supervise,
)

__all__ = ["RtmockServer", "ServerError", "TestVerdict"]

T = TypeVar("T")

#: Loggers whose errors on the server's thread are errors inside the server.
_SERVER_LOGGERS = ("rtmock", "mockserver", "aiohttp.server", "aiohttp.web")


class ServerError(Exception):
    """Something failed inside rtmock's server during the test: a bug in rtmock (or in an observer the
    test attached), never a finding about the client, and the verdict cannot be trusted."""

    SHOWN = 3  # errors shown with their traceback; the others by their first line, counted

    def __init__(self, errors: Sequence[str]) -> None:
        self.errors = list(errors)
        blocks = [f"[{n}] " + text.replace("\n", "\n    ") for n, text in enumerate(self.errors[: self.SHOWN], 1)]
        rest: dict[str, int] = {}
        for text in self.errors[self.SHOWN:]:
            first = text.splitlines()[0]
            rest[first] = rest.get(first, 0) + 1
        blocks += [f"… and {count} more: {first}" for first, count in rest.items()]
        super().__init__(f"{len(self.errors)} error(s) inside rtmock's server (a bug in rtmock or in an observer "
                         "you attached, not a finding about your client; the verdict cannot be trusted):\n"
                         + "\n".join(blocks))


def _clients_doing(exc: BaseException | None) -> bool:
    """A client's I/O or bad HTTP surfaces as these: not errors of the server."""
    return isinstance(exc, OSError | HttpProcessingError)


def _describe(message: str, exc: BaseException | None) -> str:
    if exc is None:
        return message
    lines = "".join(traceback.format_exception(exc)).rstrip().splitlines()
    return "\n".join([message, *(lines if len(lines) <= 25 else [lines[0], "  …", *lines[-22:]])])


class _ServerErrors(logging.Handler):
    """Errors logged, or left unhandled, on the server's thread (and only there: tests in the same
    process have servers of their own)."""

    def __init__(self, thread_id: int | None) -> None:
        super().__init__(logging.ERROR)
        self.thread_id = thread_id
        self.entries: list[str] = []
        self.observer_failures = 0  # of MockServer.internal_errors, those logged (with a traceback)

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread != self.thread_id:
            return
        exc = record.exc_info[1] if record.exc_info else None
        if _clients_doing(exc):
            return
        if record.name == "rtmock.server" and str(record.msg).startswith("internal error in"):
            self.observer_failures += 1
        self.entries.append(_describe(f"{record.name}: {record.getMessage()}", exc))

    def loop_error(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        if not _clients_doing(exc):
            self.entries.append(_describe(f"on the server's event loop: {context.get('message', 'unhandled error')}", exc))
        loop.default_exception_handler(context)


class _LoopThread:
    """An event loop of its own in a daemon thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="rtmock-server", daemon=True)
        self.thread.start()

    def call(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        if not self.thread.is_alive():
            self.loop.close()


class RtmockServer:
    """A started server playing one scenario, with a judge attached to every session. It judges one
    run: `run(client)` / `await run_async(client)`, or a client the test runs itself and then
    `verdict()`. Close it with `close()` (safe twice) or `with`; the fixtures close theirs."""

    def __init__(self, scenario: LoadedScenario, *, within: float | None = None, grace: float = 0.5,
                 connect_timeout: float = 15.0, record_dir: str | Path | None = None, tls: bool = True) -> None:
        self.scenario = scenario
        self.grace = grace
        self.connect_timeout = connect_timeout
        self._within = within
        self._record_dir = record_dir
        self._tls = tls
        self._result: RunResult | None = None
        self._claimed = False
        self._closed = False
        self._reported = 0  # errors already raised by check()
        self._thread = _LoopThread()
        self._errors = _ServerErrors(self._thread.thread.ident)
        for name in _SERVER_LOGGERS:
            logging.getLogger(name).addHandler(self._errors)
        try:
            self.judge: RunJudge = self._thread.call(self._start())
        except BaseException:
            self._closed = True
            self._thread.close()
            self._detach()
            raise

    async def _start(self) -> RunJudge:
        asyncio.get_running_loop().set_exception_handler(self._errors.loop_error)
        self.server = MockServer([self.scenario], record_dir=self._record_dir, tls=self._tls,
                                 default_within=self._within, run=new_run_id())
        judge = RunJudge(default_within=self._within, probe_patience=self.connect_timeout)
        self.server.observers.append(judge)
        await self.server.start()
        return judge

    # ---- where clients connect -------------------------------------------------------------------

    @property
    def url(self) -> str:
        """ws://127.0.0.1:PORT/v1/realtime?model=…"""
        return self.server.ws_url()

    @property
    def wss_url(self) -> str:
        return self.server.ws_url(secure=True)

    @property
    def base_url(self) -> str:
        """For the official SDKs: OPENAI_BASE_URL (http://127.0.0.1:PORT/v1)."""
        return f"{self.server.http_base()}/v1"

    @property
    def env(self) -> dict[str, str]:
        """What `rtmock run` gives a client: the variables that point common clients here."""
        return client_environment(self.server)

    def client_env(self) -> dict[str, str]:
        """os.environ plus `env`, with NO_PROXY extended: for subprocess clients."""
        return client_env(self.server)

    # ---- running a client, bounded -----------------------------------------------------------------

    def run(self, client: Sequence[str | os.PathLike[str]] | InProcessClient, *, timeout: float = 60.0,
            env: Mapping[str, str] | None = None) -> TestVerdict:
        """Run `client` against this server and return the verdict; the client is stopped as soon as
        the verdict is known. `client` is a command (`[sys.executable, "-m", "my_client"]`: its own
        process group, with `client_env()` plus `env`), or a callable given `url` (a coroutine
        function, run on a thread of its own and cancelled; a blocking function, disconnected).
        For a sync test; an async test awaits `run_async`."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass
        else:
            raise UsageError("server.run() would block this async test's event loop: use "
                             "`verdict = await server.run_async(client)`")
        start = self._starter(client, env, in_thread=True)
        result, leftover = self._thread.call(self._supervise(start, timeout), timeout + 60)
        return self._conclude(result, leftover)

    async def run_async(self, client: Sequence[str | os.PathLike[str]] | InProcessClient, *,
                        timeout: float = 60.0, env: Mapping[str, str] | None = None) -> TestVerdict:
        """`run` for async tests: a coroutine client runs as a task of the test's event loop (it may
        use the test's fixtures) and is cancelled as soon as the verdict is known."""
        start = self._starter(client, env, in_thread=False)
        result, leftover = await asyncio.wrap_future(self._thread.submit(self._supervise(start, timeout)))
        return self._conclude(result, leftover)

    def _starter(self, client: Sequence[str | os.PathLike[str]] | InProcessClient, env: Mapping[str, str] | None,
                 *, in_thread: bool) -> Callable[[], PluginClient]:
        """Check `client` and claim the server for it; what starts it, on the server's loop."""
        if isinstance(client, str | bytes | os.PathLike):
            raise UsageError(f"give the command as a list of arguments, e.g. [sys.executable, {os.fspath(client)!r}]")
        if self._closed:
            raise UsageError("this rtmock server is closed: start another with rtmock(...)")
        if self._claimed or self._result is not None:
            raise UsageError("this rtmock server has judged a run already: start one per run with rtmock(...)")
        if callable(client):
            self._claimed = True
            url = self.url
            started = ThreadClient(client, url) if in_thread else TaskClient(client, url)
            return lambda: started
        command = list(client)
        if not command:
            raise UsageError("no command to run: give a list such as [sys.executable, '-m', 'my_client']")
        self._claimed = True
        return lambda: CommandClient(command, {**self.client_env(), **(env or {})})

    async def _supervise(self, start: Callable[[], PluginClient], timeout: float) -> tuple[RunResult, str | None]:
        """Judge a client until the verdict is known, then stop it (as `rtmock run` does)."""
        loop = asyncio.get_running_loop()
        judge = self.judge
        started = loop.time()
        client = start()
        exited = client.exited()
        result = RunResult(self.scenario, client.command)
        await supervise(judge, result, exited=exited, stop=client.stop, started=started, grace=self.grace,
                        connect_timeout=self.connect_timeout, timeout=timeout, refused=self.server.refused,
                        connect_to=self.url,
                        timeout_fix="Check the client returns when the conversation is over, or raise run()'s timeout.")
        if exited.done():  # the server notices the client's sockets closing a moment after it ends
            await judge.sessions_ended(STOP_PATIENCE)
        conclude_sessions(judge, result)
        await self.server.close()  # the run is over: this ends a connection the client still holds
        leftover = None
        if not exited.done():
            await asyncio.wait({exited}, timeout=STOP_PATIENCE)
            if not exited.done():
                leftover = (f"rtmock: the client {client.command[0]} did not end within {2 * STOP_PATIENCE:g}s of "
                            "being stopped and disconnected; it is left running (a blocking call that never returns?)")
        result.client_stopped = client.stopped_by_us
        await client.release()
        if isinstance(client, CommandClient):
            result.exit_code = client.process.returncode
            result.stderr_tail = list(client.process.stderr_tail)
        charge_client(result, client.crash(), client.never_connected(), self.server.refused)
        result.duration = loop.time() - started
        if judge.first_finding_at is not None:
            result.verdict_latency = loop.time() - judge.first_finding_at
        result.internal_errors = list(self.server.internal_errors)
        return result, leftover

    def _conclude(self, result: RunResult, leftover: str | None) -> TestVerdict:
        self._result = result
        if leftover is not None:
            warnings.warn(leftover, RuntimeWarning, stacklevel=3)
        self.check()
        return TestVerdict(result)

    # ---- a verdict on a client the test ran itself -------------------------------------------------

    async def _settle(self, timeout: float) -> RunResult:
        loop = asyncio.get_running_loop()
        judge = self.judge
        start = loop.time()
        await judge.settle(started=start, grace=self.grace, connect_timeout=self.connect_timeout, timeout=timeout)
        judge.stopping = bool(judge.findings)
        result = RunResult(self.scenario, [])
        conclude_sessions(judge, result)
        result.duration = loop.time() - start
        if not judge.sessions:
            result.run_findings.append(no_session_finding(f"opened no realtime session (connect to {self.url})",
                                                          self.server.refused))
        result.internal_errors = list(self.server.internal_errors)
        return result

    def verdict(self, timeout: float = 60.0) -> TestVerdict:
        """Wait (bounded) until the sessions are judged; call after the client is done. (A client that
        may hang is better given to `run`, which stops it once the verdict is known.)"""
        if self._result is None:
            if self._closed:
                raise UsageError("this rtmock server is closed before any verdict")
            self._result = self._thread.call(self._settle(timeout), timeout + 10)
        self.check()
        return TestVerdict(self._result)

    async def verdict_async(self, timeout: float = 60.0) -> TestVerdict:
        if self._result is None:
            if self._closed:
                raise UsageError("this rtmock server is closed before any verdict")
            self._result = await asyncio.wrap_future(self._thread.submit(self._settle(timeout)))
        self.check()
        return TestVerdict(self._result)

    # ---- errors inside the server, and the end ------------------------------------------------------

    def errors(self) -> list[str]:
        """Every error inside the server so far, each with its traceback when there is one."""
        logged = list(self._errors.entries)
        unlogged = self.server.internal_errors[self._errors.observer_failures:] if hasattr(self, "server") else []
        return logged + [f"rtmock.server: internal error in {text}" for text in unlogged]

    def check(self) -> None:
        """Raise `ServerError` for errors inside the server not raised yet (as pytest-httpserver's
        `check()`): they are bugs on rtmock's side, and the verdict cannot be trusted."""
        errors = self.errors()
        new = errors[self._reported:]
        if new:
            self._reported = len(errors)
            raise ServerError(new)

    def close(self) -> None:
        """Stop the server and its thread. Safe twice; the verdict stays readable."""
        if self._closed:
            return
        self._closed = True
        try:
            self._thread.call(self.server.close(), 10)
        finally:
            self._thread.close()
            self._detach()

    def _detach(self) -> None:
        for name in _SERVER_LOGGERS:
            logging.getLogger(name).removeHandler(self._errors)

    def __enter__(self) -> RtmockServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class TestVerdict:
    """The judgement of everything the client did; `explain()` makes a readable assertion message."""

    __test__ = False  # not a test class, despite the name

    def __init__(self, result: RunResult) -> None:
        self.result = result

    @property
    def passed(self) -> bool:
        return self.result.passed

    @property
    def findings(self) -> list[Finding]:
        return self.result.findings

    @property
    def rules(self) -> list[str]:
        return [f.rule.value for f in self.findings]

    def explain(self) -> str:
        from .reports.summary import console_summary

        buffer = io.StringIO()
        console_summary([self.result], buffer)
        for note in self.result.notes:
            if note not in buffer.getvalue():  # (until the summary shows them itself)
                buffer.write(f"    note: {note}\n")
        return buffer.getvalue()

    def __bool__(self) -> bool:
        return self.passed

    def __repr__(self) -> str:
        return f"<rtmock verdict {'PASS' if self.passed else 'FAIL'} {self.rules}>"
