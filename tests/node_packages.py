"""The npm packages tests use, installed once into tests/node/node_modules (ignored by git).

Every test that needs Node calls `node_with_packages()`: it skips with an install hint where Node 20+
or npm is missing, and otherwise runs `npm install` in tests/node when a package of its
package.json is not installed, under a file lock (pytest-xdist workers share the folder).
"""

from __future__ import annotations

import fcntl
import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

NODE_DIR = Path(__file__).resolve().parent / "node"
INSTALL_HINT = ("Node.js 20+ and npm are needed for this test: install them from https://nodejs.org "
                "(or `apt-get install nodejs npm`), then rerun")


def _missing() -> list[str]:
    wanted = json.loads((NODE_DIR / "package.json").read_text())["dependencies"]
    return [name for name in wanted if not (NODE_DIR / "node_modules" / name / "package.json").exists()]


def node_with_packages() -> str:
    """The `node` executable, with every package of tests/node/package.json installed."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip(f"{'node' if node is None else 'npm'} not found. {INSTALL_HINT}")
    version = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
    major = re.match(r"v(\d+)", version)
    if major is None or int(major.group(1)) < 20:
        pytest.skip(f"node {version or '(unknown version)'} is too old. {INSTALL_HINT}")
    if _missing():
        with open(Path(tempfile.gettempdir()) / "rtmock-tests-node-npm-install.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if _missing():
                done = subprocess.run([npm, "install", "--no-audit", "--no-fund", "--loglevel=error"],
                                      cwd=NODE_DIR, capture_output=True, text=True, timeout=300)
                if done.returncode != 0 or _missing():
                    pytest.fail(f"npm install in {NODE_DIR} failed:\n{done.stderr[-2000:]}")
    return node
