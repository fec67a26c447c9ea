"""`match:` blocks of `expect` steps: dotted paths into a client event and what they must hold.

    match:
      item.output: {json_contains: {status: ok}}   # the output string parses as JSON holding this
      response.instructions: {regex: "weather"}
      session.tools.0.name: get_weather              # a literal: equal (a mapping literal: contains)
      any:                                           # alternatives: met when one of these blocks is
        - {session.audio.output.format.type: audio/pcmu}   # (GA's key)
        - {session.output_audio_format: g711_ulaw}         # (beta's key)

`explain_mismatch` returns None when the event matches, else one sentence saying which path failed
and why — the judge quotes it to the user.
"""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = ["ANY", "OPERATORS", "check_match", "explain_mismatch", "lookup", "matches"]

OPERATORS = ("equals", "contains", "regex", "json_contains", "exists", "type")
#: The key of a `match:` block whose value lists alternative blocks (no client event has a field "any").
ANY = "any"
_MISSING = object()
#: the names `type:` accepts
_TYPES: dict[str, type | tuple[type, ...]] = {"string": str, "number": (int, float), "integer": int, "boolean": bool, "object": dict, "array": list, "null": type(None)}


def check_match(match: dict[str, Any]) -> dict[str, Any]:
    """A scenario's `match:` block as the loader takes it, or a ValueError saying what to write: an
    operator's argument must be usable (a regex that compiles, a known type), and a one-key mapping
    whose key is a near miss of an operator (`json_contain`) is taken for a misspelt operator, not
    for a literal (write a literal with that key under `contains:`)."""
    import difflib

    for path, expected in match.items():
        if path == ANY:
            if not isinstance(expected, list) or not expected:
                raise ValueError("any: takes a list of match blocks (mappings of paths), met when one of them is")
            for n, alternative in enumerate(expected, 1):
                if not isinstance(alternative, dict) or not alternative:
                    raise ValueError(f"any, alternative {n}: a match block is a mapping of paths to what they hold, "
                                     f"not {json.dumps(alternative)}")
                try:
                    check_match(alternative)
                except ValueError as exc:
                    raise ValueError(f"any, alternative {n}: {exc}") from None
            continue
        if not isinstance(path, str) or not path or path.startswith(".") or path.endswith(".") or ".." in path:
            raise ValueError(f"{path!r} is not a dotted path into the client event (e.g. item.output)")
        if not (isinstance(expected, dict) and len(expected) == 1):
            continue
        op, arg = next(iter(expected.items()))
        if op not in OPERATORS:
            near = difflib.get_close_matches(str(op), OPERATORS, n=1, cutoff=0.75)
            if near:
                raise ValueError(f"{path}: unknown operator {op!r}: did you mean {near[0]!r}? (for a literal "
                                 f"mapping with that key, write {{contains: {{{op}: …}}}})")
        elif op == "regex":
            try:
                re.compile(str(arg))
            except re.error as exc:
                raise ValueError(f"{path}: regex /{arg}/ does not compile: {exc}") from None
        elif op == "type" and arg not in _TYPES:
            raise ValueError(f"{path}: type {arg!r} is not one of: {', '.join(_TYPES)}")
        elif op == "exists" and not isinstance(arg, bool):
            raise ValueError(f"{path}: exists takes true or false, not {arg!r}")
    return match


def lookup(event: Any, path: str) -> Any:
    value = event
    for part in path.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return _MISSING
    return value


def _contains(haystack: Any, needle: Any) -> bool:
    """Subset test: every key of a needle mapping is in the haystack with a contained value; a needle
    list's elements each are contained in some element; a single needle in a list, in some element
    (`modalities: {contains: text}`); strings by substring; else equality."""
    if isinstance(needle, dict):
        return isinstance(haystack, dict) and all(k in haystack and _contains(haystack[k], v) for k, v in needle.items())
    if isinstance(needle, list):
        return isinstance(haystack, list) and all(any(_contains(h, n) for h in haystack) for n in needle)
    if isinstance(haystack, list):
        return any(_contains(h, needle) for h in haystack)
    if isinstance(needle, str) and isinstance(haystack, str):
        return needle in haystack
    return bool(haystack == needle)


def _short(value: Any) -> str:
    try:
        text = json.dumps(value, ensure_ascii=False) if value is not _MISSING else "nothing"
    except (RecursionError, ValueError):
        text = f"({type(value).__name__} nested too deeply to show)"
    return text if len(text) <= 120 else text[:119] + "…"


def _check(value: Any, expected: Any) -> str | None:
    if isinstance(expected, dict) and len(expected) == 1 and next(iter(expected)) in OPERATORS:
        op, arg = next(iter(expected.items()))
        if op == "exists":
            return None if (value is not _MISSING) == bool(arg) else ("is missing" if arg else "is present")
        if value is _MISSING:
            return "is missing"
        if op == "equals":
            return None if value == arg else f"is {_short(value)}, not {_short(arg)}"
        if op == "contains":
            return None if _contains(value, arg) else f"is {_short(value)}, which does not contain {_short(arg)}"
        if op == "regex":
            return None if isinstance(value, str) and re.search(str(arg), value) else f"is {_short(value)}, which does not match /{arg}/"
        if op == "type":
            wanted = _TYPES.get(str(arg))
            ok = wanted is not None and isinstance(value, wanted) and not (arg != "boolean" and isinstance(value, bool))
            return None if ok else f"is {_short(value)}, not of type {arg}"
        # json_contains
        if not isinstance(value, str):
            return f"is {_short(value)}, not a JSON string"
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            return f"is {_short(value)}, which is not valid JSON"
        except RecursionError:  # valid JSON, nested deeper than Python's parser goes
            return f"is {_short(value)}, whose JSON nests too deeply to read"
        return None if _contains(parsed, arg) else f"is {_short(value)}, whose JSON does not contain {_short(arg)}"
    if value is _MISSING:
        return "is missing"
    if isinstance(expected, dict | list):
        return None if _contains(value, expected) else f"is {_short(value)}, which does not contain {_short(expected)}"
    return None if value == expected else f"is {_short(value)}, not {_short(expected)}"


def explain_mismatch(event: dict[str, Any], match: dict[str, Any]) -> str | None:
    for path, expected in match.items():
        if path == ANY:
            whys = [explain_mismatch(event, alternative) for alternative in expected]
            if all(why is not None for why in whys):
                return "none of the `any:` alternatives holds: " + "; or ".join(str(why) for why in whys)
        elif (why := _check(lookup(event, path), expected)) is not None:
            return f"{path} {why}"
    return None


def matches(event: dict[str, Any], match: dict[str, Any]) -> bool:
    return explain_mismatch(event, match) is None
