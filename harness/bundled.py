"""The scenarios shipped with rtmock, found by name (`get_your_info`), wherever rtmock is installed.

Only the standard library is imported at module level: the pytest plugin resolves names through it
before any of the server is loaded. The scenarios are `rtmock/scenarios/` (the repository's
`scenarios/` directory, shipped as package data).
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..mockserver.scenario.loader import LoadedScenario

__all__ = ["SCALE_BOUNDS_ENV", "bundled_scenario", "bundled_scenario_names", "load_scenarios", "scale_bounds_factor"]

_BUNDLED_DIR = Path(__file__).resolve().parent.parent / "scenarios"


def bundled_scenario(name: str) -> Path | None:
    """The file of the bundled scenario `name` (`"get_your_info"` or `"get_your_info.yaml"`), or None
    when rtmock ships no scenario of that name. A name with a directory in it is never bundled."""
    if not name or "/" in name or "\\" in name or name.startswith("."):
        return None
    stem = name.removesuffix(".yaml")
    path = _BUNDLED_DIR / f"{stem}.yaml"
    return path if path.is_file() else None


def bundled_scenario_names() -> list[str]:
    """The names `bundled_scenario` knows, sorted (for error messages)."""
    if not _BUNDLED_DIR.is_dir():
        return []
    return sorted(p.stem for p in _BUNDLED_DIR.glob("*.yaml") if p.is_file())


def load_scenarios(paths: Sequence[str], *, scale_bounds: float = 1.0) -> list[LoadedScenario]:
    """Every scenario named on a command line (a file, or else a bundled scenario's name), or one
    `ScenarioError` naming every problem in all of them, not just the first. With `scale_bounds`,
    every bound of each is that many times as long (`--scale-bounds`)."""
    from ..mockserver.errors import ScenarioError
    from ..mockserver.scenario.loader import load_scenario
    from ..mockserver.scenario.model import with_bounds_scaled

    loaded, problems = [], []
    for path in paths:
        try:
            scenario = load_scenario(path if os.path.exists(path) else bundled_scenario(path) or path)
        except ScenarioError as exc:
            problems.extend(exc.problems)
            continue
        if scale_bounds != 1:
            scenario = dataclasses.replace(scenario, scenario=with_bounds_scaled(scenario.scenario, scale_bounds))
        loaded.append(scenario)
    if problems:
        raise ScenarioError.many(problems)
    return loaded


#: The environment variable that sets `--scale-bounds` (the pytest plugin reads it too): set it once
#: on a slow CI runner.
SCALE_BOUNDS_ENV = "RTMOCK_SCALE_BOUNDS"


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
