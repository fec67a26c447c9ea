"""The client a test hands to `RtmockServer.run` / `run_async`, as the server's event loop sees it:

- a command: a process group (`client_process.ClientProcess`), stopped with SIGTERM then SIGKILL;
- a coroutine client on the test's own event loop (`run_async`): a task, cancelled;
- a callable on a thread of its own (`run` in a sync test): a coroutine there is cancelled; a
  blocking function cannot be, so the server closing its connections is what ends it.

Each tells the server's loop when it has ended (`exited`), can be asked to stop once the verdict is
known, and says afterwards whether its end was a crash. Supervising them is `_plugin_server.py`'s job.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import inspect
import os
import threading
import traceback
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .client_process import ClientProcess, Crash

__all__ = ["STOP_PATIENCE", "CommandClient", "Crash", "InProcessClient", "PluginClient", "TaskClient", "ThreadClient"]

#: An in-process client: called with the server's websocket URL. A coroutine function (or any callable
#: returning an awaitable) can be cancelled; a blocking function can only be disconnected.
InProcessClient = Callable[[str], Any]

#: How long a client asked to stop may take to end before the server closes its connections anyway.
STOP_PATIENCE = 2.0


class PluginClient:
    """A client under test. `exited()` and `stop()` are called on the server's event loop."""

    def __init__(self, command: list[str]) -> None:
        self.command = command  # what ran, for the result (a command, or the client's name)
        self.stopped_by_us = False
        self._exited: asyncio.Future[Any] | None = None

    def exited(self) -> asyncio.Future[Any]:
        """Done when the client has ended (a future of the server's loop)."""
        if self._exited is None:
            self._exited = self._make_exited()
        return self._exited

    def _make_exited(self) -> asyncio.Future[Any]:
        raise NotImplementedError

    async def stop(self) -> None:
        """Ask the client to stop and wait, bounded, for it to end."""
        raise NotImplementedError

    async def release(self) -> None:
        """At the end of the run, whatever happened: let go of what the client left behind."""

    def crash(self) -> Crash | None:
        """After it ended: its crash, or None (a clean end, or one we caused)."""
        raise NotImplementedError

    def never_connected(self) -> str:
        """What it did instead of opening a session, for a `no-session` finding ("The client ...")."""
        raise NotImplementedError


class CommandClient(PluginClient):
    """A command in its own process group, with the environment that points it at the server."""

    def __init__(self, command: Sequence[str | os.PathLike[str]], env: Mapping[str, str]) -> None:
        args = [os.fspath(part) for part in command]
        super().__init__(args)
        self.process = ClientProcess(args, env)

    def _make_exited(self) -> asyncio.Future[Any]:
        return asyncio.ensure_future(self.process.wait())

    async def stop(self) -> None:
        await self.process.stop()  # SIGTERM to the group, SIGKILL if it lingers
        self.stopped_by_us = self.process.stopped_by_us

    async def release(self) -> None:
        await self.process.stop()  # also what a client that exited left running in its group
        await self.process.drain()

    def crash(self) -> Crash | None:
        return self.process.crash()

    def never_connected(self) -> str:
        return f"exited (code {self.process.returncode}) without opening a realtime session"


class _InProcess(PluginClient):
    """What the two in-process kinds share: the client's outcome, reported across threads."""

    def __init__(self, client: InProcessClient) -> None:
        super().__init__([getattr(client, "__qualname__", None) or repr(client)])
        self.error: Exception | None = None
        self.done: concurrent.futures.Future[None] = concurrent.futures.Future()

    async def _call(self, client: InProcessClient, url: str) -> None:
        try:
            result = client(url)
            if inspect.isawaitable(result):
                self._awaiting()
                await result
        except asyncio.CancelledError:
            pass  # we stopped it (a cancellation of its own is an end like any other)
        except Exception as exc:
            self.error = exc
        finally:
            self.done.set_result(None)

    def _awaiting(self) -> None:
        pass

    def _make_exited(self) -> asyncio.Future[Any]:
        return asyncio.wrap_future(self.done)

    def crash(self) -> Crash | None:
        if self.error is None or self.stopped_by_us:
            return None
        lines = "".join(traceback.format_exception(self.error)).rstrip().splitlines()
        return Crash(f"raised {type(self.error).__name__}: {self.error}", "\n".join(lines[-20:]), traceback=True)

    def never_connected(self) -> str:
        if self.error is not None:
            return f"raised {type(self.error).__name__} without opening a realtime session"
        return "returned without opening a realtime session"

    async def _wait_stopped(self) -> None:
        await asyncio.wait({self.exited()}, timeout=STOP_PATIENCE)


class TaskClient(_InProcess):
    """A coroutine client as a task of the calling (the test's) event loop: cancelled to stop it."""

    def __init__(self, client: InProcessClient, url: str) -> None:
        super().__init__(client)
        self._loop = asyncio.get_running_loop()
        self._task = self._loop.create_task(self._call(client, url), name="rtmock-client")

    async def stop(self) -> None:
        if self.done.done():
            return
        self.stopped_by_us = True
        with contextlib.suppress(RuntimeError):  # the test's loop is already closed
            self._loop.call_soon_threadsafe(self._task.cancel)
        await self._wait_stopped()


class ThreadClient(_InProcess):
    """A callable run on a thread of its own, under an event loop of its own (a sync test's client):
    a coroutine it returns is cancelled to stop it; a blocking call cannot be interrupted."""

    def __init__(self, client: InProcessClient, url: str) -> None:
        super().__init__(client)
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[Any] | None = None
        self.awaiting = False  # in a coroutine (cancellable), not inside a blocking call
        self.thread = threading.Thread(target=self._main, args=(client, url), name="rtmock-client", daemon=True)
        self.thread.start()

    def _main(self, client: InProcessClient, url: str) -> None:
        try:
            asyncio.run(self._drive(client, url))
        except asyncio.CancelledError:
            pass
        finally:
            if not self.done.done():
                self.done.set_result(None)

    async def _drive(self, client: InProcessClient, url: str) -> None:
        with self._lock:
            if self.stopped_by_us:
                self.done.set_result(None)
                return
            self._loop = asyncio.get_running_loop()
            self._task = asyncio.current_task()
        await self._call(client, url)

    def _awaiting(self) -> None:
        self.awaiting = True

    async def stop(self) -> None:
        if self.done.done():
            return
        with self._lock:
            self.stopped_by_us = True
            if self._loop is not None and self._task is not None:
                with contextlib.suppress(RuntimeError):
                    self._loop.call_soon_threadsafe(self._task.cancel)
        if self.awaiting or self._loop is None:
            await self._wait_stopped()
        # else: a blocking call; closing the server's connections ends it, if anything does
