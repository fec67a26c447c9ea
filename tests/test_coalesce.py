"""The coalescing transport: while held, the same bytes in the same order leave in fewer writes; when
not held, every write goes straight through; closing never loses what was written."""

from __future__ import annotations

import asyncio
from typing import Any

from rtmock.mockserver.net.coalesce import FLUSH_AT, CoalescingProtocol, CoalescingTransport


class Recording(asyncio.Transport):
    """Stands in for the socket's transport: keeps each write it is handed."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: Any) -> None:
        self.writes.append(bytes(data))

    def get_write_buffer_size(self) -> int:
        return 0

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True


def test_writes_pass_straight_through_unless_held() -> None:
    inner = Recording()
    transport = CoalescingTransport(inner)
    for i in range(5):
        transport.write(f"frame {i};".encode())
    assert inner.writes == [f"frame {i};".encode() for i in range(5)]


def test_a_held_run_leaves_in_one_write_in_order() -> None:
    inner = Recording()
    transport = CoalescingTransport(inner)
    chunks = [f"frame {i};".encode() for i in range(2000)]
    with transport.held():
        for chunk in chunks:
            transport.write(chunk)
        assert inner.writes == []
        assert transport.get_write_buffer_size() == sum(map(len, chunks))  # flow control sees held bytes
    assert inner.writes == [b"".join(chunks)]
    transport.write(b"after")
    assert inner.writes[-1] == b"after"  # no longer held


def test_a_large_held_run_is_handed_over_as_it_grows() -> None:
    inner = Recording()
    transport = CoalescingTransport(inner)
    chunks = [b"x" * 1000] * (3 * FLUSH_AT // 1000)
    with transport.held():
        for chunk in chunks:
            transport.write(chunk)
        assert len(inner.writes) == 2  # each time FLUSH_AT was reached, so the real transport can push back
    assert b"".join(inner.writes) == b"".join(chunks)
    assert len(inner.writes) == 3


class _Burst(asyncio.Protocol):
    """Writes a held burst on connect, then closes inside the hold: what a server that ends the
    session in the middle of a run does."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, CoalescingTransport)
        with transport.held():
            for i in range(3000):
                transport.write(f"frame {i};".encode())
            transport.close()


async def test_closing_while_held_still_sends_everything_over_a_real_socket() -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: CoalescingProtocol(_Burst()), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        async with asyncio.timeout(10):
            data = await reader.read()  # to EOF
    finally:
        writer.close()
        server.close()
        await server.wait_closed()
    assert data == b"".join(f"frame {i};".encode() for i in range(3000))
