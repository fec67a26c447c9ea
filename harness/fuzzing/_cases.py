"""What a fuzz case *is*, as scenarios: which calls are fuzzed, the scenario each case plays, and the
reproducer file written for the minimal failing case.

A case replaces the `arguments` of each fuzzed function call by a generated payload, sent in exactly
the generated delta chunks (the scenario model's `deltas`). Generating payloads is `payloads.py`'s
job; running clients against cases is `_fuzz_runner.py`'s.
"""

from __future__ import annotations

import dataclasses
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from ...mockserver.errors import UsageError
from ...mockserver.scenario.loader import MAX_FILE_BYTES, CallRef, LoadedScenario, load_scenario_text
from ...mockserver.scenario.model import (
    ClosePlan,
    CloseStep,
    ExpectStep,
    FunctionCallPart,
    RespondStep,
    TextPart,
)
from .payloads import DEFAULT_MAX_CHARS, DEFAULT_MAX_OUTPUT_TOKENS, Payload, max_argument_chars

__all__ = [
    "CASE_DONE_REASON", "FUZZ_DONE_REASON", "HOSTILE_MARK", "MIN_ARGUMENT_CHARS", "CaseInput", "FuzzTarget",
    "argument_budgets", "case_scenario", "done_scenario", "fuzz_targets", "kind_label", "reproducer_yaml",
    "unjudged_matches",
]  # fmt: skip

#: The close reason that ends each passing case's session: a client in a loop reconnects for the next.
CASE_DONE_REASON = "rtmock: case done"
#: The close reason that tells a looping client there are no more cases: exit.
FUZZ_DONE_REASON = "rtmock: fuzzing done"


@dataclass(frozen=True, slots=True)
class FuzzTarget:
    """A function call the scenario emits, whose arguments are fuzzed."""

    ref: CallRef
    label: str  # how reports name it: the call's id label, its call_id, or its tool name
    schema: dict[str, Any] | None  # the tool's `parameters` from the scenario's `tools:`
    #: the longest arguments the service could send for this call (see `argument_budgets`)
    max_chars: int = DEFAULT_MAX_CHARS

    def oversized(self, payload: Payload) -> bool:
        """Past what the service could send for this call: a payload only `--hostile` generates."""
        return len(payload.text) > self.max_chars

    @property
    def name(self) -> str:
        return self.ref.spec.name

    def __str__(self) -> str:
        return self.label if self.label == self.name else f"{self.label} ({self.name})"


@dataclass(frozen=True, slots=True)
class CaseInput:
    """What one fuzzed call sends in a case: the payload text, split into these deltas."""

    payload: Payload
    deltas: tuple[str, ...]

    @property
    def key(self) -> tuple[str, str, tuple[str, ...]]:
        return (self.payload.kind, self.payload.text, self.deltas)

    def __repr__(self) -> str:
        # Hypothesis prints the falsifying example: a megabyte payload must not be printed twice over.
        return f"CaseInput({self.payload!r}, deltas: {len(self.deltas)})"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))


#: How reports mark the kind of a payload past what the service could send (only `--hostile` makes one).
HOSTILE_MARK = " (hostile)"


def kind_label(target: FuzzTarget, case: CaseInput) -> str:
    """The payload's kind as reports show it: marked when it is past what the service could send."""
    return case.payload.kind + (HOSTILE_MARK if target.oversized(case.payload) else "")


def fuzz_targets(loaded: LoadedScenario, call: str | None = None, *,
                 max_output_tokens: int = DEFAULT_MAX_OUTPUT_TOKENS) -> list[FuzzTarget]:
    """The calls to fuzz: every function call the scenario emits, or the one `call` names (by its id
    label, call_id or tool name), each with the longest arguments a response of `max_output_tokens`
    can carry for it (`argument_budgets`)."""
    if not loaded.calls:
        raise UsageError(f"{loaded.path or loaded.name}: the scenario emits no function call; nothing to fuzz "
                         "(add a `respond: [function_call: …]` step)")
    tools = {t.name: t.parameters for t in loaded.scenario.tools}
    names = [ref.spec.name for ref in loaded.calls]
    targets = []
    for ref in loaded.calls:
        label = ref.spec.id or ref.spec.call_id or ref.spec.name
        if label == ref.spec.name and names.count(label) > 1:
            label = f"{label}@{loaded.path or loaded.name}:{ref.line}"
        targets.append(FuzzTarget(ref, label, tools.get(ref.spec.name)))
    if call is not None:
        targets = _chosen(targets, call)
    budgets = argument_budgets(loaded, targets, max_output_tokens)
    return [dataclasses.replace(t, max_chars=budget) for t, budget in zip(targets, budgets, strict=True)]


#: The least room a fuzzed call gets, however full its response is of other parts.
MIN_ARGUMENT_CHARS = 64


def argument_budgets(loaded: LoadedScenario, targets: Sequence[FuzzTarget], max_output_tokens: int) -> list[int]:
    """For each fuzzed call, the longest arguments the service could send for it: a response is bounded
    by the model's output tokens (`max_argument_chars`: ~4 characters a token), and that room is shared:
    the response's other parts (text, calls not fuzzed) take theirs, and its fuzzed calls split the rest
    evenly (at least `MIN_ARGUMENT_CHARS` each)."""
    fuzzed = {(t.ref.step, t.ref.part) for t in targets}
    room: dict[int, int] = {}
    shares: dict[int, int] = {}
    for t in targets:
        step = loaded.scenario.steps[t.ref.step]
        assert isinstance(step, RespondStep)
        if t.ref.step not in room:
            others = sum(len(part.arguments_text) if isinstance(part, FunctionCallPart) else len(part.text)
                         for j, part in enumerate(step.respond)
                         if (t.ref.step, j) not in fuzzed and isinstance(part, FunctionCallPart | TextPart))
            room[t.ref.step] = max_argument_chars(max_output_tokens) - others
        shares[t.ref.step] = shares.get(t.ref.step, 0) + 1
    return [max(MIN_ARGUMENT_CHARS, room[t.ref.step] // shares[t.ref.step]) for t in targets]


def _chosen(targets: list[FuzzTarget], call: str) -> list[FuzzTarget]:
    chosen = [t for t in targets if call in (t.ref.spec.id, t.ref.spec.call_id)] or \
        [t for t in targets if t.name == call]
    if len(chosen) == 1:
        return chosen
    known = ", ".join(str(t) for t in targets)
    if not chosen:
        raise UsageError(f"--call {call!r}: the scenario has no such call (its calls: {known})")
    raise UsageError(f"--call {call!r} names {len(chosen)} calls; give each an `id:` in the scenario and name one "
                     f"(its calls: {known})")


def unjudged_matches(loaded: LoadedScenario, targets: Sequence[FuzzTarget]) -> list[int]:
    """The steps whose `match:` a fuzz case does not judge: expects of a fuzzed call's output. What the
    output may hold depends on the arguments, and those are the fuzzed payload (a client that answers
    `{"error": …}` to garbage is right to). The baseline case, with the scenario's own arguments, judges them."""
    places = {(t.ref.step, t.ref.part) for t in targets}
    unjudged = []
    for i, ref in loaded.output_calls.items():
        step = loaded.scenario.steps[i]
        if (ref.step, ref.part) in places and isinstance(step, ExpectStep) and step.match:
            unjudged.append(i)
    return sorted(unjudged)


def _with_call(loaded: LoadedScenario, replacements: dict[tuple[int, int], FunctionCallPart],
               extra_steps: Sequence[Any] = (), within_cap: float | None = None,
               unmatched: Sequence[int] = ()) -> LoadedScenario:
    steps = list(loaded.scenario.steps)
    for i in unmatched:
        step = steps[i]
        assert isinstance(step, ExpectStep)
        steps[i] = dataclasses.replace(step, match={})
    for (step_index, part_index), part in replacements.items():
        step = steps[step_index]
        assert isinstance(step, RespondStep)
        respond = list(step.respond)
        respond[part_index] = part
        steps[step_index] = dataclasses.replace(step, respond=tuple(respond))
    defaults = loaded.scenario.defaults
    if within_cap is not None:
        for i, step in enumerate(steps):
            if isinstance(step, ExpectStep) and (step.within is None or step.within > within_cap):
                steps[i] = dataclasses.replace(step, within=within_cap)
        defaults = dataclasses.replace(defaults, within=min(defaults.within, within_cap))
    steps.extend(extra_steps)
    scenario = dataclasses.replace(loaded.scenario, steps=tuple(steps), defaults=defaults)
    calls = [dataclasses.replace(ref, spec=replacements.get((ref.step, ref.part), ref.spec)) for ref in loaded.calls]
    by_place = {(ref.step, ref.part): ref for ref in calls}
    output_calls = {i: by_place[(ref.step, ref.part)] for i, ref in loaded.output_calls.items()}
    last_line = loaded.step_lines[-1] if loaded.step_lines else 1
    return dataclasses.replace(loaded, scenario=scenario, calls=calls, output_calls=output_calls,
                               step_lines=[*loaded.step_lines, *[last_line] * len(extra_steps)])


def _part(ref: CallRef, case: CaseInput) -> FunctionCallPart:
    if "".join(case.deltas) != case.payload.text:
        raise RuntimeError(f"rtmock bug: the deltas of case {case} do not make up its payload")
    return FunctionCallPart(ref.spec.name, case.payload.text, deltas=tuple(case.deltas), id=ref.spec.id,
                            call_id=ref.spec.call_id)


def case_scenario(loaded: LoadedScenario, targets: Sequence[FuzzTarget], inputs: Sequence[CaseInput] | None, *,
                  within_cap: float | None = None) -> LoadedScenario:
    """The scenario one case plays: the fuzzed calls carry the inputs (None: the scenario's own
    arguments, the baseline case), the `match:` of their outputs' expects is not judged (see
    `unjudged_matches`; the baseline judges it), bounds are capped at `within_cap`, and a passing
    case's session ends with a close (1000, CASE_DONE_REASON) so that a looping client reconnects."""
    replacements = {}
    unmatched: list[int] = []
    if inputs is not None:
        replacements = {(t.ref.step, t.ref.part): _part(t.ref, case) for t, case in zip(targets, inputs, strict=True)}
        unmatched = unjudged_matches(loaded, targets)
    last = loaded.scenario.steps[-1]
    closing = [] if isinstance(last, CloseStep) else [CloseStep(ClosePlan(code=1000, reason=CASE_DONE_REASON))]
    return _with_call(loaded, replacements, closing, within_cap, unmatched)


def done_scenario() -> LoadedScenario:
    """What a connection gets once fuzzing is over: session.created, then a close (1000, FUZZ_DONE_REASON)."""
    return load_scenario_text(f"name: rtmock-fuzz-done\nsteps:\n  - close: {{code: 1000, reason: '{FUZZ_DONE_REASON}'}}\n",
                              default_name="rtmock-fuzz-done")


# ---- the reproducer -------------------------------------------------------------------------------


class _Dumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):  # type: ignore[misc]  # libyaml when present: fast
    """Plain YAML that `load_scenario` reads back to exactly the same strings."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    # Payloads hold NULs, BOMs, bidi controls and trailing spaces: double quotes with escapes keep them
    # exact and visible. Ordinary text stays plain.
    plain = value.isprintable() and value == value.strip() and "\\" not in value and len(value) < 200
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=None if plain else '"')


_Dumper.add_representer(str, _str)


def reproducer_yaml(loaded: LoadedScenario, targets: Sequence[FuzzTarget], inputs: Sequence[CaseInput], *,
                    name: str, header: Sequence[str]) -> str:
    """The original scenario with each fuzzed call's arguments replaced by the case's raw payload and
    its exact deltas, and without the `match:` the case did not judge (`unjudged_matches`): a plain
    scenario `rtmock run` replays to the same verdict. The original's comments are not kept; `header`
    lines become the file's leading comment."""
    data: dict[str, Any] = _unshared(loaded.data)
    data = {"name": name, **{k: v for k, v in data.items() if k != "name"}}
    for i in unjudged_matches(loaded, targets):
        data["steps"][i].pop("match", None)
    for target, case in zip(targets, inputs, strict=True):
        part = data["steps"][target.ref.step]["respond"][target.ref.part]["function_call"]
        part.pop("chunks", None)
        part["arguments"] = case.payload.text
        part["deltas"] = list(case.deltas)
    comment = "".join(f"# {line}".rstrip() + "\n" for text in header for line in text.splitlines())

    def dump(*, allow_unicode: bool) -> str:
        return comment + yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=allow_unicode, width=1 << 30)

    # ASCII first: every bidi control, zero-width space and BOM shows as a \u escape, not as itself
    text = dump(allow_unicode=False)
    if len(text.encode("utf-8")) > MAX_FILE_BYTES:
        # a megabyte payload written twice does not fit a scenario file: the deltas alone define it
        for target in targets:
            data["steps"][target.ref.step]["respond"][target.ref.part]["function_call"].pop("arguments")
        text = dump(allow_unicode=False)
        if len(text.encode("utf-8")) > MAX_FILE_BYTES:
            text = dump(allow_unicode=True)
    _check_round_trip(text, targets, inputs)
    return text


def _unshared(value: Any) -> Any:
    """A copy in which no two places share an object (YAML aliases do; the payloads written into
    one call must not appear in another)."""
    if isinstance(value, dict):
        return {key: _unshared(inner) for key, inner in value.items()}
    if isinstance(value, list):
        return [_unshared(inner) for inner in value]
    return value


def _check_round_trip(text: str, targets: Sequence[FuzzTarget], inputs: Sequence[CaseInput]) -> None:
    """A reproducer that does not replay the case exactly would be a lie: fail loudly (an rtmock bug)."""
    reread = load_scenario_text(text, path="<reproducer>")
    for target, case in zip(targets, inputs, strict=True):
        spec = next(r.spec for r in reread.calls if (r.step, r.part) == (target.ref.step, target.ref.part))
        if spec.arguments_text != case.payload.text or tuple(spec.deltas or ()) != case.deltas:
            raise AssertionError(f"rtmock bug: the reproducer does not read back the payload of {target}")


def replay_command(path: str, command: Sequence[str] | None) -> str:
    client = shlex.join(command) if command else "<your client command>"
    return f"rtmock run {shlex.quote(path)} -- {client}"
