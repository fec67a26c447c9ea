"""What `rtmock serve` prints while it serves: sessions starting, their notable events, each finding
when it is decided, each verdict, and connections that got no session.

Printing must never hold up serving: a `print` to a pipe nobody reads blocks once the pipe is full,
and with it the event loop, every session and Ctrl-C. So the lines go out through the event loop's
non-blocking pipe transport; when the reader stalls and more than `limit` bytes wait, new lines are
dropped and counted, and the count is told once at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import os
import shlex
import stat
import sys
from collections.abc import Sequence
from typing import IO, Any

from ...mockserver.core.records import Record
from ...mockserver.net.server import Observer, SessionInfo
from ..judging.findings import Finding
from ..judging.live import JudgedSession, LiveJudge
from .text import _printable as printable
from .text import shown_finding

__all__ = ["LogLevel", "LogLines", "ServeLog"]


class LogLevel(enum.StrEnum):
    EVENTS = "events"  # notable client and server events, findings, verdicts (the default)
    VERDICTS = "verdicts"  # findings as they are decided, and each session's verdict
    QUIET = "quiet"  # nothing per session: the banner and what went wrong with rtmock itself


#: Characters of log lines held for the end of a loop turn, past which they go out at once.
HELD_PER_TURN = 16 * 1024


class LogLines:
    """Lines to a stream that never block the event loop (see the module doc). The lines of one turn
    of the event loop go out together, in one write, when the turn ends (a session's frames are
    handled in one turn: a line each would be a system call each)."""

    def __init__(self, stream: IO[str] = sys.stdout, *, limit: int = 1 << 20) -> None:
        self.stream = stream
        self.limit = limit
        self.dropped = 0
        self._transport: asyncio.WriteTransport | None = None
        self._pending: list[str] = []
        self._held = 0  # characters in _pending

    async def open(self) -> None:
        """Switch to the loop's pipe transport when the stream is a pipe or a terminal (a regular
        file never blocks a writer, and the transport does not take one)."""
        with contextlib.suppress(AttributeError, OSError, ValueError):
            fd = self.stream.fileno()
            if stat.S_ISFIFO(os.fstat(fd).st_mode) or stat.S_ISSOCK(os.fstat(fd).st_mode) or os.isatty(fd):
                self.stream.flush()
                pipe = os.fdopen(os.dup(fd), "wb", buffering=0)
                loop = asyncio.get_running_loop()
                self._transport, _ = await loop.connect_write_pipe(asyncio.Protocol, pipe)

    def line(self, text: str) -> None:
        pending = self._pending
        if not pending:
            try:
                asyncio.get_running_loop().call_soon(self.flush)
            except RuntimeError:  # no event loop: nothing to hold up, the line goes out at once
                self._write(text + "\n", 1)
                return
        pending.append(text)
        self._held += len(text)
        if self._held > HELD_PER_TURN:  # a turn that logs a lot: out now, as the limit says
            self.flush()

    def flush(self) -> None:
        """Write the lines held since the turn began."""
        if self._pending:
            lines, self._pending, self._held = self._pending, [], 0
            self._write("\n".join(lines) + "\n", len(lines))

    def _write(self, text: str, lines: int) -> None:
        if self._transport is None:
            try:
                self.stream.write(text)
                self.stream.flush()
            except (BrokenPipeError, ValueError):
                self.dropped += lines
            return
        if self._transport.is_closing() or self._transport.get_write_buffer_size() > self.limit:
            self.dropped += lines
            return
        self._transport.write(text.encode("utf-8", "replace"))

    def close(self) -> None:
        """Stop writing through the loop (what is held and buffered, and still writable, goes out),
        restore the stream for plain prints, and say how much was dropped."""
        self.flush()
        if self._transport is not None:
            transport, self._transport = self._transport, None
            with contextlib.suppress(OSError):
                fd = self.stream.fileno()
                # the dup shares the open file's flags: the transport made it non-blocking
                os.set_blocking(fd, True)
            transport.abort() if transport.get_write_buffer_size() else transport.close()
        if self.dropped:
            print(f"rtmock: {self.dropped} log line(s) were dropped: the output was not being read "
                  "(use --log-level verdicts or quiet, or read the output)", file=sys.stderr, flush=True)


class ServeLog(Observer):
    """The serve log: an observer of the server, told of findings and verdicts by the judge."""

    NOTABLE = frozenset({"response.create", "conversation.item.create", "session.update", "error", "response.done",
                         "rtmock.scenario.complete", "rtmock.closed", "input_audio_buffer.commit"})

    def __init__(self, out: LogLines, level: LogLevel) -> None:
        self.out = out
        self.level = level

    def attach(self, judge: LiveJudge) -> None:
        judge.on_finding = self.finding
        judge.on_verdict = self.verdict

    def session_started(self, session: SessionInfo) -> None:
        if self.level is LogLevel.EVENTS:
            self.out.line(f"[{session.id}] connected: {session.scenario.name} ({session.dialect.value}) "
                          f"{printable(session.request_path)}")

    def records(self, session: SessionInfo, records: Sequence[Record]) -> None:
        if self.level is not LogLevel.EVENTS:
            return
        notable = self.NOTABLE
        for record in records:
            if not record.delta and record.type in notable:
                self.out.line(f"[{session.id}] {printable(str(record))}")

    def connection_refused(self, request_line: str) -> None:
        if self.level is not LogLevel.QUIET:
            self.out.line(f"refused: {printable(request_line)}")

    def finding(self, judged: JudgedSession, finding: Finding) -> None:
        if self.level is not LogLevel.QUIET:
            self.out.line(f"[{judged.info.id}] finding: " + str(shown_finding(finding)).replace("\n", "\n    "))

    def verdict(self, judged: JudgedSession) -> None:
        if self.level is LogLevel.QUIET:
            return
        verdict = judged.verdict
        if verdict is None:
            state = "ended"
        elif verdict.passed:
            state = "PASS"
        elif verdict.findings:
            state = f"FAIL ({', '.join(dict.fromkeys(f.rule.value for f in verdict.findings))})"
        else:
            state = "incomplete (the scenario did not finish; nothing was found against the client)"
        self.out.line(f"[{judged.info.id}] ended: {state}")


def banner_lines(server: Any, scenarios: list[Any], environment: dict[str, str]) -> list[str]:
    """What serve prints first: where it listens and the variables that point clients at it."""
    if len(scenarios) == 1:
        lines = [f"rtmock: serving {scenarios[0].name} on {server.ws_url()}"]
    else:  # the bare URL picks none: each scenario has its own (the path prefix /s/<name>/)
        width = max(len(s.name) for s in scenarios)
        lines = [f"rtmock: serving {len(scenarios)} scenarios, each at its own URL:"]
        lines += [f"  {s.name:<{width}}  {server.ws_url(s.name)}" for s in scenarios]
    lines.append("  point clients at it (bash):")
    if len(scenarios) > 1:
        first = scenarios[0].name
        lines.append(f"  (these point at {first}; for another, change /s/{first}/ in the URLs)")
    lines += [f"    export {key}={shlex.quote(value)}" for key, value in environment.items()]  # (zsh globs a bare ?)
    lines.append("  Ctrl-C stops the server.")
    return lines
