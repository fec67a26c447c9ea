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


def test_lint_of_a_project_skips_its_dot_directories_and_a_missing_path_is_a_usage_error(tmp_path: Path) -> None:
    # what `rtmock init` writes: scenarios beside a CI workflow, which is YAML but no scenario
    (tmp_path / "scenarios").mkdir()
    (tmp_path / "scenarios" / "s.yaml").write_text((ROOT / "scenarios" / "get_your_info.yaml").read_text())
    (tmp_path / ".github" / "workflows").mkdir(parents=True)
    (tmp_path / ".github" / "workflows" / "rtmock.yml").write_text("on: push\njobs: {}\n")
    ok = subprocess.run([*RTMOCK, "lint", "."], capture_output=True, text=True, cwd=tmp_path)
    assert ok.returncode == 0 and "1 scenario file(s) OK" in ok.stdout, ok.stdout + ok.stderr
    missing = subprocess.run([*RTMOCK, "lint", "nope/"], capture_output=True, text=True, cwd=tmp_path)
    assert missing.returncode == 2 and "nope/: no such file or directory" in missing.stderr


def test_a_misspelt_bundled_scenario_name_is_told_the_name_it_was_near(tmp_path: Path) -> None:
    out = subprocess.run([*RTMOCK, "run", "get_your_inf", "--", sys.executable, "-c", "pass"],
                         capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 2
    assert "did you mean the bundled 'get_your_info'?" in out.stderr, out.stderr


def test_check_takes_a_directory_of_transcripts_and_says_when_it_holds_none(tmp_path: Path) -> None:
    recorded = tmp_path / "recorded" / "000-get_your_info"
    recorded.mkdir(parents=True)
    client = tmp_path / "client.py"
    client.write_text((ROOT / "examples" / "correct_rtclient_style.py").read_text())
    ran = subprocess.run([*RTMOCK, "run", "get_your_info", "--transcript", str(tmp_path / "recorded"), "--",
                          sys.executable, str(client)], capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    checked = subprocess.run([*RTMOCK, "check", str(tmp_path / "recorded")], capture_output=True, text=True,
                             cwd=tmp_path, timeout=60)
    assert checked.returncode == 0 and "PASS" in checked.stdout, checked.stdout + checked.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    none = subprocess.run([*RTMOCK, "check", str(empty)], capture_output=True, text=True, cwd=tmp_path)
    assert none.returncode == 2
    assert none.stderr.strip() == f"rtmock: {empty}: a directory with no transcript (.jsonl) in it: name the transcript files"


def test_the_plugin_names_a_scenario_it_cannot_find_once_and_the_bundled_one_it_was_near(tmp_path: Path) -> None:
    from rtmock.harness.pytest_plugin import resolve_scenario
    from rtmock.mockserver.errors import UsageError

    try:
        resolve_scenario("get_your_inf", test_file=tmp_path / "test_x.py", rootdir=tmp_path)
    except UsageError as exc:
        message = str(exc)
    else:
        raise AssertionError("a scenario that is nowhere was resolved")
    assert message.count(str(tmp_path / "get_your_inf")) == 1, message  # the test's folder is the rootdir
    assert "did you mean the bundled 'get_your_info'?" in message


def test_a_report_that_cannot_be_written_where_asked_is_said_before_the_run(tmp_path: Path) -> None:
    (tmp_path / "client.py").write_text("raise SystemExit('the client must not be started')\n")
    out = subprocess.run([*RTMOCK, "run", "get_your_info", "--html", "client.py/r.html", "--",
                          sys.executable, "client.py"], capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.strip() == "rtmock: --html client.py/r.html: client.py is a file, not a folder"


def test_durations_on_the_command_line_are_written_as_in_scenario_files(tmp_path: Path) -> None:
    ok = subprocess.run([*RTMOCK, "run", "get_your_info", "--within", "2s", "--grace", "500ms", "--timeout", "1m",
                         "--", sys.executable, str(ROOT / "examples" / "correct_rtclient_style.py")],
                        capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    bad = subprocess.run([*RTMOCK, "run", "get_your_info", "--within", "2x", "--", sys.executable, "-c", "pass"],
                         capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert bad.returncode == 2 and "'2x' is not a duration: write e.g. 2s, 500ms" in bad.stderr
