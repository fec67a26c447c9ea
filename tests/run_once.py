"""Expensive setup made once per test run and shared by every pytest-xdist worker."""

from __future__ import annotations

import fcntl
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest


def once_per_run(tmp_path_factory: pytest.TempPathFactory, name: str, build: Callable[[Path], None]) -> Path:
    """The folder `name` of this test run, filled by `build(folder)` the first time it is asked for.

    Under xdist the folder is in the run's temporary folder, above each worker's own: the first
    worker to come builds it under a file lock, the others wait for it and then use what it built.
    A build that fails is not marked ready: the next worker to come clears what it left and tries
    again (and fails alike)."""
    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent  # the run's folder, above each worker's own
    where = shared / name
    where.mkdir(exist_ok=True)
    with open(where / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (where / ".ready").exists():
            for left in where.iterdir():  # what a failed build left
                if left.name != ".lock":
                    shutil.rmtree(left) if left.is_dir() and not left.is_symlink() else left.unlink()
            build(where)
            (where / ".ready").write_text("")
    return where
