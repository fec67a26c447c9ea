"""Validation of client events, the way the real service judges them.

`validate_client_event(text, dialect)` takes a frame's text and returns the event object or a
`Rejection`: the code, message and `param` of the `error` event the real service would send.

What a valid event looks like is not written here: `_shapes.json` is generated from the official
`openai` package's client-event params (`_shapes_generate.py`), which come from the same API
definition the service validates against. Every object is closed (an unknown key is
`unknown_parameter`), required keys are `missing_required_parameter`, a wrong JSON type is
`invalid_type` and a value outside a closed set is `invalid_value`, each naming the field in
`param`. Two choices of ours on top of the types:

- an optional field may be `null` (clients send explicit nulls, e.g. livekit's
  `response.instructions: null`; the service reads them as absent);
- the few rules the types cannot state are checked after the shape (`_SERVICE_RULES`).

Checks that need conversation state (unknown call_id, an active response) live in `_refusals.py`.

Speed: each frame is first put to its event type's shape compiled into a yes/no predicate
(`_shape_predicates.py`); only a frame it calls invalid is walked by the exact checker
(`_shape_checker.py`), whose answer is the one the client gets.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from functools import cache
from importlib import resources
from typing import Any

from ._shape_checker import Rejection, _Checker, _json_type, _quote, _supported
from ._shape_predicates import _Compiler, _fast_check, _Valid
from .voicelive import with_voice_live

__all__ = ["Rejection", "client_event_types", "event_types", "server_event_types", "unknown_path",
           "validate_client_event"]


@cache
def _tables() -> dict[str, Any]:
    shapes = json.loads(resources.files(__package__).joinpath("_shapes.json").read_text(encoding="utf-8"))
    return with_voice_live(shapes)  # Voice Live's own, generated from azure-ai-voicelive: voicelive.py


def event_types(dialect: str) -> frozenset[str]:
    """The client event types a dialect knows."""
    events = _tables()["events"]
    return frozenset(events.get(dialect) or events["beta" if dialect != "ga" else "ga"])


def unknown_path(event_type: str, path: str) -> str | None:
    """Why a dotted `path` (a scenario's `match:` key) can hold nothing in a client event of
    `event_type`, in any dialect: the segment no shape of the event has, with the nearest name; None
    when some shape has it (or leaves that part open: a map, any value, an unknown event type)."""
    tables = _tables()
    resolve = _Checker(tables["defs"], None).resolve
    shapes = [resolve(table[event_type]) for table in tables["events"].values() if event_type in table]
    if not shapes:
        return None
    walked: list[str] = []
    for segment in path.split("."):
        following: list[dict[str, Any]] = []
        names: set[str] = set()
        pending = list(shapes)
        while pending:
            shape = resolve(pending.pop())
            kind = shape.get("t")
            if kind == "union":
                pending.extend(shape["options"])
            elif kind == "object":
                names.update(shape["fields"])
                if segment in shape["fields"]:
                    following.append(shape["fields"][segment])
            elif kind == "array":
                if segment.isdigit():
                    following.append(shape["items"])
            elif kind in ("map", "any"):
                return None  # open: any key may be there
        if not following:
            import difflib

            where = ".".join(walked) or event_type
            near = difflib.get_close_matches(segment, sorted(names), n=1)
            hint = f"did you mean '{'.'.join([*walked, near[0]])}'?" if near else (
                f"{where} has: {', '.join(sorted(names))}" if names else f"{where} holds no fields")
            return f"{path}: no {event_type} has '{segment}' there ({hint})"
        shapes = following
        walked.append(segment)
    return None


@cache
def server_event_types() -> frozenset[str]:
    """Every server event type the official package knows, GA and beta: what a scenario's `expect:`
    must not name (the client does not send them)."""
    return frozenset(_tables().get("server_events", ()))


@cache
def client_event_types() -> frozenset[str]:
    """Every client event type of every dialect (Voice Live's `input_text.done` too): what a
    scenario's `expect:` may name. Read from the same tables the events are checked against."""
    return frozenset().union(*(frozenset(table) for table in _tables()["events"].values()))

def _one_modality(event: dict[str, Any], dialect: str) -> Rejection | None:
    """GA `output_modalities`: "It is not possible to request both `text` and `audio` at the same
    time" (openai `RealtimeSessionCreateRequestParam.output_modalities`)."""
    if dialect != "ga":
        return None
    for field in ("session", "response"):
        holder = event.get(field)
        modalities = holder.get("output_modalities") if isinstance(holder, dict) else None
        if isinstance(modalities, list) and len(set(modalities)) > 1:
            return Rejection("invalid_value", f"Invalid value: {json.dumps(modalities)}. Supported values are: "
                                              "[\"text\"] and [\"audio\"].", f"{field}.output_modalities",
                             event.get("event_id"))
    return None


_CALL_ID = re.compile(r"[a-zA-Z0-9_-]+")


def _call_id_format(event: dict[str, Any], dialect: str) -> Rejection | None:
    """A call_id the client gives must look like one (observed: `^[a-zA-Z0-9_-]+$`)."""
    item = event.get("item")
    if event["type"] != "conversation.item.create" or not isinstance(item, dict):
        return None
    call_id = item.get("call_id")
    if isinstance(call_id, str) and not _CALL_ID.fullmatch(call_id):
        return Rejection("invalid_value", f"Invalid 'item.call_id': '{call_id}'. Expected a string that matches "
                                          "the pattern '^[a-zA-Z0-9_-]+$'.", "item.call_id", event.get("event_id"))
    return None


#: What an item of each type cannot do without (its `type` first). GA's types say so themselves; beta's
#: params mark every item field optional, but the service cannot create an item without them either.
_ITEM_NEEDS = {"function_call_output": ("type", "call_id", "output"), "message": ("type", "role", "content"),
               "function_call": ("type", "call_id", "name", "arguments")}


def _item_complete(event: dict[str, Any], dialect: str) -> Rejection | None:
    item = event.get("item")
    if event["type"] != "conversation.item.create" or not isinstance(item, dict):
        return None
    for key in _ITEM_NEEDS.get(item.get("type", ""), ("type",)):
        if item.get(key) is None:
            return Rejection("missing_required_parameter", f"Missing required parameter: 'item.{key}'.",
                             f"item.{key}", event.get("event_id"))
    return None


_Rule = Callable[[dict[str, Any], str], Rejection | None]

#: Rules of the service that the types cannot state, checked once the shape is right, each with the
#: keys of the event it reads: an event type whose (closed) shape has none of them is not put to it.
_SERVICE_RULES: tuple[tuple[_Rule, tuple[str, ...]], ...] = (
    (_item_complete, ("item",)), (_one_modality, ("session", "response")), (_call_id_format, ("item",)))

#: `\uD800`-`\uDFFF` escapes: a lone one is what JavaScript's JSON.stringify writes for a string
#: cut inside an emoji; it is not text, and nothing downstream could encode it.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89abcdefABCDEF]")


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


#: What `json.loads(text, parse_constant=_no_constants)` builds anew on every call.
_DECODER = json.JSONDecoder(parse_constant=_no_constants)


def _parse(text: str) -> Any:
    try:
        if type(text) is str and not text.startswith("\ufeff"):
            value = _DECODER.decode(text)  # what json.loads does after its checks
        else:
            value = json.loads(text, parse_constant=_no_constants)  # its refusal of a BOM, bytes
    except json.JSONDecodeError as exc:
        return Rejection("invalid_json", f"The server could not parse the event as JSON ({exc.msg} at line "
                                         f"{exc.lineno} column {exc.colno}). Send each event as one JSON object.")
    except ValueError as exc:  # NaN, Infinity
        return Rejection("invalid_json", f"The server could not parse the event as JSON ({exc}: JSON has no "
                                         "NaN or Infinity). Send each event as one JSON object.")
    except RecursionError:
        return Rejection("invalid_json", "The server could not parse the event as JSON (nested too deeply). "
                                         "Send each event as one JSON object.")
    if "\\u" in text and _SURROGATE_ESCAPE.search(text):  # (most frames have no escape: no regex walk)
        try:
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            return Rejection("invalid_json", "The event holds a lone UTF-16 surrogate (an escape such as "
                                             "\\ud83d without its pair): it is not valid Unicode text. Cut strings "
                                             "on character boundaries, not inside an emoji.")
    return value


#: (dialect, event type) → its compiled shape and the service rules that can refuse it.
_COMPILED: dict[tuple[str, str], tuple[_Valid, tuple[_Rule, ...]]] = {}
_COMPILING = threading.Lock()  # one compiler, whose bookkeeping another thread must not see half done


def _compile(dialect: str, kind: str) -> tuple[_Valid, tuple[_Rule, ...]]:
    """One event type's predicate, and the rules that read a key its shape has."""
    shape = _tables()["events"][dialect][kind]
    with _COMPILING:
        compiler = _compiler()
        keys = compiler.resolve(shape).get("fields")
        rules = tuple(rule for rule, reads in _SERVICE_RULES if keys is None or any(key in keys for key in reads))
        compiled = _COMPILED[(dialect, kind)] = (_fast_check(compiler, shape), rules)
    return compiled


@cache
def _compiler() -> _Compiler:
    """One compiler for all dialects, so that the defs they share are compiled once."""
    return _Compiler(_tables()["defs"])


def _event_id(event: dict[str, Any]) -> str | None:
    event_id = event.get("event_id")
    return event_id if isinstance(event_id, str) else None


def validate_client_event(text: str, dialect: str) -> dict[str, Any] | Rejection:
    """The client event in `text`, or the reason the real service would refuse it."""
    event = _parse(text)
    if isinstance(event, Rejection):
        return event
    if not isinstance(event, dict):
        return Rejection(
            "invalid_json",
            f"Expected an event object, but got {_json_type(event)}. Send each event as one JSON object with a 'type'.",
        )
    kind = event.get("type")
    compiled = _COMPILED.get((dialect, kind)) if type(kind) is str else None
    if compiled is None:  # not a known event type, or its first time
        if kind is None:
            return Rejection("missing_required_parameter", "Missing required parameter: 'type'.", "type",
                             _event_id(event))
        events = _tables()["events"][dialect]
        if not isinstance(kind, str) or kind not in events:
            return Rejection("invalid_value", f"Invalid value: {_quote(kind)}. Supported values are: "
                                              f"{_supported(sorted(events))}.", "type", _event_id(event))
        compiled = _compile(dialect, kind)
    valid, rules = compiled
    if not valid(event):  # only then is there an answer to find
        tables = _tables()
        checker = _Checker(tables["defs"], _event_id(event))
        if (found := checker.check(event, tables["events"][dialect][kind], "")) is not None:
            return found
    for rule in rules:
        if (found := rule(event, dialect)) is not None:
            return found
    return event
