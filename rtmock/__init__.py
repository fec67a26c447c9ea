"""rtmock: a scripted fake OpenAI / Azure OpenAI Realtime API, and a judge of how clients answer
function calls.

The public API, imported on first use (``import rtmock`` itself loads nothing heavy)::

    from rtmock import MockServer, load_scenario, run_scenario, check_transcripts

    scenario = load_scenario("scenarios/get_your_info.yaml")       # or bundled_scenario("get_your_info")
    result = await run_scenario(scenario, ["python", "client.py"])  # serve it, run the client, judge it
    assert result.passed, [str(f) for f in result.findings]

- serve a scenario: `MockServer` (an ``async with`` server on port 0; `client_environment` for a
  client's variables), `LiveJudge` to judge its sessions as they run;
- run or judge a client: `run_scenario` / `RunOptions` / `RunResult`, `check_transcripts` for
  saved transcripts, the pure `Judge`, and what they conclude: `Finding`, `Rule`, `SessionVerdict`;
- scenarios: `load_scenario`, `load_scenario_text`, `scenario_from_dict` (built in Python),
  `bundled_scenario` (the ones rtmock ships, by name);
- errors: `RtmockError`, `ScenarioError` (the scenario's, with file:line), `UsageError`;
  `ServerError`, what the pytest plugin raises in a test for an error inside rtmock's server;
- fuzzing (the ``rtmock[fuzz]`` extra): `rtmock.payloads`, the Hypothesis strategies for
  function-call arguments, and `fuzz_client`.

The packages below (`rtmock.mockserver`, `rtmock.harness`) are the implementation; names not listed
here may change between releases.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__all__ = [
    "Finding",
    "Judge",
    "LiveJudge",
    "MockServer",
    "RtmockError",
    "Rule",
    "RunOptions",
    "RunResult",
    "ScenarioError",
    "ServerError",
    "SessionVerdict",
    "UsageError",
    "__version__",
    "bundled_scenario",
    "check_transcripts",
    "client_environment",
    "fuzz_client",
    "load_scenario",
    "load_scenario_text",
    "run_scenario",
    "scenario_from_dict",
]  # fmt: skip

#: public name → the module that defines it (relative to this package)
_WHERE = {
    "MockServer": ".mockserver.net.server", "client_environment": ".mockserver.net.server",
    "load_scenario": ".mockserver.scenario.loader", "load_scenario_text": ".mockserver.scenario.loader",
    "scenario_from_dict": ".mockserver.scenario.loader",
    "RtmockError": ".mockserver.errors", "ScenarioError": ".mockserver.errors", "UsageError": ".mockserver.errors",
    "Judge": ".harness.judging.judge", "LiveJudge": ".harness.judging.live",
    "Finding": ".harness.judging.findings", "Rule": ".harness.judging.findings", "SessionVerdict": ".harness.judging.findings",
    "RunOptions": ".harness.runner", "RunResult": ".harness.runner", "run_scenario": ".harness.runner",
    "check_transcripts": ".harness.judging.check", "bundled_scenario": ".harness.bundled", "fuzz_client": ".harness.fuzzing.fuzz",
    "ServerError": ".harness._plugin_server",
}  # fmt: skip

if TYPE_CHECKING:
    from .harness._plugin_server import ServerError
    from .harness.bundled import bundled_scenario
    from .harness.fuzzing.fuzz import fuzz_client
    from .harness.judging.check import check_transcripts
    from .harness.judging.findings import Finding, Rule, SessionVerdict
    from .harness.judging.judge import Judge
    from .harness.judging.live import LiveJudge
    from .harness.runner import RunOptions, RunResult, run_scenario
    from .mockserver.errors import RtmockError, ScenarioError, UsageError
    from .mockserver.net.server import MockServer, client_environment
    from .mockserver.scenario.loader import load_scenario, load_scenario_text, scenario_from_dict


def __getattr__(name: str) -> Any:
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("rtmock")
        except PackageNotFoundError:  # a checkout that was never installed
            return "0+unknown"
    if name in _WHERE:
        value = getattr(importlib.import_module(_WHERE[name], __name__), name)
        globals()[name] = value  # the next lookup is a plain attribute
        return value
    raise AttributeError(f"module 'rtmock' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
