"""Contracts of the planner: what one request became, and the REST body around it."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from control.actions.models import ActionRequest
from control.execution.models import RequestRecord

PlanStatus = Literal["proposed", "refused", "answer_only"]


class PlanOutcome(BaseModel):
    """A request turned into a validated plan, a refusal with its reason, or a question for chat.

    ``proposed`` carries ``request`` (validated by the guards, not yet decided by control);
    ``refused`` carries ``refusal``, one sentence for the operator; ``answer_only`` means the
    text asks a question rather than for an action, and belongs to the chat.
    """

    model_config = ConfigDict(frozen=True)

    status: PlanStatus
    request: ActionRequest | None = None
    refusal: str | None = None
    guard_failures: list[str] = Field(default_factory=list)  # every reason seen, all attempts
    attempts: int = 0  # language-model calls
    citations: list[str] = Field(default_factory=list)
    # Retrieved sources kept from the model because they try to instruct it.
    withheld: list[str] = Field(default_factory=list)
    latency_s: float = 0.0


class PlanRequestBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=3, max_length=500, description="the operator's request")
    submit: bool = Field(
        default=False, description="submit a proposed plan to control at once (else: preview)"
    )


class PlanResponse(BaseModel):
    """The planner's outcome and, when it was submitted, control's record of the request:
    executed, waiting for approval (by which roles) or denied (and why)."""

    outcome: PlanOutcome
    record: RequestRecord | None = None
