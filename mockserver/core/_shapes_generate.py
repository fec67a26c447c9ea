"""Generate `_shapes.json`, the shapes of client events, from the official `openai` package's types.

The service validates every client event against its API definition; the `openai` package's
`*_param.py` TypedDicts are generated from that same definition. Rather than copy them by hand (and
drift), this walks them once and writes a plain table that `client_events.py` checks frames against.
rtmock does not depend on `openai` at run time: only this generator (and the test that checks the
committed table is current) imports it.

    python -m rtmock.mockserver.core._shapes_generate > mockserver/core/_shapes.json
"""

from __future__ import annotations

import json
import sys
import types
import typing
from typing import Any

import typing_extensions

from ._model_walk import ShapeWalker

__all__ = ["generate", "main", "shapes"]

#: The client events of each dialect: what the package's connection `send()` takes, the event params
#: it accepts besides its models. That is more than the `RealtimeClientEventParam` union: GA `send()`
#: also takes `ResponseCreateEventWithReferencesParam`, a `response.create` whose `response.input` may
#: hold `item_reference`s ("Note that this can include references to items that previously appeared
#: in the session using their id"). An event type several params give takes the widest (`_widest`).
_ROOTS = {
    "ga": "openai.resources.realtime.realtime:AsyncRealtimeConnection.send",
    "beta": "openai.resources.beta.realtime.realtime:AsyncRealtimeConnection.send",
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


def _sent_params(where: str) -> list[Any]:
    """The TypedDicts the `event` argument of `module:Class.method` accepts (its models left out:
    they are the same events as objects)."""
    import importlib

    module, name = where.split(":")
    owner, method = name.split(".")
    hint = typing_extensions.get_type_hints(getattr(getattr(importlib.import_module(module), owner), method))["event"]
    params: list[Any] = []
    pending: list[Any] = [hint]
    while pending:
        tp = pending.pop(0)
        origin: Any = typing.get_origin(tp)
        if origin in (typing.Union, types.UnionType):
            pending[:0] = typing.get_args(tp)
        elif typing_extensions.is_typeddict(tp) and tp not in params:
            params.append(tp)
    return params


def shapes() -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """(defs, events): `events[dialect][type]` is the shape of that client event."""
    walker = _Walker()
    events: dict[str, dict[str, Any]] = {}
    for dialect, where in _ROOTS.items():
        table: dict[str, list[dict[str, Any]]] = {}
        for member in _sent_params(where):
            ref = walker.typeddict(member)
            event_type = walker.defs[ref["ref"]]["fields"]["type"]["values"][0]
            table.setdefault(event_type, []).append(ref)
        events[dialect] = {kind: _widest(refs, walker.defs) for kind, refs in sorted(table.items())}
    return dict(sorted(walker.defs.items())), events


def _widest(refs: list[dict[str, Any]], defs: dict[str, Any]) -> dict[str, Any]:
    """The shape of an event several params give: the one that accepts all that the others do
    (`ResponseCreateEventWithReferencesParam` widens `ResponseCreateEventParam`'s `input` and is
    otherwise the same), so that a refusal names what the service's one definition allows; a
    union of them when none does."""
    kept = [r for i, r in enumerate(refs)
            if not any(_covers(o, r, defs) and (not _covers(r, o, defs) or j < i) for j, o in enumerate(refs) if j != i)]
    return kept[0] if len(kept) == 1 else {"t": "union", "options": kept}


def _covers(wide: dict[str, Any], narrow: dict[str, Any], defs: dict[str, Any],
            seen: frozenset[tuple[str, str]] = frozenset()) -> bool:
    """Whether every value the shape `narrow` accepts, `wide` accepts too (conservative: False
    when it cannot tell)."""
    if narrow.get("nullable") and not wide.get("nullable"):
        return False
    pair = (str(wide.get("ref")), str(narrow.get("ref")))
    if "ref" in wide and "ref" in narrow:
        if wide["ref"] == narrow["ref"] or pair in seen:
            return True
        seen |= {pair}
    wide, narrow = defs.get(wide.get("ref", ""), wide), defs.get(narrow.get("ref", ""), narrow)
    if wide["t"] == "any":
        return True
    if narrow["t"] == "union":
        return all(_covers(wide, option, defs, seen) for option in narrow["options"])
    if wide["t"] == "union":
        return any(_covers(option, narrow, defs, seen) for option in wide["options"])
    if wide["t"] != narrow["t"]:
        return bool(wide["t"] == "number" and narrow["t"] == "integer")
    if wide["t"] == "enum":
        return set(narrow["values"]) <= set(wide["values"])
    if wide["t"] == "array":
        return _covers(wide["items"], narrow["items"], defs, seen)
    if wide["t"] == "map":
        return _covers(wide["values"], narrow["values"], defs, seen)
    if wide["t"] == "object":
        return (set(narrow["fields"]) <= set(wide["fields"]) and set(wide["required"]) <= set(narrow["required"])
                and all(_covers(wide["fields"][k], narrow["fields"][k], defs, seen) for k in narrow["fields"]))
    return True


def server_event_types() -> list[str]:
    """The type of every server event the package knows, GA and beta: so that a scenario's `expect:`
    naming one is told it is the server's to send, not the client's."""
    from openai.types.beta.realtime import realtime_server_event as beta
    from openai.types.realtime import realtime_server_event as ga

    names: set[str] = set()
    for module in (ga, beta):
        union = module.RealtimeServerEvent
        members = typing.get_args(typing.get_args(union)[0]) if typing.get_origin(union) is typing.Annotated \
            else typing.get_args(union)
        for member in members:
            names.update(typing.get_args(member.model_fields["type"].annotation))
    return sorted(names)


def generate() -> str:
    """The JSON text of `_shapes.json`: one definition per line, so that a diff reads."""
    import openai

    defs, events = shapes()

    def lines(table: dict[str, Any]) -> str:
        return ",\n".join(f"    {json.dumps(k)}: {json.dumps(v, sort_keys=True)}" for k, v in table.items())

    return (
        "{\n"
        f'  "generated_from": "openai {openai.__version__} (python -m rtmock.mockserver.core._shapes_generate)",\n'
        '  "events": {\n' + lines(events) + "\n  },\n"
        f'  "server_events": {json.dumps(server_event_types())},\n'
        '  "defs": {\n' + lines(defs) + "\n  }\n}\n"
    )


def main() -> None:
    sys.stdout.write(generate())


if __name__ == "__main__":
    main()
