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


def _upgrade_then_reset(port: int, times: int) -> None:
    """Ask for the websocket upgrade and reset the connection at once (SO_LINGER 0), as a client
    killed mid-handshake does."""
    import socket
    import struct
    for _ in range(times):
        sock = socket.create_connection(("127.0.0.1", port))
        sock.sendall(b"GET /v1/realtime?model=gpt-realtime HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                     b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                     b"Sec-WebSocket-Version: 13\r\nAuthorization: Bearer x\r\n\r\n")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()


async def test_a_client_gone_during_the_handshake_is_a_one_line_refusal_not_a_traceback(
        caplog: pytest.LogCaptureFixture) -> None:
    async with MockServer([load_scenario(ROOT / "scenarios" / "get_your_info.yaml")], tls=False) as server:
        await asyncio.to_thread(_upgrade_then_reset, server.port, 100)
        async with asyncio.timeout(BOUND):
            while not any("499" in line for line in server.refused):
                await asyncio.sleep(0.01)  # polls a condition, with a bound
        async with aiohttp.ClientSession() as http, \
                http.ws_connect(server.ws_url(), headers={"Authorization": "Bearer x"}) as ws:
            assert (await ws.receive_json())["type"] == "session.created"  # still serving
    assert "Error handling request" not in caplog.text
    assert any("during the websocket handshake" in line for line in server.refused)
