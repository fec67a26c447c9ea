"""The client under test as a process: its environment, its output, and stopping it.

Only light modules are imported here (no asyncio until a method needs it), so that `rtmock run` can
bind its port and start the client first, and load the rest of itself while the client starts up.
"""

from __future__ import annotations

import collections
import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    import asyncio

from ..mockserver.errors import UsageError
from ..mockserver.net.endpoints import client_environment_for
from .reports.text import QUOTE_LINE_LIMIT, bounded

__all__ = ["ClientProcess", "Crash", "PreparedRun", "client_env_for", "error_excerpt", "prepare_run"]


def client_env_for(host: str, port: int, ca_file: Path | None, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The user's environment plus what points common clients at the server (see the README)."""
    env = dict(os.environ if base is None else base)
    env.update(client_environment_for(host, port, ca_file, base=env))
    return env


@dataclass(frozen=True, slots=True)
class Crash:
    """How a client ended on its own with an error, before the run decides what it means (see
    `runner.charge_client`: after the service failed on purpose, an error exit is a report, not a crash)."""

    what: str  # "exited with code 1", "was killed by signal 11 (SIGSEGV)", "raised KeyError: 'x'"
    seen: str  # the end of its stderr, or its traceback
    signal: int | None = None  # killed by this signal (not by rtmock)
    traceback: bool = False  # `seen` holds a traceback (or a Node error line)


class ClientProcess:
    """A command in its own process group (so stopping it stops its children), with the last lines
    of its output kept for the verdict and, with `echo`, passed through as they come."""

    def __init__(self, command: Sequence[str], env: Mapping[str, str], *, echo: bool = False, tail: int = 40) -> None:
        if not command:
            raise UsageError("no command to run: write it after '--', e.g. rtmock run scenario.yaml -- python client.py")
        try:
            self.popen = subprocess.Popen(list(command), env=dict(env), stdin=subprocess.DEVNULL,
                                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
        except FileNotFoundError:
            raise UsageError(f"command not found: {command[0]}") from None
        except PermissionError:
            raise UsageError(f"command is not executable: {command[0]}") from None
        self.stderr_tail: collections.deque[str] = collections.deque(maxlen=tail)
        self.stdout_tail: collections.deque[str] = collections.deque(maxlen=tail)
        self.stopped_by_us = False
        self._readers = [
            threading.Thread(target=_pump, args=(self.popen.stderr, self.stderr_tail, sys.stderr if echo else None), daemon=True),
            threading.Thread(target=_pump, args=(self.popen.stdout, self.stdout_tail, sys.stdout if echo else None), daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    @property
    def returncode(self) -> int | None:
        return self.popen.poll()

    def crash(self) -> Crash | None:
        """After it ended: how it failed on its own, or None (exit 0, or stopped by rtmock)."""
        code = self.returncode
        if code in (0, None) or self.stopped_by_us:
            return None
        lines = list(self.stderr_tail)
        if code < 0:
            try:
                name = f" ({signal.Signals(-code).name})"
            except ValueError:
                name = ""
            return Crash(f"was killed by signal {-code}{name}", error_excerpt(lines), signal=-code)
        return Crash(f"exited with code {code}", error_excerpt(lines), traceback=_error_start(lines) is not None)

    async def wait(self) -> int:
        """The exit code, awaited without a thread (a thread blocked in wait() would hold up the
        event loop's shutdown on Ctrl-C until the client exits)."""
        import asyncio

        if (code := self.popen.poll()) is not None:
            return code
        loop = asyncio.get_running_loop()
        try:
            pidfd = os.pidfd_open(self.popen.pid)
        except (AttributeError, OSError):  # not Linux ≥ 5.3: poll, with a bound per step
            while (code := self.popen.poll()) is None:
                await asyncio.sleep(0.02)
            return code
        exited: asyncio.Future[None] = loop.create_future()
        loop.add_reader(pidfd, _resolve, exited)
        try:
            await exited
        finally:
            loop.remove_reader(pidfd)
            os.close(pidfd)
        return self.popen.wait()

    async def stop(self) -> None:
        """SIGTERM the process group, then SIGKILL if it lingers. Also when the client exited on its
        own: what it left in its group (a child still running, a forked child holding the socket)
        goes with it, as a CI runner would see to at the end of a job."""
        import asyncio

        if self.popen.poll() is None:
            self.stopped_by_us = True
            self._signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.wait(), 3.0)
            except TimeoutError:
                self._signal(signal.SIGKILL)
                await self.wait()
        if not self._group_alive():
            return
        self._signal(signal.SIGTERM)
        deadline = asyncio.get_running_loop().time() + 1.0
        while self._group_alive() and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.02)  # no event tells when the last member of a group is gone
        self._signal(signal.SIGKILL)

    def _group_alive(self) -> bool:
        try:
            os.killpg(self.popen.pid, 0)
        except (ProcessLookupError, PermissionError):
            return False
        return True

    def kill_now(self) -> None:
        """For paths without an event loop (a scenario that failed to load after the start)."""
        if self.popen.poll() is None:
            self.stopped_by_us = True
        self._signal(signal.SIGKILL)
        self.popen.wait()

    def _signal(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, sig)

    async def drain(self, timeout: float = 2.0) -> None:
        """Wait (bounded) for the output readers to reach the end of the pipes (a grandchild that
        keeps them open must not hold the verdict up)."""
        import asyncio

        deadline = asyncio.get_running_loop().time() + timeout
        while any(r.is_alive() for r in self._readers) and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.01)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


#: The longest line of the client's output kept for the verdict, in bytes; the rest of a longer line
#: is counted, not held (a client that writes one 100 MB line must not cost rtmock 100 MB per line).
#: Short enough that the line and its count fit in what a report quotes of one line.
LINE_LIMIT = QUOTE_LINE_LIMIT - 100


def _pump(stream: IO[bytes] | None, tail: collections.deque[str], sink: IO[str] | None) -> None:
    if stream is None:
        return
    with stream:
        while line := stream.readline(LINE_LIMIT + 1):
            if len(line) > LINE_LIMIT and not line.endswith(b"\n"):
                skipped = len(line) - LINE_LIMIT
                while (more := stream.readline(1 << 16)) and not more.endswith(b"\n"):
                    skipped += len(more)
                skipped += len(more.rstrip(b"\n"))
                line = line[:LINE_LIMIT] + f"…(+{skipped:,} bytes)".encode()
            text = line.decode("utf-8", "replace").rstrip("\n")
            tail.append(text)
            if sink is not None:
                print(text, file=sink, flush=True)


@dataclass(slots=True)
class PreparedRun:
    """A listening socket and the client already started against it."""

    sock: socket.socket
    process: ClientProcess
    host: str


def prepare_run(command: Sequence[str], *, host: str = "127.0.0.1", tls: bool = True, echo: bool = False) -> PreparedRun:
    """Bind the server's socket and start the client right away: connections wait in the kernel's
    queue until the server accepts, so the client's start-up overlaps rtmock's own."""
    from ..mockserver.net.certs import ensure_certificates
    from ..mockserver.net.endpoints import listening_socket

    ca = ensure_certificates().ca_file if tls else None
    sock = listening_socket(host, 0)
    try:
        process = ClientProcess(command, client_env_for(host, sock.getsockname()[1], ca), echo=echo)
    except BaseException:
        sock.close()
        raise
    return PreparedRun(sock, process, host)


def _error_start(lines: list[str]) -> int | None:
    """Where the last error report in `lines` starts: a Python traceback, or a Node error line above
    its stack frames."""
    tracebacks = [i for i, line in enumerate(lines) if line.startswith("Traceback")]
    if tracebacks:
        return tracebacks[-1]
    errors = [i for i, line in enumerate(lines) if re.match(r"^(\w+\.)*\w*(Error|Exception)\b", line)]
    if not errors:
        return None
    start = errors[-1]
    # Python's error before any code ran (a SyntaxError) has no "Traceback" line: its `File "…", line N`
    # and the source line above it are indented
    while start > 0 and lines[start - 1].startswith(" ") and errors[-1] - start < 8:
        start -= 1
    return start


def error_excerpt(lines: list[str], limit: int = 15) -> str:
    """The end of the client's stderr, from where its error report starts when that is in reach."""
    if not lines:
        return "(no stderr)"
    start = _error_start(lines)
    return bounded("\n".join(lines[max(0, len(lines) - limit) if start is None else start:][-limit * 2:]))
