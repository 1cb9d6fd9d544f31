"""What a language model may propose, and what guards/ judges it against.

`PlanProposal` is the bounded answer a model fills in (every string and list has a maximum, so
a small model cannot run away). It is deliberately looser than control's `Plan`: ids are plain
strings, so a proposal from any backend (a vLLM server, another schema) can reach the guards and
be refused with reasons instead of failing to parse. `constrained_proposal` narrows the same
shape to the plant's own ids for constrained decoding, which then cannot invent an asset, a tag
or a citation; the guards still check everything.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import cached_property
from typing import Annotated, Any, Literal, Union, get_args

from pydantic import BaseModel, ConfigDict, Field, create_model

from control.actions.models import Requester
from control.plant.models import PlantModel, TagKind
from control.state.models import PlantState
from control.workorders.models import Priority
from retrieval.assets import AssetAliases

MAX_STEPS = 6
MAX_CITATIONS = 4
MAX_TASKS = 3
MAX_PARTS = 5
REASON_CHARS = 100

ProposalKind = Literal["action", "work_order", "question", "refuse"]
# Kinds that carry steps for control/; the others route to chat or end in a refusal.
ACTING_KINDS: frozenset[str] = frozenset({"action", "work_order"})

Name = Annotated[str, Field(min_length=1, max_length=64)]
Task = Annotated[str, Field(min_length=3, max_length=80)]
PartNumber = Annotated[str, Field(min_length=2, max_length=40)]
CitationRef = Annotated[str, Field(min_length=1, max_length=200)]


class Proposed(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SetParameterStep(Proposed):
    command: Literal["set_parameter"]
    asset: Name
    tag: Name
    value: float  # non-finite values are refused by the guards, not lost in parsing


class RunStep(Proposed):
    command: Literal["start", "stop", "pause", "resume"]
    asset: Name


class LockoutStep(Proposed):
    command: Literal["apply_lockout", "remove_lockout"]
    asset: Name
    holder: Name | None = None  # whose lock; none: the requester's own


class AcknowledgeStep(Proposed):
    command: Literal["acknowledge_alarm"]
    asset: Name
    alarm: Name


class WorkOrderStep(Proposed):
    command: Literal["create_work_order"]
    asset: Name
    symptom: str = Field(min_length=3, max_length=120)
    priority: Priority = Priority.medium
    tasks: tuple[Task, ...] = Field(default=(), max_length=MAX_TASKS)
    parts: tuple[PartNumber, ...] = Field(default=(), max_length=MAX_PARTS)
    lockout_required: bool = False
    due_in_hours: int | None = Field(default=None, ge=1, le=24 * 90)


ProposedStep = Annotated[
    SetParameterStep | RunStep | LockoutStep | AcknowledgeStep | WorkOrderStep,
    Field(discriminator="command"),
]


class PlanProposal(Proposed):
    """A model's answer to an operator's request: steps for control/, or no action and why."""

    kind: ProposalKind
    steps: tuple[ProposedStep, ...] = Field(default=(), max_length=MAX_STEPS)
    citations: tuple[CitationRef, ...] = Field(default=(), max_length=MAX_CITATIONS)
    reason: str = Field(default="", max_length=REASON_CHARS)


class GuardContext(BaseModel):
    """Everything the guards judge a proposal against, fixed for one request."""

    model_config = ConfigDict(frozen=True)

    plant: PlantModel
    state: PlantState
    requester: Requester
    request: str  # the operator's words
    # Citation id -> text of every source retrieved for this request and shown to the model.
    sources: Mapping[str, str]
    # Sources withheld from the model because they try to instruct it.
    flagged: frozenset[str] = frozenset()

    @cached_property
    def citable(self) -> frozenset[str]:
        return frozenset(self.sources) - self.flagged

    @cached_property
    def aliases(self) -> AssetAliases:
        return AssetAliases(self.plant)


def constrained_proposal(
    plant: PlantModel,
    *,
    citations: Iterable[str],
    parts: Iterable[str],
    kinds: Iterable[str] = get_args(ProposalKind),
    commands: Iterable[str] | None = None,
    min_steps: int = 0,
) -> type[BaseModel]:
    """`PlanProposal` with the plant's ids as choices, for constrained decoding.

    ``citations`` are the labels the prompt shows for its sources; ``parts`` the part numbers
    the request and its sources hold; ``kinds`` the kinds of answer allowed; ``commands``
    (default all) the commands a step may carry; ``min_steps`` the fewest steps (only where
    every allowed kind acts: a refusal has none). A proposal in this shape validates as a
    `PlanProposal`.
    """
    allowed = None if commands is None else frozenset(commands)
    assets = _choices(a.id for a in plant.assets)
    setpoints = _choices(t.id for a in plant.assets for t in a.tags if t.kind is TagKind.setpoint)
    alarms = _choices(al.id for a in plant.assets for t in a.tags for al in t.alarms)
    cite = _choices(citations)
    part_numbers = tuple(dict.fromkeys(parts))
    part = _choices(part_numbers)

    def step(base: type[Proposed], **fields: Any) -> type[BaseModel] | None:
        names = get_args(base.model_fields["command"].annotation)
        kept = tuple(n for n in names if allowed is None or n in allowed)
        if not kept:
            return None
        return create_model(
            base.__name__,
            __config__=ConfigDict(extra="forbid"),
            command=(Literal[kept], ...),
            asset=(assets, ...),
            **fields,
        )

    set_parameter = step(SetParameterStep, tag=(setpoints, ...), value=(float, ...))
    run = step(RunStep)
    lockout = step(LockoutStep, holder=(Name | None, None))
    acknowledge = step(AcknowledgeStep, alarm=(alarms, ...))
    # All but the due date required, in this order: the model writes the tasks and parts
    # before it decides on a lockout, and cannot skip the decision or the priority.
    work_order_fields: dict[str, Any] = {
        "symptom": (str, Field(min_length=3, max_length=120)),
        "priority": (Priority, ...),
        "tasks": (tuple[Task, ...], Field(max_length=MAX_TASKS)),
    }
    if part is not None:  # no part number known: the order names none
        # No more entries than distinct choices: a small model otherwise repeats one part.
        most = min(MAX_PARTS, len(part_numbers))
        work_order_fields["parts"] = (tuple[part, ...], Field(max_length=most))  # type: ignore[valid-type]
    work_order_fields["lockout_required"] = (bool, ...)
    work_order_fields["due_in_hours"] = (int | None, Field(default=None, ge=1, le=24 * 90))
    work_order = step(WorkOrderStep, **work_order_fields)
    members = [m for m in (set_parameter, run, lockout, acknowledge, work_order) if m is not None]
    if not members:
        raise ValueError(f"no step carries any of the commands {sorted(allowed or ())}")
    union: Any = (
        members[0]
        if len(members) == 1
        else Annotated[Union[tuple(members)], Field(discriminator="command")]  # noqa: UP007
    )
    # A request reports one fault: a plan of work orders alone holds one (a small model
    # otherwise writes the same order again until its tokens run out).
    most_steps = 1 if allowed == {"create_work_order"} else MAX_STEPS
    if min_steps > most_steps or (min_steps and not set(kinds) <= ACTING_KINDS):
        raise ValueError(f"{min_steps} steps at least cannot be asked of kinds {sorted(kinds)}")
    # Required, so the model writes its citations instead of skipping them.
    citation_field: Any = (
        (tuple[cite, ...], Field(min_length=1, max_length=MAX_CITATIONS))  # type: ignore[valid-type]
        if cite is not None
        else (tuple[()], ())
    )
    return create_model(
        "PlanProposal",
        __config__=ConfigDict(extra="forbid"),
        kind=(_choices(kinds), ...),
        # Required like the citations: grammars put required keys first, in this order.
        steps=(tuple[union, ...], Field(min_length=min_steps, max_length=most_steps)),
        citations=citation_field,
        reason=(str, Field(default="", max_length=REASON_CHARS)),
    )


def _choices(values: Iterable[str]) -> Any:
    """A Literal of the distinct values in order, or None when there are none."""
    distinct = tuple(dict.fromkeys(values))
    return Literal[distinct] if distinct else None  # type: ignore[valid-type]


def as_proposal(value: BaseModel | Mapping[str, Any], labels: Mapping[str, str]) -> PlanProposal:
    """A constrained answer as a `PlanProposal`, with citation labels mapped back to ids."""
    data = dict(value.model_dump() if isinstance(value, BaseModel) else value)
    data["citations"] = tuple(labels.get(c, c) for c in data.get("citations", ()))
    return PlanProposal.model_validate(data)
