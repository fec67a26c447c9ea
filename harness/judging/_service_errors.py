"""The service's `error` events as the judge reads them: which are findings about the client, which
client event each answers, and the words of those findings.

Some errors refuse the connection itself (`CONNECTION_REFUSALS`: a retired protocol, no model, a
wrong key). The others answer a client event: the mock at once (the session's `Refused` note names
the event), a relayed service when it gets to it (`rtmock proxy`), so the error's `event_id` or
`param` names the event. A refusal is an `invalid-client-event` finding, unless a correct client
may meet it (`BENIGN_REFUSALS`), the same mistake was reported already, or a finding about what the
event meant (a wrong call_id, an output that is not a string, ...) explains it already.

`ServiceErrors` follows the client frames and the session's notes it needs, and turns an error
into the finding it makes, if any; the judge adds it. Not here: the findings about what client
events mean, and any rule about calls and rounds (judge.py and its parts).
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Container
from dataclasses import dataclass
from typing import Any

from ...mockserver.core.notes import Refused
from ...mockserver.core.records import Record
from ...mockserver.scenario.matching import lookup
from .findings import Rule

#: Refusals that are not findings, by error code or (event type, code), with why. The service
#: refuses these events, yet documents (or plainly allows) sending them defensively, or they come
#: from a race a correct client cannot avoid: failing a client for one would be a false alarm.
BENIGN_REFUSALS: dict[str | tuple[str, str], str] = {
    # "It's safe to call response.cancel even if no response is in progress, an error will be
    # returned the session will remain unaffected" (openai ResponseCancelEventParam)
    "response_cancel_not_active": "response.cancel is documented as safe to send when no response is active",
    # barge-in truncates at the playback position the client measured; the audio may be shorter, or
    # the item already gone, by the time the truncate arrives. The conversation is unaffected.
    "item_truncate_invalid_item_id": "a truncate racing the item's removal changes nothing",
    ("conversation.item.truncate", "invalid_value"): "a truncate past the audio's end changes nothing",
}

#: Errors the service sends instead of serving a connection at all, with the rule and what to change.
CONNECTION_REFUSALS: dict[str, tuple[Rule, str | None]] = {
    "beta_api_shape_disabled": (Rule.BETA_RETIRED, None),
    "missing_model": (
        Rule.NO_SESSION,
        "Name the model in the URL: …/v1/realtime?model=gpt-realtime (the SDKs add it from their `model` "
        "argument; a raw websocket client must add it itself)."),
    "invalid_api_key": (  # also the missing key, which the service answers with a null code
        Rule.NO_SESSION,
        "Send the API key the server expects ('Authorization: Bearer <key>' or 'api-key: <key>'); under rtmock "
        "run, use OPENAI_API_KEY / AZURE_OPENAI_API_KEY from the environment it gives the client."),
}

_INVALID_HINTS = {
    "invalid_json": "Send each event as one JSON object in a text frame.",
    "unknown_parameter": "Remove the parameter the error names; it is not part of the realtime API (check the dialect: GA vs beta).",
    "missing_required_parameter": "Add the field the error names.",
    "invalid_type": "Send the field the error names with the right JSON type.",
    "invalid_value": "Send a value the error accepts for the field it names.",
    "invalid_value:audio": "Send the audio as standard base64 (A-Z, a-z, 0-9, +, /, = padding) of PCM16 24 kHz mono, "
                           "e.g. base64.b64encode(pcm).decode().",
    "input_audio_buffer_commit_empty": "Append at least 100 ms of audio before input_audio_buffer.commit.",
    # a GA session.update sent to a beta endpoint: Azure's preview path (/openai/realtime?api-version=…,
    # which the openai SDK's AzureOpenAI client dials) or Voice Live
    "unknown_parameter:session.type":
        "This endpoint speaks the beta (preview) protocol, which has no session.type: on Azure, GA is served at "
        "/openai/v1/realtime?model=<deployment> (the openai SDK: OpenAI(base_url='https://<resource>.openai.azure.com"
        "/openai/v1') or websocket_base_url=…/openai/v1), while /openai/realtime?api-version=… is the preview's. Or "
        "speak beta there: modalities, input_audio_format, no session.type.",
}
#: A beta session field sent to a GA endpoint: where GA keeps it.
_BETA_SESSION_FIELDS = {
    "modalities": "output_modalities", "input_audio_format": "audio.input.format",
    "output_audio_format": "audio.output.format", "turn_detection": "audio.input.turn_detection",
    "input_audio_transcription": "audio.input.transcription", "voice": "audio.output.voice",
}
_INVALID_HINTS.update({
    f"unknown_parameter:session.{beta}": f"session.{beta} is the beta protocol's; this endpoint speaks GA, where it is "
    f"session.{ga} (and session.type is 'realtime'). Azure's preview path (/openai/realtime?api-version=…) still "
    "speaks beta." for beta, ga in _BETA_SESSION_FIELDS.items()})

#: What `lookup` answers for a path an event does not have.
_ABSENT = lookup({}, "absent")


@dataclass(frozen=True, slots=True)
class ErrorFinding:
    """A finding an error makes, for the judge to add: about `record`, the client event the error
    answers (or the error itself, for a refused connection)."""

    rule: Rule
    message: str
    hint: str | None
    record: Record
    expected: str
    seen: str


class ServiceErrors:
    """The judge's reading of the service's errors, over one session."""

    def __init__(self) -> None:
        self._last_client: Record | None = None
        self._recent: deque[Record] = deque(maxlen=16)  # the last client frames (a relayed error's cause)
        self._relayed = False
        self._refused: Record | None = None  # the client record the session just refused: its error's cause
        self._not_played = False  # and it was rtmock's own refusal of a valid event it does not play
        self._reported: set[tuple[Any, Any, Any]] = set()  # (event type, error code, param) already reported

    def client(self, record: Record) -> None:
        """A client frame, accepted or not: an error that follows may answer it."""
        self._last_client = record
        self._recent.append(record)

    def refused(self, note: Refused) -> None:
        """The session refused a client event: the error that follows answers it."""
        self._refused = next((r for r in reversed(self._recent) if r.index == note.client_index), None)
        self._not_played = note.not_played

    def relayed(self) -> None:
        """The real service is behind the session (`rtmock proxy`): its errors come when they come."""
        self._relayed = True

    def finding(self, record: Record, error: dict[str, Any], explained: Container[int]) -> ErrorFinding | None:
        """The finding the `error` object of server event `record` makes, if any (`explained`: the
        client records a finding already covers)."""
        # The service answers a refused client event at once, with an invalid_request_error; any other
        # error (a scenario's `send` of a server_error, say) is not about the client's events.
        code, message, param = error.get("code"), error.get("message", ""), error.get("param")
        if code in CONNECTION_REFUSALS or (code is None and self._last_client is None and "authentication" in message):
            rule, hint = CONNECTION_REFUSALS[code if code in CONNECTION_REFUSALS else "invalid_api_key"]
            return ErrorFinding(rule, f"The server refused the connection: {message}", hint, record,
                                expected="a connection the service serves", seen=f"error {code}, then the socket closed")
        not_played, self._not_played = self._not_played, False
        cause = self._cause(record, error)
        if cause is None or cause.index in explained:
            return None
        if error.get("type", "invalid_request_error") != "invalid_request_error":
            return None
        sent = client_object(cause)
        kind = sent.get("type") if sent is not None and isinstance(sent.get("type"), str) else None
        if code in BENIGN_REFUSALS or (kind, code) in BENIGN_REFUSALS:
            return None  # the service refuses it, and a correct client may send it anyway: not a bug
        if (kind, code, param) in self._reported:
            return None  # the same mistake again (each audio chunk of a stream, say): one finding says it
        self._reported.add((kind, code, param))
        if not_played:  # rtmock's refusal, not the service's (the session's note says so)
            return ErrorFinding(Rule.NOT_PLAYED_BY_RTMOCK,
                                f"Client event #{cause.index} ({kind or cause.type}) is valid, but {message} This is a "
                                "limit of rtmock, not a mistake in your client: this session's verdict is not your "
                                "client's (`rtmock run` exits 2).", None, cause,
                                expected=f"{kind or 'the event'} played as the service plays it",
                                seen=f"refused by rtmock (error {code})")
        refused = f"The server refused client event #{cause.index} ({kind or cause.type}): {message}"
        if kind == "session.update":
            # the service applies an update whole or not at all: nothing in it took effect
            refused += " The whole session.update was refused, so nothing in it took effect"
            refused += " (its tools were never declared)." if isinstance(sent, dict) and \
                isinstance(sent.get("session"), dict) and sent["session"].get("tools") else "."
        return ErrorFinding(Rule.INVALID_CLIENT_EVENT, refused,
                            _INVALID_HINTS.get(f"{code}:{param}") or _INVALID_HINTS.get(str(code)), cause,
                            expected=f"a valid {kind}" if kind else "one JSON object per frame, with a known type",
                            seen=f"error {code}" + (f" (param {param})" if param else ""))

    def _cause(self, record: Record, error: dict[str, Any]) -> Record | None:
        """The client event an error answers. The mock answers at once: the client frame right before
        it. A relayed service answers when it gets to it (`rtmock proxy`: the session's first note is
        `rtmock.relay.started`), after frames the client sent meanwhile: then the error's `event_id`
        (the client's own) or its `param` (a field only an earlier frame has) names the cause."""
        if self._refused is not None:  # the session said which event it refused
            cause, self._refused = self._refused, None
            return cause
        last = self._last_client
        if not self._relayed:
            return last if last is not None and last.index == record.index - 1 else None
        wanted = error.get("event_id")
        if isinstance(wanted, str) and wanted:
            return next((r for r in reversed(self._recent) if (client_object(r) or {}).get("event_id") == wanted), None)
        param = error.get("param")
        if isinstance(param, str) and param and last is not None and lookup(client_object(last) or {}, param) is _ABSENT:
            return next((r for r in reversed(self._recent) if lookup(client_object(r) or {}, param) is not _ABSENT), last)
        return last


def client_object(record: Record) -> dict[str, Any] | None:
    """What a client frame held as a JSON object, also when the server refused it (then the record
    keeps only its text)."""
    if record.event is not None:
        return record.event
    try:
        value = json.loads(record.raw or "")
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None
