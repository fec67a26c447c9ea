"""The coalescing transport: same bytes, same order, fewer writes; close still sends what was written."""

from __future__ import annotations

import asyncio

from mockserver.coalesce import FLUSH_AT, CoalescingProtocol


class Burst(asyncio.Protocol):
    """Writes a burst on connect, then closes: what a streamed response does to the transport."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        for chunk in self.chunks:
            transport.write(chunk)
        transport.close()


async def _received(chunks: list[bytes]) -> tuple[bytes, int]:
    writes = 0
    real_write = asyncio.selector_events._SelectorSocketTransport.write  # type: ignore[attr-defined]

    def counting(self: object, data: bytes) -> None:
        nonlocal writes
        writes += 1
        real_write(self, data)

    asyncio.selector_events._SelectorSocketTransport.write = counting  # type: ignore[attr-defined]
    try:
        loop = asyncio.get_running_loop()
        srv = await loop.create_server(lambda: CoalescingProtocol(Burst(chunks)), "127.0.0.1", 0)
        port = srv.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        async with asyncio.timeout(10):
            data = await reader.read()
        writer.close()
        srv.close()
        await srv.wait_closed()
    finally:
        asyncio.selector_events._SelectorSocketTransport.write = real_write  # type: ignore[attr-defined]
    return data, writes


async def test_a_burst_arrives_whole_and_in_order_in_few_writes() -> None:
    chunks = [f"frame {i};".encode() for i in range(2000)]
    data, writes = await _received(chunks)
    assert data == b"".join(chunks)
    assert writes <= 2  # one per loop turn (the client side's own write is not counted: it is not coalesced)


async def test_a_large_burst_is_handed_over_as_it_grows() -> None:
    chunks = [b"x" * 1000] * (3 * FLUSH_AT // 1000)
    data, writes = await _received(chunks)
    assert data == b"".join(chunks)
    assert 3 <= writes <= 5
