"""`--scale-bounds FACTOR` and `$RTMOCK_SCALE_BOUNDS`: every bound FACTOR times as long, for a slow
CI runner or a client under a debugger (the scenario's own pacing stays: see
`scenario.model.with_bounds_scaled`). One place for the factor, whichever command or the pytest
plugin reads it.

Only the standard library is imported at module level: the pytest plugin imports this at start-up.
"""

from __future__ import annotations

import dataclasses
import math
import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..mockserver.scenario.loader import LoadedScenario

__all__ = ["SCALE_BOUNDS_ENV", "duration_argument", "environment_factor", "scale_bounds_factor", "scaled",
           "scaled_within"]

#: The environment variable that sets `--scale-bounds` (the pytest plugin reads it too): set it once
#: on a slow CI runner.
SCALE_BOUNDS_ENV = "RTMOCK_SCALE_BOUNDS"

def duration_argument(text: str) -> float:
    """A command-line duration in seconds, written as scenario files write them (`2s`, `500ms`,
    `1.5m`) or as a number of seconds: argparse's `type=`."""
    import argparse

    from ..mockserver.scenario.model import parse_duration

    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def scale_bounds_factor(text: str | None, *, where: str = "--scale-bounds") -> float:
    """The factor `text` gives (None or empty: 1), or a UsageError that says what is wrong where."""
    from ..mockserver.errors import UsageError

    if text is None or not text.strip():
        return 1.0
    try:
        factor = float(text)
    except ValueError:
        factor = float("nan")
    if not math.isfinite(factor) or factor <= 0:
        raise UsageError(f"{where} must be a positive number, such as 2 (every bound twice as long); got {text!r}")
    return factor


def environment_factor() -> float:
    """The factor `$RTMOCK_SCALE_BOUNDS` sets (1 when unset)."""
    return scale_bounds_factor(os.environ.get(SCALE_BOUNDS_ENV), where=f"${SCALE_BOUNDS_ENV}")


def scaled(loaded: LoadedScenario, factor: float) -> LoadedScenario:
    """`loaded` with every bound `factor` times as long."""
    if factor == 1:
        return loaded
    from ..mockserver.scenario.model import with_bounds_scaled

    return dataclasses.replace(loaded, scenario=with_bounds_scaled(loaded.scenario, factor))


def scaled_within(within: float | None, factor: float, *, scenario: bool = True) -> float | None:
    """`--within` scaled; without it, None (the scenario's own default, scaled with the scenario), or
    for a session judged without a scenario, the default bound scaled."""
    if within is not None:
        return within * factor
    if scenario or factor == 1:
        return None
    from ..mockserver.scenario.model import Defaults  # what a passthrough scenario bounds by

    return Defaults().within * factor
