"""`--scale-bounds FACTOR` (or $RTMOCK_SCALE_BOUNDS): every bound of the scenarios FACTOR times as
long, for a slow CI machine or a client under a debugger; the server's own pacing stays."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from rtmock.harness.bounds import SCALE_BOUNDS_ENV, scaled_within
from rtmock.mockserver.scenario.loader import load_scenario_text
from rtmock.mockserver.scenario.model import ExpectStep, PauseStep, RespondStep, with_bounds_scaled

RTMOCK = [sys.executable, "-m", "rtmock"]

SCENARIO = """\
name: quick
steps:
  - expect: response.create
    within: 0.4s
  - respond:
      - text: hi
"""

#: Asks for its response 0.8 s after the session starts: past the scenario's 0.4 s bound, within 3×.
SLOW_CLIENT = """\
import json, os, time
from websockets.sync.client import connect
with connect(os.environ["RTMOCK_URL"], additional_headers={"Authorization": "Bearer x"}) as ws:
    json.loads(ws.recv(timeout=10))
    time.sleep(0.8)  # the client's own slowness, which the bound judges
    ws.send(json.dumps({"type": "response.create", "response": {"output_modalities": ["text"]}}))
    while json.loads(ws.recv(timeout=10))["type"] != "response.done":
        pass
"""


def _run(tmp_path: Path, *options: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    scenario, client = tmp_path / "quick.yaml", tmp_path / "slow_client.py"
    scenario.write_text(SCENARIO)
    client.write_text(SLOW_CLIENT)
    environment = {k: v for k, v in os.environ.items() if k != SCALE_BOUNDS_ENV} | (env or {})
    return subprocess.run([*RTMOCK, "run", str(scenario), *options, "--", sys.executable, str(client)],
                          capture_output=True, text=True, env=environment, timeout=60)


def test_a_client_slower_than_a_bound_fails_and_passes_with_the_bounds_scaled(tmp_path: Path) -> None:
    slow = _run(tmp_path)
    assert slow.returncode == 1 and "scenario-mismatch" in slow.stdout, slow.stdout + slow.stderr
    scaled = _run(tmp_path, "--scale-bounds", "3")
    assert scaled.returncode == 0 and "PASS" in scaled.stdout, scaled.stdout + scaled.stderr
    from_env = _run(tmp_path, env={SCALE_BOUNDS_ENV: "3"})
    assert from_env.returncode == 0 and "PASS" in from_env.stdout, from_env.stdout + from_env.stderr


@pytest.mark.parametrize(("options", "env", "named"), [
    (["--scale-bounds", "0"], None, "--scale-bounds"),
    (["--scale-bounds", "slow"], None, "--scale-bounds"),
    ([], {SCALE_BOUNDS_ENV: "-2"}, f"${SCALE_BOUNDS_ENV}"),
])
def test_a_factor_that_is_not_a_positive_number_is_a_one_line_usage_error(
        tmp_path: Path, options: list[str], env: dict[str, str] | None, named: str) -> None:
    out = _run(tmp_path, *options, env=env)
    assert out.returncode == 2 and out.stdout == ""
    (line,) = out.stderr.splitlines()
    assert line.startswith(f"rtmock: {named} must be a positive number"), line


def test_every_expect_bound_and_the_default_scale_and_the_servers_pacing_does_not() -> None:
    loaded = load_scenario_text("defaults: {within: 2s}\nsteps:\n  - expect: session.update\n"
                                "  - expect: response.create\n    within: 0.5s\n  - pause: 1s\n"
                                "  - respond:\n      - text: hi\n    hold: 1s\n    delta_interval: 0.1s\n")
    scaled = with_bounds_scaled(loaded.scenario, 3)
    expects = [s for s in scaled.steps if isinstance(s, ExpectStep)]
    assert [s.within for s in expects] == [None, 1.5] and scaled.defaults.within == 6
    assert [s for s in scaled.steps if isinstance(s, PauseStep)] == [s for s in loaded.scenario.steps
                                                                     if isinstance(s, PauseStep)]
    (respond,) = [s for s in scaled.steps if isinstance(s, RespondStep)]
    assert (respond.hold, respond.delta_interval) == (1.0, 0.1)
    assert with_bounds_scaled(loaded.scenario, 1) is loaded.scenario


def test_the_pytest_plugin_scales_the_bounds_from_the_environment(
        rtmock: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    scenario = tmp_path / "quick.yaml"
    scenario.write_text(SCENARIO)
    monkeypatch.setenv(SCALE_BOUNDS_ENV, "2.5")
    server = rtmock(str(scenario))
    (expect,) = [s for s in server.scenario.scenario.steps if isinstance(s, ExpectStep)]
    assert expect.within == 1.0  # 0.4 s, 2.5 times


def test_within_scales_and_a_session_without_a_scenario_gets_its_default_bound_scaled() -> None:
    assert scaled_within(2.0, 3) == 6.0
    assert scaled_within(None, 3) is None  # the scenario's own default, scaled with the scenario
    assert scaled_within(None, 3, scenario=False) == 15.0  # `run --upstream` / `proxy` without a scenario
    assert scaled_within(None, 1, scenario=False) is None


def test_a_bad_factor_in_the_environment_stops_pytest_once_at_start_up(tmp_path: Path) -> None:
    (tmp_path / "test_nothing.py").write_text("def test_nothing():\n    pass\n")
    env = {k: v for k, v in os.environ.items() if k != SCALE_BOUNDS_ENV} | {SCALE_BOUNDS_ENV: "fast"}
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
                         capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60)
    assert out.returncode == 4, out.stdout + out.stderr  # pytest's usage error
    assert f"rtmock: ${SCALE_BOUNDS_ENV} must be a positive number" in out.stderr, out.stderr
