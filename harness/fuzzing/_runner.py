"""Running one fuzz case after another against a client, on one server that stays up.

Each case is a full judged exchange: a fresh `LiveJudge` watches the one session the case's client
opens. The server hands each new *connection* the next case (`CaseServer.choose_scenario`, which
waits until a case is offered to that connection's client), so a client process survives from case
to case when it can:

- every client gets its own URL prefix (`/s/<token>/…`), so each connection is known to come from
  one process (or coroutine) and stray reconnects never take another client's case;
- a passing case's session ends with a close (1000, "rtmock: case done"). A client that reconnects
  (a loop on `RTMOCK_FUZZ=1`) gets the next case on its new connection; one that exits is replaced
  by a spare process started ahead of time, so spawn time overlaps the previous case;
- after a failing case the client is stopped: its state is suspect, and the next case gets a fresh one.

A case's verdict follows `rtmock run`'s rules, so that its reproducer replays to the same verdict: a
client that closed its session with calls unanswered may be dying, and is given `DYING_CLIENT_PATIENCE`
to exit on its own before it is stopped; how its exit and the session's findings make the verdict is
`_fuzz_verdict.py`'s.

Payload generation and shrinking (Hypothesis) are `fuzz.py`'s; case scenarios are `_fuzz_cases.py`'s.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from ...mockserver.core.records import Record
from ...mockserver.net.server import MockServer, Observer, SessionInfo, client_environment
from ...mockserver.scenario.loader import LoadedScenario
from ..judging.findings import Finding, Rule
from ..judging.live import LiveJudge
from ..runner import DYING_CLIENT_PATIENCE, client_env
from ._cases import done_scenario
from ._clients import Client, CoroutineClient, ProcessClient, TaskClient
from ._verdict import CaseWatch, FrameLimit, compose_findings, frame_limit

__all__ = ["CaseRun", "CaseRunner", "CaseServer"]

#: A spare client waiting longer than this for a case is replaced: clients time out their handshake
#: (the `websockets` library after 10 s), and one that dies of it must not be charged to a case.
SPARE_MAX_WAIT = 5.0
#: How long a client may take to reconnect (or exit) after a passing case before it is stopped, and
#: how long once a client did neither (see `CaseRunner._after_pass`).
_RECONNECT_WAIT = 2.0
_RECONNECT_RECHECK = 0.25
#: After this many cases in a row played by a reconnecting client, spares are not kept ready.
_REUSES_BEFORE_NO_SPARES = 5


class CaseServer(MockServer, Observer):
    """The server of a fuzz run: it plays each connection the case offered to its client, and routes
    each session's records to the judge of its case."""

    def __init__(self, scenario: LoadedScenario, **options: Any) -> None:
        MockServer.__init__(self, [scenario], **options)
        self.observers.append(self)
        self.clients: dict[str, Client] = {}
        self.judges: dict[int, LiveJudge] = {}  # id(case scenario) → its judge
        self.watches: dict[int, CaseWatch] = {}  # id(case scenario) → what its session showed
        self.done = done_scenario()
        self.finished = False
        self._offers: dict[str, asyncio.Future[LoadedScenario]] = {}

    # ---- connections -----------------------------------------------------------------------------

    async def choose_scenario(self, request: web.Request) -> LoadedScenario | web.Response:
        parts = request.path.split("/")
        client = self.clients.get(parts[2]) if len(parts) > 2 and parts[1] == "s" else None
        if client is None or self.finished or client.exited.done() or not self._authorised(request) \
                or not web.WebSocketResponse().can_prepare(request).ok:
            return self.done  # refused by the auth or upgrade checks that follow, or told to stop
        offer = self._offers.get(client.token)
        if offer is None:
            offer = self._offers[client.token] = asyncio.get_running_loop().create_future()
        client.waiting.set()
        client.waiting_since = asyncio.get_running_loop().time()
        try:
            return await offer
        finally:
            client.waiting.clear()
            client.waiting_since = None
            if self._offers.get(client.token) is offer:
                del self._offers[client.token]

    def offer(self, client: Client, scenario: LoadedScenario) -> None:
        """The next connection of `client` (or the one waiting now) plays `scenario`."""
        offer = self._offers.get(client.token)
        if offer is None or offer.done():
            offer = self._offers[client.token] = asyncio.get_running_loop().create_future()
        offer.set_result(scenario)

    def withdraw(self, client: Client) -> None:
        """Take back a case `client` has not connected for (it is gone); a waiting connection stops."""
        offer = self._offers.pop(client.token, None)
        if offer is not None and not offer.done():
            offer.set_result(self.done)

    def finish(self) -> None:
        """No more cases: every waiting connection gets the closing scenario."""
        self.finished = True
        for token in list(self._offers):
            offer = self._offers.pop(token)
            if not offer.done():
                offer.set_result(self.done)

    # ---- observer: each session to its case's judge -----------------------------------------------

    def session_started(self, session: SessionInfo) -> None:
        judge = self.judges.get(id(session.scenario))
        if judge is not None:
            judge.session_started(session)

    def records(self, session: SessionInfo, records: Sequence[Record]) -> None:
        judge = self.judges.get(id(session.scenario))
        if judge is not None:
            judge.records(session, records)
            watch = self.watches.get(id(session.scenario))
            if watch is not None:
                for record in records:
                    watch.record(record)

    def session_ended(self, session: SessionInfo) -> None:
        judge = self.judges.get(id(session.scenario))
        if judge is not None:
            judge.session_ended(session)
        elif session in self.sessions:
            self.sessions.remove(session)  # the closing scenario's, or a stray case's: keep no records


@dataclass(slots=True)
class CaseRun:
    """What running one case produced: its findings, in `rtmock run`'s order, and what its session showed."""

    findings: list[Finding]
    sessions: int
    duration: float
    output_tail: list[str] = field(default_factory=list)
    complete: bool = True  # every session completed the scenario
    watch: CaseWatch | None = None
    frame_limit: FrameLimit | None = None  # the client's library refused a frame as too big

    @property
    def passed(self) -> bool:
        return self.sessions > 0 and self.complete and not self.findings


class CaseRunner:
    """Plays cases one at a time against a client command (a fresh or reused process per case) or a
    coroutine client (a task per case)."""

    def __init__(self, scenario: LoadedScenario, client: Sequence[str] | CoroutineClient, *, reuse: bool = True,
                 connect_timeout: float = 15.0, case_timeout: float = 120.0, seed: int | str | None = None,
                 tls: bool = True, spares: int | None = None) -> None:
        self.client = client
        self.reuse = reuse
        self.connect_timeout = connect_timeout
        self.case_timeout = case_timeout
        self.server = CaseServer(scenario, seed=seed, tls=tls)
        self._numbers = itertools.count(1)
        self._current: Client | None = None  # reconnected after its last case: plays the next
        self._spares: collections.deque[Client] = collections.deque()
        self._max_spares = spares if spares is not None else max(1, min(4, os.cpu_count() or 1))
        self._spare_target = 0 if reuse else self._max_spares  # raised whenever a client is lost
        self._reuses = 0  # cases in a row played by a reconnected client
        self._lingered = False  # the last client neither exited nor reconnected after its case
        self._stopping: set[asyncio.Task[None]] = set()
        self.started = 0  # clients started

    @property
    def is_process(self) -> bool:
        return not callable(self.client)

    async def __aenter__(self) -> CaseRunner:
        await self.server.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Tell waiting clients fuzzing is done (a loop exits on that close), then stop them all."""
        self.server.finish()
        clients = [c for c in [self._current, *self._spares] if c is not None]
        self._current = None
        self._spares.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*(asyncio.shield(c.exited) for c in clients)), 1.0)
        await asyncio.gather(*(c.stop() for c in clients), *self._stopping, return_exceptions=True)
        await self.server.close()

    # ---- clients ---------------------------------------------------------------------------------

    async def _start_client(self) -> Client:
        number = next(self._numbers)
        token = f"c{number}-{secrets.token_hex(3)}"  # its URL prefix: /s/<token>/v1/realtime
        self.started += 1
        client: Client
        if callable(self.client):
            client = TaskClient(number, token, self.client, self.server.ws_url(token))
        else:
            env = client_env(self.server)
            env.update(client_environment(self.server, token))
            if self.reuse:
                env["RTMOCK_FUZZ"] = "1"
            else:
                env.pop("RTMOCK_FUZZ", None)
            client = await ProcessClient.start(number, token, self.client, env)
        self.server.clients[token] = client
        return client

    def _background_stop(self, client: Client) -> None:
        self.server.withdraw(client)
        task = asyncio.ensure_future(client.stop())
        self._stopping.add(task)
        task.add_done_callback(self._stopping.discard)
        task.add_done_callback(lambda _: self.server.clients.pop(client.token, None))

    async def _acquire(self) -> Client:
        """The client for the next case: the one that reconnected, else a spare, else a new one."""
        self._prune_spares()
        if self._current is not None and not self._current.exited.done():
            client, self._current = self._current, None
            self._reuses += 1
            if self._reuses >= _REUSES_BEFORE_NO_SPARES:
                self._spare_target = 0
            return client
        self._current = None
        client = self._spares.popleft() if self._spares else await self._start_client()
        if self.is_process:
            while len(self._spares) < self._spare_target:
                self._spares.append(await self._start_client())
        return client

    def _prune_spares(self) -> None:
        """Drop spares that died waiting, or waited too long (they would time out mid-case)."""
        now = asyncio.get_running_loop().time()
        for spare in list(self._spares):
            if spare.exited.done():
                self._spares.remove(spare)
                self._forget(spare)
            elif (spare.waiting_since is not None and now - spare.waiting_since > SPARE_MAX_WAIT) \
                    or len(self._spares) > self._spare_target:
                self._spares.remove(spare)
                self._background_stop(spare)

    def _lost(self) -> None:
        """The case's client will play no more cases: keep spares ready from now on."""
        self._spare_target = self._max_spares
        self._reuses = 0

    # ---- one case --------------------------------------------------------------------------------

    async def run_case(self, scenario: LoadedScenario, *, fresh: bool = False) -> CaseRun:
        """Play one case to its verdict. `fresh`: on a client that played no case before (as `rtmock run`
        would replay it), not on one that reconnected after the last."""
        loop = asyncio.get_running_loop()
        if fresh and self._current is not None:
            self._background_stop(self._current)
            self._current = None
        started = loop.time()
        judge = LiveJudge()
        watch = CaseWatch.of(scenario)
        self.server.judges[id(scenario)] = judge
        self.server.watches[id(scenario)] = watch
        extra: list[Finding] = []  # the run's own findings: no session, the case's timeout
        client = await self._acquire()
        self.server.offer(client, scenario)
        try:
            client = await self._play(client, scenario, judge, extra, started)
            if judge.findings or extra:
                await self._settle_failure(client, judge, started)
            verdicts = judge.finish_all()
            failed = bool(extra) or any(not v.passed for v in verdicts)
            if not failed and judge.sessions:
                await self._after_pass(client)
            crash = client.crash() if client.exited.done() else None
            if not failed and judge.sessions and all(j.judge.closed_by == "server" for j in judge.sessions):
                # it exited after rtmock closed the passed case's session ("case done"): a reaction to our
                # close, as `rtmock run` stops a client once its scenario completed, not a crash
                crash = None
            findings = compose_findings([f for v in verdicts for f in v.findings], extra, crash)
            if findings or failed:
                if client.exited.done():
                    self._forget(client)
                else:
                    self._background_stop(client)
        finally:
            del self.server.judges[id(scenario)]
            del self.server.watches[id(scenario)]
            for judged in judge.sessions:
                if judged.info in self.server.sessions:
                    self.server.sessions.remove(judged.info)
        if self.server.internal_errors:  # an rtmock bug: never shrink it as the client's failure
            raise RuntimeError(f"rtmock bug while judging a case: {'; '.join(self.server.internal_errors)}")
        client.cases += 1
        if self._current is not client:
            self._lost()
        tail = client.output_tail
        return CaseRun(findings, len(judge.sessions), loop.time() - started, tail, all(v.complete for v in verdicts),
                       watch, frame_limit(watch, tail) if findings else None)

    async def _play(self, client: Client, scenario: LoadedScenario, judge: LiveJudge, extra: list[Finding],
                    started: float) -> Client:
        """Wait until the case's verdict is known: a finding, its session over, the client gone, or a bound."""
        loop = asyncio.get_running_loop()
        while True:
            judge.changed.clear()
            now = loop.time()
            if judge.findings:
                return client
            if judge.sessions and all(j.info.ended for j in judge.sessions):
                return client
            if client.exited.done() and not judge.sessions:
                if client.crash() is None and client.cases > 0 and not client.stopped_by_us:
                    # it ended after its last case instead of reconnecting: replace it, same case
                    self._forget(client)
                    self.server.withdraw(client)
                    client = await self._acquire()
                    self.server.offer(client, scenario)
                    continue
                extra.append(Finding(  # after the crash, if it crashed (see compose_findings)
                    Rule.NO_SESSION, "The client exited without opening a realtime session.",
                    "Connect to RTMOCK_URL (or OPENAI_BASE_URL) from the environment, with an API key header."))
                return client
            if not judge.sessions and now - started >= self.connect_timeout:
                extra.append(Finding(
                    Rule.NO_SESSION, f"The client opened no realtime session within {self.connect_timeout:g}s.",
                    "Point the client at the server: use RTMOCK_URL or OPENAI_BASE_URL from the environment, and "
                    "check it connects to …/realtime with an API key header."))
                return client
            if now - started >= self.case_timeout:
                extra.append(Finding(Rule.SCENARIO_MISMATCH, f"The case did not finish within {self.case_timeout:g}s.",
                                     "Check the client answers the scenario's steps."))
                return client
            limit = started + (self.connect_timeout if not judge.sessions else self.case_timeout)
            changed = asyncio.ensure_future(judge.changed.wait())
            waits: set[asyncio.Future[Any]] = {changed}
            if not client.exited.done():
                waits.add(client.exited)
            await asyncio.wait(waits, timeout=max(0.0, limit - loop.time()), return_when=asyncio.FIRST_COMPLETED)
            changed.cancel()

    async def _settle_failure(self, client: Client, judge: LiveJudge, started: float) -> None:
        """A failing case, as `rtmock run` settles one: when all that was found is what the client's
        closing left undone, it may be dying, and its exit code and traceback (the cause) are the
        verdict: it may take `DYING_CLIENT_PATIENCE` to exit on its own (a client that reconnects
        instead is not dying). Then it is stopped, and its sessions are let end."""
        loop = asyncio.get_running_loop()
        if judge.findings and all(f.cut_short for f in judge.findings) and all(j.info.ended for j in judge.sessions):
            left = started + self.case_timeout - loop.time()
            waiting = asyncio.ensure_future(client.waiting.wait())
            waits: set[asyncio.Future[Any]] = {waiting, client.exited}
            await asyncio.wait(waits, timeout=max(0.0, min(DYING_CLIENT_PATIENCE, left)),
                               return_when=asyncio.FIRST_COMPLETED)
            waiting.cancel()
        if not client.exited.done():
            judge.stopping = True
            self._background_stop(client)
        deadline = loop.time() + 2.0
        while any(not j.info.ended for j in judge.sessions) and loop.time() < deadline:
            judge.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(judge.changed.wait(), max(0.0, deadline - loop.time()))

    async def _after_pass(self, client: Client) -> None:
        """The case passed: keep the client if it reconnects, let it exit if it does (its exit code
        counts only if it closed the session before rtmock did), and stop it if it does neither in a short while. A while is `_RECONNECT_WAIT`, and
        only `_RECONNECT_RECHECK` once a client did neither (it may never: most clients exit, loops
        reconnect at once); a client that reconnects in time again gets the full wait back, so one
        slow reconnect on a loaded machine does not end the reuse of clients."""
        waiting = asyncio.ensure_future(client.waiting.wait())
        waits: set[asyncio.Future[Any]] = {waiting, client.exited}
        timeout = _RECONNECT_RECHECK if self._lingered else _RECONNECT_WAIT
        await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        waiting.cancel()
        if client.exited.done():
            self._forget(client)
            return
        if client.waiting.is_set() and self.reuse:
            self._current = client
            self._lingered = False
            return
        self._lingered = not client.waiting.is_set()
        self._background_stop(client)

    def _forget(self, client: Client) -> None:
        self.server.withdraw(client)
        self.server.clients.pop(client.token, None)
