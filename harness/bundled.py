"""The scenarios shipped with rtmock, found by name (`get_your_info`), wherever rtmock is installed.

Only the standard library is imported at module level: the pytest plugin resolves names through it
before any of the server is loaded. The scenarios are `rtmock/scenarios/` (the repository's
`scenarios/` directory, shipped as package data).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..mockserver.errors import ScenarioError
    from ..mockserver.scenario.loader import LoadedScenario

__all__ = ["bundled_scenario", "bundled_scenario_names", "load_scenarios", "near_bundled_name"]

_BUNDLED_DIR = Path(__file__).resolve().parent.parent / "scenarios"


def bundled_scenario(name: str) -> Path | None:
    """The file of the bundled scenario `name` (`"get_your_info"` or `"get_your_info.yaml"`), or None
    when rtmock ships no scenario of that name. A name with a directory in it is never bundled."""
    if not name or "/" in name or "\\" in name or name.startswith("."):
        return None
    stem = name.removesuffix(".yaml")
    path = _BUNDLED_DIR / f"{stem}.yaml"
    return path if path.is_file() else None


def near_bundled_name(name: str) -> str | None:
    """The bundled scenario whose name `name` nearly is (`get_your_inf`), for a "did you mean"."""
    import difflib

    near = difflib.get_close_matches(name.removesuffix(".yaml"), bundled_scenario_names(), n=1, cutoff=0.6)
    return near[0] if near else None


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
    from .bounds import scaled

    loaded, problems = [], []
    for path in paths:
        try:
            scenario = load_scenario(path if os.path.exists(path) else bundled_scenario(path) or path)
        except ScenarioError as exc:
            problems.extend(_with_bundled_hint(path, exc).problems)
            continue
        loaded.append(scaled(scenario, scale_bounds))
    if problems:
        raise ScenarioError.many(problems)
    return loaded


def _with_bundled_hint(path: str, exc: ScenarioError) -> ScenarioError:
    """A name that is neither a file nor a bundled scenario, but near a bundled one's name
    (`get_your_inf`): say which, and what is bundled."""
    from ..mockserver.errors import ScenarioError

    if os.path.exists(path) or "/" in path or "\\" in path or (near := near_bundled_name(path)) is None:
        return exc
    return ScenarioError(path, None, None, f"no such scenario file, nor a bundled scenario; did you mean the bundled "
                                           f"{near!r}? (bundled: {', '.join(bundled_scenario_names())})")
