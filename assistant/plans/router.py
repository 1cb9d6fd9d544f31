"""REST of the planner: ``POST /assistant/plans`` turns an operator's words into a guarded plan
and, when asked, submits it to control, which decides."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, HTTPException, Request, status

from control.deps import Authenticated, ServicesDep, role_of
from control.execution.store import IdempotencyConflict

from .models import PlanRequestBody, PlanResponse
from .service import Planner

router = APIRouter(tags=["assistant"])


async def planner(request: Request) -> Planner:
    found: Planner | None = getattr(request.app.state, "planner", None)
    if found is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "the planner is not available")
    return found


PlannerDep = Annotated[Planner, Depends(planner)]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=128,
        description="With submit: the same key and plan are never submitted twice.",
    ),
]


@router.post("/assistant/plans")
async def make_plan(
    body: PlanRequestBody,
    who: Authenticated,
    svc: ServicesDep,
    planner: PlannerDep,
    key: IdempotencyKey = None,
) -> PlanResponse:
    """Plan an operator's request: ``proposed`` (the plan, its citations), ``refused`` (why) or
    ``answer_only`` (a question: ask the chat). With ``submit`` a proposed plan goes to control,
    and ``record`` says what it decided: executed, waiting for approval (by which roles) or
    denied (why). The planner itself never acts on the plant."""
    role_of(svc, who)  # 403 for a role the plant model no longer defines
    outcome = await planner.plan(body.text, who)
    if not (body.submit and outcome.status == "proposed"):
        return PlanResponse(outcome=outcome)
    try:
        record = await planner.submit(outcome, who, key)
    except IdempotencyConflict:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"Idempotency-Key {key!r} was already used with a different plan",
        ) from None
    return PlanResponse(outcome=outcome, record=record)
