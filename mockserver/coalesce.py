"""Fewer system calls for bursts of frames: a transport that gathers what is written in one turn of
the event loop and hands it to the socket in one write.

A streamed response is thousands of small websocket frames written back to back with no await in
between; aiohttp writes each to the transport, which makes one `send()` system call per frame. Here
those writes are joined and sent once, at the end of the loop turn (`call_soon`): the bytes and their
order are unchanged, they leave microseconds later, and flow control still sees them (the buffer
counts in `get_write_buffer_size`, and the real transport pauses the protocol as before).
"""

from __future__ import annotations

import asyncio
from typing import Any

__all__ = ["FLUSH_AT", "CoalescingProtocol"]

#: Gathered bytes are handed to the socket at the end of the loop turn, or as soon as there are this many.
FLUSH_AT = 64 * 1024


class _CoalescingTransport(asyncio.Transport):
    def __init__(self, inner: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(inner.get_extra_info("extra") or {})
        self._inner = inner
        self._loop = loop
        self._pending: list[bytes] = []
        self._size = 0

    # writing: gathered, then flushed once per loop turn
    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not data:
            return
        if not self._pending:
            self._loop.call_soon(self._flush)
        self._pending.append(bytes(data))
        self._size += len(data)
        if self._size >= FLUSH_AT:
            # hand it over now: the real transport then tells the protocol to pause when the peer
            # does not read, and the writer waits (flow control, and the send bound, keep working)
            self._flush()

    def writelines(self, list_of_data: Any) -> None:
        for data in list_of_data:
            self.write(data)

    def _flush(self) -> None:
        if not self._pending:
            return
        data = b"".join(self._pending) if len(self._pending) > 1 else self._pending[0]
        self._pending.clear()
        self._size = 0
        if not self._inner.is_closing():
            self._inner.write(data)

    def get_write_buffer_size(self) -> int:
        return self._size + self._inner.get_write_buffer_size()

    def write_eof(self) -> None:
        self._flush()
        self._inner.write_eof()

    def can_write_eof(self) -> bool:
        return self._inner.can_write_eof()

    def close(self) -> None:
        self._flush()  # what was written before close() still goes out, as with any transport
        self._inner.close()

    def abort(self) -> None:
        self._pending.clear()
        self._size = 0
        self._inner.abort()

    # everything else: the real transport's
    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._inner.get_extra_info(name, default)

    def is_closing(self) -> bool:
        return self._inner.is_closing()

    def pause_reading(self) -> None:
        self._inner.pause_reading()

    def resume_reading(self) -> None:
        self._inner.resume_reading()

    def is_reading(self) -> bool:
        return self._inner.is_reading()

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._inner.set_write_buffer_limits(high, low)

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return self._inner.get_write_buffer_limits()

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._inner.set_protocol(protocol)

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._inner.get_protocol()


class CoalescingProtocol(asyncio.Protocol):
    """Wraps a protocol (aiohttp's request handler) so that it writes through a coalescing transport."""

    def __init__(self, inner: asyncio.BaseProtocol) -> None:
        self._inner: Any = inner

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._inner.connection_made(_CoalescingTransport(transport, asyncio.get_running_loop()))

    def connection_lost(self, exc: Exception | None) -> None:
        self._inner.connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        result: bool | None = self._inner.eof_received()
        return result

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()
