"""The client's process group ends with the run, however the client ended."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RTMOCK = str(Path(sys.executable).with_name("rtmock"))


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.parametrize("run", [["run", str(ROOT / "scenarios" / "get_your_info.yaml")],
                                 ["run", "--upstream", "ws://127.0.0.1:9"]],  # never reached: no session
                         ids=["mock", "upstream"])
def test_a_client_that_exits_on_its_own_does_not_leave_its_children_running(tmp_path: Path, run: list[str]) -> None:
    pid_file = tmp_path / "child.pid"
    client = tmp_path / "client.py"
    client.write_text(textwrap.dedent(f"""
        import subprocess, sys
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
        open({str(pid_file)!r}, "w").write(str(child.pid))
        sys.exit(0)  # exits at once, without a session, leaving its child behind
    """))
    done = subprocess.run([RTMOCK, *run, "--", sys.executable, str(client)], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 1 and "no-session" in done.stdout, done.stdout + done.stderr
    child = int(pid_file.read_text())
    assert not _alive(child), "the client's child outlived the run"


def test_a_long_output_line_is_kept_to_its_first_kilobytes_and_counted() -> None:
    import collections
    import io

    from rtmock.harness.client_process import LINE_LIMIT, _pump

    tail: collections.deque[str] = collections.deque(maxlen=5)
    _pump(io.BytesIO(b"a" * 1_000_000 + b"\nValueError: boom\n"), tail, None)
    assert list(tail) == ["a" * LINE_LIMIT + f"…(+{1_000_000 - LINE_LIMIT:,} bytes)", "ValueError: boom"]


def test_a_client_that_does_not_even_compile_shows_where(tmp_path: Path) -> None:
    """A SyntaxError comes before any traceback: its file, line and caret are the report."""
    client = tmp_path / "client.py"
    client.write_text("import os\ndef broken(:\n    pass\n")
    done = subprocess.run([sys.executable, "-m", "rtmock", "run", "get_your_info", "--", sys.executable, str(client)],
                          capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert done.returncode == 1
    assert f'File "{client}", line 2' in done.stdout and "SyntaxError" in done.stdout, done.stdout
    assert "it failed before it opened a session (a syntax error" in done.stdout
