"""The judge attached to a live server: one `Judge` per session, fed through the server's observer
hook, with a timer on the event loop for each session's next bound so that a missing message is
judged at its bound, not later. The runner and the pytest plugin wait on `changed`."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ...mockserver.core.records import Record
from ...mockserver.net.server import Observer, SessionInfo
from .findings import Finding, SessionVerdict
from .judge import Judge

__all__ = ["JudgedSession", "LiveJudge"]


@dataclass(eq=False)
class JudgedSession:
    info: SessionInfo
    judge: Judge
    started: float  # loop time at the session's start (record times are relative to it)
    verdict: SessionVerdict | None = None
    timer: asyncio.TimerHandle | None = None

    @property
    def complete(self) -> bool:
        return self.judge.complete

    @property
    def findings(self) -> list[Finding]:
        """What the judge holds so far (a late create has replaced its missing create here)."""
        return self.judge.findings


class LiveJudge(Observer):
    def __init__(self, *, default_within: float | None = None, keep_sessions: bool = True,
                 on_finding: Callable[[JudgedSession, Finding], None] | None = None,
                 on_verdict: Callable[[JudgedSession], None] | None = None) -> None:
        self.default_within = default_within
        #: False for a long-running server: a judged session is dropped once its verdict is out
        #: (`on_verdict` sees it first); `passed` and `failed` count them
        self.keep_sessions = keep_sessions
        self.on_finding = on_finding
        self.on_verdict = on_verdict
        self.passed = self.failed = 0
        self.sessions: list[JudgedSession] = []
        self._by_info: dict[int, JudgedSession] = {}
        self.changed = asyncio.Event()
        self.first_finding_at: float | None = None  # loop time of the first finding (for benchmarks)
        #: Set by whoever stops the client because of a finding: then sessions that end are not
        #: charged with what was still within its bound.
        self.stopping = False

    # ---- observer hook ---------------------------------------------------------------------------

    def session_started(self, session: SessionInfo) -> None:
        scenario = session.scenario
        within = self.default_within if self.default_within is not None else scenario.scenario.defaults.within
        judge = Judge(session_id=session.id, scenario_name=scenario.name, scenario_path=scenario.path,
                      default_within=within)
        assert session.core is not None
        judged = JudgedSession(session, judge, session.core.started)
        self.sessions.append(judged)
        self._by_info[id(session)] = judged
        self.changed.set()

    def records(self, session: SessionInfo, records: Sequence[Record]) -> None:
        judged = self._by_info[id(session)]
        judge = judged.judge
        was_complete, was_due = judge.complete, judge.next_deadline()
        for record in records:
            if found := judge.feed(record):
                self._found(judged, found)
        if found := judge.settle():
            self._found(judged, found)
        if judge.complete != was_complete:
            self.changed.set()
        if judge.next_deadline() != was_due:  # else the timer already stands where it must
            self._schedule(judged)

    def session_ended(self, session: SessionInfo) -> None:
        judged = self._by_info[id(session)]
        verdict = self.finish(judged)
        if verdict.passed:
            self.passed += 1
        else:
            self.failed += 1
        if self.on_verdict is not None:
            self.on_verdict(judged)
        if not self.keep_sessions:
            del self._by_info[id(session)]
            self.sessions.remove(judged)

    # ---- timers ----------------------------------------------------------------------------------

    def _schedule(self, judged: JudgedSession) -> None:
        deadline = judged.judge.next_deadline()
        if judged.timer is not None:
            if deadline is not None and judged.timer.when() == judged.started + deadline:
                return
            judged.timer.cancel()
            judged.timer = None
        if deadline is not None and judged.verdict is None:
            loop = asyncio.get_running_loop()
            judged.timer = loop.call_at(judged.started + deadline, self._tick, judged)

    def _tick(self, judged: JudgedSession) -> None:
        judged.timer = None
        if judged.verdict is not None:
            return
        now = asyncio.get_running_loop().time() - judged.started
        self._found(judged, judged.judge.advance(now))
        self._schedule(judged)

    def _found(self, judged: JudgedSession, findings: list[Finding]) -> None:
        if findings:
            if self.on_finding is not None:
                for finding in findings:
                    self.on_finding(judged, finding)
            if self.first_finding_at is None:
                self.first_finding_at = asyncio.get_running_loop().time()
            self.changed.set()

    # ---- waiting for the verdict -------------------------------------------------------------------

    async def settle(self, *, started: float, grace: float, connect_timeout: float, timeout: float,
                     exited: asyncio.Future[Any] | None = None) -> str:
        """Wait (bounded) until the verdict is known, and say why it is:
        "finding" (something was found), "exited" (the client is gone: `exited` is done, or without
        one, every session has ended), "complete" (the scenario completed `grace` seconds ago),
        "no-session" (none within `connect_timeout`), "timeout". Times are loop times."""
        loop = asyncio.get_running_loop()
        complete_since: float | None = None
        while True:
            self.changed.clear()
            now = loop.time()
            if self.findings:
                return "finding"
            if exited.done() if exited is not None else (self.sessions and all(j.info.ended for j in self.sessions)):
                return "exited"
            if self.all_complete:
                complete_since = complete_since or now
                if now - complete_since >= grace:
                    return "complete"
            if not self.sessions and now - started >= connect_timeout:
                return "no-session"
            if now - started >= timeout:
                return "timeout"
            limits = [started + timeout]
            if not self.sessions:
                limits.append(started + connect_timeout)
            if complete_since is not None:
                limits.append(complete_since + grace)
            changed = asyncio.ensure_future(self.changed.wait())
            await asyncio.wait({changed} if exited is None else {changed, exited},
                               timeout=max(0.0, min(limits) - loop.time()), return_when=asyncio.FIRST_COMPLETED)
            changed.cancel()

    # ---- results ---------------------------------------------------------------------------------

    def finish(self, judged: JudgedSession) -> SessionVerdict:
        if judged.verdict is None:
            if judged.timer is not None:
                judged.timer.cancel()
                judged.timer = None
            now = asyncio.get_running_loop().time() - judged.started
            before = len(judged.judge.findings)
            judged.verdict = judged.judge.finish(now, settle_pending=not self.stopping)
            self._found(judged, judged.verdict.findings[before:])
            self.changed.set()
        return judged.verdict

    async def sessions_ended(self, timeout: float) -> None:
        """Wait, at most `timeout` seconds, until every session has ended: the server notices a
        client's sockets closing a moment after its process is gone."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while any(not j.info.ended for j in self.sessions) and loop.time() < deadline:
            self.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), max(0.0, deadline - loop.time()))

    def finish_all(self) -> list[SessionVerdict]:
        return [self.finish(j) for j in self.sessions]

    @property
    def findings(self) -> list[Finding]:
        return [f for j in self.sessions for f in j.findings]

    @property
    def all_complete(self) -> bool:
        return bool(self.sessions) and all(j.complete for j in self.sessions)
