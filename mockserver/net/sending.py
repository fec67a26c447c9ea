"""How a turn's frames go out: held and joined into few writes, under the send bound when a send
could wait on the client.

What belongs here: writing what the session core asked for. What does not: joining the bytes
(`coalesce.py`), the session's loop (`server.py`).
"""

from __future__ import annotations

import asyncio
import contextlib
import struct

from aiohttp import web

from ..core.session import Action, Close, Send, SendRun
from .coalesce import FLUSH_AT, CoalescingTransport

__all__ = ["PARTS_PER_WRITE", "SendBound", "cannot_wait", "send_turn", "text_frame", "write_turn"]


#: A turn leaves in writes of this many parts (a frame, or a whole run of deltas): few enough that a
#: client reading them as they come takes them a few at a time. A `websockets` client stops reading
#: once more than 16 messages wait unread; one that crashed in a handler must still read the close.
PARTS_PER_WRITE = 4


class SendBound:
    """Moves the send bound on as sends return (each shows the client reads), to within a tenth of
    it so that rescheduling costs nothing per frame: it fires only when one send waits that long."""

    def __init__(self, bound: asyncio.Timeout, seconds: float) -> None:
        self.bound, self.seconds = bound, seconds
        self.clock = asyncio.get_running_loop().time
        self.progress = self.clock()

    def sent(self) -> None:
        if (now := self.clock()) - self.progress > self.seconds / 10:
            self.bound.reschedule(now + self.seconds)
            self.progress = now


async def send_turn(ws: web.WebSocketResponse, transport: CoalescingTransport | None, actions: list[Action],
                     bound: SendBound | None) -> Close | None:
    """Send a turn's frames, held and joined into few writes (`PARTS_PER_WRITE`), up to its close if
    it has one (returned, not carried out: what came before it is handed over first)."""
    send = ws.send_str
    with transport.held() if transport is not None else contextlib.nullcontext():
        for part, action in enumerate(actions, 1):
            if isinstance(action, Send):
                await send(action.text)
            elif isinstance(action, SendRun):
                for text in action.texts:
                    await send(text)
                    if bound is not None:
                        bound.sent()
            else:
                return action
            if bound is not None:
                bound.sent()
            if transport is not None and part % PARTS_PER_WRITE == 0:
                transport.flush()
    return None


_HEADER_16 = struct.Struct("!BBH").pack
_HEADER_64 = struct.Struct("!BBQ").pack


def text_frame(text: str) -> bytes:
    """`text` as a server's websocket frame (RFC 6455 §5.2): final, opcode 1 (text), unmasked,
    uncompressed; the length in 7, 16 or 64 bits."""
    data = text.encode()
    size = len(data)
    if size < 126:
        return bytes((0x81, size)) + data
    if size < 65536:
        return _HEADER_16(0x81, 126, size) + data
    return _HEADER_64(0x81, 127, size) + data


def write_turn(transport: asyncio.Transport, actions: list[Action]) -> None:
    """Frame a turn here and hand it to the socket in writes of `PARTS_PER_WRITE` parts, without
    going through aiohttp's writer frame by frame (a coroutine, a check and a write each).

    Only for a turn that `cannot_wait` and a connection without compression (the caller checks
    both): with nothing to wait for, flow control and the send bound have nothing to do. Raises
    ConnectionResetError on a closing transport, as aiohttp's writer does."""
    if transport.is_closing():
        raise ConnectionResetError("Cannot write to closing transport")
    frames: list[bytes] = []
    for part, action in enumerate(actions, 1):
        if isinstance(action, Send):
            frames.append(text_frame(action.text))
        else:
            assert isinstance(action, SendRun), "a turn that closes goes through send_turn (cannot_wait says so)"
            frames.extend(map(text_frame, action.texts))
        if part % PARTS_PER_WRITE == 0:
            transport.write(b"".join(frames))
            frames.clear()
    if frames:
        transport.write(b"".join(frames))


def cannot_wait(transport: CoalescingTransport, actions: list[Action]) -> bool:
    """True when carrying out `actions` cannot wait on the client: nothing waits in the socket's
    buffer (the client reads), no close, and fewer bytes than the held transport hands over early
    (each character is at most 4 bytes of UTF-8). The send bound is then not needed."""
    if transport.get_write_buffer_size():
        return False
    size = 0
    for action in actions:
        if isinstance(action, Send):
            size += len(action.text)
        elif isinstance(action, SendRun):
            size += sum(map(len, action.texts))
        else:
            return False
    return 4 * size < FLUSH_AT
