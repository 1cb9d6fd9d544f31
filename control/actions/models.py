"""The contract between whoever proposes (person, rule, language model) and control/.

A `Plan` is an ordered list of `Action`s; an `ActionRequest` wraps a plan with why it is
asked and who proposed it. Who *asks* is never taken from the body: the API fills in the
authenticated `Requester`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from control.quality.models import QualityHoldDraft
from control.workorders.models import WorkOrderDraft


class Contract(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SetParameter(Contract):
    command: Literal["set_parameter"]
    asset: str = Field(max_length=64)
    tag: str = Field(max_length=64)
    value: float = Field(allow_inf_nan=False, strict=True)


class RunCommand(Contract):
    command: Literal["start", "stop", "pause", "resume"]
    asset: str = Field(max_length=64)


class LockoutCommand(Contract):
    command: Literal["apply_lockout", "remove_lockout"]
    asset: str = Field(max_length=64)
    # Whose lock; defaults to the requester. Removing another person's lock needs approval.
    holder: str | None = Field(default=None, max_length=64)


class AcknowledgeAlarm(Contract):
    command: Literal["acknowledge_alarm"]
    asset: str = Field(max_length=64)
    alarm: str = Field(max_length=64)


class CreateWorkOrder(Contract):
    command: Literal["create_work_order"]
    asset: str = Field(max_length=64)
    work_order: WorkOrderDraft


class PlaceQualityHold(Contract):
    command: Literal["place_quality_hold"]
    asset: str = Field(max_length=64)  # the inspection station whose parts are held
    hold: QualityHoldDraft


Action = Annotated[
    SetParameter
    | RunCommand
    | LockoutCommand
    | AcknowledgeAlarm
    | CreateWorkOrder
    | PlaceQualityHold,
    Field(discriminator="command"),
]


class ProposerKind(StrEnum):
    human = "human"
    rule = "rule"
    model = "model"


class ProposedBy(Contract):
    kind: ProposerKind = ProposerKind.human
    name: str = Field(default="", max_length=120)  # model name or rule id


class Plan(Contract):
    steps: tuple[Action, ...] = Field(min_length=1, max_length=20)
    citations: tuple[str, ...] = Field(default=(), max_length=20)


class ActionRequest(Contract):
    plan: Plan
    reason: str = Field(min_length=3, max_length=500)
    proposed_by: ProposedBy = ProposedBy()


class Requester(Contract):
    user: str
    role: str
