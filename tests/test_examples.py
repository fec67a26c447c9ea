"""Every example gets the verdict examples/README.md documents, through `rtmock run` as a real
process (`python -m rtmock.harness.cli run … --json FILE -- python examples/X.py`): the exit code, and the
exact rule ids of each scenario's findings. A saved transcript of each session, judged again with
`rtmock check`'s code, gives the same findings as the live run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from rtmock.harness.judging.check import check_transcripts

pytestmark = pytest.mark.integration  # example clients in their own processes through `rtmock run`

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"

# example → {scenario: the rule ids of its findings ([] = PASS)}
VERDICTS: dict[str, dict[str, list[str]]] = {
    "correct_rtclient_style": {"get_your_info": [], "parallel_calls": [], "slow_response_done": []},
    "correct_openai_sdk": {"get_your_info": [], "parallel_calls": [], "slow_response_done": []},
    "buggy_missing_response_create": {"get_your_info": ["missing-response-create"]},
    "buggy_wrong_call_id": {"get_your_info": ["wrong-call-id"]},
    "buggy_output_not_string": {"get_your_info": ["output-not-string"]},
    "buggy_create_before_output": {"get_your_info": ["create-before-output"]},
    "buggy_double_response_create": {"get_your_info": ["double-response-create"]},
    "buggy_parallel_one_by_one": {"parallel_calls": ["create-before-output"],
                                  "slow_response_done": ["create-while-active"],
                                  "get_your_info": []},
}


def test_every_example_has_a_documented_verdict() -> None:
    assert {p.stem for p in EXAMPLES.glob("*.py")} >= set(VERDICTS)
    readme = (EXAMPLES / "README.md").read_text()
    for example, verdicts in VERDICTS.items():
        source = (EXAMPLES / f"{example}.py").read_text()
        assert f"examples/{example}.py" in readme
        for scenario, rules in verdicts.items():
            assert f"scenarios/{scenario}.yaml" in readme
            for rule in rules:
                assert f"`{rule}`" in source, f"{example}'s docstring names its verdict {rule}"


@pytest.mark.parametrize("example", list(VERDICTS))
def test_example_gets_its_documented_verdict(example: str, tmp_path: Path) -> None:
    verdicts = VERDICTS[example]
    report = tmp_path / "results.json"
    transcripts = tmp_path / "transcripts"
    command = [sys.executable, "-m", "rtmock", "run",
               *(str(ROOT / "scenarios" / f"{name}.yaml") for name in verdicts),
               "-j", str(len(verdicts)), "--json", str(report), "--transcript", str(transcripts),
               # a loaded CI machine can take a while to import the openai package
               "--connect-timeout", "120", "--timeout", "120",
               "--", sys.executable, str(EXAMPLES / f"{example}.py")]
    run = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    output = f"stdout:\n{run.stdout}\nstderr:\n{run.stderr}"

    results = json.loads(report.read_text())["results"]
    seen = {r["scenario"]: [f["rule"] for s in r["sessions"] for f in s["findings"]] + [f["rule"] for f in r["findings"]]
            for r in results}
    assert seen == verdicts, output
    assert run.returncode == (0 if all(rules == [] for rules in verdicts.values()) else 1), output
    for result in results:
        assert result["passed"] == (verdicts[result["scenario"]] == []), output
        (session,) = result["sessions"]  # one client, one session per scenario
        for finding in session["findings"]:
            assert finding["message"] and finding["hint"]
            assert finding["index"] is not None or finding["time"] is not None  # where: event #n, or when

        # `rtmock check` on the saved transcript: the same findings, word for word (transcripts keep
        # times to the microsecond)
        (checked,) = check_transcripts([session["transcript"]])
        ((_, verdict),) = checked.sessions
        rechecked = [f.to_json() for f in verdict.findings]
        assert [_timeless(f) for f in rechecked] == [_timeless(f) for f in session["findings"]]
        assert [f["time"] for f in rechecked] == pytest.approx([f["time"] for f in session["findings"]], abs=2e-6)
        assert verdict.passed == session["passed"]


def _timeless(finding: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in finding.items() if k != "time"}


@pytest.mark.parametrize("example", ["correct_openai_sdk", "buggy_missing_response_create", "correct_rtclient_style"])
def test_the_starters_tools_survive_arguments_a_fuzzer_sends(example: str) -> None:
    """`rtmock init` copies these clients: their tools must survive `rtmock fuzz`'s payloads (1000
    nested arrays make json.loads raise RecursionError, not ValueError; valid JSON need not be an object)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(example, ROOT / "examples" / f"{example}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for arguments in ('{"query": ' + "[" * 1000 + "]" * 1000 + "}", "[1, 2]", "42", "not json", ""):
        assert isinstance(module.run_tool("get_your_info", arguments), dict)
