"""The environment `rtmock run` gives a client points it at rtmock without taking anything away:
HTTPS calls it makes elsewhere still verify against what it trusted before."""

from __future__ import annotations

import asyncio
import json
import os
import ssl
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trustme

from rtmock.mockserver.net.endpoints import client_environment_for

ROOT = Path(__file__).resolve().parent.parent
RTMOCK = str(Path(sys.executable).with_name("rtmock"))


@pytest.fixture
async def other_https_server(tmp_path: Path) -> AsyncIterator[tuple[int, Path]]:
    """A TLS server signed by a CA rtmock knows nothing of: the client's own trust, in its SSL_CERT_FILE."""
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    ca_file = tmp_path / "company-ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readline()
        writer.write(b"ok\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0, ssl=context)
    async with server:
        yield server.sockets[0].getsockname()[1], ca_file


async def test_a_client_keeps_its_own_trusted_cas_and_trusts_rtmocks_too(
    other_https_server: tuple[int, Path], tmp_path: Path
) -> None:
    port, company_ca = other_https_server
    client = tmp_path / "client.py"
    client.write_text(textwrap.dedent(f"""
        import asyncio, json, os, socket, ssl
        import aiohttp

        def other_https():  # the app's own HTTPS call, to a host its company CA signed
            context = ssl.create_default_context()
            with socket.create_connection(("127.0.0.1", {port})) as raw, \\
                    context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
                tls.sendall(b"hi\\n")
                return tls.recv(3)

        async def main():
            assert await asyncio.to_thread(other_https) == b"ok\\n"
            async with aiohttp.ClientSession() as s, s.ws_connect(
                    os.environ["RTMOCK_WSS_URL"], headers={{"Authorization": "Bearer x"}},
                    ssl=ssl.create_default_context()) as ws:
                assert json.loads((await ws.receive()).data)["type"] == "session.created"

        asyncio.run(main())
    """))
    env = {**os.environ, "SSL_CERT_FILE": str(company_ca)}
    done = await asyncio.to_thread(
        subprocess.run, [RTMOCK, "run", str(ROOT / "scenarios" / "get_your_info.yaml"), "--grace", "0.2", "--",
                         sys.executable, str(client)], env=env, capture_output=True, text=True, timeout=60)
    out = done.stdout + done.stderr
    # the scenario is not played to its end: what matters is that both TLS handshakes worked
    assert "AssertionError" not in out and "CERTIFICATE_VERIFY_FAILED" not in out, out
    assert "client-crashed" not in out, out


def test_the_ca_variables_name_bundles_of_what_the_client_trusted_plus_rtmocks_ca(tmp_path: Path) -> None:
    ours, theirs, extra = tmp_path / "ca.pem", tmp_path / "theirs.pem", tmp_path / "extra.pem"
    ours.write_text("-----BEGIN CERTIFICATE-----\nOURS\n-----END CERTIFICATE-----\n")
    theirs.write_text("-----BEGIN CERTIFICATE-----\nTHEIRS\n-----END CERTIFICATE-----\n")
    extra.write_text("-----BEGIN CERTIFICATE-----\nEXTRA\n-----END CERTIFICATE-----\n")
    env = client_environment_for("127.0.0.1", 1, ours, base={"SSL_CERT_FILE": str(theirs),
                                                            "NODE_EXTRA_CA_CERTS": str(extra)})
    assert Path(env["SSL_CERT_FILE"]).read_text().split() == [*theirs.read_text().split(), *ours.read_text().split()]
    assert "EXTRA" in Path(env["NODE_EXTRA_CA_CERTS"]).read_text() and "OURS" in Path(env["NODE_EXTRA_CA_CERTS"]).read_text()
    assert env["RTMOCK_CA_FILE"] == str(ours)
    plain = client_environment_for("127.0.0.1", 1, ours, base={})
    assert plain["NODE_EXTRA_CA_CERTS"] == str(ours), "Node keeps its built-in store: rtmock's CA alone is added"
    assert plain["OPENAI_API_KEY"] and "127.0.0.1" in plain["NO_PROXY"]
    assert json.dumps(plain)  # all strings
