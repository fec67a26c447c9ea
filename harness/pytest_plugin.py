"""The pytest plugin (entry point `pytest11: rtmock`): a judged fake realtime server inside a test.

    @pytest.mark.rtmock_scenario("get_your_info")       # bundled, or a path relative to the test file
    def test_my_client(rtmock_server):
        verdict = rtmock_server.run([sys.executable, "-m", "my_client"])
        assert verdict.passed, verdict.explain()

    async def test_my_async_client(rtmock):
        server = rtmock("scenarios/parallel_calls.yaml")
        verdict = await server.run_async(my_async_client)  # given server.url; cancelled at the verdict
        assert verdict.passed, verdict.explain()

Only pytest and the standard library are imported here: every pytest run (and every xdist worker)
loads this module, most of them without using it. The server, the judge and the runner
(`_plugin_server.py`, with aiohttp) are imported when a fixture is first used.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from .bounds import environment_factor, scaled, scaled_within

if TYPE_CHECKING:
    from ..mockserver.scenario.loader import LoadedScenario
    from ._plugin_server import RtmockServer, ServerError, TestVerdict

__all__ = ["RtmockServer", "ServerError", "TestVerdict", "resolve_scenario"]


def __getattr__(name: str) -> Any:
    """`from rtmock.harness.pytest_plugin import RtmockServer` still works, importing the server then."""
    if name in ("RtmockServer", "ServerError", "TestVerdict"):
        from . import _plugin_server

        return getattr(_plugin_server, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "rtmock_scenario(path, **options): the scenario the rtmock_server fixture "
                                       "plays (a bundled name, or a path relative to the test file or rootdir)")
    from ..mockserver.errors import UsageError

    try:
        environment_factor()  # a bad $RTMOCK_SCALE_BOUNDS is said once, at start-up, not in every test
    except UsageError as exc:
        raise pytest.UsageError(f"rtmock: {exc}") from None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item,
                              call: pytest.CallInfo[None]) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A scenario or usage problem rtmock raised in a test reads as rtmock's own one-line messages at
    the test's line, not as a traceback through rtmock's loader (the exceptions stay catchable)."""
    report: pytest.TestReport = yield
    excinfo = call.excinfo
    if excinfo is not None and report.failed and "rtmock.mockserver" in type(excinfo.value).__module__:
        from ..mockserver.errors import ScenarioError, UsageError

        if isinstance(excinfo.value, ScenarioError | UsageError):
            here = next((entry for entry in reversed(excinfo.traceback) if Path(entry.path) == item.path), None)
            where = f"\n  (raised at {item.path}:{here.lineno + 1})" if here is not None else ""
            report.longrepr = f"rtmock {type(excinfo.value).__name__}: {excinfo.value}{where}"
    return report


def resolve_scenario(scenario: str | os.PathLike[str], *, test_file: Path | None = None,
                     rootdir: Path | None = None) -> Path:
    """Where a test's scenario is: an absolute path as given; a relative one next to the test file,
    else under the rootdir (never the current directory, which depends on where pytest was started);
    else a bare name (`"get_your_info"`) is one of rtmock's bundled scenarios."""
    from ..mockserver.errors import UsageError
    from .bundled import bundled_scenario, bundled_scenario_names, near_bundled_name

    given = Path(scenario)
    if given.is_absolute():
        return given
    places = [base / given for base in (test_file.parent if test_file else None, rootdir) if base is not None]
    for place in places:
        if place.exists():
            return _shown(place)
    bundled = bundled_scenario(os.fspath(scenario))
    if bundled is not None:
        return _shown(bundled)
    looked = ", ".join(dict.fromkeys(str(p) for p in places)) or "(no test file or rootdir to look from)"
    names = bundled_scenario_names()
    near = near_bundled_name(os.fspath(scenario))
    raise UsageError(f"no scenario {os.fspath(scenario)!r}: looked for {looked}"
                     + (f"; did you mean the bundled {near!r}?" if near else "")
                     + (f"; the bundled scenarios are {', '.join(names)}" if names else ""))


def _shown(path: Path) -> Path:
    """The path as findings quote it (file:line): relative to the current directory when it is below
    it, as an editor or terminal opens it, else absolute."""
    path = path.resolve()
    try:
        return path.relative_to(Path.cwd())
    except ValueError:
        return path


def _resolver(request: pytest.FixtureRequest) -> Callable[[str | os.PathLike[str]], Path]:
    test_file = getattr(request, "path", None)
    rootdir = request.config.rootpath
    return lambda scenario: resolve_scenario(scenario, test_file=test_file, rootdir=rootdir)


@pytest.fixture
def rtmock(request: pytest.FixtureRequest) -> Iterator[Callable[..., RtmockServer]]:
    """A factory: `rtmock(scenario, within=..., grace=..., connect_timeout=..., record_dir=..., tls=...)`
    starts a judged server (`scenario`: a bundled name, a path relative to the test file or rootdir, or a
    `LoadedScenario`). At teardown every server it started is closed, the last first, and errors inside
    a server that the test has not seen yet are raised (`RtmockServer.check()`)."""
    servers: list[RtmockServer] = []
    resolve = _resolver(request)

    def start(scenario: str | os.PathLike[str] | LoadedScenario, **options: Any) -> RtmockServer:
        from ..mockserver.scenario.loader import LoadedScenario, load_scenario
        from ._plugin_server import RtmockServer

        loaded = scenario if isinstance(scenario, LoadedScenario) else load_scenario(resolve(scenario))
        factor = environment_factor()  # a slow runner: every bound longer (`rtmock run --scale-bounds`)
        loaded = scaled(loaded, factor)
        options["within"] = scaled_within(options.get("within"), factor)
        server = RtmockServer(loaded, **options)
        servers.append(server)
        return server

    yield start
    problems: list[Exception] = []
    for server in reversed(servers):
        try:
            server.close()
        except Exception as exc:
            problems.append(exc)
    for server in servers:
        try:
            server.check()
        except Exception as exc:
            problems.append(exc)
    if problems:
        raise problems[0]


@pytest.fixture
def rtmock_server(request: pytest.FixtureRequest, rtmock: Callable[..., RtmockServer]) -> RtmockServer:
    """The server for the test's `@pytest.mark.rtmock_scenario(scenario, **options)` (or `indirect`
    parametrization); closed by `rtmock`'s teardown."""
    marker = request.node.get_closest_marker("rtmock_scenario")
    scenario = getattr(request, "param", None) or (marker.args[0] if marker and marker.args else None)
    if scenario is None:
        raise pytest.UsageError("rtmock_server needs @pytest.mark.rtmock_scenario('get_your_info') "
                                "(a bundled name, or a path relative to the test file)")
    options = dict(marker.kwargs) if marker else {}
    return rtmock(scenario, **options)


@pytest.fixture
def rtmock_fuzz(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[..., Any]:
    """`rtmock_fuzz(scenario, client, cases=50, seed=1, **FuzzOptions)` fuzzes a client's answers to the
    scenario's function calls and returns a `rtmock.harness.fuzzing.fuzz.FuzzResult`; `client` is a command list or a
    coroutine function taking the websocket URL; `scenario` is found as `rtmock` finds it. A failure's
    reproducer scenario is written under the test's tmp_path (`result.reproducer`). `stream=True` fuzzes
    how the service streams the calls instead (`rtmock fuzz --stream`), and returns a `StreamResult`:

        def test_survives_bad_arguments(rtmock_fuzz):
            result = rtmock_fuzz("get_your_info", [sys.executable, "client.py"], cases=50, seed=1)
            assert result.passed, result.explain()

        def test_survives_what_the_service_streams(rtmock_fuzz):
            result = rtmock_fuzz("get_your_info", [sys.executable, "client.py"], stream=True, cases=100, seed=1)
            assert result.passed, result.explain()
    """
    resolve = _resolver(request)

    def run(scenario: str | os.PathLike[str] | LoadedScenario, client: Any, **options: Any) -> Any:
        from ..mockserver.scenario.loader import LoadedScenario

        try:
            from .fuzzing.fuzz import fuzz_client
        except ModuleNotFoundError as exc:
            if exc.name not in ("hypothesis", "jsonschema"):
                raise
            pytest.fail(f"rtmock_fuzz needs {exc.name}, which the fuzz extra installs: pip install 'rtmock[fuzz]'",
                        pytrace=False)

        result = fuzz_client(scenario if isinstance(scenario, LoadedScenario) else resolve(scenario), client, **options)
        if result.failure is not None:
            result.write_reproducer(tmp_path / f"{result.scenario.name}.repro.yaml")
        return result

    return run
