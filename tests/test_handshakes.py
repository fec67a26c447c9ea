"""Connections that never finish their HTTP request cannot hold the server's descriptors."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import pytest

from rtmock.mockserver.net import handshake as handshake_module
from rtmock.mockserver.net.server import MockServer
from rtmock.mockserver.scenario.loader import load_scenario

ROOT = Path(__file__).resolve().parent.parent
PARTIAL = b"GET /v1/realtime?model=gpt-realtime HTTP/1.1\r\nHost: x\r\n"  # and never the blank line
BOUND = 10.0


async def test_a_connection_with_partial_headers_is_closed_at_the_handshake_bound(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(handshake_module, "HANDSHAKE_TIMEOUT", 0.3)
    async with MockServer([load_scenario(ROOT / "scenarios" / "get_your_info.yaml")], tls=False) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(PARTIAL)
        await writer.drain()
        async with asyncio.timeout(BOUND):
            assert await reader.read() == b"", "the server closed it"
        writer.close()


async def test_more_pending_handshakes_than_the_cap_drop_the_oldest_and_others_are_still_served(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(handshake_module, "MAX_PENDING_HANDSHAKES", 20)
    async with MockServer([load_scenario(ROOT / "scenarios" / "get_your_info.yaml")], tls=False) as server:
        stuck = []
        for _ in range(40):
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(PARTIAL)
            await writer.drain()
            stuck.append((reader, writer))
        async with asyncio.timeout(BOUND):  # the first 20 were dropped to make room for the next 20
            for reader, _ in stuck[:20]:
                assert await reader.read() == b""
        async with aiohttp.ClientSession() as http, \
                http.ws_connect(server.ws_url(), headers={"Authorization": "Bearer x"}) as ws:
            assert (await ws.receive_json())["type"] == "session.created"
        assert len(server._pending) <= 20
        for _, writer in stuck:
            writer.close()
