"""Hypothesis strategies for function-call `arguments` (the ``rtmock[fuzz]`` extra): see
`rtmock.harness.payloads`, whose public names are these."""

from .harness.payloads import *  # noqa: F403
from .harness.payloads import __all__ as __all__
