"""A test client that crashes on a server event type it does not know, but only while a response
streams (between `response.created` and `response.done`): between responses it ignores one. So
only an event inside a response, between its items, finds its bug (`tests/test_stream_fuzz.py`).

It is `examples/stream_strict_events.py` with that example's type check made to look only inside
a response.
"""

from __future__ import annotations

import asyncio
import importlib.util
import sys
from pathlib import Path

_spec = importlib.util.spec_from_file_location(
    "stream_strict_events", Path(__file__).resolve().parent.parent / "examples" / "stream_strict_events.py")
assert _spec is not None and _spec.loader is not None
strict = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(strict)

_strict_check = strict.check_type
_streaming = False  # between response.created and response.done


def check_inside_a_response(event_type: str) -> None:
    global _streaming
    if event_type == "response.created":
        _streaming = True
    elif event_type == "response.done":
        _streaming = False
    if _streaming:  # BUG: new types come anywhere, inside a response too
        _strict_check(event_type)


strict.check_type = check_inside_a_response

if __name__ == "__main__":
    try:
        sys.exit(asyncio.run(strict.main()))
    except TimeoutError:
        sys.exit(f"no answer within {strict.TIMEOUT:g}s")
