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
import types
import typing
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import typing_extensions

__all__ = ["generate", "main", "shapes"]

#: The client events of each dialect: the union the package gives for "everything a client may send".
_ROOTS = {
    "ga": "openai.types.realtime.realtime_client_event_param:RealtimeClientEventParam",
    "beta": "openai.types.beta.realtime.realtime_client_event_param:RealtimeClientEventParam",
}


class _Walker:
    def __init__(self) -> None:
        self.defs: dict[str, Any] = {}

    def shape(self, tp: Any) -> Any:
        origin = typing.get_origin(tp)
        args = typing.get_args(tp)
        if origin in (typing.Required, typing.NotRequired, typing.Annotated,
                      typing_extensions.Required, typing_extensions.NotRequired, typing_extensions.Annotated):
            return self.shape(args[0])
        if tp is type(None):
            return {"t": "null"}
        if origin in (typing.Union, types.UnionType):
            options = [a for a in args if a is not type(None)]
            nullable = len(options) < len(args)
            literals = [v for a in options if typing.get_origin(a) is typing.Literal for v in typing.get_args(a)]
            rest = [a for a in options if typing.get_origin(a) is not typing.Literal]
            shapes = ([{"t": "enum", "values": literals}] if literals else []) + [self.shape(a) for a in rest]
            out = dict(shapes[0]) if len(shapes) == 1 else {"t": "union", "options": shapes}
            if nullable:
                out["nullable"] = True
            return out
        if origin is typing.Literal:
            return {"t": "enum", "values": list(args)}
        if typing_extensions.is_typeddict(tp):
            return self.typeddict(tp)
        if origin in (list, Iterable, Sequence, typing.List, typing.Iterable, typing.Sequence):  # noqa: UP006
            return {"t": "array", "items": self.shape(args[0])}
        if origin in (dict, Mapping, typing.Dict):  # noqa: UP006
            return {"t": "map", "values": self.shape(args[1])}
        if tp is str:
            return {"t": "string"}
        if tp is bool:
            return {"t": "boolean"}
        if tp is int:
            return {"t": "integer"}
        if tp is float:
            return {"t": "number"}
        if tp in (object, Any):
            return {"t": "any"}
        if tp is dict:
            return {"t": "map", "values": {"t": "any"}}
        raise TypeError(f"no shape for {tp!r}")

    def typeddict(self, td: Any) -> Any:
        name = f"{td.__module__.removeprefix('openai.types.')}.{td.__qualname__}"
        if name not in self.defs:
            self.defs[name] = None  # recursion guard: refer to it while it is being built
            hints = typing_extensions.get_type_hints(td, include_extras=True)
            fields = {key: self.shape(hints[key]) for key in sorted(hints)}
            # `Required[...]` in a string annotation is not seen when the class is built, so
            # `__required_keys__` misses it: read the markers from the resolved hints instead
            total = getattr(td, "__total__", True)
            required = [key for key in sorted(hints) if _marker(hints[key]) == "required"
                        or (total and _marker(hints[key]) != "not_required")]
            self.defs[name] = {"t": "object", "fields": fields, "required": required}
        return {"ref": name}


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
