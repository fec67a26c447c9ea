"""A correct client carries on past an `error` the service sends on its own.

The service may report a problem that is not the client's (a `server_error`) and go on with the
session; only a close ends it. `examples/correct_openai_sdk.py` logs such an error and keeps
answering calls: through `rtmock run`, as a real process, it passes a scenario that sends one
between two tool rounds."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration  # an example client in its own process through `rtmock run`

ROOT = Path(__file__).resolve().parent.parent

#: Two tool rounds with a server_error between them (its text as the service writes one,
#: scenarios/server_closes.yaml), then the answer.
ERROR_BETWEEN_CALLS = """\
name: error_between_calls
description: A server_error between two tool rounds; the session goes on.
tools:
  - name: get_your_info
    description: Look up a fact about the user.
    parameters: {type: object, properties: {query: {type: string}}, required: [query]}
  - name: get_weather
    description: Current weather in a city.
    parameters: {type: object, properties: {city: {type: string}}, required: [city]}
steps:
  - expect: session.update
    within: 5s
  - expect: response.create
    within: 5s
  - respond:
      - function_call: {id: info, name: get_your_info, arguments: {query: favorite food}}
  - expect: function_call_output
    call: info
    within: 5s
  - expect: response.create
    within: 3s
  - send:
      type: error
      event_id: event_rtmock_server_error
      error:
        type: server_error
        code: null
        message: The server had an error while processing your request. Sorry about that!
        param: null
        event_id: null
  - respond:
      - function_call: {id: weather, name: get_weather, arguments: {city: Paris}}
  - expect: function_call_output
    call: weather
    within: 5s
  - expect: response.create
    within: 3s
  - respond:
      - text: Pizza, and it is sunny in Paris.
"""


def test_the_openai_sdk_example_logs_a_server_error_between_calls_and_carries_on(tmp_path: Path) -> None:
    scenario = tmp_path / "error_between_calls.yaml"
    scenario.write_text(ERROR_BETWEEN_CALLS)
    report = tmp_path / "results.json"
    run = subprocess.run([sys.executable, "-m", "rtmock", "run", str(scenario), "--json", str(report),
                          # a loaded CI machine can take a while to import the openai package
                          "--connect-timeout", "120", "--timeout", "120",
                          "--", sys.executable, str(ROOT / "examples" / "correct_openai_sdk.py")],
                         cwd=tmp_path, capture_output=True, text=True, timeout=300)
    output = f"stdout:\n{run.stdout}\nstderr:\n{run.stderr}"
    (result,) = json.loads(report.read_text())["results"]
    findings = [f["rule"] for s in result["sessions"] for f in s["findings"]] + [f["rule"] for f in result["findings"]]
    assert findings == [] and result["passed"], output
    assert run.returncode == 0, output
