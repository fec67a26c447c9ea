"""Real realtime frameworks, run unmodified through `rtmock run` as a user runs them.

Each framework's client is a program in `clients/` that reads the environment `rtmock run` gives it
(OPENAI_BASE_URL, AZURE_OPENAI_ENDPOINT, ...), plays the scenario the way the framework's own docs
and samples do, and exits 0 once it has the final answer. The test runs the real `rtmock` console
script in a real process and reads its `--json` report: the verdict under test is rtmock's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ROOT / "scenarios"
CLIENTS = Path(__file__).resolve().parent / "clients"
RTMOCK = str(Path(sys.executable).with_name("rtmock"))
#: a bound on one whole `rtmock run` (its own bounds are seconds; a hang must fail, not stall CI)
RUN_BOUND = 120.0


@dataclass(frozen=True)
class Verdict:
    """What `rtmock run` concluded: its exit code, the rule ids it reported, and its output."""

    exit_code: int
    rules: list[str]
    report: dict[str, Any]
    output: str

    def explain(self) -> str:
        return f"rtmock exited {self.exit_code}, rules {self.rules}\n{self.output[-6000:]}"


def rtmock_run(scenario: str | Path, command: list[str], *options: str, tmp_path: Path,
               env: dict[str, str] | None = None) -> Verdict:
    """`rtmock run SCENARIO [options] -- COMMAND`, judged; `scenario` is a bundled name or a path."""
    path = scenario if isinstance(scenario, Path) else SCENARIOS / f"{scenario}.yaml"
    report = tmp_path / f"{path.stem}.json"
    done = subprocess.run(
        # a framework client may take seconds to shut down on a loaded machine: let it exit on its own
        [RTMOCK, "run", str(path), "--json", str(report), "--grace", "15", *options, "--", *command],
        capture_output=True, text=True, timeout=RUN_BOUND, env={**os.environ, **(env or {})}, cwd=tmp_path)
    output = done.stdout + done.stderr
    data: dict[str, Any] = json.loads(report.read_text()) if report.exists() else {}
    rules = [f["rule"] for result in data.get("results", [])
             for f in [*result.get("findings", []),
                       *(g for s in result.get("sessions", []) for g in s.get("findings", []))]]
    return Verdict(done.returncode, rules, data, output)


@pytest.fixture
def run_client(tmp_path: Path) -> Any:
    """`run_client(scenario, [argv...], *options)` → the `Verdict` of rtmock on that client."""
    def run(scenario: str | Path, command: list[str], *options: str, env: dict[str, str] | None = None) -> Verdict:
        return rtmock_run(scenario, command, *options, tmp_path=tmp_path, env=env)
    return run
