"""What the server tells the harness: a session as observers see it (`SessionInfo`), the observer
hook (`Observer`), and how a session's records reach the observers a moment at a time (`Moments`,
`tell_observers`).

What belongs here: the interface between the server and whoever watches it. What does not: the
server itself (`server.py`), what a record is (`core/records.py`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.events import Dialect
from ..core.records import Record, TranscriptHeader
from ..core.session import SessionCore
from ..scenario.loader import LoadedScenario

__all__ = ["Moments", "Observer", "SessionInfo", "tell_observers"]


@dataclass(eq=False)
class SessionInfo:
    """A live or finished session, as observers see it.

    `records` holds every record of the session only when the server keeps its sessions
    (`keep_sessions`, the default): a long-running server (`rtmock serve`) keeps none, so that a
    session's memory does not grow with its length (a voice client sends 25 appends a second);
    its observers saw each record, and its transcript has them all.
    """

    number: int
    id: str
    scenario: LoadedScenario
    dialect: Dialect
    request_path: str
    started_at: str
    records: list[Record] = field(default_factory=list)
    transcript_path: Path | None = None
    ended: bool = False
    core: SessionCore | None = None
    #: the run the session belongs to (`rtmock run`, the plugin's `run()`), when it belongs to one:
    #: its transcripts say so, and `rtmock check` judges the sessions of one run together, as the run did
    run: str | None = None

    @property
    def complete(self) -> bool:
        return self.core is not None and self.core.complete

    def header(self) -> TranscriptHeader:
        return TranscriptHeader(self.id, self.scenario.name, self.scenario.path, self.dialect.value,
                                self.request_path, self.started_at, extra={"run": self.run} if self.run else {})


class Observer:
    """Override what you need; the server calls these in order for each session."""

    def session_started(self, session: SessionInfo) -> None: ...
    def record(self, session: SessionInfo, record: Record) -> None: ...

    def records(self, session: SessionInfo, records: Sequence[Record]) -> None:
        """What the session wrote at one moment (answering one client frame, or when a timer fell
        due), in order; by default each goes to `record`. The session's refusal of a client event
        is among them (`Refused`), so one who reads them all knows which events were accepted."""
        for record in records:
            self.record(session, record)

    def session_ended(self, session: SessionInfo) -> None: ...
    def connection_refused(self, request_line: str) -> None:
        """A connection that got no session (e.g. "GET /v2/rt → 404 Not Found")."""


class Moments:
    """A session's records, handed on a moment at a time (all that one client frame or timer made
    the core do): collected as the core makes them (`add`, its record callback), and delivered at
    the session task's next pause, once the moment's frames are written, so that judging a turn
    never delays the client's answer. `deliver` at the session's end hands over what is left."""

    def __init__(self, deliver: Callable[[list[Record]], None], kept: list[Record] | None = None) -> None:
        self._deliver = deliver
        self._kept = kept  # every record, at once, for a server that keeps its sessions
        self._undelivered: list[Record] = []
        self._loop = asyncio.get_running_loop()

    def add(self, record: Record) -> None:
        if self._kept is not None:
            self._kept.append(record)
        if not self._undelivered:
            self._loop.call_soon(self.deliver)
        self._undelivered.append(record)

    def deliver(self) -> None:
        if not self._undelivered:  # delivered already (the session's end comes before a pause)
            return
        records, self._undelivered = self._undelivered, []
        self._deliver(records)


def tell_observers(observers: Sequence[Any], info: SessionInfo, records: Sequence[Record],
                   failed: Callable[[Any, str, Exception], None]) -> None:
    """A moment's records to every observer: through `records`, or `record` for each when an
    observer has only that (one written before `records` existed, or not from `Observer`). One
    that raises is told to `failed` (a bug of rtmock's or of that observer, never the client's)."""
    for observer in observers:
        whole = getattr(observer, "records", None)
        try:
            if whole is not None:
                whole(info, records)
            else:
                for record in records:
                    observer.record(info, record)
        except Exception as exc:
            failed(observer, "records" if whole is not None else "record", exc)
