"""Scenario suite scaling: N scenario runs (default 200) through `rtmock run -j 2` (a fresh server
and a client process per run) and through the pytest plugin under `pytest -n 2` (a generated file
of N parametrized tests, each with its own judged server and an in-process aiohttp client).

    python bench/bench_suite_scaling.py [--runs 200]

Reports runs per second; every run must pass, or it prints FAILED and exits 1 with no rate.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, SEED, rtmock_command, save_result

BENCH = Path(__file__).resolve().parent

TEST_FILE = '''
import sys, pytest
sys.path.insert(0, {bench!r})
import aiohttp
from _common import play_get_your_info

@pytest.mark.parametrize("n", range({runs}))
async def test_get_your_info(rtmock, n):
    server = rtmock({scenario!r}, tls=False)
    async with aiohttp.ClientSession() as http:
        await play_get_your_info(http, server.url)
    result = await server.verdict_async()
    assert result.passed, result.explain()
'''


def via_cli(runs: int) -> tuple[float, int, int]:
    command = [*rtmock_command(), "run", *[str(SEED)] * runs, "-j", "2", "--",
               sys.executable, str(BENCH / "client_get_your_info.py")]
    began = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60 + runs * 5)
    took = time.perf_counter() - began
    passed = len(re.findall(r"^PASS ", done.stdout, re.MULTILINE))
    if done.returncode != 0 or passed != runs:
        print(done.stdout[-3000:], done.stderr[-2000:], file=sys.stderr)
    return took, passed, done.returncode


def via_pytest(runs: int) -> tuple[float, int, int]:
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "test_suite.py").write_text(TEST_FILE.format(bench=str(BENCH), runs=runs, scenario=str(SEED)))
        Path(tmp, "pytest.ini").write_text(textwrap.dedent("""\
            [pytest]
            asyncio_mode = auto
            asyncio_default_fixture_loop_scope = function
            """))
        command = [sys.executable, "-m", "pytest", "-q", "-n", "2", "-p", "no:cacheprovider", "test_suite.py"]
        began = time.perf_counter()
        done = subprocess.run(command, cwd=tmp, capture_output=True, text=True, timeout=60 + runs * 5)
        took = time.perf_counter() - began
    found = re.search(r"(\d+) passed", done.stdout)
    passed = int(found.group(1)) if found else 0
    if done.returncode != 0:
        print(done.stdout[-3000:], done.stderr[-2000:], file=sys.stderr)
    return took, passed, done.returncode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    command = f"python bench/bench_suite_scaling.py --runs {args.runs}"
    cli_time, cli_passed, cli_exit = via_cli(args.runs)
    py_time, py_passed, py_exit = via_pytest(args.runs)
    failed = [f"{how}: {passed} of {args.runs} runs passed (exit {code})" for how, passed, code in
              (("`rtmock run -j 2`", cli_passed, cli_exit), ("pytest plugin, `pytest -n 2`", py_passed, py_exit))
              if passed != args.runs or code != 0]
    if failed:  # a rate of failed runs is no rate
        print("FAILED: " + "; ".join(failed), flush=True)
        return 1
    save_result("suite_scaling", [
        ("`rtmock run -j 2`: runs/s (all passed)", f"{args.runs / cli_time:.1f}", command),
        ("pytest plugin, `pytest -n 2`: runs/s (all passed)", f"{args.runs / py_time:.1f}", command),
    ])
    return 0


if __name__ == "__main__":
    sys.exit(main())
