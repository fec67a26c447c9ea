"""A session that has ended is freed by reference counting, at once, with all it holds: a
long-running server must not leave each session for the cyclic garbage collector to find."""

from __future__ import annotations

import asyncio
import gc
import weakref
from pathlib import Path

import aiohttp
from test_hardening import play_correctly

from rtmock.harness.judging.live import LiveJudge
from rtmock.mockserver.net.server import MockServer, Observer, SessionInfo
from rtmock.mockserver.scenario.loader import load_scenario

SCENARIO = Path(__file__).resolve().parents[1] / "scenarios" / "get_your_info.yaml"


class KeepsWeakly(Observer):
    def __init__(self) -> None:
        self.cores: list[weakref.ref[object]] = []

    def session_started(self, session: SessionInfo) -> None:
        self.cores.append(weakref.ref(session.core))


async def test_an_ended_session_is_freed_without_the_cyclic_collector() -> None:
    judge, keeps = LiveJudge(keep_sessions=False), KeepsWeakly()
    gc.collect()
    gc.disable()
    try:
        async with MockServer([load_scenario(SCENARIO)], tls=False, keep_sessions=False) as server:
            server.observers += [judge, keeps]
            async with aiohttp.ClientSession() as http:
                await play_correctly(http, server.ws_url())
                async with asyncio.timeout(10):
                    while judge.passed + judge.failed < 1:
                        judge.changed.clear()
                        await judge.changed.wait()
            await asyncio.sleep(0)  # what the session's end left scheduled runs here
            assert server.internal_errors == []
            assert [ref() for ref in keeps.cores] == [None]
    finally:
        gc.enable()
