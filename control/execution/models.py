"""Lifecycle of one action request, from submission to executed / denied / failed."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from control.actions.models import ActionRequest, Requester
from control.decisions.models import Decision, Outcome
from control.decisions.rules import Rule


class RequestStatus(StrEnum):
    waiting_approval = "waiting_approval"
    executing = "executing"
    executed = "executed"
    denied = "denied"  # refused by evaluate (interlock, range, role...)
    rejected = "rejected"  # an approver said no
    expired = "expired"  # nobody approved in time
    failed = "failed"  # the plant refused, read-back disagreed, or the outcome is unknown

    @property
    def final(self) -> bool:
        return self not in {RequestStatus.waiting_approval, RequestStatus.executing}


class StepResult(BaseModel):
    model_config = ConfigDict(frozen=True)
    index: int
    ok: bool
    sent: bool = True  # False: refused just before acting (judged again, or preempted)
    detail: str  # what the plant answered ("done", read-back value, work order id) or the error
    readback: float | str | None = None


class RequestRecord(BaseModel):
    """What the API returns for a request and what the request store keeps."""

    id: str
    status: RequestStatus
    requester: Requester
    request: ActionRequest
    decision: Decision
    steps: tuple[StepResult, ...] = ()
    approver: str | None = None
    approval_reason: str | None = None
    expires_at: datetime | None = None
    created_at: datetime
    updated_at: datetime
    message: str = ""  # one sentence for the operator: why denied / failed, who must approve


def plant_unreachable(decision: Decision) -> bool:
    """Denied only because the plant could not be read: not refused on its merits, and a
    retry once the plant is back may well be allowed."""
    return (
        decision.outcome is Outcome.denied
        and bool(decision.steps)
        and all(v.rules == (Rule.plant_disconnected,) for v in decision.steps)
    )
