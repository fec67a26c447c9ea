"""The scenarios shipped with rtmock, found by name (`get_your_info`), wherever rtmock is installed.

Only the standard library is imported here: the pytest plugin resolves names through it before any
of the server is loaded. Today the scenarios are the repository's `scenarios/` directory; when they
move into the package's data, `_BUNDLED_DIR` is the one line that changes.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["bundled_scenario", "bundled_scenario_names"]

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
