"""The fake realtime service on a real socket: aiohttp glue around `SessionCore`.

Routing (documented in the README):
- any GET path ending in `/realtime` is a realtime endpoint: `/v1/realtime`, `/openai/realtime`,
  `/openai/v1/realtime`, `/voice-live/realtime`, and any prefix a client's base URL adds;
- the scenario: with one loaded, every connection plays it; with several, the path prefix
  `/s/<name>/…/realtime` or the query `?scenario=<name>` picks one;
- the dialect: a scenario's pinned `dialect`, else Voice Live for Azure's `…/voice-live/realtime`,
  beta for `OpenAI-Beta: realtime=v1` or the old Azure path `/openai/realtime`, else GA;
- auth: an `Authorization: Bearer …` or `api-key: …` header is required (any value, unless
  `api_key` pins one), as the real service requires one.

Every record of every session goes to the observers (the harness attaches there) and, when
`record_dir` is set, to a JSON-lines transcript written as it happens.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import itertools
import json
import logging
import socket
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import WSMsgType, web

from ..core.events import Dialect, IdSource
from ..core.notes import FrameTooLarge, InternalError, SendTimeout
from ..core.records import Record, dump_header, dump_record
from ..core.session import Action, ConnectionRefusal, SessionCore
from ..errors import UsageError
from ..scenario.loader import LoadedScenario
from . import memory
from .coalesce import CoalescingTransport
from .endpoints import DEFAULT_MODEL, client_environment_for, http_base
from .handshake import BoundedHandshake, client_left_during_handshake, http_error
from .observers import Moments, Observer, SessionInfo, tell_observers
from .sending import SendBound, cannot_wait, send_turn, write_turn
from .tls import CertificatePaths, DualListener, ensure_certificates, server_ssl_context
from .transcript_files import TranscriptFile, transcript_path

__all__ = ["MockServer", "Moments", "Observer", "SessionInfo", "tell_observers"]

log = logging.getLogger("rtmock.server")

DEFAULT_MAX_MESSAGE_BYTES = 16 * 1024 * 1024  # generous for base64 audio; the service's own limit is near this
#: A client that reads nothing for this long while the server has frames for it is closed (1008):
#: a stuck client must not hold its session (and its run) forever.
DEFAULT_SEND_TIMEOUT = 10.0
#: Client frames one connection handles in a row before it lets the others run: aiohttp's
#: `receive` returns a queued frame without suspending, so a client that floods the server would
#: otherwise hold the event loop for as long as its frames keep coming, and starve every other session.
FRAMES_PER_TURN = 8
#: A session that handled a client frame this large hands the memory back to the system when it ends
#: (`_hand_back_memory`): glibc's malloc keeps what big frames freed in its heap otherwise.
BIG_FRAME_CHARS = 1 << 20
#: When the server stops, how long a session waits for the client to answer its close frame
#: (otherwise aiohttp's 10 s): a client that does not read must not hold up Ctrl-C or the end of a run.
SHUTDOWN_CLOSE_WAIT = 0.5


class MockServer:
    def __init__(
        self,
        scenarios: list[LoadedScenario],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        tls: bool = True,
        record_dir: str | Path | None = None,
        require_auth: bool = True,
        api_key: str | None = None,
        seed: int | str | None = None,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        send_timeout: float = DEFAULT_SEND_TIMEOUT,
        default_within: float | None = None,
        keep_sessions: bool = True,
        certificates: CertificatePaths | None = None,
        sock: socket.socket | None = None,
        run: str | None = None,
    ) -> None:
        if not scenarios:
            raise UsageError("no scenario to serve: name at least one .yaml file")
        names = [s.name for s in scenarios]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise UsageError(f"two scenarios are named {dupes[0]!r}; give one a different 'name:'")
        self.scenarios = {s.name: s for s in scenarios}
        self._sock = sock  # already listening: `rtmock run` binds it before it starts the client
        self.host = host
        self.requested_port = port
        self.tls = tls
        self.record_dir = Path(record_dir) if record_dir is not None else None
        self.require_auth = require_auth
        self.api_key = api_key
        self.seed = seed
        self.max_message_bytes = max_message_bytes
        self.send_timeout = send_timeout
        #: the bound of expect steps that give none (`--within`); else each scenario's `defaults.within`
        self.default_within = default_within
        #: False for a long-running server: a session leaves `sessions` when it ends (its transcript
        #: and the observers keep what is needed), so memory does not grow with every session
        self.keep_sessions = keep_sessions
        self.certificates = certificates
        #: the run every session belongs to (`rtmock run`, the plugin): its transcripts name it
        self.run = run
        self.observers: list[Observer] = []
        #: Exceptions raised by observers: bugs in rtmock (or a user's observer), never the client's fault.
        self.internal_errors: list[str] = []
        #: Requests that were refused (wrong path, no key, not a websocket): what a client that
        #: never got a session tried, e.g. "GET /v2/rt → 404 Not Found".
        self.refused: list[str] = []
        self.sessions: list[SessionInfo] = []
        #: Transcripts that could not be written (a full disk, say), one line each: never the
        #: client's fault; the session goes on and is judged from memory.
        self.recording_errors: list[str] = []
        self._numbers = itertools.count(1)
        #: connections whose HTTP request has not arrived whole yet, oldest first, with their timers
        self._pending: dict[Any, asyncio.TimerHandle] = {}
        self._runner: web.AppRunner | None = None
        self._listener: DualListener | None = None
        self._handlers: set[asyncio.Task[Any]] = set()
        self._closed = False
        self._trim: asyncio.TimerHandle | None = None  # the pending `_hand_back_memory`

    # ---- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> MockServer:
        app = web.Application()
        app.router.add_route("GET", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        context = None
        if self.tls:
            self.certificates = self.certificates or ensure_certificates()
            context = server_ssl_context(self.certificates)
        try:
            handler_factory = self._runner.server
            assert handler_factory is not None
            self._listener = await DualListener.start(lambda: BoundedHandshake(self._pending, handler_factory()), host=self.host,
                                                      port=self.requested_port, ssl_context=context, sock=self._sock)
        except OSError as exc:
            await self._runner.cleanup()
            if exc.errno == errno.EADDRINUSE:
                raise UsageError(f"port {self.requested_port} on {self.host} is in use: pick another with --port, "
                                 "or --port 0 for any free port") from None
            raise UsageError(f"cannot listen on {self.host}:{self.requested_port}: {exc.strerror or exc}") from None
        if self.record_dir is not None:
            self.record_dir.mkdir(parents=True, exist_ok=True)
        return self

    async def close(self) -> None:
        """Stop listening and end open sessions (their transcripts stay complete). Safe twice."""
        if self._closed:
            return
        self._closed = True
        if self._trim is not None:
            self._trim.cancel()
        if self._listener is not None:
            await self._listener.close()
        # End the sessions ourselves: aiohttp's cleanup would otherwise wait for idle clients.
        for task in list(self._handlers):
            task.cancel()
        if self._handlers:
            await asyncio.wait(self._handlers, timeout=5.0)
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> MockServer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def port(self) -> int:
        if self._listener is None:
            raise RuntimeError("the server is not started")
        return self._listener.port

    def http_base(self, scenario: str | None = None) -> str:
        return http_base(self.host, self.port, scenario)

    def ws_url(self, scenario: str | None = None, *, secure: bool = False, model: str = DEFAULT_MODEL) -> str:
        """The OpenAI-style URL, with its `?model=` (the service refuses a connection without one)."""
        base = self.http_base(scenario).replace("http://", "wss://" if secure else "ws://", 1)
        return f"{base}/v1/realtime?model={model}"

    def _notify(self, method: str, *args: Any) -> None:
        """Call every observer; one that raises is a bug on our side: it is logged and kept in
        `internal_errors`, and the session goes on, so it never shows up as the client's fault."""
        for observer in self.observers:
            try:
                getattr(observer, method)(*args)
            except Exception as exc:
                self._observer_failed(observer, method, exc)

    def _deliver(self, info: SessionInfo, records: Sequence[Record]) -> None:
        tell_observers(self.observers, info, records, self._observer_failed)

    def _internal_error(self, info: SessionInfo, core: SessionCore, exc: Exception, now: float) -> None:
        """Keep a bug of rtmock's for the exit code (2) and mark the session: closed by the server,
        so that nothing still pending is charged to the client."""
        if len(self.internal_errors) < 20:
            log.error("internal error in session %s", info.id, exc_info=exc)
        self.internal_errors.append(f"session {info.id}: {type(exc).__name__}: {exc}")
        with contextlib.suppress(Exception):
            core.note(now, InternalError(f"{type(exc).__name__}: {exc}"))
        with contextlib.suppress(Exception):
            core.client_closed(now, 1011, "rtmock internal error", by="server")
        core.closed = True

    def _observer_failed(self, observer: Observer, method: str, exc: Exception) -> None:
        if len(self.internal_errors) < 20:
            log.error("internal error in %s.%s", type(observer).__name__, method, exc_info=exc)
        self.internal_errors.append(f"{type(observer).__name__}.{method}: {type(exc).__name__}: {exc}")

    # ---- one connection --------------------------------------------------------------------------

    def _pick(self, request: web.Request) -> LoadedScenario | web.Response:
        path = request.path
        wanted = request.query.get("scenario")
        if wanted is None and path.startswith("/s/"):
            wanted = path.split("/")[2]
        if wanted is None:
            if len(self.scenarios) == 1:
                return next(iter(self.scenarios.values()))
            return http_error(404, f"{len(self.scenarios)} scenarios are served; pick one with the path prefix /s/<name>/ "
                               f"or ?scenario=<name> (names: {', '.join(sorted(self.scenarios))})")
        if wanted not in self.scenarios:
            return http_error(404, f"no scenario named {wanted!r} is served (names: {', '.join(sorted(self.scenarios))})")
        return self.scenarios[wanted]

    async def choose_scenario(self, request: web.Request) -> LoadedScenario | web.Response:
        """The scenario a new connection plays, or the HTTP error that refuses it: by path prefix or
        query (see the module doc). A subclass may override it and may wait: `rtmock fuzz` hands each
        new connection the next generated case. Auth and the websocket upgrade are checked after it."""
        return self._pick(request)

    def _dialect(self, request: web.Request, scenario: LoadedScenario) -> Dialect:
        pinned = scenario.scenario.dialect
        if pinned != "any":
            return Dialect(pinned)
        if request.path.rstrip("/").endswith("/voice-live/realtime"):  # azure-ai-voicelive's `connect`
            return Dialect.VOICE_LIVE
        old_azure = request.path.endswith("/openai/realtime")
        return Dialect.BETA if _asks_for_beta(request) or old_azure else Dialect.GA

    def _refusal(self, request: web.Request, scenario: LoadedScenario) -> ConnectionRefusal | None:
        """What OpenAI's endpoint refuses after the upgrade, as observed (docs/protocol-notes.md): one
        `error`, then a close whose reason is `<type>.<code>`. In order: a wrong or missing key
        (3000), the retired beta protocol (4000), no `?model=` (4000). Azure's paths (`/openai/…`,
        `/voice-live/…`) refuse a missing key with HTTP 401 before the upgrade (`_upgrade`) and
        still serve beta; so does any scenario that pins `dialect: beta`."""
        if _is_azure(request):
            return None
        key = self._key(request)
        if self.require_auth and not key:
            return ConnectionRefusal(None, "Missing bearer or basic authentication in header", 3000)
        if self.require_auth and self.api_key is not None and key != self.api_key:
            return ConnectionRefusal("invalid_api_key", f"Incorrect API key provided: {_masked(key)}. You can find "
                                     "your API key at https://platform.openai.com/account/api-keys.", 3000)
        if _asks_for_beta(request) and scenario.scenario.dialect != "beta":
            return ConnectionRefusal("beta_api_shape_disabled", "The Realtime Beta API is no longer supported. "
                                     "Please use /v1/realtime for the GA API.", 4000)
        if not request.query.get("model") and request.query.get("intent") != "transcription":
            return ConnectionRefusal("missing_model", "You must provide a model parameter, for example "
                                     "wss://api.openai.com/v1/realtime?model=gpt-realtime", 4000)
        return None

    def _key(self, request: web.Request) -> str | None:
        bearer = request.headers.get("Authorization", "")
        key = bearer[7:].strip() if bearer.lower().startswith("bearer ") else request.headers.get("api-key")
        if not key:
            # browsers cannot set headers: the service also takes the key as a websocket subprotocol
            for proto in request.headers.get("Sec-WebSocket-Protocol", "").split(","):
                if proto.strip().startswith("openai-insecure-api-key."):
                    key = proto.strip().split(".", 1)[1]
        return key or None

    def _authorised(self, request: web.Request) -> bool:
        """Azure checks the key before the upgrade (HTTP 401); OpenAI after it (see `_refusal`)."""
        if not self.require_auth or not _is_azure(request):
            return True
        key = self._key(request)
        return key is not None and (self.api_key is None or key == self.api_key)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if (timer := self._pending.pop(request.transport, None)) is not None:
            timer.cancel()  # its request arrived whole: the handshake bound no longer applies
        response = await self._upgrade(request)
        if isinstance(response, web.Response) and response.status >= 400:
            # no session came of it: keep what was asked and why, for a no-session verdict to quote
            line = f"{request.method} {request.path_qs} → {response.status} {response.reason}{_why(response)}"
            if len(self.refused) < 50:
                self.refused.append(line)
            self._notify("connection_refused", line)
        return response

    async def _upgrade(self, request: web.Request) -> web.StreamResponse:
        if not request.path.rstrip("/").endswith("/realtime"):
            return http_error(404, f"not a realtime endpoint: {request.path} (use …/v1/realtime)")
        picked = await self.choose_scenario(request)
        if isinstance(picked, web.Response):
            return picked
        if not self._authorised(request):
            return http_error(401, "You didn't provide an API key. Send 'Authorization: Bearer <any key>' or 'api-key: <any key>'"
                               + (" (this server requires a specific key)" if self.api_key else "") + ".",
                          code="invalid_api_key")
        protocols = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",") if p.strip()]
        ws = web.WebSocketResponse(max_msg_size=self.max_message_bytes, autoping=True,
                                   protocols=[p for p in protocols if p == "realtime"])
        if not ws.can_prepare(request).ok:
            return http_error(426, "this is a websocket endpoint: connect with a websocket client")
        try:
            await ws.prepare(request)
        except ConnectionError:
            return client_left_during_handshake()
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            await self._serve(ws, request, picked)
        finally:
            self._handlers.discard(task)
        return ws

    async def _serve(self, ws: web.WebSocketResponse, request: web.Request, scenario: LoadedScenario) -> None:
        number = next(self._numbers)
        dialect = self._dialect(request, scenario)
        seed = None if self.seed is None else f"{self.seed}:{number}"
        info = SessionInfo(number=number, id="", scenario=scenario, dialect=dialect, request_path=request.path_qs, run=self.run,
                           started_at=datetime.now(UTC).isoformat(timespec="milliseconds"))
        transcript: TranscriptFile | None = None
        transport = request.transport if isinstance(request.transport, CoalescingTransport) else None
        kept = info.records if self.keep_sessions else None

        def deliver(records: list[Record]) -> None:
            if transcript is not None:
                for record in records:
                    transcript.write(dump_record(record), record.index)
            self._deliver(info, records)

        moments = Moments(deliver, kept)
        loop = asyncio.get_running_loop()
        clock = loop.time
        started = clock()
        core = SessionCore(scenario, dialect, moments.add, ids=IdSource(seed), model=request.query.get("model") or
                           request.query.get("deployment") or "gpt-realtime", started=started,
                           refusal=self._refusal(request, scenario), default_within=self.default_within,
                           transcription=request.query.get("intent") == "transcription")
        info.core = core
        info.id = core.session["id"]
        self.sessions.append(info)
        try:
            if self.record_dir is not None:
                path = transcript_path(self.record_dir, number, scenario.name, info.id)
                transcript = TranscriptFile(path, self.recording_errors)
                info.transcript_path = path
                transcript.write(dump_header(info.header()), None)
            self._notify("session_started", info)
            log.info("session %s: %s (%s) from %s", info.id, scenario.name, dialect.value, request.path_qs)
            actions = core.start(clock())
            big_frames = False
            in_a_row = 0  # frames handled since this connection last let the others run
            while not ws.closed:
                try:
                    if await self._execute(ws, transport, actions):
                        break
                except TimeoutError:
                    core.note(clock(), SendTimeout(self.send_timeout,
                                                  "the client read nothing while the server had frames for it"))
                    core.client_closed(clock(), 1008, f"client not reading for {self.send_timeout:g}s")
                    if request.transport is not None:  # a close frame could not get through either
                        request.transport.abort()
                    break
                in_a_row += 1
                if in_a_row >= FRAMES_PER_TURN:
                    in_a_row = 0
                    await asyncio.sleep(0)  # the others' turn (and their sockets' reads)
                deadline = core.next_deadline
                if deadline is not None and deadline <= clock():
                    # the script's timer fell due while frames were going out: go on at once (aiohttp
                    # reads receive(timeout=0) as no timeout at all, and the session would wait for
                    # the client's next frame instead)
                    actions = core.advance(clock())
                    continue
                try:
                    msg = await ws.receive(timeout=None if deadline is None else max(deadline - clock(), 1e-6))
                except TimeoutError:
                    actions = core.advance(clock())
                    continue
                if msg.type is WSMsgType.TEXT:
                    big_frames = big_frames or len(msg.data) >= BIG_FRAME_CHARS
                    actions = core.receive(msg.data, clock())
                elif msg.type is WSMsgType.BINARY:
                    actions = core.receive_binary(msg.data, clock())
                elif msg.type is WSMsgType.ERROR:
                    exc = ws.exception()
                    reason = str(exc) if exc else "websocket error"
                    if "too big" in reason.lower() or getattr(exc, "code", None) == 1009:
                        core.note(clock(), FrameTooLarge(self.max_message_bytes, reason))
                        core.client_closed(clock(), 1009, f"message too big (limit {self.max_message_bytes} bytes)")
                    else:
                        core.client_closed(clock(), ws.close_code, reason)
                    break
                else:  # CLOSE, CLOSING, CLOSED
                    # a CLOSE carries the client's code (ws.close_code may already hold our reply's)
                    code = close_code(msg.data) if msg.type is WSMsgType.CLOSE and isinstance(msg.data, int) \
                        else ws.close_code
                    core.client_closed(clock(), code, str(msg.extra or ""))
                    break
        except (ConnectionError, asyncio.CancelledError) as exc:  # aiohttp raises a plain ConnectionError too
            if isinstance(exc, ConnectionError):
                core.client_closed(clock(), None, "connection lost")
            else:
                core.client_closed(clock(), 1001, "server stopped", by="server")
            if isinstance(exc, asyncio.CancelledError):
                raise
        except Exception as exc:  # a bug in rtmock: the session ends as the service's would (1011), never as the client's fault
            self._internal_error(info, core, exc, clock())
            with contextlib.suppress(Exception):
                await ws.close(code=1011, message=b"rtmock internal error")
        finally:
            if not core.closed:
                core.client_closed(clock(), ws.close_code, "")
            moments.deliver()
            info.ended = True
            if transcript is not None:
                transcript.close()
            self._notify("session_ended", info)
            log.info("session %s ended (%s)", info.id, "complete" if core.complete else "incomplete")
            core.release()  # freed as soon as nothing else holds it, not by the cyclic collector
            if not self.keep_sessions:
                self.sessions.remove(info)
                if big_frames:
                    self._hand_back_memory()
            await self._close_socket(ws)

    async def _close_socket(self, ws: web.WebSocketResponse | aiohttp.ClientWebSocketResponse) -> None:
        """Close a session's socket, waiting for the peer's close frame (aiohttp's 10 s), or only
        SHUTDOWN_CLOSE_WAIT while the server stops. Never raises: the session is over either way."""
        with contextlib.suppress(Exception):  # TimeoutError too: aiohttp then drops the connection
            async with asyncio.timeout(SHUTDOWN_CLOSE_WAIT if self._closed else None):
                await ws.close()

    def _hand_back_memory(self) -> None:
        """After a session that handled big frames, once the sessions ending at the same time have
        ended (a moment later), return the memory their frames freed to the system.

        Python frees a big frame's text when the session drops it (tracemalloc then traces next
        to nothing), but glibc's malloc keeps the freed memory in its heap: 40 frames of 15 MB
        left 0 to 1,200 MiB of RSS behind (bench/bench_memory.py), which `malloc_trim(0)` gives
        back. A long-running server (keep_sessions=False) does this; elsewhere it is not needed."""
        if self._trim is None:
            self._trim = asyncio.get_running_loop().call_later(0.5, self._trim_now)

    def _trim_now(self) -> None:
        self._trim = None
        memory.trim_malloc_heap()

    async def _execute(self, ws: web.WebSocketResponse, transport: CoalescingTransport | None,
                       actions: list[Action]) -> bool:
        """Carry out the core's actions; True when the server closed the socket. Raises
        TimeoutError when the client reads nothing for `send_timeout` (back-pressure)."""
        try:
            if transport is not None and cannot_wait(transport, actions):  # no send can wait: no bound needed
                if ws.compress:
                    await send_turn(ws, transport, actions, None)
                else:
                    write_turn(transport, actions)
                return False
            async with asyncio.timeout(self.send_timeout) as bound:
                close = await send_turn(ws, transport, actions, SendBound(bound, self.send_timeout))
                if close is None:
                    return False
                await ws.close(code=close.code, message=close.reason.encode())  # after what came before it
                return True
        except ConnectionError:  # the client is gone ("Connection lost" while a big frame drains)
            return True


def close_code(received: int) -> int:
    """The code of a close frame as received: aiohttp gives 0 for one without a status (a browser's
    or the `ws` package's `close()`), which RFC 6455 reports as 1005, "no status received"."""
    return 1005 if received == 0 else received


def _why(response: web.Response) -> str:
    """": " and the message of an error response rtmock made (`http_error`), else nothing."""
    try:
        message = json.loads(response.text or "")["error"]["message"]
    except (ValueError, TypeError, KeyError):
        return ""
    return f": {message}" if isinstance(message, str) and message else ""


def _is_azure(request: web.Request) -> bool:
    """Azure OpenAI (`/openai/realtime`, `/openai/v1/realtime`) or Azure Voice Live."""
    return "/openai/" in request.path or request.path.rstrip("/").endswith("/voice-live/realtime")


def _masked(key: str | None) -> str:
    """A key as the service quotes it: enough to recognise, never the whole secret."""
    key = key or ""
    return key[:3] + "*" * 10 + key[-4:] if len(key) > 8 else "*" * len(key)


def _asks_for_beta(request: web.Request) -> bool:
    """The beta protocol is asked for with a header, or (browsers cannot set one) a subprotocol."""
    header = "realtime=v1" in request.headers.get("OpenAI-Beta", "").replace(" ", "")
    protocols = {p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",")}
    return header or "openai-beta.realtime-v1" in protocols


def client_environment(server: MockServer, scenario: str | None = None) -> dict[str, str]:
    """The environment that points common clients at the server (documented in the README)."""
    ca = server.certificates.ca_file if server.certificates is not None and server.tls else None
    return client_environment_for(server.host, server.port, ca, scenario)



