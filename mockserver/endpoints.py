"""Where clients connect: the URLs and the environment that point common clients at a server.

Kept free of heavy imports (no aiohttp, no pydantic): `rtmock run` computes a client's environment
and starts the client before it has loaded the rest of rtmock.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from urllib.parse import quote

__all__ = ["DEFAULT_MODEL", "client_environment_for", "http_base", "listening_socket"]

#: The model named in the URLs rtmock hands out: OpenAI's endpoint refuses a connection without one.
DEFAULT_MODEL = "gpt-realtime"


def http_base(host: str, port: int, scenario: str | None = None) -> str:
    prefix = f"/s/{quote(scenario, safe='')}" if scenario else ""
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}{prefix}"


def client_environment_for(host: str, port: int, ca_file: Path | None, scenario: str | None = None) -> dict[str, str]:
    """The variables documented in the README's `rtmock run` section."""
    base = http_base(host, port, scenario)
    ws = base.replace("http://", "ws://", 1)
    env = {
        "RTMOCK_URL": f"{ws}/v1/realtime?model={DEFAULT_MODEL}",
        "RTMOCK_WSS_URL": f"{base.replace('http://', 'wss://', 1)}/v1/realtime?model={DEFAULT_MODEL}",
        "OPENAI_BASE_URL": f"{base}/v1",
        "OPENAI_WEBSOCKET_BASE_URL": f"{ws}/v1",
        "AZURE_OPENAI_ENDPOINT": base,
        "AZURE_OPENAI_API_KEY": "rtmock",
    }
    if ca_file is not None:
        env["SSL_CERT_FILE"] = env["NODE_EXTRA_CA_CERTS"] = env["RTMOCK_CA_FILE"] = str(ca_file)
    return env


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
