"""rtmock's own failures are never the client's: a bug in the core and a disk that fills up while
recording are reported as rtmock's (exit 2), and the sessions are judged on what the client did."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from test_hardening import AUTH, SEED, play_correctly

from rtmock.harness.cli import _exit_code
from rtmock.harness.judging.live import LiveJudge
from rtmock.harness.runner import RunResult
from rtmock.mockserver.core.session import SessionCore
from rtmock.mockserver.net.server import MockServer
from rtmock.mockserver.scenario.loader import load_scenario


async def test_a_full_disk_while_recording_cuts_transcripts_short_but_every_session_is_served_and_judged(
    tmp_path: Path,
) -> None:
    scratch, full = tmp_path / "scratch", tmp_path / "full"
    async with MockServer([load_scenario(SEED)], tls=False, record_dir=scratch, seed="disk") as server, \
            aiohttp.ClientSession() as http:
        for _ in range(5):
            await play_correctly(http, server.ws_url())
    full.mkdir()
    for made in scratch.glob("*.jsonl"):  # the same seed names the same files: each one a full disk
        (full / made.name).symlink_to("/dev/full")
    server = MockServer([load_scenario(SEED)], tls=False, record_dir=full, seed="disk")
    judge = LiveJudge()
    server.observers.append(judge)
    async with server, aiohttp.ClientSession() as http:
        async with asyncio.timeout(30):
            for _ in range(5):
                await play_correctly(http, server.ws_url())
            while not all(j.info.ended for j in judge.sessions) or len(judge.sessions) < 5:
                judge.changed.clear()
                await judge.changed.wait()
    verdicts = judge.finish_all()
    assert [v.findings for v in verdicts] == [[]] * 5, "the client is not judged for rtmock's disk"
    assert len(server.recording_errors) == 5
    assert all("No space left on device" in e and "cut short" in e for e in server.recording_errors)
    result = RunResult(load_scenario(SEED), ["client"], recording_errors=server.recording_errors)
    assert _exit_code([result]) == 2


async def test_a_bug_inside_the_core_closes_the_session_with_1011_and_is_rtmocks_not_the_clients(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = SessionCore._handle

    def broken(self: SessionCore, event: dict[str, Any], index: int) -> None:
        if event["type"] == "response.create":
            raise RuntimeError("a bug in rtmock")  # a fault injected where a real bug would raise
        real(self, event, index)

    monkeypatch.setattr(SessionCore, "_handle", broken)
    server = MockServer([load_scenario(SEED)], tls=False)
    judge = LiveJudge()
    server.observers.append(judge)
    async with server, aiohttp.ClientSession() as http, http.ws_connect(server.ws_url(), headers=AUTH) as ws:
        await ws.send_json({"type": "session.update", "session": {"type": "realtime"}})
        await ws.send_json({"type": "response.create"})
        async with asyncio.timeout(10):
            while (msg := await ws.receive()).type is not aiohttp.WSMsgType.CLOSE:
                pass
        assert (msg.data, msg.extra) == (1011, "rtmock internal error")
    (verdict,) = judge.finish_all()
    assert verdict.findings == [], "nothing still pending is charged to the client"
    assert server.internal_errors == [f"session {judge.sessions[0].info.id}: RuntimeError: a bug in rtmock"]
    assert judge.sessions[0].info.records[-2].type == "rtmock.internal_error"
