"""The voice-agent examples get the verdicts examples/README.md documents, through the installed
`rtmock` console script as a user runs it (`rtmock run scenarios/X.yaml --json FILE -- python
examples/Y.py`): the exit code and the exact rule ids; and `rtmock check` on the saved transcript
finds the same."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from rtmock.harness.judging.check import check_transcripts

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
RTMOCK = shutil.which("rtmock", path=str(Path(sys.executable).parent)) or shutil.which("rtmock")

# example → (scenario, the rule ids of its findings; [] = PASS)
VERDICTS: dict[str, tuple[str, list[str]]] = {
    "correct_phone_call_g711": ("phone_call_g711", []),
    "buggy_phone_call_no_create": ("phone_call_g711", ["missing-response-create"]),
    "correct_barge_in": ("barge_in", []),
    "buggy_barge_in_no_truncate": ("barge_in", ["scenario-mismatch"]),
    "correct_cancel_function_call": ("cancel_function_call", []),
    "buggy_cancel_runs_cancelled_call": ("cancel_function_call", ["client-crashed"]),
    "correct_out_of_band": ("out_of_band", []),
    "buggy_side_request_in_conversation": ("out_of_band", ["create-while-active"]),
    "correct_transcription": ("transcription", []),
    "buggy_transcription_beta_key": ("transcription", ["invalid-client-event"]),
}


def test_every_voice_example_is_documented_with_its_verdict() -> None:
    readme = (EXAMPLES / "README.md").read_text()
    for example, (scenario, rules) in VERDICTS.items():
        source = (EXAMPLES / f"{example}.py").read_text()
        assert f"examples/{example}.py" in readme and f"scenarios/{scenario}.yaml" in readme
        assert f"rtmock run scenarios/{scenario}.yaml -- python examples/{example}.py" in source
        for rule in rules:
            assert f"`{rule}`" in source, f"{example}'s docstring names its verdict {rule}"
        if example.startswith("buggy_"):
            assert "BUG" in source


@pytest.mark.skipif(RTMOCK is None, reason="the rtmock console script is not installed")
@pytest.mark.parametrize("example", list(VERDICTS))
def test_voice_example_gets_its_documented_verdict(example: str, tmp_path: Path) -> None:
    assert RTMOCK is not None
    scenario, rules = VERDICTS[example]
    report, transcripts = tmp_path / "results.json", tmp_path / "transcripts"
    command = [RTMOCK, "run", f"scenarios/{scenario}.yaml", "--json", str(report), "--transcript", str(transcripts),
               # a loaded CI machine can take a while to import the openai package
               "--connect-timeout", "120", "--timeout", "120", "--", sys.executable, f"examples/{example}.py"]
    run = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    output = f"stdout:\n{run.stdout}\nstderr:\n{run.stderr}"
    (result,) = json.loads(report.read_text())["results"]
    (session,) = result["sessions"]
    seen = [f["rule"] for f in session["findings"]] + [f["rule"] for f in result["findings"]]
    assert seen == rules, output
    assert run.returncode == (0 if not rules else 1), output
    if "client-crashed" in rules:
        return  # a crash is the process's, not in the transcript: `rtmock check` sees only the session cut short
    # `rtmock check` on the saved transcript: the same findings
    (checked,) = check_transcripts([session["transcript"]])
    ((_, verdict),) = checked.sessions
    assert [f.rule.value for f in verdict.findings] == [f["rule"] for f in session["findings"]]
