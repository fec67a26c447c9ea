"""rtmock as a user installs it: the built wheel alone, in a fresh virtualenv, from an empty folder.

`rtmock init` writes a starter project whose printed commands pass and fail as it says; the
bundled scenarios are named without a path; `python -m rtmock --version` works; and a project with
packages of its own called `harness` and `mockserver` still runs its tests with rtmock installed.
"""

from __future__ import annotations

import difflib
import json
import os
import shutil
import subprocess
import sys
import textwrap
import venv
from pathlib import Path

import pytest
from run_once import once_per_run

pytestmark = pytest.mark.integration  # builds a wheel and installs it into a new virtualenv
# (one xdist worker runs this module's tests: tests/conftest.py's ONE_WORKER)

ROOT = Path(__file__).resolve().parent.parent


def _run(args: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A virtualenv holding the built wheel (with what it depends on), and openai and pytest for the
    starter project's client and test: its bin/ directory. Built once per test run: xdist workers
    share it (the first to come builds it, under a file lock; a minute saved per other worker)."""
    return once_per_run(tmp_path_factory, "rtmock-wheel", _build_and_install) / "venv" / "bin"


def _build_and_install(where: Path) -> None:
    # built from a copy of the sources: setuptools builds in the tree, and a build/ left there from
    # before a module moved would put the old module into the wheel
    source = where / "source"
    shutil.copytree(ROOT, source, symlinks=True, ignore=shutil.ignore_patterns(
        "build", ".git", "node_modules", ".node", "*.egg-info", "__pycache__", ".mypy_cache", ".ruff_cache"))
    built = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(where), str(source)], cwd=where)
    assert built.returncode == 0, built.stderr
    (wheel,) = where.glob("rtmock-*.whl")
    env_dir = where / "venv"
    venv.create(env_dir, with_pip=True)
    # --no-compile: the modules the tests import are compiled when imported, not all of every package
    done = _run([str(env_dir / "bin" / "python"), "-m", "pip", "install", "-q", "--no-compile", f"{wheel}", "openai[realtime]", "pytest"],
                cwd=where)
    assert done.returncode == 0, done.stderr[-3000:]


def _env(bin_dir: Path) -> dict[str, str]:
    """A user's shell with the virtualenv activated, and nothing of this checkout on the path."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    return env


def test_the_wheel_holds_the_package_its_scenarios_and_examples_and_nothing_top_level(installed: Path) -> None:
    python = str(installed / "python")
    code = ("import importlib.util, rtmock, rtmock.harness.bundled as b; "
            "print(rtmock.__version__, len(b.bundled_scenario_names()), "
            "importlib.util.find_spec('harness') is None and importlib.util.find_spec('mockserver') is None)")
    done = _run([python, "-c", code], cwd=installed, env=_env(installed))
    version, count, clean = done.stdout.split()
    assert done.returncode == 0 and clean == "True" and int(count) >= 7, done.stderr
    shown = _run([python, "-m", "rtmock", "--version"], cwd=installed, env=_env(installed))
    assert shown.stdout.strip() == f"rtmock {version}"


def test_rtmock_init_writes_a_project_whose_commands_pass_and_fail_as_printed(installed: Path, tmp_path: Path) -> None:
    env = _env(installed)
    rtmock = str(installed / "rtmock")
    made = _run([rtmock, "init", "demo"], cwd=tmp_path, env=env)
    assert made.returncode == 0 and "cd demo" in made.stdout, made.stderr
    demo = tmp_path / "demo"
    # the starter stands on its own: no word of the repository's examples/ or docs/
    for name in ("client.py", "buggy_client.py", "scenarios/get_your_info.yaml"):
        text = (demo / name).read_text()
        assert "examples/" not in text and "../docs/" not in text, name
    assert json.loads((demo / "scenario.schema.json").read_text())["$schema"]  # what the scenarios point editors at
    changed = [line for line in difflib.unified_diff((demo / "client.py").read_text().splitlines(),
                                                      (demo / "buggy_client.py").read_text().splitlines(), n=0)
               if line[:1] in "+-" and line[:3] not in ("+++", "---")]
    assert len(changed) <= 6, changed  # the docstring's line and the bug: what `diff` shows a newcomer
    passing = _run([rtmock, "run", "scenarios/get_your_info.yaml", "--", str(installed / "python"), "client.py"],
                   cwd=demo, env=env)
    assert passing.returncode == 0 and passing.stdout.startswith("PASS"), passing.stdout + passing.stderr
    failing = _run([rtmock, "run", "scenarios/get_your_info.yaml", "--", str(installed / "python"), "buggy_client.py"],
                   cwd=demo, env=env)
    assert failing.returncode == 1 and "[missing-response-create]" in failing.stdout, failing.stdout + failing.stderr
    tests = _run([str(installed / "pytest"), "-q", "-p", "no:cacheprovider"], cwd=demo, env=env)
    assert tests.returncode == 0 and "2 passed" in tests.stdout, tests.stdout + tests.stderr
    by_name = _run([rtmock, "run", "parallel_calls", "--", str(installed / "python"), "client.py"], cwd=demo, env=env)
    assert by_name.returncode == 0, by_name.stdout + by_name.stderr
    again = _run([rtmock, "init", "demo"], cwd=tmp_path, env=env)
    assert again.returncode == 2 and "already exists" in again.stderr


def test_a_project_with_its_own_harness_and_mockserver_packages_runs_its_tests(installed: Path, tmp_path: Path) -> None:
    for name in ("harness", "mockserver"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text(f"WHO = 'this project, {name}'\n")
    (tmp_path / "test_mine.py").write_text(textwrap.dedent("""
        import harness, mockserver

        def test_my_packages_are_mine():
            assert harness.WHO.endswith("harness") and mockserver.WHO.endswith("mockserver")
    """))
    done = _run([str(installed / "pytest"), "-q", "-p", "no:cacheprovider"], cwd=tmp_path, env=_env(installed))
    assert done.returncode == 0 and "1 passed" in done.stdout, done.stdout + done.stderr
