"""Fuzzing is an extra: rtmock installs without Hypothesis, and says what to install when asked to fuzz."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import requires


def test_hypothesis_is_only_a_dependency_of_the_fuzz_extra_and_unpinned() -> None:
    hypothesis = [r for r in requires("rtmock") or [] if r.startswith("hypothesis")]
    assert hypothesis and all('extra == "fuzz"' in r for r in hypothesis), hypothesis
    assert not any("<" in r.split(";")[0] for r in hypothesis), "no upper pin on the user's Hypothesis"
    assert not any(r.startswith("hypothesis-jsonschema") for r in requires("rtmock") or [])


def test_fuzz_without_hypothesis_says_to_install_the_extra() -> None:
    code = ("import sys; sys.modules['hypothesis'] = None\n"  # as if it were not installed
            "from rtmock.harness.cli import main; sys.exit(main(['fuzz', 'get_your_info', '--', 'true']))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip() == "rtmock: rtmock fuzz needs hypothesis, which the fuzz extra installs: " \
                                  "pip install 'rtmock[fuzz]'"


def test_running_a_client_never_imports_hypothesis() -> None:
    code = "import sys; from rtmock.harness.cli import _parser; _parser(); print('hypothesis' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "False", done.stderr
