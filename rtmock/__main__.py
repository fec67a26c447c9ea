"""`python -m rtmock`: the same as the `rtmock` command."""

from .harness.cli import console

console()
