"""`rtmock proxy`: the real service behind rtmock's socket. aiohttp glue around `RelayCore`.

A client connects as it would to `rtmock serve` (ws:// and wss:// on one port, any path ending in
`/realtime`); rtmock opens the same session on the upstream and relays every frame both ways,
unchanged, while the records of the session go to the observers (the judge) and to a transcript in
the format `rtmock serve --record` writes.

Where a connection goes (documented in the README):
- the upstream URL is a *base*: the client's path and query are appended to it
  (`--upstream wss://api.openai.com` + `/v1/realtime?model=gpt-realtime`), once (a base of
  `https://api.openai.com/v1`, the SDKs' base URL, gives the same);
- unless its path already ends in `/realtime`: then it is used as given, and the client's query
  parameters are added where it does not set them;
- `http://` and `https://` mean `ws://` and `wss://`.

Credentials: the client's own (its `Authorization`/`api-key` headers and subprotocols go upstream
as they came), or, when the relay is given a key (`RTMOCK_UPSTREAM_API_KEY`), that key instead of
the client's: as `api-key` for Azure (`/openai/…` and `/voice-live/…` paths, `*.azure.com` hosts,
or when the client sent `api-key`), else as `Authorization: Bearer`. Every credential is redacted from what rtmock
keeps (`redact.py`).

Upstream faults are reported as the upstream's (`UpstreamProblem`): a refused handshake is
answered to the client with the upstream's own status and body, and kept with both.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import dataclasses
import json
import logging
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import aiohttp
from aiohttp import WSMessage, WSMsgType, web
from aiohttp.connector import Connection

from ..core.events import Dialect, IdSource
from ..core.records import Record, TranscriptHeader, dump_header, dump_record
from ..core.relay_core import RelayCore, UpstreamProblem, passthrough_scenario
from ..errors import UsageError
from ..scenario.loader import LoadedScenario
from .handshake import client_left_during_handshake, http_error
from .redact import KEY_SUBPROTOCOL_PREFIX, Secrets
from .server import MockServer, SessionInfo, close_code
from .transcript_files import TranscriptFile, transcript_path

__all__ = ["UPSTREAM_KEY_ENV", "RelayServer", "RelayedSession", "upstream_url"]

log = logging.getLogger("rtmock.relay")

#: The environment variable that gives rtmock a key for the upstream (never written anywhere).
UPSTREAM_KEY_ENV = "RTMOCK_UPSTREAM_API_KEY"

#: Request headers that belong to one hop (or to the websocket handshake, which aiohttp redoes).
_HOP_HEADERS = frozenset({"host", "connection", "upgrade", "keep-alive", "te", "trailer", "transfer-encoding",
                          "content-length", "proxy-authorization", "proxy-connection", "sec-websocket-key",
                          "sec-websocket-version", "sec-websocket-extensions", "sec-websocket-protocol",
                          "accept-encoding"})
_MAX_REFUSAL_BODY = 64 * 1024

_REFUSAL_BODY: contextvars.ContextVar[list[bytes]] = contextvars.ContextVar("rtmock_refusal_body")


class _KeepRefusalBody(aiohttp.ClientResponse):
    """aiohttp drops the body of a refused websocket handshake; the upstream's message is in it
    (`Incorrect API key provided…`). Read it while the response is still open."""

    async def start(self, connection: Connection) -> aiohttp.ClientResponse:
        response = await super().start(connection)
        holder = _REFUSAL_BODY.get(None)
        if self.status != 101 and holder is not None:
            with contextlib.suppress(Exception):
                holder.append(await asyncio.wait_for(self.content.read(_MAX_REFUSAL_BODY), 5.0))
        return response


@dataclass(eq=False)
class RelayedSession(SessionInfo):
    """A session between a client and the upstream, as observers see it."""

    upstream: str = ""  # the URL it was relayed to (redacted)
    started_clock: float = 0.0  # loop time at its start (record times are relative to it)
    relay: RelayCore | None = None

    @property
    def complete(self) -> bool:
        return self.relay is not None and self.relay.complete

    def header(self) -> TranscriptHeader:
        base = super().header()
        return dataclasses.replace(base, extra={**base.extra, "proxied": True, "upstream": self.upstream})


class _Refused(Exception):
    def __init__(self, status: int, body: bytes, content_type: str | None) -> None:
        super().__init__(status)
        self.status, self.body, self.content_type = status, body, content_type


def upstream_url(base: str, path: str, query: str) -> str:
    """Where a client's request for `path`?`query` goes (see the module doc)."""
    parts = urlsplit(base)
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    path = path if path.startswith("/") else "/" + path
    base = parts.path.rstrip("/")
    if base.endswith("/realtime"):
        target = parts.path
    elif path.startswith(base + "/"):
        target = path  # a base URL the client's own path already starts with (`…/v1` and `/v1/realtime`)
    else:
        target = base + path
    given = parse_qsl(parts.query, keep_blank_values=True)
    names = {name for name, _ in given}
    merged = given + [(k, v) for k, v in parse_qsl(query, keep_blank_values=True) if k not in names]
    return urlunsplit((scheme, parts.netloc, target, urlencode(merged, safe="/:"), ""))


class RelayServer(MockServer):
    """Listens like `MockServer` (same lifecycle, observers, TLS, `record_dir`), and relays each
    session to `upstream` instead of playing a scenario. `scenario`, when given, adds its
    expectations; `upstream_key` replaces the client's credentials."""

    def __init__(self, upstream: str, scenario: LoadedScenario | None = None, *, upstream_key: str | None = None,
                 upstream_ca: str | Path | None = None, connect_timeout: float = 15.0,
                 default_within: float | None = None, **server_options: Any) -> None:
        parts = urlsplit(upstream)
        if parts.scheme not in ("ws", "wss", "http", "https") or not parts.hostname:
            raise UsageError(f"--upstream must be a ws:// or wss:// URL (e.g. wss://api.openai.com), not {upstream!r}")
        self.secrets = Secrets([upstream_key])
        self.secrets.add_url(upstream)
        safe_host = (parts.hostname or "") + (f":{parts.port}" if parts.port else "")
        super().__init__([scenario or passthrough_scenario(f"upstream {safe_host}")], require_auth=False,
                         **server_options)
        self.upstream = upstream
        self.upstream_key = upstream_key
        self.upstream_ca = Path(upstream_ca) if upstream_ca is not None else None
        self.connect_timeout = connect_timeout
        self.relay_within = default_within
        #: The upstream's problems, over all sessions (and refused handshakes, which have none).
        self.upstream_problems: list[UpstreamProblem] = []
        #: Set whenever an upstream problem is added (the runner waits on it).
        self.problem_seen = asyncio.Event()
        #: Called with each upstream problem as it is seen (`rtmock proxy` prints them).
        self.problem_listeners: list[Callable[[UpstreamProblem], None]] = []
        self._http: aiohttp.ClientSession | None = None
        self._log_filter = _RedactingFilter(self.secrets)
        self._ids = IdSource(None if self.seed is None else f"{self.seed}:relay")

    @property
    def upstream_shown(self) -> str:
        """The upstream URL for logs and reports (redacted)."""
        return self.secrets.url(self.upstream)

    async def start(self) -> RelayServer:
        # aiohttp logs what it refuses in a handshake (a key subprotocol it does not pick, say): the
        # loggers that see requests pass through this server's redaction first
        for name in _REQUEST_LOGGERS:
            logging.getLogger(name).addFilter(self._log_filter)
        await super().start()
        return self

    async def close(self) -> None:
        try:
            await super().close()
            if self._http is not None:
                await self._http.close()
                self._http = None
        finally:
            for name in _REQUEST_LOGGERS:
                logging.getLogger(name).removeFilter(self._log_filter)

    def _problem(self, problem: UpstreamProblem) -> None:
        self.upstream_problems.append(problem)
        self.problem_seen.set()
        log.info("upstream problem: %s", problem)
        for listener in self.problem_listeners:
            listener(problem)

    # ---- one connection --------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        # the request's credentials are known before anything of it is kept or logged
        self.secrets.add_headers(request.headers)
        self.secrets.add_url(request.path_qs)
        response = await super()._handle(request)
        self.refused[:] = [self.secrets.text(line) for line in self.refused]  # (a key in the query)
        return response

    async def _upgrade(self, request: web.Request) -> web.StreamResponse:
        if not request.path.rstrip("/").endswith("/realtime"):
            return http_error(404, f"not a realtime endpoint: {request.path} (use …/v1/realtime)")
        if not web.WebSocketResponse().can_prepare(request).ok:
            return http_error(426, "this is a websocket endpoint: connect with a websocket client")
        target = upstream_url(self.upstream, request.path, request.query_string)
        self.secrets.add_url(target)
        headers, protocols = self._upstream_request(request, target)
        try:
            upstream = await self._connect(target, headers, protocols)
        except _Refused as refused:
            message = _refusal_message(refused.body)
            self._problem(UpstreamProblem(
                "refused", self.secrets.text(f"The upstream refused the connection to {self.secrets.url(target)}: "
                                             f"HTTP {refused.status}" + (f": {message}" if message else "")),
                status=refused.status))
            # the client gets what the upstream said, as it said it
            return web.Response(status=refused.status, body=refused.body,
                                headers={"Content-Type": refused.content_type or "application/octet-stream"})
        except (aiohttp.ClientError, OSError, TimeoutError, ssl.SSLError) as exc:
            what = self.secrets.text(str(exc) or type(exc).__name__)
            self._problem(UpstreamProblem("unreachable", f"rtmock could not reach the upstream "
                                          f"{self.secrets.url(target)}: {what}"))
            return http_error(502, f"rtmock could not reach the upstream: {what}", code="rtmock_upstream_unreachable")
        chosen = upstream.protocol
        ws = web.WebSocketResponse(max_msg_size=self.max_message_bytes, autoping=True,
                                   protocols=[chosen] if chosen else [])
        try:
            await ws.prepare(request)
        except ConnectionError:
            await upstream.close()
            return client_left_during_handshake()
        except BaseException:
            await upstream.close()
            raise
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            await self._relay(ws, upstream, request, target)
        finally:
            self._handlers.discard(task)
        return ws

    def _upstream_request(self, request: web.Request, target: str) -> tuple[dict[str, str], list[str]]:
        """The headers and subprotocols of the upstream handshake: the client's, with its
        credentials replaced when the relay has a key of its own."""
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_HEADERS}
        protocols = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",") if p.strip()]
        if self.upstream_key is not None:
            client_used_api_key = any(k.lower() == "api-key" for k in headers)
            headers = {k: v for k, v in headers.items() if k.lower() not in ("authorization", "api-key")}
            protocols = [p for p in protocols if not p.startswith(KEY_SUBPROTOCOL_PREFIX)]
            parts = urlsplit(target)
            azure = client_used_api_key or "/openai/" in parts.path or "/voice-live/" in parts.path \
                or (parts.hostname or "").endswith((".azure.com", ".azure.us", ".azure.cn"))
            if azure:
                headers["api-key"] = self.upstream_key
            else:
                headers["Authorization"] = f"Bearer {self.upstream_key}"
        return headers, protocols

    async def _connect(self, url: str, headers: dict[str, str], protocols: list[str]) -> aiohttp.ClientWebSocketResponse:
        if self._http is None:
            # HTTPS_PROXY and the like apply to a remote service, never to one on this machine
            local = urlsplit(url).hostname in ("127.0.0.1", "localhost", "::1")
            self._http = aiohttp.ClientSession(response_class=_KeepRefusalBody, trust_env=not local)
        context: ssl.SSLContext | bool = True
        if url.startswith("wss://"):
            context = ssl.create_default_context()
            if self.upstream_ca is not None:
                context.load_verify_locations(cafile=str(self.upstream_ca))
        holder: list[bytes] = []
        token = _REFUSAL_BODY.set(holder)
        try:
            async with asyncio.timeout(self.connect_timeout):
                return await self._http.ws_connect(url, headers=headers, protocols=protocols, ssl=context,
                                                   max_msg_size=self.max_message_bytes, autoping=True,
                                                   autoclose=True)
        except aiohttp.WSServerHandshakeError as exc:
            content_type = exc.headers.get("Content-Type") if exc.headers else None
            raise _Refused(exc.status, holder[0] if holder else b"", content_type) from None
        finally:
            _REFUSAL_BODY.reset(token)

    async def _relay(self, ws: web.WebSocketResponse, upstream: aiohttp.ClientWebSocketResponse,
                     request: web.Request, target: str) -> None:
        scenario = next(iter(self.scenarios.values()))
        number = next(self._numbers)
        loop = asyncio.get_running_loop()
        clock = loop.time
        started = clock()
        info = RelayedSession(number=number, id=self._ids.new("relay", 16), scenario=scenario, run=self.run,
                              dialect=self._dialect(request, scenario), request_path=self.secrets.url(request.path_qs),
                              started_at=datetime.now(UTC).isoformat(timespec="milliseconds"),
                              upstream=self.secrets.url(target), started_clock=started)
        transcript: TranscriptFile | None = None

        def on_record(record: Record) -> None:
            info.records.append(record)
            if transcript is not None:
                transcript.write(dump_record(record), record.index)
            self._deliver(info, (record,))  # the service decides later: each frame is a moment of its own

        core = RelayCore(scenario, on_record, self.secrets, started=started, default_within=self.relay_within,
                         voice_live=info.dialect is Dialect.VOICE_LIVE)
        info.relay = core
        self.sessions.append(info)
        keep = getattr(self, "keep_sessions", True)
        seen_problems = 0

        def problems() -> None:
            nonlocal seen_problems
            for problem in core.problems[seen_problems:]:
                self._problem(problem)
            seen_problems = len(core.problems)

        try:
            if self.record_dir is not None:
                path = transcript_path(self.record_dir, number, scenario.name, info.id)
                transcript = TranscriptFile(path, self.recording_errors)  # a failed write cuts it short, says so
                info.transcript_path = path
                transcript.write(dump_header(info.header()), None)
            self._notify("session_started", info)
            log.info("session %s: %s relayed to %s", info.id, info.request_path, info.upstream)
            core.start(clock(), target)
            to_upstream = asyncio.ensure_future(_pump(
                ws, upstream, core.client_text, core.client_binary, core.client_closed, problems,
                lost=lambda msg: _client_lost(msg, ws, upstream, core)))
            to_client = asyncio.ensure_future(_pump(
                upstream, ws, core.server_text, core.server_binary, core.upstream_closed, problems,
                lost=lambda msg: _upstream_lost(upstream, ws, core, problems)))
            try:
                await asyncio.wait({to_upstream, to_client}, return_when=asyncio.FIRST_COMPLETED)
                # one side closed: the other pump ends with the close it was just sent (bounded)
                await asyncio.wait({to_upstream, to_client}, timeout=5.0)
            finally:
                for pump in (to_upstream, to_client):
                    pump.cancel()
                await asyncio.gather(to_upstream, to_client, return_exceptions=True)
        except asyncio.CancelledError:
            core.stopped(clock())
            raise
        finally:
            if not core.closed:
                core.client_closed(clock(), ws.close_code, "")
            problems()
            info.ended = True
            if transcript is not None:
                transcript.close()
            self._notify("session_ended", info)
            log.info("session %s ended (%s)", info.id, "complete" if core.complete else "incomplete")
            if not keep:
                self.sessions.remove(info)
            await self._close_socket(ws)
            await self._close_socket(upstream)


async def _client_lost(msg: WSMessage, ws: web.WebSocketResponse, upstream: aiohttp.ClientWebSocketResponse,
                       core: RelayCore) -> None:
    """The client's socket failed or is gone: why goes in the record (it is the client's doing),
    and the upstream session is closed as the client left it."""
    clock = asyncio.get_running_loop().time
    if msg.type is WSMsgType.ERROR:
        exc = ws.exception()
        core.client_closed(clock(), ws.close_code, str(exc) if exc else "websocket error")
        with contextlib.suppress(Exception):
            await upstream.close(code=1011 if ws.close_code is None else _sendable(ws.close_code))
    else:  # CLOSING, CLOSED
        core.client_closed(clock(), ws.close_code, "connection lost" if ws.close_code is None else "")
        with contextlib.suppress(Exception):
            await upstream.close()


async def _upstream_lost(upstream: aiohttp.ClientWebSocketResponse, ws: web.WebSocketResponse, core: RelayCore,
                         problems: Callable[[], None]) -> None:
    """The upstream connection failed or is gone (or we closed it): the core makes a loss without a
    close frame the upstream's problem, and the client is told so (1011)."""
    if not core.closed:
        core.upstream_closed(asyncio.get_running_loop().time(), upstream.close_code, "")
        problems()
    with contextlib.suppress(Exception):
        await ws.close(code=1011, message=b"rtmock: the upstream connection was lost")


_Socket = web.WebSocketResponse | aiohttp.ClientWebSocketResponse


async def _pump(source: _Socket, sink: _Socket, text: Callable[[str, float], None], binary: Callable[[int, float], None],
                closed: Callable[[float, int | None, str], None], problems: Callable[[], None], *,
                lost: Callable[[WSMessage], Awaitable[None]]) -> None:
    """One direction of the relay: frames from `source` to `sink`, each told to the core (`text`,
    `binary`) first, until `source` closes; its close is told to the core (`closed`) and passed on
    to `sink`. A `source` that fails or is lost without a close goes to `lost`: whose fault that is,
    and what `sink` is told, differs by side."""
    clock = asyncio.get_running_loop().time
    while True:
        msg = await source.receive()
        if msg.type is WSMsgType.TEXT:
            text(msg.data, clock())
            problems()
            with contextlib.suppress(ConnectionError):
                await sink.send_str(msg.data)
        elif msg.type is WSMsgType.BINARY:
            binary(len(msg.data), clock())
            with contextlib.suppress(ConnectionError):
                await sink.send_bytes(msg.data)
        elif msg.type is WSMsgType.CLOSE:
            code = close_code(msg.data) if isinstance(msg.data, int) else source.close_code
            reason = str(msg.extra or "")
            closed(clock(), code, reason)
            problems()
            with contextlib.suppress(Exception):
                await sink.close(code=_sendable(code), message=reason.encode()[:123])
            return
        else:
            await lost(msg)
            return


#: Loggers that may quote a request (its headers, subprotocols or query) or an upstream's answer.
_REQUEST_LOGGERS = ("aiohttp.websocket", "aiohttp.server", "aiohttp.client", "aiohttp.web", "rtmock.relay",
                    "rtmock.server")


class _RedactingFilter(logging.Filter):
    """Every known secret out of a log record (its message and its traceback), before any handler
    writes it."""

    def __init__(self, secrets: Secrets) -> None:
        super().__init__()
        self.secrets = secrets

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = self.secrets.text(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = self.secrets.text(logging.Formatter().formatException(record.exc_info))
        return True


def _sendable(code: int | None) -> int:
    """A close code that may go in a close frame (1005, 1006 and 1015 only describe a close)."""
    if code is not None and (1000 <= code <= 1003 or 1007 <= code <= 1014 or 3000 <= code <= 4999):
        return code
    return 1000 if code in (None, 1005) else 1011


def _refusal_message(body: bytes) -> str:
    """The upstream's words from a refused handshake's body (its JSON error's message, or text)."""
    text = body[:_MAX_REFUSAL_BODY].decode("utf-8", "replace").strip()
    try:
        data = json.loads(text)
    except ValueError:
        return " ".join(text.split())[:300]
    if isinstance(data, dict):
        error = data.get("error")
        if isinstance(error, dict) and error.get("message"):
            code = error.get("code")
            return f"{error['message']}" + (f" ({code})" if code else "")
        if isinstance(data.get("message"), str):
            return str(data["message"])
    return " ".join(text.split())[:300]
