"""rtmock fuzz's clients under test: what a client process prints never stalls the run, and how a
case's verdict is composed matches `rtmock run`'s."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from harness._fuzz_clients import ProcessClient
from harness.fuzz import FuzzOptions, fuzz
from mockserver.loader import load_scenario

ROOT = Path(__file__).resolve().parent.parent
GET_YOUR_INFO = ROOT / "scenarios" / "get_your_info.yaml"
ROBUST = ROOT / "examples" / "fuzz_robust_client.py"


def chatty(client: Path, line_length: int) -> list[str]:
    """`client`, run after printing one line of `line_length` characters to stdout."""
    code = (f"import runpy, sys; print('x' * {line_length}, flush=True); sys.argv = [{str(client)!r}]; "
            f"runpy.run_path({str(client)!r}, run_name='__main__')")
    return [sys.executable, "-c", code]


async def test_a_client_printing_a_line_longer_than_a_pipe_is_read_to_its_end() -> None:
    # 1 MB without a newline: a line reader stops at its 64 KiB limit, the pipe fills, and the client
    # blocks in print; then even its end cannot be seen (asyncio waits for the pipes' EOF).
    command = [sys.executable, "-c", "import sys; print('x' * 1_000_000); print('the end'); sys.exit(3)"]
    client = await ProcessClient.start(1, "t", command, {})
    await asyncio.wait_for(asyncio.shield(client.exited), 30)
    assert client.output_tail[-2:] == ["x" * 297 + "…", "the end"]
    crash = client.crash()
    assert crash is not None and "code 3" in crash.message


async def test_fuzzing_a_client_that_prints_a_long_line_ends() -> None:
    result = await asyncio.wait_for(
        fuzz(load_scenario(GET_YOUR_INFO), chatty(ROBUST, 1_000_000), FuzzOptions(cases=5, seed=1)), 60)
    assert result.passed, result.explain()
