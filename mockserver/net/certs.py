"""The throw-away TLS certificates: a local CA and a server certificate for 127.0.0.1, localhost
and ::1, generated once and cached (``$RTMOCK_CACHE_DIR/tls``, ``$XDG_CACHE_HOME/rtmock/tls`` or
``~/.cache/rtmock/tls``). Clients trust `CertificatePaths.ca_file` (``SSL_CERT_FILE``,
``NODE_EXTRA_CA_CERTS``).

Kept light on purpose (no asyncio, no cryptography until something must be generated): `rtmock run`
needs the CA's path before it starts the client, and starts the client before loading the rest.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import json
import logging
import os
import ssl
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

if sys.platform != "win32":
    import fcntl

__all__ = ["CertificatePaths", "default_cache_dir", "ensure_certificates", "server_ssl_context"]

logger = logging.getLogger("rtmock.mockserver.net.tls")

SERVER_NAMES = ("127.0.0.1", "localhost", "::1")
LEAF_LIFETIME = datetime.timedelta(days=397)  # within the 398 days clients still accept for a leaf
RENEW_BEFORE = datetime.timedelta(days=30)



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
