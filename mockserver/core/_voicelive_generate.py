"""Generate `_voicelive_shapes.py`, the shapes of Azure Voice Live client events, from the
`azure-ai-voicelive` package's models (`azure/ai/voicelive/models/_models.py`).

Voice Live's wire protocol is defined by Azure's TypeSpec (azure-rest-api-specs,
`specification/ai/data-plane/VoiceLive`); the SDK's models are generated from it. This walks the
models of every `ClientEvent` the SDK knows and writes the same kind of table `_shapes.json` holds for
the OpenAI dialects (`_shapes_generate.py`), so that `client_events.py` checks Voice Live frames with
the same checker, wording and null handling. rtmock does not depend on `azure-ai-voicelive` at run
time: only this generator (and the test that checks the committed table is current) imports it.

    python -m rtmock.mockserver.core._voicelive_generate > mockserver/core/_voicelive_shapes.py

How a model becomes a shape:
- a field is required when its annotation is not `Optional` (the SDK's own reading: `Optional[...]`
  is an optional REST property); an optional field may also be `null`;
- `Union[str, SomeEnum]` (an enum "known values" the service may extend) is a string; `Literal[...]`
  and a bare enum are closed sets;
- a model with a `__mapping__` is a discriminated union of its mapped subclasses (by `type`, by `role`
  for messages, by `model` for end-of-utterance detection); every object is closed.
`_REQUIRED` lists where rtmock departs from the models, each with its reason.
"""

from __future__ import annotations

import enum
import importlib
import sys
import typing
from typing import Any

from ._model_walk import ShapeWalker, literal_value

__all__ = ["generate", "main", "shapes"]

#: (model, REST field) → required although the model says optional: departures from the models,
#: each a choice of ours with its reason.
_REQUIRED: dict[tuple[str, str], str] = {
    # `item: Optional[ConversationRequestItem]` in the model, but an item.create without an item
    # creates nothing: the service has nothing to add. rtmock refuses it (missing_required_parameter).
    ("ClientEventConversationItemCreate", "item"): "an item.create needs an item",
}


class _Walker(ShapeWalker):
    """The SDK's models and enums, by `voicelive.` + class name."""

    def __init__(self) -> None:
        super().__init__()
        self.models = importlib.import_module("azure.ai.voicelive.models")
        generated = importlib.import_module("azure.ai.voicelive.models._models")
        unions = importlib.import_module("azure.ai.voicelive._unions")
        # the models annotate with "_models.X" / "_unions.Voice" (imported only under TYPE_CHECKING)
        self.namespace: dict[str, Any] = {**vars(generated), "_models": self.models, "_unions": unions}
        self.base = importlib.import_module("azure.ai.voicelive._utils.model_base")

    # ---- types ---------------------------------------------------------------------------------

    def named(self, tp: Any) -> dict[str, Any] | None:
        if isinstance(tp, type) and issubclass(tp, enum.Enum):
            return {"t": "enum", "values": [member.value for member in tp]}
        if isinstance(tp, type) and issubclass(tp, self.base.Model):
            return self.model(tp)
        return None

    def union_shapes(self, options: list[Any]) -> list[dict[str, Any]]:
        """Unlike the `openai` TypedDicts, a string next to an enum or literals here means the enum
        lists known values and any string goes (the SDK's "extensible enum"); and a discriminated
        base inside a union is flattened into it."""
        if str in options:
            options = [o for o in options if not _is_string_like(o)]
            shapes = [{"t": "string"}, *(self.shape(o) for o in options)]
        else:
            shapes = super().union_shapes(options)
        flat: list[dict[str, Any]] = []
        for s in shapes:
            flat.extend(s["options"] if s.get("t") == "union" and "nullable" not in s else [s])
        return flat

    # ---- models --------------------------------------------------------------------------------

    def model(self, cls: type) -> dict[str, Any]:
        mapping = cls.__dict__.get("__mapping__")
        if mapping:  # a discriminated base: any of its subclasses
            return self.union([sub for _, sub in sorted(mapping.items())])

        def build() -> dict[str, Any]:
            hints = typing.get_type_hints(cls, globalns=self.namespace, localns=self.namespace)
            fields: dict[str, Any] = {}
            required: list[str] = []
            for attr, rest in _rest_fields(cls, self.base).items():
                field = self.shape(hints[attr])
                rest_name = rest._rest_name_input or attr  # set by the SDK when a model is first built
                if (cls.__name__, rest_name) in _REQUIRED:
                    field.pop("nullable", None)
                if not field.get("nullable"):
                    required.append(rest_name)
                fields[rest_name] = field
            return {"t": "object", "fields": dict(sorted(fields.items())), "required": sorted(required)}

        return self.define(f"voicelive.{cls.__name__}", build)


def _rest_fields(cls: type, base: Any) -> dict[str, Any]:
    """The model's REST fields by attribute name, its bases' first (as the SDK builds them)."""
    out: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):
        for attr, value in vars(klass).items():
            if isinstance(value, base._RestField):
                out[attr] = value
    return out


def _is_string_like(tp: Any) -> bool:
    if typing.get_origin(tp) is typing.Literal:
        return all(isinstance(literal_value(v), str) for v in typing.get_args(tp))
    return tp is str or (isinstance(tp, type) and issubclass(tp, enum.Enum) and issubclass(tp, str))


def shapes() -> tuple[dict[str, Any], dict[str, Any]]:
    """(defs, events): `events[type]` is the shape of that Voice Live client event."""
    walker = _Walker()
    events: dict[str, Any] = {}
    for kind, cls in sorted(walker.models.ClientEvent.__mapping__.items()):
        events[kind] = walker.model(cls)
    return dict(sorted(walker.defs.items())), events


def generate() -> str:
    version = importlib.import_module("azure.ai.voicelive._version").VERSION
    defs, events = shapes()
    return (
        f'"""Shapes of Azure Voice Live client events, generated by `_voicelive_generate.py` from\n'
        f"azure-ai-voicelive {version}.\n\n"
        "Do not edit: regenerate with `python -m rtmock.mockserver.core._voicelive_generate > mockserver/core/_voicelive_shapes.py`.\n"
        '"""\n\n'
        "from typing import Any, Final\n\n"
        f"GENERATED_FROM: Final = 'azure-ai-voicelive {version} (python -m rtmock.mockserver.core._voicelive_generate)'\n\n"
        f"EVENTS: Final[dict[str, Any]] = {_table(events)}\n\n"
        f"DEFS: Final[dict[str, Any]] = {_table(defs)}\n"
    )


def _table(table: dict[str, Any]) -> str:
    """A dict literal with one entry per line, as `_shapes.json` has: a diff reads, and the many
    models that share most of their fields do not repeat them over a dozen wrapped lines each."""
    return "{\n" + "".join(f"    {key!r}: {value!r},\n" for key, value in table.items()) + "}"


def main() -> None:
    sys.stdout.write(generate())


if __name__ == "__main__":
    main()
