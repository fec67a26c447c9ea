"""One relayed session, without I/O: frames in both directions in, records out.

`rtmock proxy` (and `rtmock run --upstream`) put rtmock between a client and the real service.
`RelayCore` is told of every frame the relay forwards (`client_text`, `server_text`, …) and of the
session's end, and reports records to its `on_record` callback exactly as `SessionCore` does for a
served session: the client's and the service's frames (secrets redacted: `redact.py`), and script
notes. So the judge, transcripts, `rtmock check` and the reports work on a relayed session unchanged.

The notes come from two sources:
- a scenario's expectations (`--scenario`): its expect steps are reached and matched as the mock
  would (same notes, same bounds), and each `respond` step stands for the service's next response,
  whose function calls take the step's labels (by tool name, else by position), so that
  `expect: function_call_output / call: <label>` awaits the real call. Faults (`pause`, `send`,
  `close`) are not injected into a real session: they are skipped, with a note. Without a scenario
  (a passthrough one, with no steps) only the protocol rules apply, and the session is complete
  when it ends;
- the service's own faults (`UpstreamProblem`): an error that is not about a client event, a
  refused key, a close the client did not ask for, a lost connection, or a response that does not
  call what the scenario scripts. These are the upstream's, never the client's (exit 2).

What does not belong here: sockets and HTTP (relay.py), judging (harness/judging/judge.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..net.redact import Secrets
from ..scenario.loader import LoadedScenario
from ..scenario.model import ExpectStep, FunctionCallPart, RespondStep, Scenario, SendPart
from ._expectations import Expectation, Group, HeldEvents, fits, tools_in_effect
from .notes import (
    Closed,
    FaultNotInjected,
    Note,
    OtherNote,
    PreviousCancelled,
    RelayStarted,
    ResponseStarted,
    ScenarioComplete,
    StepMatched,
    VadTurn,
    step_reached,
)
from .records import Direction, Record
from .voicelive import cancels_previous

__all__ = ["PROBLEM_NOTE", "RelayCore", "UpstreamProblem", "passthrough_scenario"]

#: The note a relayed session's transcript holds for each of the upstream's problems.
PROBLEM_NOTE = "rtmock.upstream.problem"

#: Error codes the service sends about the session or the account, not about a client event.
_UPSTREAM_CODES = frozenset({"invalid_api_key", "session_expired", "insufficient_quota", "rate_limit_exceeded",
                             "model_not_found", "server_error", "internal_error", "service_unavailable"})


@dataclass(frozen=True, slots=True)
class UpstreamProblem:
    """Something the upstream did that is not the client's doing. `kind` is one of refused (the
    handshake or the key), unreachable, error, closed, lost, diverged (the service answered
    otherwise than the scenario scripts)."""

    kind: str
    message: str
    status: int | None = None  # the HTTP status of a refused handshake
    code: str | int | None = None  # the error code, or the close code

    def __str__(self) -> str:
        return self.message

    def to_json(self) -> dict[str, Any]:
        return {"type": PROBLEM_NOTE, "kind": self.kind, "message": self.message, "status": self.status, "code": self.code}


def passthrough_scenario(name: str = "upstream") -> LoadedScenario:
    """The scenario of a relayed session that was given none: no steps, no tools, so that only the
    protocol rules judge it. Its `path` is None; transcripts mark the session as proxied instead."""
    return LoadedScenario(scenario=Scenario(steps=(), name=name), name=name, path=None, step_lines=[], calls=[])


@dataclass(slots=True)
class _Playing:
    """The upstream response a respond step stands for, as it streams."""

    step: int
    response_id: str
    calls: list[tuple[str, str]] = field(default_factory=list)  # (call_id, name), in output order


@dataclass(eq=False)
class RelayCore:
    scenario: LoadedScenario
    on_record: Callable[[Record], None]
    secrets: Secrets
    started: float = 0.0
    #: the bound of expect steps that give none (`--within`); else the scenario's default
    default_within: float | None = None
    #: the upstream is Azure Voice Live: a response.create while a response is active ends that one
    #: first (`cancel_previous`, true by default) instead of being refused
    voice_live: bool = False

    def __post_init__(self) -> None:
        self.closed = False
        self.complete = False
        self.problems: list[UpstreamProblem] = []
        self.upstream_session_id: str | None = None
        self._index = 0
        self._now = self.started
        self._steps = self.scenario.scenario.steps
        self._scripted = bool(self._steps)
        self._i = 0
        self._group: Group | None = None
        self._respond: int | None = None  # the respond step waiting for the upstream's next response
        self._playing: _Playing | None = None
        self._stopped = False  # the upstream went its own way: the scenario's later steps are not judged
        self._held = HeldEvents(self._steps)  # the client's events the steps may still take (as the mock holds them)
        self._call_ids: dict[tuple[int, int], str] = {}  # (respond step, part) → the upstream's call_id
        self._active: str | None = None  # the upstream's active response
        self._create_pending = False  # a client response.create the upstream has not answered yet
        self._last_server: dict[str, Any] | None = None  # the upstream's last event (for its close)

    # ---- the relay's interface -------------------------------------------------------------------

    def start(self, now: float, upstream: str = "") -> None:
        """Both handshakes succeeded: note it (the judge then knows the upstream answers in its own
        time, not at once as the mock does), and reach the scenario's first wait."""
        self._now = now
        self._note(RelayStarted(self.secrets.url(upstream) if upstream else None))
        if self._scripted:
            self._advance()

    def client_text(self, text: str, now: float) -> None:
        self._now = now
        if self.closed:
            return
        event, raw, _ = self.secrets.frame(text)
        index = self._record(Direction.CLIENT, event, raw)
        if event is not None and isinstance(event.get("type"), str):
            self._client_event(event, index)

    def client_binary(self, size: int, now: float) -> None:
        self._now = now
        if not self.closed:
            self._record(Direction.CLIENT, None, f"(binary frame, {size} bytes)")

    def server_text(self, text: str, now: float) -> None:
        self._now = now
        if self.closed:
            return
        event, raw, changed = self.secrets.frame(text)
        kind = event.get("type") if event is not None else None
        delta = isinstance(kind, str) and kind.endswith(".delta")
        # the wire text, when it is what the transcript would write anyway (one line, nothing redacted)
        wire = text if event is not None and not changed and "\n" not in text and "\r" not in text else None
        index = self._index
        self._index += 1
        self.on_record(Record(index, self._now - self.started, Direction.SERVER, event, raw, wire, delta))
        if event is not None and not delta:
            self._server_event(event, index)

    def server_binary(self, size: int, now: float) -> None:
        self._now = now
        if not self.closed:
            self._record(Direction.SERVER, None, f"(binary frame, {size} bytes)")

    def client_closed(self, now: float, code: int | None, reason: str = "") -> None:
        """The client closed its socket (or lost it: `code` None)."""
        self._end(now, "client", code, reason)

    def upstream_closed(self, now: float, code: int | None, reason: str = "") -> None:
        """The upstream closed the session (or the connection was lost: `code` None). A close right
        after an error about a client event or its key is that error's end (e.g. the retired beta
        protocol, a refused key), judged or noted with it; any other close but a normal one is the
        upstream's problem."""
        self._now = now
        if self.closed:
            return
        reason = self.secrets.text(reason)
        if code is None:
            self.problem(now, UpstreamProblem("lost", "The upstream connection was lost mid-session "
                                              "(no close frame)."))
        elif code != 1000 and not self._answers_error():
            self.problem(now, UpstreamProblem("closed", f"The upstream closed the session with code {code}"
                                              + (f" ({reason})" if reason else "") + ".", code=code))
        self._end(now, "server", code, reason, upstream=True)

    def stopped(self, now: float) -> None:
        """rtmock itself is shutting down."""
        self._end(now, "server", 1001, "rtmock stopped")

    def problem(self, now: float, problem: UpstreamProblem) -> None:
        """Note one of the upstream's problems (also used by the relay for what it sees itself)."""
        self._now = now
        problem = UpstreamProblem(problem.kind, self.secrets.text(problem.message), problem.status, problem.code)
        self.problems.append(problem)
        if not self.closed:
            fields = problem.to_json()
            self._note(OtherNote(fields.pop("type"), fields))

    def note(self, now: float, note: Note) -> None:
        self._now = now
        if not self.closed:
            self._note(note)

    # ---- records ---------------------------------------------------------------------------------

    def _record(self, direction: Direction, event: dict[str, Any] | None, raw: str | None = None) -> int:
        index = self._index
        self._index += 1
        self.on_record(Record(index, self._now - self.started, direction, event, raw))
        return index

    def _note(self, note: Note) -> None:
        index = self._index
        self._index += 1
        self.on_record(Record(index, self._now - self.started, Direction.SCRIPT, note=note))

    def _end(self, now: float, by: str, code: int | None, reason: str, *, upstream: bool = False) -> None:
        self._now = now
        if self.closed:
            return
        if not self._scripted and not self.complete:
            # nothing was scripted: the session is whole when it ends, and the rules alone judge it
            self.complete = True
            self._note(ScenarioComplete())
        # (aiohttp gives a close code as its `WSCloseCode` enum at times: the note holds the number)
        self._note(Closed(by, None if code is None else int(code), self.secrets.text(reason), complete=self.complete,
                          upstream=upstream))
        self.closed = True

    # ---- the client's events ---------------------------------------------------------------------

    def _client_event(self, event: dict[str, Any], index: int) -> None:
        kind = event["type"]
        if kind == "response.create":
            response = event.get("response")
            if isinstance(response, dict) and response.get("conversation") == "none":
                return  # out of band: it does not answer the conversation
            if self._active is not None and self.voice_live and cancels_previous(event):
                self._note(PreviousCancelled(index, self._active))  # the upstream's response.done (cancelled) follows
                self._active = None
            if self._active is not None:
                return  # the upstream refuses it (conversation_already_has_active_response)
            self._create_pending = True
            if self._group is None or not self._wants_create():
                return  # the upstream answers it; no step awaits it
        if self._scripted and not self._stopped:
            # a create's own response.tools count, as the mock counts them (the relay does not follow
            # the session's tools: the upstream judges those)
            self._held.hold(index, event, self._position(), tools_in_effect(event, {}) if kind == "response.create" else None)
            if self._group is not None:
                self._match()
                self._advance()

    def _wants_create(self) -> bool:
        return self._group is not None and any(e.spec.expect == "response.create" and e.open
                                               for e in self._group.expectations)

    def _position(self) -> int:
        """The step the script is at: the first of the group it waits on, else the next to reach."""
        return self._group.expectations[0].step if self._group is not None else self._i

    # ---- the upstream's events -------------------------------------------------------------------

    def _server_event(self, event: dict[str, Any], index: int) -> None:
        kind = event.get("type")
        self._last_server = event
        if kind == "session.created":
            session = event.get("session")
            if isinstance(session, dict) and isinstance(session.get("id"), str):
                self.upstream_session_id = session["id"]
        elif kind == "error":
            self._upstream_error(_dict(event.get("error")))
        elif kind == "response.created":
            rid = str(_dict(event.get("response")).get("id", ""))
            self._active = rid
            server_turn = not self._create_pending  # server VAD started it: the service's own create
            self._create_pending = False
            if server_turn and self._wants_create():
                self._note(VadTurn(response_id=rid))
                self._held.hold(index, {"type": "response.create", "rtmock": "server_turn"}, self._position(), None)
                self._match()
                self._advance()
            if self._respond is not None and self._playing is None and not self._stopped:
                self._playing = _Playing(self._respond, rid)
                self._note(ResponseStarted(self._respond + 1, self.scenario.step_lines[self._respond], rid))
        elif kind == "response.output_item.added":
            item = _dict(event.get("item"))
            playing = self._playing
            if playing is not None and event.get("response_id") == playing.response_id \
                    and item.get("type") == "function_call":
                playing.calls.append((str(item.get("call_id")), str(item.get("name"))))
        elif kind == "response.done":
            done_id = _dict(event.get("response")).get("id")
            if self._active == done_id:
                self._active = None
            if self._playing is not None and self._playing.response_id == done_id:
                self._played(self._playing)

    def _upstream_error(self, error: dict[str, Any]) -> None:
        """An error about a client event (`invalid_request_error`) is the client's (the judge says
        so); one about the session, the account or the service is the upstream's."""
        kind, code, message = error.get("type"), error.get("code"), str(error.get("message") or "")
        if code == "conversation_already_has_active_response":
            self._create_pending = False
        auth = code is None and self._index <= 3 and "authentication" in message.lower()
        if kind not in (None, "invalid_request_error") or code in _UPSTREAM_CODES or auth:
            what = f"{kind or 'error'}" + (f" {code}" if code else "")
            self.problem(self._now, UpstreamProblem("refused" if code == "invalid_api_key" or auth else "error",
                                                    f"The upstream sent an error ({what}): {message}", code=code))

    def _answers_error(self) -> bool:
        """The close follows an error about a client event or its key: it is that error's end (the
        service refuses the retired beta protocol, or a key, with an error and then a close),
        already judged or noted as such."""
        last = self._last_server
        if last is None or last.get("type") != "error":
            return False
        error = _dict(last.get("error"))
        code, message = error.get("code"), str(error.get("message") or "")
        refusal = code == "invalid_api_key" or (code is None and "authentication" in message.lower())
        return refusal or (error.get("type") in (None, "invalid_request_error") and code not in _UPSTREAM_CODES)

    # ---- the scenario's expectations -------------------------------------------------------------

    def _played(self, playing: _Playing) -> None:
        """The upstream's response for a respond step is done: give the step's calls their ids."""
        step = self._steps[playing.step]
        assert isinstance(step, RespondStep)
        left = list(playing.calls)
        parts = [(j, p) for j, p in enumerate(step.respond) if isinstance(p, FunctionCallPart)]
        unmatched: list[tuple[int, FunctionCallPart]] = []
        for j, part in parts:
            found = next((c for c in left if c[1] == part.name), None)
            if found is None:
                unmatched.append((j, part))
                continue
            left.remove(found)
            self._call_ids[(playing.step, j)] = found[0]
        self._playing = None
        self._respond = None
        if unmatched:
            called = ", ".join(f"{name} ({call_id})" for call_id, name in playing.calls) or "no function"
            wanted = ", ".join(p.name for _, p in unmatched)
            self.problem(self._now, UpstreamProblem(
                "diverged", f"The upstream's response {playing.response_id} called {called}, not {wanted} as "
                f"{self.scenario.step_label(playing.step)} scripts it: the scenario's later steps are not judged "
                "(the model answered otherwise; a scenario for a proxied run should expect what the model does)."))
            self._stopped = True
            return
        self._advance()

    def _advance(self) -> None:
        """Run the script while what it waits for has happened."""
        steps = self._steps
        while not self._stopped and not self.closed:
            if self._group is not None:
                self._match()
                if not self._group.done:
                    return
                self._group = None
            if self._respond is not None:
                return
            if self._i >= len(steps):
                if not self.complete:
                    self.complete = True
                    self._note(ScenarioComplete())
                return
            step = steps[self._i]
            if isinstance(step, ExpectStep):
                self._group = self._reach_group()
            elif isinstance(step, RespondStep):
                if any(isinstance(part, SendPart) for part in step.respond):
                    self._note(FaultNotInjected(self._i + 1, self.scenario.step_lines[self._i],
                                                "a relayed session plays the real service: rtmock injects no "
                                                "events into its responses (the respond step's send: parts)"))
                self._respond = self._i
                self._i += 1
            else:
                self._note(FaultNotInjected(self._i + 1, self.scenario.step_lines[self._i],
                                            "a relayed session plays the real service: rtmock injects no faults into it"))
                self._i += 1

    def _reach_group(self) -> Group:
        default = self.default_within if self.default_within is not None else self.scenario.scenario.defaults.within
        group: list[Expectation] = []
        while self._i < len(self._steps) and isinstance(spec := self._steps[self._i], ExpectStep):
            i = self._i
            ref = self.scenario.output_calls.get(i)
            call_id = self._call_ids.get((ref.step, ref.part)) if ref else None
            group.append(Expectation(i, spec, call_id))
            self._note(step_reached(self.scenario, i, call_id, default))
            self._i += 1
        return Group(group)

    def _match(self) -> None:
        """Meet the group's open steps with the held events that fit them, as the mock does
        (`_expectations.fits`: a relayed session never holds an out-of-band create, nor the mock's
        server-VAD stand-in)."""
        assert self._group is not None
        for expectation, index in self._held.match(self._group, fits):
            self._note(StepMatched(expectation.step + 1, self.scenario.step_lines[expectation.step], index))


def _dict(value: Any) -> dict[str, Any]:
    """`value` when it is a JSON object, else an empty one (the upstream's events are read, not trusted)."""
    return value if isinstance(value, dict) else {}
