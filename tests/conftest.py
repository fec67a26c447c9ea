"""How the suite is run, not what it tests: the number of xdist workers `-n auto` starts, the order
tests are handed out in, and bytecode caching for the Python processes the tests start.

Most of the suite's time is spent waiting, not computing: on client processes starting up, on real
sockets, on a scenario's bound running out. On 2 cores, 2 workers left about half the CPU idle.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

# The Python processes the tests start (rtmock run/serve, example clients, framework clients) compile
# rtmock's modules again each time when bytecode caching is off (PYTHONDONTWRITEBYTECODE, set on some
# machines): about 0.1 s of CPU a process, hundreds of processes. Cached in __pycache__ (git-ignored)
# next to the sources instead; what runs is the same code.
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)

#: Modules with the longest tests, handed out first so that none of them starts last and runs on
#: alone at the end (a stale entry only costs time). Measured with `pytest -n auto --durations=60`.
LONGEST_FIRST = (
    "tests/test_wheel.py",
    "tests/test_stream_fuzz.py",
    "tests/test_pytest_plugin_readme.py",
    "tests/test_pytest_plugin.py",
    "tests/test_pytest_plugin_run.py",
    "tests/test_hostile_files.py",
    "tests/test_proxy.py",  # after others: its first tests wait for its recordings (made once per run)
    "tests/frameworks/",
    "tests/test_fuzz_stream_clients.py",
    "tests/test_fuzz_clients.py",
    "tests/test_hardening.py",
    "tests/test_flood.py",
    "tests/test_examples.py",
    "tests/test_voice_examples.py",
    "tests/test_fuzz.py",
    "tests/test_voicelive_shapes.py",
    "tests/test_scenario_build.py",
)


@pytest.hookimpl(optionalhook=True)  # xdist's hooks: pytest runs without xdist too
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int | None:
    """`-n auto`: two workers a core, since a worker mostly waits (PYTEST_XDIST_AUTO_NUM_WORKERS
    still decides when set)."""
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return None  # xdist's own hook reads it
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return 2 * cores


#: Modules whose tests one xdist worker runs, one after the other: the wheel's virtualenv is built
#: once per run under a lock (tests/run_once.py), and other workers would only wait on it; each
#: framework module imports its framework once per worker that runs it (to skip where it is missing).
ONE_WORKER = frozenset({
    "tests/test_wheel.py",
    "tests/frameworks/test_livekit.py",
    "tests/frameworks/test_pipecat.py",
    "tests/frameworks/test_voicelive.py",
})


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """`-n` without `--dist`: tests handed out one at a time as workers free up (each worker holds at
    most three), the tests of a ONE_WORKER module together. (pytest-xdist's own `--dist loadgroup`
    does not group under pytest 9: it renames node ids through an attribute pytest no longer reads.)"""
    if config.getvalue("dist") != "load":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class Scheduler(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            return module if module in ONE_WORKER else nodeid

    return Scheduler(config, log)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The longest modules' tests first (in LONGEST_FIRST's order), then the rest as collected. Every
    xdist worker sorts the same way, so their collections still agree."""
    def rank(item: pytest.Item) -> int:
        where = item.nodeid
        for i, prefix in enumerate(LONGEST_FIRST):
            if where.startswith(prefix):
                return i
        return len(LONGEST_FIRST)

    items.sort(key=rank)  # stable: collection order within a rank
