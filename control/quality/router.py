"""Quality holds for supervisors and the MES: list, read, release or scrap a held lot.

Holds are *placed* only through a plan step (`place_quality_hold`), so a rule or a person
placing one goes through evaluate, execution and the audit trail like any other action.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, status
from pydantic import BaseModel, ConfigDict, Field

from control.actions.models import Requester
from control.deps import Authenticated, ServicesDep, require
from control.plant.models import Command, Permission
from control.quality.models import HoldStatus, QualityHold
from control.quality.store import HoldNotFound, HoldResolved

router = APIRouter(prefix="/quality-holds", tags=["quality holds"])

# Whoever may approve a hold may decide what becomes of the held parts.
MayResolve = Annotated[
    Requester,
    Depends(
        require(
            lambda r: r.may(Permission.approve, Command.place_quality_hold),
            "release or scrap held parts",
        )
    ),
]


class Resolution(BaseModel):
    model_config = ConfigDict(extra="forbid")
    outcome: Literal["released", "scrapped"]
    note: str = Field(min_length=3, max_length=500)  # what the check found


@router.get("", response_model=list[QualityHold])
async def list_holds(
    svc: ServicesDep,
    who: Authenticated,
    asset: str | None = None,
    line: str | None = None,
    status_: Annotated[HoldStatus | None, Query(alias="status")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[QualityHold]:
    return await svc.quality_holds.list(
        asset=asset, line=line, status=status_, limit=limit, offset=offset
    )


@router.get("/{hold_id}", response_model=QualityHold)
async def get(hold_id: str, svc: ServicesDep, who: Authenticated) -> QualityHold:
    try:
        return await svc.quality_holds.get(hold_id)
    except HoldNotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None


@router.post("/{hold_id}/resolve", response_model=QualityHold)
async def resolve(hold_id: str, body: Resolution, svc: ServicesDep, who: MayResolve) -> QualityHold:
    try:
        hold = await svc.quality_holds.resolve(
            hold_id, HoldStatus(body.outcome), who.user, body.note
        )
    except HoldNotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    except HoldResolved as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    await svc.audit.append(
        kind="quality_hold",
        actor=who.user,
        role=who.role,
        subject=hold.id,
        reason=body.note,
        data={"asset": hold.asset, "status": hold.status.value},
    )
    svc.events.publish(
        "quality_hold", {"id": hold.id, "asset": hold.asset, "status": hold.status.value}
    )
    return hold
