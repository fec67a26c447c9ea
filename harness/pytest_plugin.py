"""The pytest plugin (entry point `pytest11: rtmock`): a judged fake realtime server inside a test.

    @pytest.mark.rtmock_scenario("scenarios/get_your_info.yaml")
    def test_my_client(rtmock_server):
        run_my_client(rtmock_server.url)          # or rtmock_server.env for a subprocess
        result = rtmock_server.verdict()
        assert result.passed, result.explain()

    async def test_async(rtmock):
        server = rtmock("scenarios/parallel_calls.yaml")
        await my_async_client(server.url)
        assert (await server.verdict_async()).passed

The server runs on its own event loop in a background thread, so the same fixture serves sync tests,
async tests (any loop), subprocess clients and pytest-xdist workers (each binds its own port 0).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import io
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from mockserver.loader import LoadedScenario, load_scenario
from mockserver.server import MockServer, client_environment

from .findings import Finding
from .live import LiveJudge
from .runner import RunOptions, RunResult, client_env, no_session_finding, run_scenario

__all__ = ["RtmockServer"]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "rtmock_scenario(path): the scenario file the rtmock_server fixture plays")


class _LoopThread:
    """An event loop of its own in a daemon thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="rtmock-server", daemon=True)
        self.thread.start()

    def call(self, coro: Any, timeout: float | None = None) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def submit(self, coro: Any) -> concurrent.futures.Future[Any]:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        if not self.thread.is_alive():
            self.loop.close()


class RtmockServer:
    """A started server playing one scenario, with a judge attached to every session."""

    def __init__(self, scenario: LoadedScenario, *, within: float | None = None, grace: float = 0.5,
                 connect_timeout: float = 15.0, record_dir: str | Path | None = None, tls: bool = True) -> None:
        self.scenario = scenario
        self.grace = grace
        self.connect_timeout = connect_timeout
        self._within = within
        self._record_dir = record_dir
        self._tls = tls
        self._thread = _LoopThread()
        self.judge: LiveJudge = self._thread.call(self._start())
        self._result: RunResult | None = None

    async def _start(self) -> LiveJudge:
        self.server = MockServer([self.scenario], record_dir=self._record_dir, tls=self._tls,
                                 default_within=self._within)
        judge = LiveJudge(default_within=self._within)
        self.server.observers.append(judge)
        await self.server.start()
        return judge

    # ---- where clients connect -------------------------------------------------------------------

    @property
    def url(self) -> str:
        """ws://127.0.0.1:PORT/v1/realtime"""
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

    # ---- verdicts --------------------------------------------------------------------------------

    async def _settle(self, timeout: float) -> RunResult:
        loop = asyncio.get_running_loop()
        judge = self.judge
        start = loop.time()
        await judge.settle(started=start, grace=self.grace, connect_timeout=self.connect_timeout, timeout=timeout)
        judge.stopping = bool(judge.findings)
        verdicts = judge.finish_all()
        result = RunResult(self.scenario, [], sessions=[(j.info, v) for j, v in zip(judge.sessions, verdicts, strict=True)],
                           duration=loop.time() - start)
        if not judge.sessions:
            result.run_findings.append(no_session_finding(f"opened no realtime session (connect to {self.url})",
                                                          self.server.refused))
        return result

    def verdict(self, timeout: float = 60.0) -> TestVerdict:
        """Wait (bounded) until the sessions are judged; call after the client is done."""
        if self._result is None:
            self._result = self._thread.call(self._settle(timeout), timeout + 10)
        assert self._result is not None
        return TestVerdict(self._result)

    async def verdict_async(self, timeout: float = 60.0) -> TestVerdict:
        if self._result is None:
            self._result = await asyncio.wrap_future(self._thread.submit(self._settle(timeout)))
        assert self._result is not None
        return TestVerdict(self._result)

    def run(self, command: Sequence[str], **options: Any) -> TestVerdict:
        """Run a client command against this scenario with a fresh server (as `rtmock run` does)."""
        result = self._thread.call(run_scenario(self.scenario, list(command), RunOptions(**options)))
        return TestVerdict(result)

    def close(self) -> None:
        try:
            self._thread.call(self.server.close(), 10)
        finally:
            self._thread.close()


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
        from .reports import console_summary

        buffer = io.StringIO()
        console_summary([self.result], buffer)
        return buffer.getvalue()

    def __bool__(self) -> bool:
        return self.passed

    def __repr__(self) -> str:
        return f"<rtmock verdict {'PASS' if self.passed else 'FAIL'} {self.rules}>"


@pytest.fixture
def rtmock() -> Iterator[Callable[..., RtmockServer]]:
    """A factory: `rtmock(path, within=..., grace=...)` starts a judged server; all stop at teardown."""
    servers: list[RtmockServer] = []

    def start(scenario: str | Path | LoadedScenario, **options: Any) -> RtmockServer:
        loaded = scenario if isinstance(scenario, LoadedScenario) else load_scenario(scenario)
        server = RtmockServer(loaded, **options)
        servers.append(server)
        return server

    yield start
    for server in reversed(servers):
        server.close()


@pytest.fixture
def rtmock_server(request: pytest.FixtureRequest, rtmock: Callable[..., RtmockServer]) -> RtmockServer:
    """The server for the test's `@pytest.mark.rtmock_scenario(path)` (or `indirect` parametrization)."""
    marker = request.node.get_closest_marker("rtmock_scenario")
    path = getattr(request, "param", None) or (marker.args[0] if marker and marker.args else None)
    if path is None:
        raise pytest.UsageError("rtmock_server needs @pytest.mark.rtmock_scenario('path/to/scenario.yaml')")
    options = dict(marker.kwargs) if marker else {}
    return rtmock(path, **options)


@pytest.fixture
def rtmock_fuzz(tmp_path: Path) -> Callable[..., Any]:
    """`rtmock_fuzz(scenario, client, cases=50, seed=1, **FuzzOptions)` fuzzes a client's answers to the
    scenario's function calls and returns a `harness.fuzz.FuzzResult`; `client` is a command list or a
    coroutine function taking the websocket URL. A failure's reproducer scenario is written under the
    test's tmp_path (`result.reproducer`):

        def test_survives_bad_arguments(rtmock_fuzz):
            result = rtmock_fuzz("scenarios/get_your_info.yaml", [sys.executable, "client.py"], cases=50, seed=1)
            assert result.passed, result.explain()
    """
    from .fuzz import FuzzResult, fuzz_client

    def run(scenario: str | Path | LoadedScenario, client: Any, **options: Any) -> FuzzResult:
        result = fuzz_client(scenario, client, **options)
        if result.failure is not None:
            result.write_reproducer(tmp_path / f"{result.scenario.name}.repro.yaml")
        return result

    return run
