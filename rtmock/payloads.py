"""Hypothesis strategies for function-call `arguments` (the ``rtmock[fuzz]`` extra): see
`rtmock.harness.fuzzing.payloads`, whose public names are these."""

from .harness.fuzzing.payloads import *  # noqa: F403
from .harness.fuzzing.payloads import __all__ as __all__
