"""The npm packages tests use, installed once into tests/node/node_modules (ignored by git).

Every test that needs Node calls `node_with_packages()`: it skips with an install hint where Node 20+
or npm is missing, and otherwise runs `npm install` in tests/node unless one has finished for its
package.json and package-lock.json, under a file lock (pytest-xdist workers share the folder).
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


#: Written once `npm install` has finished: a package's package.json is there long before the whole
#: install is, so a test that went by those alone could run on a half-installed node_modules
#: (ERR_MODULE_NOT_FOUND) while another xdist worker's install was still under way.
INSTALLED = NODE_DIR / "node_modules" / ".rtmock-installed"


def _installed() -> bool:
    """npm install has finished for this package.json and package-lock.json."""
    wanted = (NODE_DIR / "package.json").read_text() + (NODE_DIR / "package-lock.json").read_text()
    return INSTALLED.exists() and INSTALLED.read_text() == wanted and not _missing()


def node_with_packages() -> str:
    """The `node` executable, with every package of tests/node/package.json installed."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip(f"{'node' if node is None else 'npm'} not found. {INSTALL_HINT}")
    version = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
    major = re.match(r"v(\d+)", version)
    if major is None or int(major.group(1)) < 20:
        pytest.skip(f"node {version or '(unknown version)'} is too old. {INSTALL_HINT}")
    if not _installed():
        with open(Path(tempfile.gettempdir()) / "rtmock-tests-node-npm-install.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not _installed():
                done = subprocess.run([npm, "install", "--no-audit", "--no-fund", "--loglevel=error"],
                                      cwd=NODE_DIR, capture_output=True, text=True, timeout=300)
                if done.returncode != 0 or _missing():
                    pytest.fail(f"npm install in {NODE_DIR} failed:\n{done.stderr[-2000:]}")
                INSTALLED.write_text((NODE_DIR / "package.json").read_text() + (NODE_DIR / "package-lock.json").read_text())
    return node
