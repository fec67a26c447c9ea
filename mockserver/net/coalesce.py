"""Fewer system calls and fewer wake-ups: a transport that can hold back what is written and hand
it to the socket in one write.

The frames of one turn (what the session sends at one moment: a whole response, with its runs of
deltas) are made at once; aiohttp writes each to the transport, which makes one `send()` system
call per frame, and a client reading on another core wakes for each few frames as they trickle
in. While the server writes a turn it holds the transport (`CoalescingTransport.held`): the
frames are joined and leave in one write when the server calls `flush` (every few frames:
`sending.PARTS_PER_WRITE`), when the turn ends, or as soon as 64 KiB are held, so that flow
control still sees them (the real transport pauses the protocol as before, and aiohttp's writer
waits). Bytes and order are unchanged, and frames the script paces (`delay:`, `delta_interval`)
belong to different turns, so they still leave when they are due.

Why not a whole turn in one write: a `websockets` client that crashed in a handler stops reading
once more than 16 messages wait unread, and then never sees the close frame; a response that
arrives whole fills that queue at once, one that arrives a few frames at a time does not
(`tests/test_hardening.py` has that client). A turn that ends in a close is handed over before
the close frame is written.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Any

__all__ = ["FLUSH_AT", "CoalescingProtocol", "CoalescingTransport"]

#: Held bytes are handed to the socket at the end of the turn (or at `flush`), or as soon as there
#: are this many.
FLUSH_AT = 64 * 1024


class CoalescingTransport(asyncio.Transport):
    """A transport that passes writes through, except while `held`: then it joins them."""

    def __init__(self, inner: asyncio.Transport) -> None:
        super().__init__()
        self._inner = inner
        self._holding = False
        self._pending: list[bytes] = []
        self._size = 0

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        """Join what is written inside the block into as few writes as flow control allows."""
        self._holding = True
        try:
            yield
        finally:
            self._holding = False
            self.flush()

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not self._holding:
            self._inner.write(data)
            return
        if data:
            self._pending.append(bytes(data))
            self._size += len(data)
            if self._size >= FLUSH_AT:
                # hand it over now: the real transport then tells the protocol to pause when the peer
                # does not read, and the writer waits (flow control, and the send bound, keep working)
                self.flush()

    def writelines(self, list_of_data: Any) -> None:
        for data in list_of_data:
            self.write(data)

    def flush(self) -> None:
        """Hand what is held to the socket now (holding goes on)."""
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
        self.flush()
        self._inner.write_eof()

    def can_write_eof(self) -> bool:
        return self._inner.can_write_eof()

    def close(self) -> None:
        self.flush()  # what was written before close() still goes out, as with any transport
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
    """Wraps a protocol (aiohttp's request handler) so that it writes through a `CoalescingTransport`."""

    def __init__(self, inner: asyncio.BaseProtocol) -> None:
        self._inner: Any = inner

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._inner.connection_made(CoalescingTransport(transport))

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
