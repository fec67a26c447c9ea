"""The walk from a Python type annotation to a shape, shared by the two shape generators.

`_shapes_generate.py` walks the `openai` package's TypedDicts and `_voicelive_generate.py` the
`azure-ai-voicelive` models; both write the same kind of table (`{"t": "object" | "array" | "map" |
"enum" | "union" | "string" | ..., ...}` with `{"ref": name}` into `defs`) that `client_events.py`
checks frames against. What is the same in both (wrappers, `None`, unions and their `null`,
literals, lists, maps, scalars, the recursion guard of a named definition) is here; what each
package's types need (TypedDicts; SDK models and enums) is the subclass's `named`, and how a union
of options reads is its `union_shapes`.

Only the generators import this (not rtmock at run time).
"""

from __future__ import annotations

import enum
import types
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import typing_extensions

__all__ = ["ShapeWalker", "literal_value"]

#: Annotations that only mark a type (a key's presence, metadata): the shape is the inner type's.
_WRAPPERS = (typing.Required, typing.NotRequired, typing.Annotated,
             typing_extensions.Required, typing_extensions.NotRequired, typing_extensions.Annotated)
_ARRAYS = (list, Iterable, Sequence, typing.List, typing.Iterable, typing.Sequence)  # noqa: UP006
_MAPS = (dict, Mapping, typing.Dict)  # noqa: UP006
_SCALARS: dict[Any, str] = {str: "string", bool: "boolean", int: "integer", float: "number"}


def literal_value(member: Any) -> Any:
    """A `Literal[...]` argument as it goes on the wire (an enum member by its value)."""
    return member.value if isinstance(member, enum.Enum) else member


class ShapeWalker:
    """Type annotations to shapes; the named definitions it meets are kept in `defs`."""

    def __init__(self) -> None:
        self.defs: dict[str, Any] = {}

    def shape(self, tp: Any) -> dict[str, Any]:
        origin = typing.get_origin(tp)
        args = typing.get_args(tp)
        if origin in _WRAPPERS:
            return self.shape(args[0])
        if tp is type(None):
            return {"t": "null"}
        if origin in (typing.Union, types.UnionType):
            options = [a for a in args if a is not type(None)]
            out = self.union(options)
            if len(options) < len(args):
                out["nullable"] = True
            return out
        if origin is typing.Literal:
            return {"t": "enum", "values": [literal_value(a) for a in args]}
        named = self.named(tp)
        if named is not None:
            return named
        if origin in _ARRAYS:
            return {"t": "array", "items": self.shape(args[0])}
        if origin in _MAPS:
            return {"t": "map", "values": self.shape(args[1])}
        if isinstance(tp, type) and tp in _SCALARS:
            return {"t": _SCALARS[tp]}
        if tp in (object, Any):
            return {"t": "any"}
        if tp is dict:
            return {"t": "map", "values": {"t": "any"}}
        raise TypeError(f"no shape for {tp!r}")

    def union(self, options: list[Any]) -> dict[str, Any]:
        """The shape of any of `options` (one option: its own shape)."""
        shapes = self.union_shapes(options)
        return dict(shapes[0]) if len(shapes) == 1 else {"t": "union", "options": shapes}

    def union_shapes(self, options: list[Any]) -> list[dict[str, Any]]:
        """The shapes of a union's options (`None` taken out): its literals as one enum, then the
        rest. A subclass reads its package's unions differently where that package means more."""
        literals = [literal_value(v) for o in options if typing.get_origin(o) is typing.Literal
                    for v in typing.get_args(o)]
        rest = [o for o in options if typing.get_origin(o) is not typing.Literal]
        return ([{"t": "enum", "values": literals}] if literals else []) + [self.shape(o) for o in rest]

    def named(self, tp: Any) -> dict[str, Any] | None:
        """The shape of one of the package's own types (usually a `define`d ref), or None when
        `tp` is not one: the generic forms are tried next."""
        return None

    def define(self, name: str, build: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """A reference to the definition `name`, built once (a type that refers to itself while
        it is being built gets the reference too)."""
        if name not in self.defs:
            self.defs[name] = None  # recursion guard
            self.defs[name] = build()
        return {"ref": name}
