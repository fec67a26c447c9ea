"""The local CA on disk and the one port that serves ws:// and wss://, with real sockets and aiohttp."""

from __future__ import annotations

import asyncio
import datetime
import errno
import logging
import socket
import ssl
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import trustme
from aiohttp import web

from rtmock.mockserver.net.tls import (
    CertificatePaths,
    DualListener,
    default_cache_dir,
    ensure_certificates,
    server_ssl_context,
)

BOUND = 5.0  # seconds any awaited condition may take


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> CertificatePaths:
    return ensure_certificates(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def trusting(certificates: CertificatePaths) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(certificates.ca_file))


async def echo(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse()
    await ws.prepare(request)
    await ws.send_str(f"scheme={request.scheme} secure={request.secure}")
    async for message in ws:
        await ws.send_str(message.data)
    return ws


@pytest.fixture
async def listener(certificates: CertificatePaths) -> AsyncIterator[DualListener]:
    app = web.Application()
    app.router.add_get("/echo", echo)
    runner = web.AppRunner(app)
    await runner.setup()
    assert runner.server is not None
    listener = await DualListener.start(
        runner.server, ssl_context=server_ssl_context(certificates), first_byte_timeout=BOUND
    )
    yield listener
    await listener.close()
    await runner.cleanup()


@pytest.fixture
async def loop_errors() -> list[dict[str, Any]]:
    """What reached the event loop's exception handler (where tracebacks get printed)."""
    errors: list[dict[str, Any]] = []
    asyncio.get_running_loop().set_exception_handler(lambda _, context: errors.append(context))
    return errors


async def until(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(BOUND):
        while not condition():
            await asyncio.sleep(0.01)


async def echo_round_trip(url: str, ssl_context: ssl.SSLContext | bool = True) -> str:
    async with aiohttp.ClientSession() as session, session.ws_connect(url, ssl=ssl_context) as ws:
        greeting = await ws.receive_str(timeout=BOUND)
        await ws.send_str("hello")
        assert await ws.receive_str(timeout=BOUND) == "hello"
        return greeting


async def test_websocket_echoes_over_ws_and_wss_on_one_port(
    listener: DualListener, trusting: ssl.SSLContext
) -> None:
    assert listener.tls_enabled
    plain = await echo_round_trip(f"ws://127.0.0.1:{listener.port}/echo")
    secure = await echo_round_trip(f"wss://localhost:{listener.port}/echo", trusting)
    assert (plain, secure) == ("scheme=http secure=False", "scheme=https secure=True")


def connect_without_trust(port: int) -> None:
    """A blocking client that, unlike asyncio ones, sends a TLS alert when it rejects the certificate."""
    with socket.create_connection(("127.0.0.1", port), timeout=BOUND) as raw:
        ssl.create_default_context().wrap_socket(raw, server_hostname="127.0.0.1")


@pytest.mark.parametrize("client", ["aiohttp", "blocking ssl socket"])
async def test_untrusting_client_fails_its_handshake_and_the_listener_serves_the_next(
    client: str,
    listener: DualListener,
    trusting: ssl.SSLContext,
    caplog: pytest.LogCaptureFixture,
    loop_errors: list[dict[str, Any]],
) -> None:
    with pytest.raises(ssl.SSLCertVerificationError):
        if client == "aiohttp":
            await echo_round_trip(f"wss://127.0.0.1:{listener.port}/echo", ssl.create_default_context())
        else:
            await asyncio.to_thread(connect_without_trust, listener.port)
    await until(lambda: any("TLS handshake" in r.getMessage() for r in caplog.records))
    assert await echo_round_trip(f"wss://127.0.0.1:{listener.port}/echo", trusting)
    ours = [r.getMessage() for r in caplog.records if r.name == "rtmock.mockserver.net.tls"]
    assert len(ours) == 1 and "\n" not in ours[0], "one line, no traceback"
    assert not [r for r in caplog.records if r.exc_info]
    assert loop_errors == []


async def test_silent_connection_does_not_block_others_and_is_closed_at_its_bound(
    certificates: CertificatePaths, trusting: ssl.SSLContext
) -> None:
    app = web.Application()
    app.router.add_get("/echo", echo)
    runner = web.AppRunner(app)
    await runner.setup()
    assert runner.server is not None
    async with await DualListener.start(
        runner.server, ssl_context=server_ssl_context(certificates), first_byte_timeout=0.5
    ) as listener:
        reader, writer = await asyncio.open_connection("127.0.0.1", listener.port)
        await echo_round_trip(f"ws://127.0.0.1:{listener.port}/echo")
        await echo_round_trip(f"wss://127.0.0.1:{listener.port}/echo", trusting)
        assert await asyncio.wait_for(reader.read(), BOUND) == b""  # closed by the listener
        writer.close()
    await runner.cleanup()


async def test_peer_that_closes_before_speaking_is_dropped_quietly(
    listener: DualListener, caplog: pytest.LogCaptureFixture, loop_errors: list[dict[str, Any]]
) -> None:
    for _ in range(3):
        _, writer = await asyncio.open_connection("127.0.0.1", listener.port)
        writer.close()
        await writer.wait_closed()
    await echo_round_trip(f"ws://127.0.0.1:{listener.port}/echo")
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert loop_errors == []


async def test_plain_only_listener_serves_ws() -> None:
    app = web.Application()
    app.router.add_get("/echo", echo)
    runner = web.AppRunner(app)
    await runner.setup()
    assert runner.server is not None
    async with await DualListener.start(runner.server) as plain:
        assert not plain.tls_enabled
        assert await echo_round_trip(f"ws://127.0.0.1:{plain.port}/echo") == "scheme=http secure=False"
    await runner.cleanup()


async def test_close_twice_is_fine_and_stops_accepting(listener: DualListener) -> None:
    port = listener.port
    await listener.close()
    await listener.close()
    with pytest.raises(OSError):
        await asyncio.open_connection("127.0.0.1", port)


async def test_port_in_use_raises_oserror_with_errno(listener: DualListener) -> None:
    with pytest.raises(OSError) as raised:
        await DualListener.start(lambda: asyncio.Protocol(), port=listener.port)
    assert raised.value.errno == errno.EADDRINUSE


def test_certificates_are_reused_then_regenerated_when_deleted(tmp_path: Path) -> None:
    first = ensure_certificates(tmp_path)
    stamps = [p.stat().st_mtime_ns for p in (first.ca_file, first.cert_file, first.key_file)]
    again = ensure_certificates(tmp_path)
    assert again == first
    assert [p.stat().st_mtime_ns for p in (again.ca_file, again.cert_file, again.key_file)] == stamps
    old_ca = first.ca_file.read_bytes()
    first.cert_file.unlink()
    ensure_certificates(tmp_path)
    assert first.cert_file.exists() and first.ca_file.read_bytes() != old_ca
    server_ssl_context(first)  # the new chain and key belong together


def test_corrupt_or_expiring_certificates_are_regenerated(tmp_path: Path) -> None:
    paths = ensure_certificates(tmp_path)
    paths.key_file.write_text("not a key")
    ensure_certificates(tmp_path)
    server_ssl_context(paths)
    ca = trustme.CA()
    soon = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=10)
    leaf = ca.issue_cert("127.0.0.1", not_after=soon)
    ca.cert_pem.write_to_path(paths.ca_file)
    leaf.cert_chain_pems[0].write_to_path(paths.cert_file)
    leaf.private_key_pem.write_to_path(paths.key_file)
    ensure_certificates(tmp_path)
    assert paths.ca_file.read_bytes() != ca.cert_pem.bytes()


def test_an_expiring_stamp_regenerates(tmp_path: Path) -> None:
    import json

    paths = ensure_certificates(tmp_path)
    stamp = json.loads(paths.stamp_file.read_text())
    stamp["not_after"] = (datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=10)).timestamp()
    paths.stamp_file.write_text(json.dumps(stamp))
    old_ca = paths.ca_file.read_bytes()
    ensure_certificates(tmp_path)
    assert paths.ca_file.read_bytes() != old_ca


def test_concurrent_processes_agree_on_one_certificate_set(tmp_path: Path) -> None:
    with ProcessPoolExecutor(4, mp_context=get_context("spawn")) as pool:
        results = list(pool.map(ensure_certificates, [tmp_path / "tls"] * 8))
    assert len(set(results)) == 1
    server_ssl_context(results[0])
    assert sorted(p.name for p in (tmp_path / "tls").iterdir()) == [
        ".lock",
        "ca.pem",
        "server.key",
        "server.pem",
        "stamp.json",
    ]


def test_default_cache_dir_follows_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("RTMOCK_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert default_cache_dir() == tmp_path / "rtmock" / "tls"
    monkeypatch.setenv("RTMOCK_CACHE_DIR", str(tmp_path / "mine"))
    assert default_cache_dir() == tmp_path / "mine" / "tls"
