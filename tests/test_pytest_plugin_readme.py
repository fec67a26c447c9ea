"""The README's pytest plugin examples run as written: their code is taken from the README's
"pytest plugin" section and run with pytester, with the one thing it leaves to the reader, the
client (`my_client` as a command, `my_async_client` in-process). A correct client passes; one that
forgets response.create fails each test within its scenario's bound instead of hanging it."""

from __future__ import annotations

import re
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[1]
INNER_TIMEOUT = 120


@pytest.fixture(autouse=True)
def _shared_certificates(monkeypatch: pytest.MonkeyPatch) -> None:
    """pytester gives each run a fresh HOME; keep using the already generated CA."""
    from rtmock.mockserver.net.tls import default_cache_dir

    monkeypatch.setenv("RTMOCK_CACHE_DIR", str(default_cache_dir().parent))


def readme_plugin_examples() -> str:
    """The Python code blocks of the README's "pytest plugin" section."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## In your tests: the pytest plugin\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    assert blocks, "the README's pytest plugin section has no python example"
    return "\n".join(blocks)


#: The clients the README leaves to the reader: `python -m my_client` and `my_async_client(url)`.
#: Both answer every function call of the response; with FORGET they leave out the response.create
#: after the outputs and wait for an answer that never comes.
MY_CLIENT = '''
import asyncio, json, os
import aiohttp

FORGET = {forget}
TOOLS = [{{"type": "function", "name": name, "parameters": {{"type": "object"}}}}
         for name in ("get_your_info", "get_weather")]

async def my_async_client(url):
    async with aiohttp.ClientSession() as s, s.ws_connect(url, headers={{"Authorization": "Bearer x"}}) as ws:
        await ws.send_json({{"type": "session.update", "session": {{"type": "realtime", "tools": TOOLS}}}})
        await ws.send_json({{"type": "response.create"}})
        async for msg in ws:
            event = json.loads(msg.data)
            if event["type"] != "response.done":
                continue
            calls = [o for o in event["response"]["output"] if o["type"] == "function_call"]
            if not calls:
                return
            for call in calls:
                await ws.send_json({{"type": "conversation.item.create", "item": {{
                    "type": "function_call_output", "call_id": call["call_id"], "output": "{{}}"}}}})
            if not FORGET:
                await ws.send_json({{"type": "response.create"}})

if __name__ == "__main__":
    asyncio.run(my_async_client(os.environ["RTMOCK_URL"]))
'''

#: The scenarios the examples name, and the bound on the response.create after the outputs in each
#: (the bound a forgetful client is judged at).
BOUNDS = {"test_my_client": ("get_your_info", 3.0), "test_my_async_client": ("parallel_calls", 5.0)}
SLACK = 5.0  # start-up and a loaded machine; a hang is forever


def _run_readme_examples(pytester: pytest.Pytester, *, forget: bool) -> tuple[pytest.RunResult, dict[str, float]]:
    code = readme_plugin_examples()
    for test, (scenario, _) in BOUNDS.items():
        assert f"def {test}(" in code and scenario in code, f"the README's examples changed: update {__name__}.BOUNDS"
    pytester.makepyfile(my_client=MY_CLIENT.format(forget=forget),
                        test_readme="from my_client import my_async_client  # the client the README leaves to you\n"
                        + code)
    (pytester.path / "scenarios").mkdir()
    shutil.copy(ROOT / "scenarios" / "parallel_calls.yaml", pytester.path / "scenarios")
    outcome = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider", "--junitxml=junit.xml",
                                            timeout=INNER_TIMEOUT)
    times = {case.attrib["name"]: float(case.attrib["time"])
             for case in ET.parse(pytester.path / "junit.xml").getroot().iter("testcase")}
    return outcome, times


def test_the_readme_examples_pass_a_correct_client(pytester: pytest.Pytester) -> None:
    outcome, times = _run_readme_examples(pytester, forget=False)
    outcome.assert_outcomes(passed=2)
    assert set(times) == set(BOUNDS)


def test_the_readme_examples_fail_a_client_that_forgets_response_create_within_the_bound(
        pytester: pytest.Pytester) -> None:
    outcome, times = _run_readme_examples(pytester, forget=True)
    outcome.assert_outcomes(failed=2)
    outcome.stdout.fnmatch_lines(["*test_my_client*", "*[[]missing-response-create[]]*"], consecutive=False)
    assert outcome.stdout.str().count("[missing-response-create] The client sent the output") >= 2
    for test, (_, bound) in BOUNDS.items():
        assert times[test] < bound + SLACK, (test, times[test])
