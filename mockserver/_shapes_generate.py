"""Generate `_shapes.json`, the shapes of client events, from the official `openai` package's types.

The service validates every client event against its API definition; the `openai` package's
`*_param.py` TypedDicts are generated from that same definition. Rather than copy them by hand (and
drift), this walks them once and writes a plain table that `client_events.py` checks frames against.
rtmock does not depend on `openai` at run time: only this generator (and the test that checks the
committed table is current) imports it.

    python -m rtmock.mockserver._shapes_generate > mockserver/_shapes.json
"""

from __future__ import annotations

import json
import sys
import typing
from typing import Any

import typing_extensions

from ._model_walk import ShapeWalker

__all__ = ["generate", "main", "shapes"]

#: The client events of each dialect: the union the package gives for "everything a client may send".
_ROOTS = {
    "ga": "openai.types.realtime.realtime_client_event_param:RealtimeClientEventParam",
    "beta": "openai.types.beta.realtime.realtime_client_event_param:RealtimeClientEventParam",
}


class _Walker(ShapeWalker):
    """The `openai` package's TypedDicts, by `openai.types.…` name."""

    def named(self, tp: Any) -> dict[str, Any] | None:
        return self.typeddict(tp) if typing_extensions.is_typeddict(tp) else None

    def typeddict(self, td: Any) -> dict[str, Any]:
        def build() -> dict[str, Any]:
            hints = typing_extensions.get_type_hints(td, include_extras=True)
            fields = {key: self.shape(hints[key]) for key in sorted(hints)}
            # `Required[...]` in a string annotation is not seen when the class is built, so
            # `__required_keys__` misses it: read the markers from the resolved hints instead
            total = getattr(td, "__total__", True)
            required = [key for key in sorted(hints) if _marker(hints[key]) == "required"
                        or (total and _marker(hints[key]) != "not_required")]
            return {"t": "object", "fields": fields, "required": required}

        return self.define(f"{td.__module__.removeprefix('openai.types.')}.{td.__qualname__}", build)


def _marker(tp: Any) -> str | None:
    origin = typing.get_origin(tp)
    if origin in (typing.Required, typing_extensions.Required):
        return "required"
    if origin in (typing.NotRequired, typing_extensions.NotRequired):
        return "not_required"
    return None


def shapes() -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """(defs, events): `events[dialect][type]` is the shape of that client event."""
    import importlib

    walker = _Walker()
    events: dict[str, dict[str, Any]] = {}
    for dialect, where in _ROOTS.items():
        module, name = where.split(":")
        root = getattr(importlib.import_module(module), name)
        table: dict[str, Any] = {}
        for member in typing.get_args(root):
            ref = walker.typeddict(member)
            event_type = walker.defs[ref["ref"]]["fields"]["type"]["values"][0]
            table[event_type] = ref
        events[dialect] = dict(sorted(table.items()))
    return dict(sorted(walker.defs.items())), events


def generate() -> str:
    """The JSON text of `_shapes.json`: one definition per line, so that a diff reads."""
    import openai

    defs, events = shapes()

    def lines(table: dict[str, Any]) -> str:
        return ",\n".join(f"    {json.dumps(k)}: {json.dumps(v, sort_keys=True)}" for k, v in table.items())

    return (
        "{\n"
        f'  "generated_from": "openai {openai.__version__} (python -m rtmock.mockserver._shapes_generate)",\n'
        '  "events": {\n' + lines(events) + "\n  },\n"
        '  "defs": {\n' + lines(defs) + "\n  }\n}\n"
    )


def main() -> None:
    sys.stdout.write(generate())


if __name__ == "__main__":
    main()
