"""The small commands: schema (and the copy editors use), lint."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RTMOCK = [sys.executable, "-m", "rtmock"]


def test_the_bundled_schema_is_what_rtmock_schema_prints() -> None:
    out = subprocess.run([*RTMOCK, "schema"], capture_output=True, text=True, check=True, cwd=ROOT).stdout
    assert json.loads(out) == json.loads((ROOT / "docs" / "scenario.schema.json").read_text()), (
        "docs/scenario.schema.json is stale: run `rtmock schema > docs/scenario.schema.json`")


def test_lint_passes_the_bundled_scenarios_and_fails_a_bad_one(tmp_path: Path) -> None:
    ok = subprocess.run([*RTMOCK, "lint", "scenarios"], capture_output=True, text=True, cwd=ROOT)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("steps:\n  - expect: response.create\n    withn: 2s\n")
    out = subprocess.run([*RTMOCK, "lint", str(bad)], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 1
    assert out.stdout.splitlines()[0] == f"{bad}:3:5: unknown key 'withn': did you mean 'within'?"
