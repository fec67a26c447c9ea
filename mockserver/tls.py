"""TLS for the fake server: a throw-away CA, and one port that speaks both plain HTTP and TLS.

Some clients (the official openai Python SDK's beta realtime client, the Node SDK) always dial
``wss://``. So rtmock keeps a local CA and a server certificate for ``127.0.0.1``, ``localhost``
and ``::1`` in a cache directory, and `DualListener` accepts every connection itself, peeks at its
first byte and wraps it in TLS only when that byte opens a TLS handshake. One URL then serves
``ws://`` and ``wss://`` clients alike; point ``SSL_CERT_FILE`` / ``NODE_EXTRA_CA_CERTS`` at
`CertificatePaths.ca_file`.

What belongs here: certificates on disk, the server's ``ssl.SSLContext``, and the listening socket.
What does not: HTTP and websockets (aiohttp, handed each connection through a protocol factory).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import errno
import hashlib
import json
import logging
import os
import socket
import ssl
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

if sys.platform != "win32":
    import fcntl

__all__ = [
    "CertificatePaths",
    "DualListener",
    "default_cache_dir",
    "ensure_certificates",
    "listening_socket",
    "server_ssl_context",
]

logger = logging.getLogger(__name__)

SERVER_NAMES = ("127.0.0.1", "localhost", "::1")
LEAF_LIFETIME = datetime.timedelta(days=397)  # within the 398 days clients still accept for a leaf
RENEW_BEFORE = datetime.timedelta(days=30)

# RFC 8446 §5.1: a TLS record starts with its ContentType; a ClientHello travels in handshake(22).
TLS_HANDSHAKE_RECORD = 0x16


@dataclass(frozen=True)
class CertificatePaths:
    ca_file: Path  # the CA certificate: what clients must trust
    cert_file: Path  # the server certificate chain, leaf first
    key_file: Path  # the server's private key

    @property
    def stamp_file(self) -> Path:
        """What `_usable` checks without parsing certificates: their hashes and first expiry."""
        return self.ca_file.with_name("stamp.json")

    @classmethod
    def in_directory(cls, directory: Path) -> CertificatePaths:
        return cls(directory / "ca.pem", directory / "server.pem", directory / "server.key")


def default_cache_dir() -> Path:
    """``$RTMOCK_CACHE_DIR/tls``, else ``$XDG_CACHE_HOME/rtmock/tls``, else ``~/.cache/rtmock/tls``."""
    if base := os.environ.get("RTMOCK_CACHE_DIR"):
        return Path(base) / "tls"
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "rtmock" / "tls"


def ensure_certificates(cache_dir: Path | None = None) -> CertificatePaths:
    """Return certificates in `cache_dir`, made anew if missing, unreadable, mismatched or expiring.

    Safe when several processes call it at once: generation happens under a file lock, and every
    file is written to a temporary name and renamed into place, so a reader never sees half a file.
    """
    directory = cache_dir if cache_dir is not None else default_cache_dir()
    paths = CertificatePaths.in_directory(directory)
    if _usable(paths):
        return paths
    directory.mkdir(parents=True, exist_ok=True)
    with _exclusive_lock(directory / ".lock"):
        if not _usable(paths):  # another process may have made them while we waited
            _generate(paths)
    return paths


def server_ssl_context(paths: CertificatePaths) -> ssl.SSLContext:
    """A server-side context for `paths`: HTTP/1.1 only (websockets need it), no client certificates."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(paths.cert_file, paths.key_file)
    context.set_alpn_protocols(["http/1.1"])
    return context


def _usable(paths: CertificatePaths) -> bool:
    """Cheap on purpose (it runs at every server start): the files must be the ones the stamp
    describes (same hashes: files from two generations do not mix), not near expiry, and the key
    must match the certificate (the ssl module checks that)."""
    try:
        stamp = json.loads(paths.stamp_file.read_text(encoding="utf-8"))
        if stamp.get("ca_sha256") != _sha256(paths.ca_file) or stamp.get("cert_sha256") != _sha256(paths.cert_file):
            return False
        if float(stamp["not_after"]) <= (datetime.datetime.now(datetime.UTC) + RENEW_BEFORE).timestamp():
            return False
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(paths.cert_file, paths.key_file)
    except (OSError, ValueError, TypeError, KeyError):  # ssl.SSLError is an OSError
        return False
    return True


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _generate(paths: CertificatePaths) -> None:
    import trustme  # only when generating: it and cryptography cost ~0.2 s to import
    from cryptography import x509

    ca = trustme.CA(organization_name="rtmock local CA")
    not_after = datetime.datetime.now(datetime.UTC) + LEAF_LIFETIME
    leaf = ca.issue_cert(*SERVER_NAMES, organization_name="rtmock", not_after=not_after)
    chain = b"".join(blob.bytes() for blob in leaf.cert_chain_pems)
    ca_pem = ca.cert_pem.bytes()
    expiry = min(c.not_valid_after_utc for c in (x509.load_pem_x509_certificate(ca_pem),
                                                 *x509.load_pem_x509_certificates(chain)))
    _write_atomically(paths.key_file, leaf.private_key_pem.bytes(), mode=0o600)
    _write_atomically(paths.cert_file, chain, mode=0o644)
    _write_atomically(paths.ca_file, ca_pem, mode=0o644)
    stamp = {"not_after": expiry.timestamp(), "ca_sha256": _sha256(paths.ca_file), "cert_sha256": _sha256(paths.cert_file)}
    _write_atomically(paths.stamp_file, json.dumps(stamp).encode(), mode=0o644)
    logger.info("generated a local CA and server certificate in %s", paths.ca_file.parent)


def _write_atomically(path: Path, data: bytes, *, mode: int) -> None:
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


@contextlib.contextmanager
def _exclusive_lock(path: Path) -> Iterator[None]:
    with open(path, "a") as handle:
        if sys.platform != "win32":  # elsewhere, atomic renames and the consistency check suffice
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        yield  # closing the file releases the lock


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


def listening_socket(host: str = "127.0.0.1", port: int = 0, *, backlog: int = 128) -> socket.socket:
    """A bound, listening socket. Clients may connect as soon as this returns: the kernel queues
    them until the server accepts, which lets `rtmock run` start the client while it starts up."""
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    sock = socket.socket(family, kind, proto)
    try:
        if os.name == "posix":  # on Windows SO_REUSEADDR would let two servers share the port
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(backlog)
    except BaseException:
        sock.close()
        raise
    return sock


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
