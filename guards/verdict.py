"""The guards' answer on one proposal: validated, or refused with every reason found."""

from __future__ import annotations

from prometheus_client import Counter
from pydantic import BaseModel, ConfigDict

from .models import GuardContext, PlanProposal

VERDICTS = Counter("andon_guard_verdicts_total", "Proposals judged by the guards", ["outcome"])


class GuardVerdict(BaseModel):
    model_config = ConfigDict(frozen=True)

    passed: bool
    reasons: tuple[str, ...] = ()


def validate(proposal: PlanProposal, ctx: GuardContext) -> GuardVerdict:
    """``proposal`` judged by every validator, run through guardrails-ai."""
    from .rails import plan_guard, run_guard  # guardrails takes seconds to import: on first use

    reasons = tuple(dict.fromkeys(run_guard(plan_guard(), proposal, ctx)))
    VERDICTS.labels("passed" if not reasons else "failed").inc()
    return GuardVerdict(passed=not reasons, reasons=reasons)
