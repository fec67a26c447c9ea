"""Conversation state as the service keeps it: items in order, function calls by call_id, the
active response, and the input audio buffer. No I/O and no scenario logic: `session.py` asks it
questions and records what happened."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ActiveResponse", "Conversation", "InFlight"]


@dataclass(slots=True)
class InFlight:
    """The output item a response is streaming: on a cancel it goes out `incomplete`, holding what
    was streamed of it (`settle` fills that in)."""

    output_index: int
    item: dict[str, Any]
    settle: Callable[[], None]


@dataclass(slots=True)
class ActiveResponse:
    """A response between `response.created` and `response.done`. While one in the default
    conversation exists, a `response.create` for it is refused with
    `conversation_already_has_active_response`; an out-of-band one (`conversation: "none"`) writes
    nothing into the conversation and may run beside it."""

    id: str
    output: list[dict[str, Any]] = field(default_factory=list)
    metadata: Any = None
    cancelled: bool = False
    out_of_band: bool = False
    request: dict[str, Any] = field(default_factory=dict)  # the `response` of the response.create, if any
    in_flight: InFlight | None = None
    calls: list[str] = field(default_factory=list)  # the call_ids it was scripted to make


@dataclass(slots=True)
class Conversation:
    items: dict[str, dict[str, Any]] = field(default_factory=dict)  # insertion-ordered by id
    calls: dict[str, dict[str, Any]] = field(default_factory=dict)  # call_id → function_call item
    outputs: dict[str, str] = field(default_factory=dict)  # call_id → id of its first output item
    active: ActiveResponse | None = None
    audio_bytes: int = 0
    audio_ms: dict[str, int] = field(default_factory=dict)  # assistant audio item id → its audio's length (ms)
    input_audio_ms: dict[str, int] = field(default_factory=dict)  # user audio item id → its audio's length (ms)
    cancelled_calls: set[str] = field(default_factory=set)  # call_ids of cancelled responses: owed nothing
    side_items: set[str] = field(default_factory=set)  # output item ids of out-of-band responses

    @property
    def last_item_id(self) -> str | None:
        return next(reversed(self.items)) if self.items else None

    def add(self, item: dict[str, Any], previous_item_id: str | None = None) -> str | None:
        """Insert an item (after `previous_item_id`, or at the end); returns the id it follows.

        An id the conversation already holds is taken again: the service was seen to append the
        second item (docs/protocol-notes.md). A lookup by that id finds the newer item, which
        stands where it was inserted; the earlier one is no longer reachable by id."""
        before = self.last_item_id
        if previous_item_id is None or previous_item_id == before:
            self.items.pop(item["id"], None)
            self.items[item["id"]] = item
        else:
            ordered = list(self.items.items())
            position = 0 if previous_item_id == "root" else [k for k, _ in ordered].index(previous_item_id) + 1
            ordered.insert(position, (item["id"], item))
            self.items = {k: v for k, v in ordered if k != item["id"] or v is item}
            before = None if previous_item_id == "root" else previous_item_id
        if item.get("type") == "function_call" and isinstance(item.get("call_id"), str):
            self.calls[item["call_id"]] = item
        if item.get("type") == "function_call_output":
            self.outputs.setdefault(item["call_id"], item["id"])
        return before

    def knows(self, item_id: str) -> bool:
        return item_id == "root" or item_id in self.items

    def exists(self, item_id: str) -> bool:
        """Whether `item_id` names "an existing item in the same Realtime session" (openai
        `ResponseItemReferenceParam.id`): an item of the conversation, or the output of an
        out-of-band response, which the session made but kept out of the conversation."""
        return item_id in self.items or item_id in self.side_items

    def delete(self, item_id: str) -> bool:
        item = self.items.pop(item_id, None)
        self.audio_ms.pop(item_id, None)
        if item is not None and item.get("type") == "function_call" and isinstance(item.get("call_id"), str):
            self.calls.pop(item["call_id"], None)  # a deleted call can no longer be answered
        return item is not None
