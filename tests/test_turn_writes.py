"""A turn (what the session sends at one moment) leaves in a few writes of `PARTS_PER_WRITE` parts
(a frame, or a whole run of deltas): a client on another core then wakes a few times for it, not
once per frame as they trickle out."""

from __future__ import annotations

import asyncio
import json
from asyncio import selector_events
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from rtmock.mockserver.core.session import Action, Send, SendRun
from rtmock.mockserver.net.sending import PARTS_PER_WRITE, write_turn
from rtmock.mockserver.net.server import MockServer
from rtmock.mockserver.scenario.loader import load_scenario

SCENARIO = Path(__file__).resolve().parents[1] / "scenarios" / "get_your_info.yaml"


def _server_frames(data: bytes) -> bool:
    """Bytes a server writes on a websocket that start with a text frame: unmasked (a client masks
    every frame, RFC 6455 §5.1), opcode 1 with FIN."""
    return len(data) >= 2 and data[0] == 0x81 and not data[1] & 0x80


async def test_a_response_leaves_in_writes_of_a_few_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    writes: list[bytes] = []
    write = selector_events._SelectorSocketTransport.write

    def counted(self: Any, data: Any) -> None:
        if _server_frames(bytes(data)):
            writes.append(bytes(data))
        write(self, data)

    monkeypatch.setattr(selector_events._SelectorSocketTransport, "write", counted)
    async with MockServer([load_scenario(SCENARIO)], tls=False) as server, aiohttp.ClientSession() as http, \
            http.ws_connect(server.ws_url(), headers={"Authorization": "Bearer x"}) as ws:
        await ws.send_json({"type": "session.update", "session": {"type": "realtime", "tools": [
            {"type": "function", "name": "get_your_info", "parameters": {"type": "object"}}]}})
        async with asyncio.timeout(10):
            async for msg in ws:
                if json.loads(msg.data)["type"] == "session.updated":
                    break
        writes.clear()
        await ws.send_json({"type": "response.create"})
        kinds = []
        async with asyncio.timeout(10):
            async for msg in ws:
                kinds.append(json.loads(msg.data)["type"])
                if kinds[-1] == "rate_limits.updated":  # the service's last word after a response.done
                    break
    assert len(kinds) > 5 and "response.function_call_arguments.delta" in kinds
    parts = [kind for at, kind in enumerate(kinds) if not (kind.endswith(".delta") and kinds[at - 1] == kind)]
    assert len(writes) == -(-len(parts) // PARTS_PER_WRITE), \
        f"{len(parts)} parts ({len(kinds)} frames) left in {len(writes)} writes: {[w[:80] for w in writes]}"


async def test_frames_framed_by_rtmock_read_back_whole_in_a_real_client_at_every_length_encoding() -> None:
    """`write_turn` frames a turn itself (no compression): lengths that take 7, 16 and 64 bits, and
    text that is more bytes than characters, read back exactly, in order, in aiohttp's client."""
    texts = ["", "é" * 63, "x" * 125, "x" * 126, "€" * 21845, "x" * 65535, "x" * 65536, "y" * 70000]
    turn: list[Action] = [Send(texts[0]), SendRun(texts[1:4]), *map(Send, texts[4:])]

    async def handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(compress=False)
        await ws.prepare(request)
        assert request.transport is not None
        write_turn(request.transport, turn)
        await ws.close()
        return ws

    app = web.Application()
    app.router.add_get("/", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        async with aiohttp.ClientSession() as http, http.ws_connect(f"http://127.0.0.1:{port}/") as ws:
            got = []
            async with asyncio.timeout(10):
                async for msg in ws:
                    assert msg.type is aiohttp.WSMsgType.TEXT
                    got.append(msg.data)
        assert got == texts
    finally:
        await runner.cleanup()
