"""One port that speaks both plain HTTP and TLS.

Some clients (the official openai Python SDK's beta realtime client, the Node SDK) always dial
``wss://``. `DualListener` accepts every connection itself, peeks at its first byte and wraps it in
TLS only when that byte opens a TLS handshake (without TLS, it hands each connection over at once), with the local CA's server certificate (`certs.py`).
One URL then serves ``ws://`` and ``wss://`` clients alike; point ``SSL_CERT_FILE`` /
``NODE_EXTRA_CA_CERTS`` at `CertificatePaths.ca_file`.

What belongs here: accepting connections and the TLS decision. What does not: certificates on disk
(`certs.py`), HTTP and websockets (aiohttp, handed each connection through a protocol factory).
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
import ssl
from collections.abc import Callable
from types import TracebackType

__all__ = [
    "CertificatePaths",
    "DualListener",
    "default_cache_dir",
    "ensure_certificates",
    "listening_socket",
    "server_ssl_context",
]

# Certificates live in certs.py, the listening socket in endpoints.py; both are re-exported here.
from .certs import CertificatePaths, default_cache_dir, ensure_certificates, server_ssl_context
from .endpoints import listening_socket

logger = logging.getLogger(__name__)

# RFC 8446 §5.1: a TLS record starts with its ContentType; a ClientHello travels in handshake(22).
TLS_HANDSHAKE_RECORD = 0x16


class DualListener:
    """A listening socket that hands plain connections and TLS connections to one protocol factory.

    Start it with `DualListener.start`; stop it with `close` (or ``async with``). Connections already
    handed over belong to the protocol factory's owner (for aiohttp: ``await runner.cleanup()``).
    """

    def __init__(
        self,
        sock: socket.socket,
        protocol_factory: Callable[[], asyncio.BaseProtocol],
        *,
        ssl_context: ssl.SSLContext | None,
        first_byte_timeout: float,
        ssl_handshake_timeout: float,
    ) -> None:
        self._sock = sock
        self._protocol_factory = protocol_factory
        self._ssl_context = ssl_context
        self._first_byte_timeout = first_byte_timeout
        self._ssl_handshake_timeout = ssl_handshake_timeout
        self._host, self._port = sock.getsockname()[:2]
        self._connections: set[asyncio.Task[None]] = set()
        self._accepting = asyncio.get_running_loop().create_task(self._accept_forever())
        self._closed = False

    @classmethod
    async def start(
        cls,
        protocol_factory: Callable[[], asyncio.BaseProtocol],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        ssl_context: ssl.SSLContext | None = None,
        first_byte_timeout: float = 10.0,
        ssl_handshake_timeout: float = 10.0,
        backlog: int = 128,
        sock: socket.socket | None = None,
    ) -> DualListener:
        """Bind `host`:`port` (0 picks a free port: read `port`) and start accepting; or accept on
        `sock`, a socket already listening (see `listening_socket`).

        Raises `OSError` with its errno intact (``errno.EADDRINUSE``: the port is in use).
        """
        if sock is None:
            sock = listening_socket(host, port, backlog=backlog)
        sock.setblocking(False)
        return cls(
            sock,
            protocol_factory,
            ssl_context=ssl_context,
            first_byte_timeout=first_byte_timeout,
            ssl_handshake_timeout=ssl_handshake_timeout,
        )

    @property
    def host(self) -> str:
        return str(self._host)

    @property
    def port(self) -> int:
        return int(self._port)

    @property
    def tls_enabled(self) -> bool:
        return self._ssl_context is not None

    async def close(self) -> None:
        """Stop accepting and close the listening socket and connections not yet handed over."""
        if self._closed:
            return
        self._closed = True
        self._accepting.cancel()
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(self._accepting, *self._connections, return_exceptions=True)
        self._sock.close()

    async def __aenter__(self) -> DualListener:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def _accept_forever(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                conn, _ = await loop.sock_accept(self._sock)
            except (ConnectionAbortedError, InterruptedError):
                continue  # the peer gave up while waiting in the backlog
            except OSError as exc:
                if exc.errno not in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    raise
                logger.warning("cannot accept connections on port %d: %s; retrying in 1 s", self.port, exc)
                await asyncio.sleep(1.0)  # as asyncio's own servers do when out of descriptors
                continue
            task = loop.create_task(self._hand_over(conn))
            self._connections.add(task)
            task.add_done_callback(self._connections.discard)

    async def _hand_over(self, conn: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        if self._ssl_context is None:  # nothing to decide: HTTP at once (its handshake has its own bounds)
            try:
                await loop.connect_accepted_socket(self._protocol_factory, conn)
            except OSError:  # the peer is already gone; asyncio has closed the socket
                pass
            except Exception:  # a bug in the protocol factory: rtmock's fault, never the client's
                logger.exception("could not serve the connection from %s", _describe_peer(conn))
                conn.close()
            return
        peer = _describe_peer(conn)
        try:
            async with asyncio.timeout(self._first_byte_timeout):
                first = await _peek_first_byte(conn)
        except (TimeoutError, OSError) as exc:
            logger.debug("closing connection from %s before it spoke: %r", peer, exc)
            conn.close()
            return
        except BaseException:
            conn.close()
            raise
        if not first:
            conn.close()  # closed before sending anything: port checks and health probes do that
            return
        use_tls = self._ssl_context is not None and first[0] == TLS_HANDSHAKE_RECORD
        try:
            if use_tls:
                await loop.connect_accepted_socket(
                    self._protocol_factory,
                    conn,
                    ssl=self._ssl_context,
                    ssl_handshake_timeout=self._ssl_handshake_timeout,
                )
            else:
                await loop.connect_accepted_socket(self._protocol_factory, conn)
        except OSError as exc:  # asyncio has closed the transport, and the socket with it
            # An asyncio client (aiohttp, websockets) that rejects our certificate drops the
            # connection without a TLS alert, so a reset here usually means the same as "unknown ca".
            logger.warning(
                "TLS handshake from %s failed: %s; does the client trust rtmock's CA? "
                "Point SSL_CERT_FILE or NODE_EXTRA_CA_CERTS at it",
                peer,
                str(exc) or type(exc).__name__,
            )
        except Exception:  # a bug in the protocol factory: rtmock's fault, never the client's
            logger.exception("could not serve the connection from %s", peer)
            conn.close()


async def _peek_first_byte(conn: socket.socket) -> bytes:
    """The connection's first byte, left in the socket for TLS or HTTP to read; b"" if it closed."""
    loop = asyncio.get_running_loop()
    while True:
        try:
            return conn.recv(1, socket.MSG_PEEK)
        except (BlockingIOError, InterruptedError):
            pass
        readable: asyncio.Future[None] = loop.create_future()
        loop.add_reader(conn.fileno(), _resolve, readable)
        try:
            await readable
        finally:
            loop.remove_reader(conn.fileno())


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _describe_peer(conn: socket.socket) -> str:
    try:
        host, port = conn.getpeername()[:2]
    except OSError:
        return "an unknown peer"
    return f"{host}:{port}"
