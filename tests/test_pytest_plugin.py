"""The plugin, tested with pytester: sync and async tests, a pass and a missing-trigger failure."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _shared_certificates(monkeypatch: pytest.MonkeyPatch) -> None:
    """pytester gives each run a fresh HOME; keep using the already generated CA."""
    from mockserver.tls import default_cache_dir

    monkeypatch.setenv("RTMOCK_CACHE_DIR", str(default_cache_dir().parent))

CLIENT = '''
import asyncio, json, aiohttp

async def client(url, send_create=True):
    async with aiohttp.ClientSession() as s:
        async with s.ws_connect(url, headers={"Authorization": "Bearer x"}) as ws:
            await ws.send_json({"type": "session.update", "session": {"type": "realtime", "tools": [
                {"type": "function", "name": "get_your_info", "parameters": {"type": "object"}}]}})
            await ws.send_json({"type": "response.create"})
            async for msg in ws:
                ev = json.loads(msg.data)
                if ev["type"] == "response.function_call_arguments.done":
                    await ws.send_json({"type": "conversation.item.create", "item": {
                        "type": "function_call_output", "call_id": ev["call_id"], "output": "{}"}})
                    if send_create:
                        await ws.send_json({"type": "response.create"})
                    else:
                        return
                if ev["type"] == "response.output_text.done":
                    return
'''


def test_plugin_judges_sync_and_async_tests(pytester: pytest.Pytester) -> None:
    scenario = ROOT / "scenarios" / "get_your_info.yaml"
    pytester.makepyfile(client=CLIENT)
    pytester.makepyfile(test_it=f'''
import asyncio, pytest
from client import client

SCENARIO = {str(scenario)!r}

@pytest.mark.rtmock_scenario(SCENARIO)
def test_sync_pass(rtmock_server):
    asyncio.run(client(rtmock_server.url))
    result = rtmock_server.verdict()
    assert result.passed, result.explain()

@pytest.mark.asyncio
async def test_async_pass(rtmock):
    server = rtmock(SCENARIO)
    await client(server.url)
    assert (await server.verdict_async()).passed

def test_missing_trigger_fails(rtmock):
    server = rtmock(SCENARIO, within=0.3)
    asyncio.run(client(server.url, send_create=False))
    result = server.verdict()
    assert result.rules == ["missing-response-create"], result.explain()
    assert "response.create" in result.explain()
''')
    outcome = pytester.runpytest_subprocess("-q", "-p", "asyncio", "-W", "ignore::DeprecationWarning")
    outcome.assert_outcomes(passed=3)


def test_plugin_works_under_xdist(pytester: pytest.Pytester) -> None:
    scenario = ROOT / "scenarios" / "get_your_info.yaml"
    pytester.makepyfile(client=CLIENT)
    pytester.makepyfile(test_many=f'''
import asyncio, pytest
from client import client

@pytest.mark.parametrize("n", range(6))
def test_each(rtmock, n):
    server = rtmock({str(scenario)!r})
    asyncio.run(client(server.url))
    assert server.verdict().passed
''')
    outcome = pytester.runpytest_subprocess("-q", "-n", "2")
    outcome.assert_outcomes(passed=6)
