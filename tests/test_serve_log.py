"""`rtmock serve`'s log: findings when they are decided, refused connections, and never a server
held up by a reader that stopped reading."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

ROOT = Path(__file__).resolve().parent.parent
RTMOCK = str(Path(sys.executable).with_name("rtmock"))
AUTH = {"Authorization": "Bearer test"}
BOUND = 30.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def until_listening(port: int) -> None:
    async with asyncio.timeout(BOUND):
        while True:
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                await asyncio.sleep(0.05)  # the server process is starting: nothing to wait on but its port
                continue
            writer.close()
            return


@pytest.fixture
async def serve(tmp_path: Path) -> AsyncIterator[tuple[asyncio.subprocess.Process, int]]:
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        RTMOCK, "serve", str(ROOT / "scenarios" / "get_your_info.yaml"), "--port", str(port), "--no-tls",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, limit=1 << 24)
    try:
        await until_listening(port)
        yield proc, port
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_a_serve_whose_output_is_never_read_keeps_serving_and_stops_on_sigint(
    serve: tuple[asyncio.subprocess.Process, int],
) -> None:
    proc, port = serve
    url = f"ws://127.0.0.1:{port}/v1/realtime?model=gpt-realtime"
    async with aiohttp.ClientSession() as http:
        async def one() -> None:
            async with http.ws_connect(url, headers=AUTH) as ws:
                assert json.loads((await ws.receive()).data)["type"] == "session.created"
        async with asyncio.timeout(BOUND):  # about 3 lines each: far more than a pipe holds
            for _ in range(30):
                await asyncio.gather(*(one() for _ in range(40)))
    proc.send_signal(signal.SIGINT)
    async with asyncio.timeout(BOUND):
        out, err = await proc.communicate()
    assert proc.returncode == 130, err
    assert b"rtmock: stopped (0 session(s) passed, 1200 failed)" in err, err  # each left after session.created
    assert out.startswith(b"rtmock: serving get_your_info"), "the banner went out"


async def test_findings_are_logged_when_decided_and_refused_connections_too(
    serve: tuple[asyncio.subprocess.Process, int],
) -> None:
    proc, port = serve
    assert proc.stdout is not None
    base = f"http://127.0.0.1:{port}"
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{base}/v2/nothing", headers=AUTH) as r:
            assert r.status == 404
        async with http.ws_connect(f"ws://127.0.0.1:{port}/v1/realtime?model=gpt-realtime", headers=AUTH) as ws:
            await ws.send_json({"type": "conversation.item.create", "item": {"type": "message", "role": "user",
                                                                            "content": "not a list"}})
            lines: list[bytes] = []
            async with asyncio.timeout(BOUND):  # the finding shows while the client is still connected
                while b"finding: [invalid-client-event]" not in b"".join(lines):
                    lines.append(await proc.stdout.readline())
            assert not ws.closed
    text = b"".join(lines).decode()
    assert "refused: GET /v2/nothing → 404 Not Found: not a realtime endpoint: /v2/nothing" in text  # and why
    proc.send_signal(signal.SIGINT)
    async with asyncio.timeout(BOUND):
        await proc.communicate()


async def test_log_lines_to_a_pipe_nobody_reads_never_block_and_are_counted_when_dropped() -> None:
    from rtmock.harness.reports.serve_log import LogLines

    read_end, write_end = os.pipe()
    stream = os.fdopen(write_end, "w")
    try:
        out = LogLines(stream, limit=64 * 1024)
        await out.open()
        line = "x" * 1000
        for _ in range(1000):  # 1 MB: past the pipe (64 KiB) and the limit; each call returns at once
            out.line(line)
        assert 800 < out.dropped < 1000
        out.close()
        assert os.get_blocking(write_end), "plain prints work again after close"
    finally:
        stream.close()
        os.close(read_end)


class _Writes:
    """A text stream that keeps each write."""

    def __init__(self) -> None:
        self.writes: list[str] = []

    def write(self, text: str) -> int:
        self.writes.append(text)
        return len(text)

    def flush(self) -> None:
        pass


async def test_the_lines_of_one_loop_turn_go_out_in_one_write_when_it_ends() -> None:
    from rtmock.harness.reports.serve_log import LogLines

    stream = _Writes()
    out = LogLines(stream)  # type: ignore[arg-type]
    for n in range(3):
        out.line(f"line {n}")
    assert stream.writes == [], "held until the turn ends"
    await asyncio.sleep(0)  # the turn ends
    assert stream.writes == ["line 0\nline 1\nline 2\n"]
    out.line("last")
    out.close()
    assert stream.writes[-1] == "last\n" and out.dropped == 0, "close writes what is held"


async def test_a_long_running_server_keeps_no_finished_session() -> None:
    from rtmock.harness.judging.live import LiveJudge
    from rtmock.mockserver.net.server import MockServer
    from rtmock.mockserver.scenario.loader import load_scenario

    server = MockServer([load_scenario(ROOT / "scenarios" / "get_your_info.yaml")], tls=False, keep_sessions=False)
    judge = LiveJudge(keep_sessions=False)
    server.observers.append(judge)
    async with server, aiohttp.ClientSession() as http:
        for _ in range(50):
            async with http.ws_connect(server.ws_url(), headers=AUTH) as ws:
                await ws.receive()
        async with asyncio.timeout(BOUND):
            while judge.passed + judge.failed < 50:
                judge.changed.clear()
                await judge.changed.wait()
    assert server.sessions == [] and judge.sessions == [], "finished sessions are dropped"
    assert judge.failed == 50  # each left after session.created


async def test_with_several_scenarios_the_banner_gives_each_its_url_and_the_bare_url_says_why_it_is_refused() -> None:
    from rtmock.harness.reports.serve_log import banner_lines
    from rtmock.mockserver.net.server import MockServer, client_environment
    from rtmock.mockserver.scenario.loader import load_scenario

    scenarios = [load_scenario(ROOT / "scenarios" / f"{name}.yaml") for name in ("get_your_info", "parallel_calls")]
    async with MockServer(scenarios, tls=False) as server, aiohttp.ClientSession() as http:
        banner = banner_lines(server, scenarios, client_environment(server, "get_your_info"))
        assert banner[0] == "rtmock: serving 2 scenarios, each at its own URL:"
        assert banner[1].split() == ["get_your_info", server.ws_url("get_your_info")]
        assert banner[2].split() == ["parallel_calls", server.ws_url("parallel_calls")]
        with pytest.raises(aiohttp.WSServerHandshakeError):
            await http.ws_connect(server.ws_url(), headers=AUTH)
    (refused,) = server.refused
    assert "→ 404 Not Found: 2 scenarios are served; pick one with the path prefix /s/<name>/" in refused
