"""What a connection meets before it is a websocket: bounds on its handshake, and the HTTP errors
the service answers a request it refuses with."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiohttp import web

from .coalesce import CoalescingProtocol

__all__ = ["HANDSHAKE_TIMEOUT", "MAX_PENDING_HANDSHAKES", "BoundedHandshake", "http_error"]

log = logging.getLogger("rtmock.server")


def http_error(status: int, message: str, *, code: str | None = None) -> web.Response:
    return web.json_response({"error": {"type": "invalid_request_error", "code": code, "message": message, "param": None}},
                             status=status)


def client_left_during_handshake() -> web.Response:
    """What a handler returns when the client went away while the websocket handshake was answered
    (aiohttp then finishes the exchange quietly): no session came of it, and the refusal says why."""
    response = http_error(499, "the client closed the connection during the websocket handshake", code="client_closed")
    response.set_status(499, "Client Closed Request")  # (nginx's name: no standard status says it)
    return response


#: A connection must send its whole HTTP request within this many seconds (nginx allows 60 for
#: headers; a test server can ask less), and at most this many may be waiting for theirs: past it
#: the oldest is dropped, so sockets that never finish their headers cannot use up the descriptors.
HANDSHAKE_TIMEOUT = 10.0
MAX_PENDING_HANDSHAKES = 256


class BoundedHandshake(CoalescingProtocol):
    """aiohttp's request handler, under the handshake bounds above (aiohttp itself keeps a connection
    with partial headers for its keep-alive time, about an hour)."""

    def __init__(self, pending: dict[Any, asyncio.TimerHandle], inner: asyncio.BaseProtocol) -> None:
        super().__init__(inner)
        #: the server's connections still in their handshake → their timers (the server takes a
        #: connection out once its request is in)
        self._pending = pending

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        wrapped = self._inner.transport  # the CoalescingTransport aiohttp's request will carry
        pending = self._pending
        if len(pending) >= MAX_PENDING_HANDSHAKES:
            oldest = next(iter(pending))
            pending.pop(oldest).cancel()
            oldest.abort()
        loop = asyncio.get_running_loop()
        pending[wrapped] = loop.call_later(HANDSHAKE_TIMEOUT, self._expire, wrapped)

    def _expire(self, transport: asyncio.Transport) -> None:
        if self._pending.pop(transport, None) is not None:
            log.info("closing a connection that sent no whole request in %gs", HANDSHAKE_TIMEOUT)
            transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        transport = self._inner.transport
        if (timer := self._pending.pop(transport, None)) is not None:
            timer.cancel()
        super().connection_lost(exc)
