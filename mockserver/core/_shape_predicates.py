"""Client-event shapes compiled into yes/no predicates: nearly every frame is valid, and for a valid
one the exact checker's paths and Rejections are waste. Each event type's shape is compiled once
into a predicate made of closures that only says valid or not; a frame it calls invalid is walked
again by `_Checker` (`_shape_checker.py`), whose answer is the one sent. A predicate may call a
valid value invalid (that costs a walk) but never an invalid one valid.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ._shape_checker import _MAX_DEPTH, _TYPE_CHECKS

_Valid = Callable[[Any], bool]


def _never(value: Any) -> bool:
    return False


def _always(value: Any) -> bool:
    return True


#: The exact types each leaf kind accepts (a subclass is left to its check: `True` is no integer).
_EXACT_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,), "boolean": (bool,), "integer": (int,), "number": (int, float), "null": (type(None),),
    "any": (dict, list, str, int, float, bool, type(None)),
}
_KNOWN_KINDS = frozenset({"object", "union", "enum", "array", "map", *_EXACT_TYPES})


class _Cyclic(Exception):
    """A shape inside itself: values of any depth could match it, so `_MAX_DEPTH` is the checker's."""


class _Compiler:
    """Shapes to predicates that agree with `_Checker.check(...) is None`, each shape compiled once."""

    def __init__(self, defs: dict[str, Any]) -> None:
        self.defs = defs
        #: id(shape) → (shape, predicate, depth): how deep the checker walks under it at most.
        self.done: dict[int, tuple[dict[str, Any], _Valid, int]] = {}
        self.open: set[int] = set()

    def resolve(self, shape: dict[str, Any]) -> dict[str, Any]:
        ref = shape.get("ref")
        return self.defs[ref] if ref is not None else shape

    def node(self, shape: dict[str, Any]) -> tuple[_Valid, int]:
        """As `_Checker.check` reads a shape: its own `nullable` first, then what it refers to."""
        valid, depth = self.body(self.resolve(shape))
        if shape.get("nullable"):
            inner = valid

            def valid(value: Any) -> bool:
                return value is None or inner(value)
        return valid, depth

    def instant(self, shape: dict[str, Any], null: bool) -> frozenset[Any]:
        """What a value of `shape` needs no call to be accepted for: its type is in the set (a leaf's
        exact types; NoneType when `null` may stand) or it is a string in the set (an enum's)."""
        body = self.resolve(shape)
        kind = body.get("t")
        values = body.get("values") if kind == "enum" else None
        accepted: set[Any] = set(_EXACT_TYPES.get(kind, ()) if isinstance(kind, str) else ())
        if values and type(values[0]) is str:
            accepted.update(v for v in values if type(v) is str)
        if null or shape.get("nullable"):
            accepted.add(type(None))
        return frozenset(accepted)

    def body(self, shape: dict[str, Any]) -> tuple[_Valid, int]:
        key = id(shape)
        if (done := self.done.get(key)) is not None:
            return done[1], done[2]
        if key in self.open:
            raise _Cyclic
        self.open.add(key)
        try:
            valid, depth = self.build(shape)
        finally:
            self.open.discard(key)
        self.done[key] = (shape, valid, depth)
        return valid, depth

    def build(self, shape: dict[str, Any]) -> tuple[_Valid, int]:
        kind = shape.get("t")
        if kind == "any":
            return _always, 0
        if kind == "object":
            return self.object(shape)
        if kind == "union":
            return self.union(shape)
        if kind == "enum":
            return self.enum(shape["values"]), 0
        if kind in ("array", "map"):
            return self.container(shape, kind)
        if kind in _TYPE_CHECKS:
            return _TYPE_CHECKS[kind], 0
        return _never, 0  # not a shape the checker knows: it decides (and fails) on its own

    def enum(self, values: list[Any]) -> _Valid:
        if not values:
            return _never
        first = type(values[0])
        try:
            allowed: frozenset[Any] | list[Any] = frozenset(values)
        except TypeError:  # an unhashable value: compare as the checker does
            allowed = values

        def valid(value: Any) -> bool:
            return type(value) is first and value in allowed  # `True` is not `1`
        return valid

    def container(self, shape: dict[str, Any], kind: str) -> tuple[_Valid, int]:
        element_shape = shape["items" if kind == "array" else "values"]
        element, depth = self.node(element_shape)
        instant = self.instant(element_shape, null=False)

        if kind == "array":
            def valid(value: Any) -> bool:
                if not isinstance(value, list):
                    return False
                for item in value:
                    kind = type(item)
                    if not (kind in instant or (kind is str and item in instant) or element(item)):
                        return False
                return True
        else:
            def valid(value: Any) -> bool:
                if not isinstance(value, dict):
                    return False
                for item in value.values():
                    kind = type(item)
                    if not (kind in instant or (kind is str and item in instant) or element(item)):
                        return False
                return True
        return valid, depth + 1

    def object(self, shape: dict[str, Any]) -> tuple[_Valid, int]:
        fields: dict[str, Any] = shape["fields"]
        required = tuple(shape["required"])
        compiled = {key: self.node(field) for key, field in fields.items()}
        #: key → (what it takes without a call (an optional field's has NoneType: null reads as absent), its check)
        field_of = {key: (self.instant(fields[key], null=key not in required), valid)
                    for key, (valid, _) in compiled.items()}.get

        def valid(value: Any) -> bool:
            if not isinstance(value, dict):
                return False
            for key, element in value.items():
                field = field_of(key)
                if field is None:
                    return False  # objects are closed
                instant, check = field
                kind = type(element)
                if not (kind in instant or (kind is str and element in instant) or check(element)):
                    return False
            for key in required:  # noqa: SIM110 (a loop, not all(): no generator made per call)
                if key not in value:
                    return False
            return True
        return valid, max((depth + 1 for _, depth in compiled.values()), default=0)

    def union(self, shape: dict[str, Any]) -> tuple[_Valid, int]:
        """Valid when an option is. An object goes only to the options it could match: those a dict
        can satisfy, narrowed by their tag fields (`type`, `role`) when its tag is a string."""
        options = [self.resolve(o) for o in shape["options"]]
        if not options or any(o.get("t") not in _KNOWN_KINDS for o in options):
            return _never, 0
        compiled = [self.node(o) for o in options]
        depth = max(depth for _, depth in compiled)
        for_dicts = [(o, valid) for o, (valid, _) in zip(options, compiled, strict=True)
                     if o["t"] in ("object", "map", "any", "union")]
        others = tuple(valid for o, (valid, _) in zip(options, compiled, strict=True)
                       if o["t"] != "object" or o.get("nullable"))
        on_dict = self.dispatch(for_dicts, frozenset())
        if not others:
            return on_dict, depth  # all objects: anything but a dict is refused by each

        def valid(value: Any) -> bool:
            if isinstance(value, dict):
                return on_dict(value)
            for option in others:  # noqa: SIM110 (as above)
                if option(value):
                    return True
            return False
        return valid, depth

    def dispatch(self, options: list[tuple[dict[str, Any], _Valid]], used: frozenset[str]) -> _Valid:
        """Any of `options`, for a value the others refuse: by the value of the tag that splits them
        best, then in order. The result refuses what none of them accepts, dict or not."""
        if len(options) <= 1:
            return options[0][1] if options else _never
        everyone = tuple(valid for _, valid in options)

        def in_order(value: Any) -> bool:
            for option in everyone:  # noqa: SIM110 (as above)
                if option(value):
                    return True
            return False
        best: tuple[int, str, _Split] | None = None
        if all(o["t"] == "object" for o, _ in options):
            tags = {tag for o, _ in options for tag in o["fields"] if tag not in used}
            for tag in sorted(tags, key=lambda t: (t != "type", t != "role", t)):
                split = self.split(options, tag)
                if split is not None:
                    size = max(len(group) for group in (*split[0].values(), split[1], split[2]))
                    if size < len(options) and (best is None or size < best[0]):
                        best = (size, tag, split)
        if best is None:
            return in_order
        _, tag, (groups, other, absent) = best
        used = used | {tag}
        pick = {tagged: self.dispatch([options[i] for i in group], used) for tagged, group in groups.items()}.get
        untagged = self.dispatch([options[i] for i in other], used)
        missing = self.dispatch([options[i] for i in absent], used)

        def valid(value: Any) -> bool:
            if isinstance(value, dict):
                tagged = value.get(tag, _ABSENT)
                if type(tagged) is str:
                    return pick(tagged, untagged)(value)
                if tagged is _ABSENT:
                    return missing(value)
            return in_order(value)  # a null or non-string tag, or not a dict: every option
        return valid

    def split(self, options: list[tuple[dict[str, Any], _Valid]], tag: str) -> _Split | None:
        """The options (indices) that can take a dict by its `tag`: for each string value, for any
        other string, and without the tag. An option without the field refuses any value of it; one
        whose field is not an enum of strings takes any string."""
        closed: dict[int, list[str]] = {}
        kept: list[int] = []
        for i, (o, _) in enumerate(options):
            field = o["fields"].get(tag)
            if field is None:
                continue
            field = self.resolve(field)
            values = field.get("values", [])
            if field.get("t") == "enum" and values and all(type(v) is str for v in values):
                closed[i] = values
            else:
                kept.append(i)
        if not closed:
            return None
        tagged = dict.fromkeys(v for values in closed.values() for v in values)
        absent = [i for i, (o, _) in enumerate(options) if tag not in o["required"]]
        return ({value: [i for i in range(len(options)) if i in kept or value in closed.get(i, ())]
                 for value in tagged}, kept, absent)


#: (by string value, for another string, without the tag): the options a tag value leaves.
_Split = tuple[dict[str, list[int]], list[int], list[int]]
_ABSENT = object()


def _fast_check(compiler: _Compiler, shape: dict[str, Any]) -> _Valid:
    """The predicate of `shape`, or `_never` (the checker decides every time) when the checker could
    walk deeper than `_MAX_DEPTH` into it: the depth refusal is the checker's alone."""
    try:
        valid, depth = compiler.node(shape)
    except (_Cyclic, RecursionError):
        return _never
    return valid if depth <= _MAX_DEPTH else _never
