"""The client under test in a fuzz run: a process (its output kept for crash reports) or an
in-process coroutine, each with its own URL prefix (`token`), so the server knows whose connection
it is. How clients are chosen, reused and replaced is `_fuzz_runner.py`'s job."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import signal
import traceback
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from ...mockserver.errors import UsageError
from ..judging.findings import Finding, Rule

__all__ = ["Client", "CoroutineClient", "ProcessClient", "TaskClient"]

#: An in-process client: a coroutine function given the websocket URL of the server.
CoroutineClient = Callable[[str], Awaitable[Any]]

_TAIL_LINES = 60
_CHUNK = 1 << 16  # bytes read from a client's pipe at a time
_LINE_KEEP = 1024  # bytes of a line kept (a line is shown cut to 300 characters)


def _last_traceback(lines: Sequence[str], keep: int = 12) -> list[str]:
    """The client's last traceback (its head and last `keep` lines), else its last lines of output."""
    lines = list(lines)
    starts = [i for i, line in enumerate(lines) if line.startswith("Traceback (most recent call last)")]
    if not starts:
        return list(lines[-8:])
    found = list(lines[starts[-1]:])
    return found if len(found) <= keep + 2 else [found[0], "  …", *found[-keep:]]


class Client:
    """A client under test: a process or an in-process task, with its own URL prefix (`token`)."""

    def __init__(self, number: int, token: str) -> None:
        self.number = number
        self.token = token
        self.exited: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.waiting = asyncio.Event()  # a connection of this client waits for its case
        self.waiting_since: float | None = None  # loop time
        self.cases = 0  # cases it has played
        self.stopped_by_us = False

    def crash(self) -> Finding | None:
        """After it exited: the finding its exit deserves (None for a clean exit, or when we stopped it)."""
        raise NotImplementedError

    @property
    def output_tail(self) -> list[str]:
        return []

    async def stop(self) -> None:
        raise NotImplementedError


class ProcessClient(Client):
    def __init__(self, number: int, token: str, proc: asyncio.subprocess.Process) -> None:
        super().__init__(number, token)
        self.proc = proc
        self.tail: collections.deque[str] = collections.deque(maxlen=_TAIL_LINES)
        readers = [asyncio.ensure_future(self._read(proc.stdout)), asyncio.ensure_future(self._read(proc.stderr))]
        self._watcher = asyncio.ensure_future(self._watch(readers))

    @classmethod
    async def start(cls, number: int, token: str, command: Sequence[str], env: dict[str, str]) -> ProcessClient:
        try:
            proc = await asyncio.create_subprocess_exec(
                *command, env=env, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE, start_new_session=True)
        except FileNotFoundError:
            raise UsageError(f"command not found: {command[0]}") from None
        except PermissionError:
            raise UsageError(f"command is not executable: {command[0]}") from None
        return cls(number, token, proc)

    async def _read(self, stream: asyncio.StreamReader | None) -> None:
        """Drain one of the client's pipes to its end, keeping the last lines. Read in chunks, never by
        line: a line longer than a line reader's limit would stop it, the pipe would fill, the client
        would block writing, and its exit could not be seen (asyncio reports a process's end only once
        its pipes reach EOF). Only the first `_LINE_KEEP` characters of a line are kept."""
        if stream is None:
            return
        line: list[bytes] = []  # the start of the line being read (at most _LINE_KEEP bytes of it)
        kept = 0
        cut = False
        while chunk := await stream.read(_CHUNK):
            *ended, rest = chunk.split(b"\n")
            for piece in ended:
                if kept < _LINE_KEEP:
                    line.append(piece[: _LINE_KEEP - kept])
                self._keep_line(b"".join(line), cut or kept + len(piece) > _LINE_KEEP)
                line, kept, cut = [], 0, False
            if kept < _LINE_KEEP:
                line.append(rest[: _LINE_KEEP - kept])
            cut = cut or kept + len(rest) > _LINE_KEEP
            kept = min(_LINE_KEEP, kept + len(rest))
        if line and any(line):
            self._keep_line(b"".join(line), cut)

    def _keep_line(self, data: bytes, cut: bool) -> None:
        text = data.decode("utf-8", "replace").rstrip("\r")
        if cut or len(text) > 300:
            text = text[:297] + "…"
        self.tail.append(text)

    async def _watch(self, readers: Sequence[asyncio.Future[None]]) -> None:
        await self.proc.wait()
        await asyncio.wait(readers, timeout=1.0)  # the last lines of a traceback
        if not self.exited.done():
            self.exited.set_result(None)

    @property
    def output_tail(self) -> list[str]:
        return list(self.tail)

    def crash(self) -> Finding | None:
        code = self.proc.returncode
        if code in (0, None) or self.stopped_by_us:
            return None
        what = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
        return Finding(Rule.CLIENT_CRASHED, f"The client {what}.",
                       "Its last output is under `seen`; a client must survive whatever the model sends, and answer "
                       "every call (with an output describing the error when the arguments are bad).",
                       seen="\n".join(_last_traceback(self.tail)) or "(no output)")

    async def stop(self) -> None:
        """SIGTERM the client's process group, then SIGKILL if it lingers."""
        if self.proc.returncode is None:
            self.stopped_by_us = True
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(asyncio.shield(self.exited), 2.0)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
        await self.exited


class TaskClient(Client):
    def __init__(self, number: int, token: str, client: CoroutineClient, url: str) -> None:
        super().__init__(number, token)
        self.error: BaseException | None = None
        self.task = asyncio.ensure_future(self._run(client, url))

    async def _run(self, client: CoroutineClient, url: str) -> None:
        try:
            await client(url)
        except asyncio.CancelledError:
            pass
        except Exception as exc:  # the client's crash: reported as a finding
            self.error = exc
        finally:
            if not self.exited.done():
                self.exited.set_result(None)

    def crash(self) -> Finding | None:
        if self.error is None or self.stopped_by_us:
            return None
        tail = _last_traceback("".join(traceback.format_exception(self.error)).rstrip().splitlines())
        return Finding(Rule.CLIENT_CRASHED, f"The client coroutine raised {type(self.error).__name__}: {self.error}",
                       "A client must survive whatever the model sends, and answer every call (with an output "
                       "describing the error when the arguments are bad).", seen="\n".join(tail))

    async def stop(self) -> None:
        if not self.task.done():
            self.stopped_by_us = True
            self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.exited
