"""Where clients connect: the URLs and the environment that point common clients at a server.

Kept free of heavy imports (no aiohttp, no pydantic): `rtmock run` computes a client's environment
and starts the client before it has loaded the rest of rtmock.
"""

from __future__ import annotations

import hashlib
import os
import socket
import ssl
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import quote

__all__ = ["DEFAULT_MODEL", "client_environment_for", "http_base", "listening_socket"]

#: The model named in the URLs rtmock hands out: OpenAI's endpoint refuses a connection without one.
DEFAULT_MODEL = "gpt-realtime"


def http_base(host: str, port: int, scenario: str | None = None) -> str:
    prefix = f"/s/{quote(scenario, safe='')}" if scenario else ""
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}{prefix}"


def client_environment_for(host: str, port: int, ca_file: Path | None, scenario: str | None = None, *,
                           base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The variables that point common clients at a server (the README's `rtmock run` table), for a
    client whose environment is otherwise `base` (default: this process's). What the client already
    trusts, it keeps trusting: the CA variables name bundles of its own CAs plus rtmock's."""
    base = os.environ if base is None else base
    http = http_base(host, port, scenario)
    ws = http.replace("http://", "ws://", 1)
    env = {
        "RTMOCK_URL": f"{ws}/v1/realtime?model={DEFAULT_MODEL}",
        "RTMOCK_WSS_URL": f"{http.replace('http://', 'wss://', 1)}/v1/realtime?model={DEFAULT_MODEL}",
        "OPENAI_BASE_URL": f"{http}/v1",
        "OPENAI_WEBSOCKET_BASE_URL": f"{ws}/v1",
        "AZURE_OPENAI_ENDPOINT": http,
        "AZURE_OPENAI_API_KEY": "rtmock",
        "AZURE_VOICELIVE_ENDPOINT": http,  # azure-ai-voicelive's samples read these two
        "AZURE_VOICELIVE_API_KEY": "rtmock",
    }
    if not base.get("OPENAI_API_KEY"):
        env["OPENAI_API_KEY"] = "rtmock-dummy-key"  # the SDKs refuse to start without one; any value works
    # the websockets library sends even ws://127.0.0.1 through a configured HTTPS_PROXY
    for key in ("NO_PROXY", "no_proxy"):
        hosts = [h for h in base.get(key, "").split(",") if h]
        env[key] = ",".join(dict.fromkeys([*hosts, "127.0.0.1", "localhost", "::1"]))
    if ca_file is not None:
        env["RTMOCK_CA_FILE"] = str(ca_file)
        # SSL_CERT_FILE replaces the default trust store (Python's ssl, httpx, curl): keep what the
        # client trusted before. NODE_EXTRA_CA_CERTS adds to Node's own store: keep its extras.
        env["SSL_CERT_FILE"] = str(_bundle(ca_file, base.get("SSL_CERT_FILE") or _system_ca_file()))
        env["NODE_EXTRA_CA_CERTS"] = str(_bundle(ca_file, base.get("NODE_EXTRA_CA_CERTS")))
    return env


def _system_ca_file() -> str | None:
    """Where this machine's OpenSSL finds its trusted CAs by default (as one file), if anywhere."""
    paths = ssl.get_default_verify_paths()
    for candidate in (paths.cafile, paths.openssl_cafile):
        if candidate and os.path.isfile(candidate):
            return candidate
    return None


def _bundle(ca_file: Path, others: str | None) -> Path:
    """`ca_file` alone, or a bundle of the certificates in `others` and then `ca_file`, written
    once beside the CA (named by a hash of its content, so concurrent runs share it)."""
    if not others or not os.path.isfile(others) or os.path.samefile(others, ca_file):
        return ca_file
    try:
        text = Path(others).read_text(encoding="ascii", errors="replace").rstrip("\n") + "\n" + ca_file.read_text()
    except OSError:
        return ca_file
    bundle = ca_file.with_name(f"bundle-{hashlib.sha256(text.encode()).hexdigest()[:16]}.pem")
    if not bundle.exists():
        partial = bundle.with_name(f"{bundle.name}.{os.getpid()}.tmp")
        partial.write_text(text)
        os.replace(partial, bundle)
    return bundle


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
