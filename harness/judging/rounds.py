"""A tool round as a state machine: one table says, for each state of a round and each thing that
can happen to it, the next state and the finding it makes (in the style of h11's `_state.py`).

A round is a response that called tools. The client owes it one output per call (R1, R7) and then
one response.create (R4, R5), each within its bound (R8); a cancelled response is owed nothing (R9).
The judge works out *what* happened (which stimulus, from the frames and the session's notes) and
words the finding; *whether* it is a finding, and what the round owes next, is decided only here.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .findings import Rule

if TYPE_CHECKING:
    from ...mockserver.core.records import Record

__all__ = ["ROUND_RULES", "Call", "Round", "RoundState", "Stimulus"]


class RoundState(enum.Enum):
    STREAMING = "streaming"  # the calling response runs; outputs may come before its response.done
    ANSWERED = "answered"  # every call has its output, and the response still runs
    OWES_OUTPUTS = "owes outputs"  # response.done came; some calls have no output yet (each call's bound runs)
    OWES_CREATE = "owes a create"  # response.done and every output are in: the create's bound runs
    TRIGGERED = "triggered"  # a response.create answered it
    MISSED_CREATE = "missed its create"  # judged at its bound; a create that still comes was late (R8)
    CLOSED = "closed"  # a finding closed it (its cause is reported), or its response was cancelled (R9)


class Stimulus(enum.Enum):
    CALL_ADDED = "the response streams another call"
    OUTPUT = "an output, others still missing"
    LAST_OUTPUT = "the last missing output"
    BAD_OUTPUT = "an output a finding explains (wrong id, not a string, a second one)"
    DONE = "response.done"
    CANCELLED = "response.done, cancelled"
    CREATE = "response.create"
    OUTPUT_DUE = "a call's bound passed without its output"
    CREATE_DUE = "the create's bound passed"
    REFUSED_CREATE_DUE = ("the create's bound passed (or the session ended first), and the round's only create was "
                          "refused: sent while its response was active")


S, X = RoundState, Stimulus

#: (state, stimulus) → (next state, the finding it makes). A pair not listed changes nothing.
ROUND_RULES: dict[tuple[RoundState, Stimulus], tuple[RoundState, Rule | None]] = {
    (S.STREAMING, X.CALL_ADDED): (S.STREAMING, None),
    (S.STREAMING, X.OUTPUT): (S.STREAMING, None),
    (S.STREAMING, X.LAST_OUTPUT): (S.ANSWERED, None),
    (S.STREAMING, X.DONE): (S.OWES_OUTPUTS, None),
    (S.STREAMING, X.CANCELLED): (S.CLOSED, None),  # R9
    (S.STREAMING, X.CREATE): (S.CLOSED, Rule.CREATE_BEFORE_OUTPUT),  # R5
    (S.STREAMING, X.BAD_OUTPUT): (S.CLOSED, None),  # the output's own finding is the cause
    (S.STREAMING, X.OUTPUT_DUE): (S.CLOSED, Rule.MISSING_OUTPUT),  # R1 (a step's bound may end first)
    (S.ANSWERED, X.CALL_ADDED): (S.STREAMING, None),  # parallel calls: the first answered before the next came
    (S.ANSWERED, X.DONE): (S.OWES_CREATE, None),
    (S.ANSWERED, X.CANCELLED): (S.CLOSED, None),  # R9
    (S.ANSWERED, X.CREATE): (S.TRIGGERED, None),
    (S.ANSWERED, X.BAD_OUTPUT): (S.CLOSED, None),
    (S.OWES_OUTPUTS, X.OUTPUT): (S.OWES_OUTPUTS, None),
    (S.OWES_OUTPUTS, X.LAST_OUTPUT): (S.OWES_CREATE, None),
    (S.OWES_OUTPUTS, X.CREATE): (S.CLOSED, Rule.CREATE_BEFORE_OUTPUT),  # R5
    (S.OWES_OUTPUTS, X.BAD_OUTPUT): (S.CLOSED, None),
    (S.OWES_OUTPUTS, X.OUTPUT_DUE): (S.CLOSED, Rule.MISSING_OUTPUT),  # R1, R8
    (S.OWES_CREATE, X.CREATE): (S.TRIGGERED, None),  # R4
    (S.OWES_CREATE, X.BAD_OUTPUT): (S.CLOSED, None),  # a second output (R7)
    (S.OWES_CREATE, X.CREATE_DUE): (S.MISSED_CREATE, Rule.MISSING_RESPONSE_CREATE),  # R4, R8
    # R6: the service refused a create sent before the round's response.done, and none came after it
    # (a client that sends it again once the response is done loses nothing, and is not charged)
    (S.OWES_CREATE, X.REFUSED_CREATE_DUE): (S.MISSED_CREATE, Rule.CREATE_WHILE_ACTIVE),
    (S.ANSWERED, X.REFUSED_CREATE_DUE): (S.CLOSED, Rule.CREATE_WHILE_ACTIVE),  # the client left before response.done
    (S.STREAMING, X.REFUSED_CREATE_DUE): (S.CLOSED, Rule.CREATE_WHILE_ACTIVE),
    (S.MISSED_CREATE, X.CREATE): (S.TRIGGERED, Rule.LATE_RESPONSE_CREATE),  # R8: replaces the missing create
}

#: The states in which a round still waits for the client (an output or its create).
OPEN = frozenset({S.STREAMING, S.ANSWERED, S.OWES_OUTPUTS, S.OWES_CREATE})

del S, X


@dataclass(slots=True)
class Call:
    call_id: str
    name: str
    item_id: str
    response_id: str
    output_index: int | None = None  # record index of the accepted output
    deadline: float | None = None
    bound: float | None = None  # the seconds `deadline` allows, for messages
    step: int | None = None  # the expect step awaiting its output
    line: int | None = None
    match: dict[str, Any] | None = None
    step_matched: bool = False
    output_event: dict[str, Any] | None = None
    output_item_id: str | None = None  # the output's item in the conversation, once the server reported it
    output_deleted: bool = False  # the client deleted that item (conversation.item.delete)
    arguments_done: bool = False  # response.function_call_arguments.done came (or the response ended)


@dataclass(slots=True)
class Round:
    """A response that called tools: its calls, and the create the client owes afterwards."""

    response_id: str
    step: int | None
    line: int | None
    calls: dict[str, Call] = field(default_factory=dict)
    state: RoundState = RoundState.STREAMING
    done_at: float | None = None  # response.done
    outputs_done_at: float | None = None  # when its last output arrived
    create_deadline: float | None = None
    create_from: float = 0.0  # when the create's bound started: the last of response.done, the last output, its step
    create_within: float | None = None  # the bound of the response.create step awaiting this round, if any
    create_reached: float = 0.0  # when that step was reached
    create_step: int | None = None
    create_line: int | None = None
    create_match: dict[str, Any] | None = None  # the response.create step's `match:`
    triggered_by: int | None = None
    refused_create: Record | None = None  # the record of a create the service refused while the response was active
    out_of_band_create: Record | None = None  # a create with conversation "none" sent while this round owed one
    message_item: Record | None = None  # a message item the client created while outputs were missing (a result sent as a message?)
    superseded: bool = False  # a Voice Live create ended its response (cancel_previous): that create is not its own
    missed_at: int | None = None  # the index of its missing-response-create finding

    @property
    def missing(self) -> list[Call]:
        return [c for c in self.calls.values() if c.output_index is None]

    @property
    def open(self) -> bool:
        return self.state in OPEN

    def step_on(self, stimulus: Stimulus) -> Rule | None:
        """Apply `stimulus` as the table says; the finding it makes, if any."""
        after = ROUND_RULES.get((self.state, stimulus))
        if after is None:
            return None
        self.state, rule = after
        return rule

    def arm_create(self, default_within: float) -> None:
        """R4/R8: the create's bound runs from when it could first be sent: the response is done and
        its last output is in ("…then response.create, within 3s"), or its step was reached, whichever
        is last. A slow tool therefore does not eat into the create's bound."""
        if self.state is not RoundState.OWES_CREATE or self.done_at is None:
            return
        self.create_from = max(self.done_at, self.outputs_done_at or 0.0, self.create_reached)
        within = self.create_within if self.create_within is not None else default_within
        self.create_deadline = self.create_from + within

    def earliest(self) -> float | None:
        """The earliest bound that may still make a finding."""
        if self.state is RoundState.OWES_CREATE:
            return self.create_deadline
        if self.state in (RoundState.STREAMING, RoundState.OWES_OUTPUTS):
            return min((c.deadline for c in self.missing if c.deadline is not None), default=None)
        return None
