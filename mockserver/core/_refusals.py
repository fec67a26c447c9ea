"""What the service refuses of a well-formed client event, given the session's state, in its words.

`client_events.py` refuses an event of the wrong shape before the session handles it; the
refusals here need the session's state: its type, the conversation's items and calls, the active
response, the input audio buffer. Each returns the `Rejection` the service answers with (codes and
texts as observed: docs/protocol-notes.md), or None when the service carries the event out.

Not here: carrying an event out (`_client_handling.py`), or what a refusal becomes on the wire and
in the records (`SessionCore._reject`, session.py: a `Refused` note, then the error event).
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from .client_events import Rejection
from .conversation import ActiveResponse, Conversation
from .turns import InputAudio
from .voicelive import UNSCRIPTED as VOICE_LIVE_UNSCRIPTED


def session_update_refusal(event: dict[str, Any], session: dict[str, Any]) -> Rejection | None:
    """A session.update cannot change the session's type."""
    wanted, current = event["session"].get("type"), session.get("type")
    if wanted is not None and current is not None and wanted != current:
        # observed: "Passing a transcription session update event to a realtime session is not allowed."
        return Rejection("invalid_value", f"Passing a {wanted} session update event to a {current} "
                         "session is not allowed.", "session.type", event.get("event_id"))
    return None


def item_create_refusal(event: dict[str, Any], conversation: Conversation) -> Rejection | None:
    """A conversation.item.create must place its item after an item of the conversation, and an
    output must answer a call of it."""
    item, previous, event_id = event["item"], event.get("previous_item_id"), event.get("event_id")
    if previous is not None and not conversation.knows(previous):
        return Rejection("invalid_value", f"Invalid value: '{previous}'. previous_item_id does not name an item "
                         "of this conversation.", "previous_item_id", event_id)
    if item["type"] == "function_call_output" and item["call_id"] not in conversation.calls:
        return Rejection("invalid_tool_call_id", f"Tool call ID '{item['call_id']}' not found in conversation.",
                         "item.call_id", event_id)
    return None


def create_refusal(event: dict[str, Any], conversation: Conversation, *, out_of_band: bool) -> Rejection | None:
    """A response.create whose `response.input` references an item the session does not have, or
    one for the default conversation while a response is active there (`out_of_band`: it is not)."""
    if (refused := _reference_refusal(event, conversation)) is not None:
        return refused
    # "only one response can write to the default conversation at a time; otherwise responses
    # can run in parallel" (openai ResponseCreateEvent): an out-of-band one may run beside it
    if conversation.active is not None and not out_of_band:
        return Rejection(
            "conversation_already_has_active_response",
            f"Conversation already has an active response in progress: {conversation.active.id}. "
            "Wait until the response is finished before creating a new one.",
            None, event.get("event_id"))
    return None


def _reference_refusal(event: dict[str, Any], conversation: Conversation) -> Rejection | None:
    """An `item_reference` in `response.input` must name "an existing item in the same Realtime
    session" (openai `ResponseItemReferenceParam.id`). The service's error for one that does not
    is not known: code and text are rtmock's (docs/protocol-notes.md)."""
    request = event.get("response")
    given = request.get("input") if isinstance(request, dict) else None
    for i, entry in enumerate(given if isinstance(given, list) else []):
        if not isinstance(entry, dict) or entry.get("type") != "item_reference":
            continue
        if not isinstance(entry.get("id"), str):  # beta's params mark it optional; "required" for a reference
            return Rejection("missing_required_parameter", f"Missing required parameter: 'response.input[{i}].id'.",
                             f"response.input[{i}].id", event.get("event_id"))
        if not conversation.exists(entry["id"]):
            return Rejection("invalid_value", f"Invalid value: '{entry['id']}'. response.input[{i}] references "
                             "an item that does not exist in this session.", f"response.input[{i}].id",
                             event.get("event_id"))
    return None


def cancel_target(event: dict[str, Any], conversation: Conversation,
                  playing: ActiveResponse | None) -> ActiveResponse | Rejection:
    """The response a response.cancel ends (`playing`: the one the script is streaming), or why
    there is none. Without a response_id: "an in-progress response in the default conversation"."""
    wanted = event.get("response_id")
    if conversation.active is not None and (not wanted or wanted == conversation.active.id):
        return conversation.active
    if wanted and playing is not None and wanted == playing.id and not playing.cancelled:
        return playing  # a scripted out-of-band response
    return Rejection("response_cancel_not_active", "Cancellation failed: no active response found.", None,
                     event.get("event_id"))


def appended_audio(event: dict[str, Any]) -> bytes | Rejection:
    """The audio an input_audio_buffer.append carries, or why it is refused (not base64)."""
    try:
        return base64.b64decode(event["audio"], validate=True)
    except (binascii.Error, ValueError):
        return Rejection("invalid_value", "Invalid value for 'audio': expected base64-encoded audio.", "audio",
                         event.get("event_id"))


def commit_refusal(event: dict[str, Any], audio: InputAudio) -> Rejection | None:
    """An input_audio_buffer.commit needs 100 ms of audio in the buffer."""
    if audio.can_commit():
        return None
    return Rejection(
        "input_audio_buffer_commit_empty",
        f"Error committing input audio buffer: buffer too small. Expected at least 100ms of audio, "
        f"but buffer only has {audio.buffered_ms():.2f}ms of audio.", None, event.get("event_id"))


def item_refusal(event: dict[str, Any], conversation: Conversation) -> Rejection | None:
    """Why the service refuses a retrieve, delete or truncate; None when it carries it out."""
    kind, item_id, event_id = event["type"], event["item_id"], event.get("event_id")
    item = conversation.items.get(item_id)
    if item is None:
        verb = kind.rsplit(".", 1)[1]
        if verb == "truncate":
            return Rejection("item_truncate_invalid_item_id", f"Item with item_id not found: {item_id}", None, event_id)
        doing = {"retrieve": "retrieving", "delete": "deleting"}[verb]
        return Rejection(f"item_{verb}_invalid_item_id",
                         f"Error {doing} item: the item with id '{item_id}' does not exist.", None, event_id)
    if kind != "conversation.item.truncate":
        return None
    # "Only assistant message items can be truncated"; "If the audio_end_ms is greater than the
    # actual audio duration, the server will respond with an error" (openai ConversationItemTruncateEvent)
    audio_ms = conversation.audio_ms.get(item_id)
    if item.get("role") != "assistant" or audio_ms is None:
        return Rejection("unsupported_content_type", "Only model output audio messages can be truncated",
                         None, event_id)
    if event["content_index"] != 0:
        return Rejection("invalid_value", f"Invalid value: {event['content_index']}. The item has one content "
                         "part: content_index must be 0.", "content_index", event_id)
    if event["audio_end_ms"] > audio_ms:
        return Rejection("invalid_value", f"Audio content of {audio_ms}ms is already shorter than "
                         f"{event['audio_end_ms']}ms", None, event_id)
    return None


def unscripted(event: dict[str, Any]) -> Rejection | None:
    """A valid event rtmock cannot act on: a transcription session's update, the Voice Live
    events it does not script. (rtmock's refusal, not the service's.)"""
    kind = event["type"]
    if kind == "transcription_session.update":
        return Rejection("unsupported", "rtmock does not play beta transcription sessions (transcription_session.update).",
                         "type", event.get("event_id"), not_played=True)
    if kind in VOICE_LIVE_UNSCRIPTED:
        return Rejection("unsupported", f"rtmock does not play {VOICE_LIVE_UNSCRIPTED[kind]} ({kind}).",
                         "type", event.get("event_id"), not_played=True)
    return None
