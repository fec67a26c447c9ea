"""Errors of rtmock's own inputs, as opposed to findings about the client under test.

    Exception
     └── RtmockError                 anything rtmock reports as a one-line message
          ├── ScenarioError          the scenario author's: file:line:column, what to write instead
          └── UsageError             the user's command line or environment (port in use, no command)

Findings about the client are not exceptions: see `harness.findings`. A bug in rtmock itself is any
other exception and must never be reported as the client's fault.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["RtmockError", "ScenarioError", "UsageError"]


class RtmockError(Exception):
    """An error with a message meant for a person, printed without a traceback."""


class UsageError(RtmockError):
    pass


class ScenarioError(RtmockError):
    """A scenario file that cannot be played, located as precisely as the problem allows."""

    def __init__(self, path: str, line: int | None, column: int | None, message: str) -> None:
        self.path = path
        self.line = line
        self.column = column
        # one line whatever the scenario held: keys and values are quoted into messages
        self.message = "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in message)
        self.problems: list[ScenarioError] = [self]
        super().__init__(self.one_line())

    def one_line(self) -> str:
        where = self.path
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        return f"{where}: {self.message}"

    @classmethod
    def many(cls, problems: Sequence[ScenarioError]) -> ScenarioError:
        """One error standing for several (all are printed, one line each)."""
        first = problems[0]
        err = cls(first.path, first.line, first.column, first.message)
        err.problems = list(problems)
        err.args = ("\n".join(p.one_line() for p in problems),)
        return err
