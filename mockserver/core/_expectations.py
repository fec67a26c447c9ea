"""The script's expect steps and the client events that may meet them: what `SessionCore` matches.

Consecutive `expect` steps form a `Group`, one `Expectation` per step, met in any order. Accepted
client events a step may still take are held by type, in arrival order (`HeldEvents`), until an
expectation takes one. Whether an event fits a step (`fits`) depends only on the event, the step
and its group: its kind, the call it answers, its `match:`, and for a response.create which
conversation it is for and whether the server's own voice turn may stand in for it.

Belongs here: those structures, the matching over them, and what the matching reads of a
response.create (`out_of_band`, `tools_in_effect`). Not here: when the script reaches or leaves a
group, and the notes that say what matched or was skipped (`session.py`, which runs the script and
writes every record); what a client event does to the session.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from ..scenario.matching import matches
from ..scenario.model import ExpectStep, Step, meets_kind, takes


@dataclass(slots=True)
class Expectation:
    step: int
    spec: ExpectStep
    call_id: str | None  # for function_call_output: the call's wire call_id
    matched_by: int | None = None  # record index of the client event that met it
    skipped: bool = False  # it awaits the output of a cancelled call: nothing is owed
    #: how far into the held events of its type it has looked: those before did not fit it (and
    #: never will: a fit depends on the event, the step and its group, all fixed once seen)
    scanned: int = 0

    @property
    def open(self) -> bool:
        return self.matched_by is None and not self.skipped


@dataclass(frozen=True, slots=True)
class ToolsInEffect:
    names: tuple[str, ...]  # the function tools' names
    given_by: str  # "session" (session.tools) or "response" (the create's response.tools)
    #: what `tool_choice` narrows them to: () for "none", (name,) for a forced function; None when
    #: it narrows nothing ("auto", "required", absent)
    allowed: tuple[str, ...] | None = None
    choice: str | None = None  # that tool_choice as the client gave it (JSON text), when it narrows


@dataclass(slots=True)
class Group:
    expectations: list[Expectation]
    trigger: dict[str, Any] | None = None  # the response.create this group consumed
    trigger_tools: ToolsInEffect | None = None  # the tools in effect for it when it came
    #: the group after a response that called tools: its response.create is the client's, after the
    #: outputs; a voice turn the server VAD detects meanwhile is a new user turn, not this trigger
    after_tools: bool = False

    @property
    def done(self) -> bool:
        return not any(e.open for e in self.expectations)

    def skip_cancelled(self, cancelled_calls: set[str]) -> list[Expectation]:
        """An expect awaiting the output of a call whose response was cancelled is owed nothing:
        the call never completed, and the service wants no output for it. The expectations skipped
        now (the caller notes them)."""
        skipped = []
        for expectation in self.expectations:
            if expectation.open and expectation.call_id in cancelled_calls:
                expectation.skipped = True
                skipped.append(expectation)
        return skipped


@dataclass(slots=True)
class Candidate:
    index: int
    event: dict[str, Any]
    consumed: bool = False
    #: for a response.create: the function tools in effect for the response it asks for, when it came
    #: (the service acts on events in order: a create before the session.update gets no tools)
    tools: ToolsInEffect | None = None


class Held:
    """Accepted client events of one type that the script may still take, in arrival order. Taken
    ones are dropped from the front, and each expectation resumes where it last looked
    (`Expectation.scanned`), so matching costs the same at event 20 and at event 20,000."""

    __slots__ = ("_base", "_head", "_items")

    def __init__(self) -> None:
        self._items: list[Candidate] = []
        self._base = 0  # the position (counted from the first event ever held) of _items[0]
        self._head = 0  # _items[:_head] are all consumed

    def __len__(self) -> int:
        return len(self._items) - self._head

    def add(self, candidate: Candidate) -> None:
        self._items.append(candidate)

    def first(self, since: int, fits: Callable[[dict[str, Any]], bool]) -> tuple[Candidate | None, int]:
        """The earliest unconsumed event from position `since` on that `fits`, and the position to
        resume from next time (past it, or past the last event held)."""
        items, base = self._items, self._base
        at = max(since - base, self._head)
        while at < len(items):
            candidate = items[at]
            at += 1
            if not candidate.consumed and fits(candidate.event):
                return candidate, base + at
        return None, base + at

    def unconsumed(self) -> list[Candidate]:
        return [c for c in self._items[self._head:] if not c.consumed]

    def compact(self) -> None:
        """Forget the consumed events at the front (amortised: the list is cut when half is dead)."""
        items, head = self._items, self._head
        while head < len(items) and items[head].consumed:
            head += 1
        if head > 32 and head * 2 > len(items):
            self._items = items[head:]
            self._base += head
            head = 0
        self._head = head


#: Whether a client event fits an expectation of a group: `fits`, or a stand-in for it.
Fits = Callable[..., bool]


class HeldEvents:
    """The accepted client events the script may still take, by type. An event no step from the
    script's position on takes is not held (a voice client's 30,000 appends, say), as no step could
    ever match it; a response.create always is, as one no group takes is still answered."""

    __slots__ = ("_by_type", "_takable")

    def __init__(self, steps: Sequence[Step]) -> None:
        self._by_type: dict[str, Held] = {}
        #: the client event types the steps from each position on can take
        self._takable: list[frozenset[str]] = [frozenset()] * (len(steps) + 1)
        for at in range(len(steps) - 1, -1, -1):
            step = steps[at]
            more = {takes(step.expect)} if isinstance(step, ExpectStep) else set()
            self._takable[at] = self._takable[at + 1] | more

    def get(self, kind: str) -> Held | None:
        """The held events of one type, if any were ever held."""
        return self._by_type.get(kind)

    def hold(self, index: int, event: dict[str, Any], position: int | None, tools: ToolsInEffect | None) -> None:
        """Hold an accepted client event (record `index`) if a step from `position` on (the step
        the script is at; None once it is complete) can take it. `tools`: for a response.create,
        the tools in effect for it now."""
        kind = event["type"]
        if kind == "response.create" or (position is not None and kind in self._takable[position]):
            held = self._by_type.get(kind)
            if held is None:
                held = self._by_type[kind] = Held()
            held.add(Candidate(index, event, tools=tools))

    def match(self, group: Group, fits: Fits) -> list[tuple[Expectation, int]]:
        """Give each open expectation of `group` the earliest held event that `fits` it (called as
        `fits(expectation, event, group=group)`); a response.create met becomes the group's trigger.
        Each expectation met now, in the group's order, with the record index of its event."""
        met: list[tuple[Expectation, int]] = []
        for expectation in group.expectations:
            if not expectation.open:
                continue
            held = self._by_type.get(takes(expectation.spec.expect))
            if held is None or not held:
                continue
            fits_this: Callable[[dict[str, Any]], bool] = partial(fits, expectation, group=group)
            candidate, expectation.scanned = held.first(expectation.scanned, fits_this)
            if candidate is not None:
                candidate.consumed = True
                held.compact()
                expectation.matched_by = candidate.index
                if candidate.event["type"] == "response.create":
                    group.trigger, group.trigger_tools = candidate.event, candidate.tools
                met.append((expectation, candidate.index))
        if group.trigger_tools is not None and group.trigger_tools.given_by == "response":
            met += _configured_per_response(group)
        return met


def _configured_per_response(group: Group) -> list[tuple[Expectation, int]]:
    """The group's response.create brings its own tools (response.tools): the client configures
    per response, which the service allows (it requires no session.update). An `expect:
    session.update` of the group that asks nothing particular (no `match:`) is met by that create."""
    create = next((e.matched_by for e in group.expectations
                   if e.spec.expect == "response.create" and e.matched_by is not None), None)
    if create is None:
        return []
    met = []
    for expectation in group.expectations:
        if expectation.open and expectation.spec.expect == "session.update" and not expectation.spec.match:
            expectation.matched_by = create
            met.append((expectation, create))
    return met


def fits(expectation: Expectation, event: dict[str, Any], group: Group) -> bool:
    """Whether an accepted client event meets an expectation of `group`."""
    spec = expectation.spec
    if not meets_kind(spec.expect, event, expectation.call_id):
        return False
    if spec.expect == "response.create" and not may_meet(expectation, event, group):
        return False
    return matches(event, spec.match)


def may_meet(expectation: Expectation, event: dict[str, Any], group: Group) -> bool:
    """Whether a response.create could meet this expectation, its `match:` aside: an out-of-band
    create meets only a step that asks for one (its `match:` names `response.conversation`); the
    server's own create for a voice turn never stands in for the client's create after a tool
    round (the user spoke while the tool ran: that is a new turn, answered as such)."""
    spec = expectation.spec
    if spec.expect != "response.create":
        return False
    if "response.conversation" in spec.match:  # the step says which conversation: that decides
        if not matches(event, {"response.conversation": spec.match["response.conversation"]}):
            return False
    elif out_of_band(event):
        return False
    return not (event.get("rtmock") == "server_vad" and group.after_tools)


def out_of_band_awaited(steps: Sequence[Step], position: int) -> bool:
    """Whether the expect group after the script's `position` awaits an out-of-band response.create."""
    at = position + 1
    while at < len(steps) and not isinstance(steps[at], ExpectStep):
        at += 1
    while at < len(steps) and isinstance(step := steps[at], ExpectStep):
        if step.expect == "response.create" and "response.conversation" in step.match:
            return True
        at += 1
    return False


def out_of_band(event: dict[str, Any]) -> bool:
    """A response.create for a response outside the default conversation (`conversation: "none"`)."""
    response = event.get("response")
    return isinstance(response, dict) and response.get("conversation") == "none"


def tools_in_effect(create: dict[str, Any] | None, session: dict[str, Any]) -> ToolsInEffect:
    """The function tools a response asked for by `create` may call: its own `response.tools` when
    it gives them ("override the Session's configuration for this Response only"), else the
    session's, as they are now."""
    request = (create or {}).get("response")
    own = request.get("tools") if isinstance(request, dict) else None
    tools, given_by = (own, "response") if isinstance(own, list) else (session.get("tools"), "session")
    names = tuple(str(t["name"]) for t in tools or () if isinstance(t, dict) and isinstance(t.get("name"), str))
    # tool_choice, the response's own else the session's: "none" lets the model call no tool, a
    # {"type": "function", "name": …} only that one
    choice = request.get("tool_choice") if isinstance(request, dict) and request.get("tool_choice") is not None \
        else session.get("tool_choice")
    if choice == "none" or (isinstance(choice, dict) and choice.get("type") == "mcp"):
        # "none": no tool; an MCP choice forces "a specific tool on a remote MCP server": no function
        return ToolsInEffect(names, given_by, (), json.dumps(choice))
    if isinstance(choice, dict) and choice.get("type") == "function" and isinstance(choice.get("name"), str):
        return ToolsInEffect(names, given_by, (choice["name"],), json.dumps(choice))
    if isinstance(choice, str) and choice not in ("auto", "required"):
        # beta types `tool_choice` as a string: "auto, none, required, or specify a function"
        return ToolsInEffect(names, given_by, (choice,), json.dumps(choice))
    return ToolsInEffect(names, given_by)
