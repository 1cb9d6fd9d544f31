"""What `evaluate` answers: allowed, needs approval (by which roles), or denied (why)."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict


class Outcome(StrEnum):
    allowed = "allowed"
    needs_approval = "needs_approval"
    denied = "denied"


class StepVerdict(BaseModel):
    model_config = ConfigDict(frozen=True)
    index: int
    outcome: Outcome
    reasons: tuple[str, ...] = ()  # why denied, or why approval is needed
    approver_roles: frozenset[str] = frozenset()
    rules: tuple[str, ...] = ()  # ids of the interlocks / checks that fired


class Decision(BaseModel):
    model_config = ConfigDict(frozen=True)
    outcome: Outcome
    reasons: tuple[str, ...] = ()
    # Roles that may approve every step needing approval (the requester may never approve).
    approver_roles: frozenset[str] = frozenset()
    steps: tuple[StepVerdict, ...] = ()
