"""What each accepted client event does to a session: `SessionCore`'s handling of client events.

`ClientEventHandling._handle` takes a client event that passed validation (`client_events.py`):
refuses it when the session's state does (`_refusals.py`), else carries it out (the session
updated, an item created, retrieved, deleted or truncated, audio buffered, committed or cleared, a
response started or cancelled), then offers it to the script. Appended audio may cross the server
VAD's speech edges (`_listen`): speech while a response is active interrupts it, and the end of a
turn is the server's own response.create.

Not here: validation (`client_events.py`), the service's refusals and their words
(`_refusals.py`), the user's audio buffer and transcripts (`_user_audio.py`), and the script the
events are offered to (session.py).

`ClientEventHandling` is a mixin of `SessionCore`, as handling an event reaches into most of the
core: what it uses of it is declared at the top of the class.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._expectations import out_of_band
from ._refusals import (
    appended_audio,
    cancel_target,
    commit_refusal,
    create_refusal,
    item_create_refusal,
    item_refusal,
    session_update_refusal,
    unscripted,
)
from .client_events import Rejection
from .events import Dialect
from .jsondata import json_copy
from .notes import BargeIn, Note, PreviousCancelled, VadTurn
from .turns import turn_detection
from .vad import SpeechEdge
from .voicelive import cancels_previous

if TYPE_CHECKING:
    from ._user_audio import UserAudio
    from .conversation import ActiveResponse, Conversation
    from .events import EventFactory, IdSource


class ClientEventHandling:
    """SessionCore's handling of accepted client events (a mixin: see the module's docstring)."""

    if TYPE_CHECKING:  # what the handling uses of SessionCore
        # reads and changes: the session's configuration and conversation, the user's audio
        session: dict[str, Any]
        conversation: Conversation
        _user_audio: UserAudio
        # reads
        dialect: Dialect
        events: EventFactory
        ids: IdSource
        _playing: ActiveResponse | None  # the response the script is streaming

        # output: a server event, a note, the refusal of the client event being handled
        def _emit(self, event: dict[str, Any]) -> None: ...
        def _note(self, note: Note) -> None: ...
        def _reject(self, why: Rejection) -> None: ...

        # the script: offer it an accepted event (a response.create: True if it takes it), answer a
        # create it does not take, cut a response short
        def _offer(self, index: int, event: dict[str, Any]) -> None: ...
        def _offer_create(self, event: dict[str, Any], index: int) -> bool: ...
        def _play_unscripted(self, trigger: dict[str, Any]) -> None: ...
        def _cancel(self, active: ActiveResponse, reason: str) -> None: ...

    def _handle(self, event: dict[str, Any], index: int) -> None:
        """An accepted client event: carry it out, unless the session's state refuses it
        (`_refusals.py`), then offer it to the script."""
        kind = event["type"]
        conv = self.conversation
        if kind == "session.update":
            if (refused := session_update_refusal(event, self.session)) is not None:
                self._reject(refused)
                return
            merge_update(self.session, event["session"])
            self._emit(self.events.session_updated(self.session))
        elif kind == "conversation.item.create":
            if (refused := item_create_refusal(event, conv)) is not None:
                self._reject(refused)
                return
            self._create_item(event)
        elif kind == "response.create":
            side = out_of_band(event)
            if (active := conv.active) is not None and not side and self.dialect is Dialect.VOICE_LIVE \
                    and cancels_previous(event):
                # Voice Live's `cancel_previous` (true by default): the active response ends, as a
                # response.cancel would end it, and this one takes its place (OpenAI refuses it)
                self._note(PreviousCancelled(index, active.id))
                self._cancel(active, "client_cancelled")
            if (refused := create_refusal(event, conv, out_of_band=side)) is not None:
                self._reject(refused)
                return
            if not self._offer_create(event, index):
                self._play_unscripted(event)
            return
        elif kind == "response.cancel":
            target = cancel_target(event, conv, self._playing)
            if isinstance(target, Rejection):
                self._reject(target)
                return
            self._cancel(target, "client_cancelled")
        elif kind == "input_audio_buffer.append":
            audio = appended_audio(event)
            if isinstance(audio, Rejection):
                self._reject(audio)
                return
            edges = self._user_audio.append(audio)
            self._offer(index, event)
            self._listen(edges, index)
            return
        elif kind == "input_audio_buffer.commit":
            if (refused := commit_refusal(event, self._user_audio.buffer)) is not None:
                self._reject(refused)
                return
            self._user_audio.commit(self._emit)
        elif kind == "input_audio_buffer.clear":
            self._user_audio.clear(self._emit)
        elif kind in ("conversation.item.retrieve", "conversation.item.delete", "conversation.item.truncate"):
            if (refused := item_refusal(event, conv)) is not None:
                self._reject(refused)
                return
            item_id = event["item_id"]
            if kind == "conversation.item.retrieve":
                self._emit(self.events.item_retrieved(conv.items[item_id]))
            elif kind == "conversation.item.delete":
                conv.delete(item_id)
                self._emit(self.events.item_deleted(item_id))
            else:
                conv.audio_ms[item_id] = event["audio_end_ms"]
                self._emit(self.events.item_truncated(item_id, event["content_index"], event["audio_end_ms"]))
        elif (refused := unscripted(event)) is not None:
            self._reject(refused)
            return
        self._offer(index, event)

    def _create_item(self, event: dict[str, Any]) -> None:
        conv = self.conversation
        item = json_copy(event["item"])
        previous = event.get("previous_item_id")
        item.setdefault("id", self.ids.new("item"))
        item.setdefault("object", "realtime.item")
        item["status"] = "completed"
        if item["type"] == "message":
            item.setdefault("content", [])
        after = conv.add(item, previous)
        for echo in self.events.item_added(item, after) + self.events.item_done(item, after):
            self._emit(echo)

    def _listen(self, edges: list[SpeechEdge], index: int) -> None:
        """Speech edges the server VAD heard in appended audio: speech while a response is active
        interrupts it (`interrupt_response`); speech, then enough silence, is a user turn the server
        commits and (with `create_response`) answers without a client response.create; a transcription
        session only transcribes it."""
        detection = turn_detection(self.session, self.dialect)
        if detection is None:
            return
        for edge in edges:
            if edge.started:
                self._user_audio.speech_started(edge.audio_ms, self._emit)
                # "Whether or not to automatically interrupt any ongoing response with output to the
                # default conversation (i.e. conversation of auto) when a VAD start event occurs"
                # (openai RealtimeAudioInputTurnDetection.interrupt_response, default true)
                active = self.conversation.active
                if active is not None and detection.get("interrupt_response", True) is not False:
                    self._note(BargeIn(index, active.id, edge.audio_ms))
                    self._cancel(active, "turn_detected")
                continue
            self._user_audio.speech_stopped(edge.audio_ms, self._emit)  # the server commits the turn
            if self.session.get("type") == "transcription":
                continue  # a transcription session transcribes the turn, and no model answers it
            if detection.get("create_response", True) is not False and self.conversation.active is None:
                turn = {"type": "response.create", "rtmock": "server_vad"}  # the service's own create
                self._note(VadTurn(index, edge.audio_ms))
                if not self._offer_create(turn, index):
                    self._play_unscripted(turn)


def merge_update(target: dict[str, Any], update: dict[str, Any]) -> None:
    """session.update semantics: given keys replace, nested objects merge, absent keys stay
    (a later update without `tools` keeps the declared tools). An object of another `type` (a
    turn detection, an Azure voice) replaces the old one: its keys do not carry over."""
    for key, value in update.items():
        old = target.get(key)
        if isinstance(value, dict) and isinstance(old, dict) and value.get("type", old.get("type")) == old.get("type"):
            merge_update(target[key], value)
        else:
            target[key] = json_copy(value)
