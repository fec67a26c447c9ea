"""A session's transcript file, written as the session happens (the mock server's and the relay's)."""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import IO

__all__ = ["TranscriptFile", "transcript_path"]

log = logging.getLogger("rtmock.server")


def transcript_path(directory: Path, number: int, scenario: str, session_id: str) -> Path:
    """`NNNN-<scenario>-<session id>.jsonl` in `directory`: sorted by session, the scenario's name
    made safe for any file system."""
    return directory / f"{number:04d}-{_safe(scenario)}-{session_id}.jsonl"


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)[:60]


class TranscriptFile:
    """One session's transcript file, written as it happens. A write that fails (ENOSPC, EIO) stops
    this transcript, and says once what was lost from where; serving goes on."""

    def __init__(self, path: Path, errors: list[str]) -> None:
        self.path = path
        self._errors = errors
        self._file: IO[str] | None = None
        try:
            self._file = open(path, "w", encoding="utf-8", buffering=1)  # noqa: SIM115 - closed in close()
        except OSError as exc:
            self._failed(exc, None)

    def write(self, text: str, index: int | None) -> None:
        if self._file is None:
            return
        try:
            self._file.write(text)
        except OSError as exc:
            self._failed(exc, index)

    def _failed(self, exc: OSError, index: int | None) -> None:
        where = "from its start" if index is None else f"from event #{index} on"
        message = f"{self.path}: {exc.strerror or exc}; this transcript is cut short {where}"
        log.error("cannot record: %s", message)
        if len(self._errors) < 100:
            self._errors.append(message)
        self.close()

    def close(self) -> None:
        if self._file is not None:
            file, self._file = self._file, None
            with contextlib.suppress(OSError):
                file.close()
