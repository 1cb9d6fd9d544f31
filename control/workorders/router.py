"""Work orders for the MES and maintenance planners: create, read, filter, edit, lifecycle."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, status
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from control.actions.models import Requester
from control.deps import Authenticated, ServicesDep, require
from control.execution.runtime import Services
from control.plant.models import Command, Permission
from control.workorders.models import (
    FailureMode,
    Part,
    Priority,
    WorkOrder,
    WorkOrderDraft,
    WorkOrderStatus,
)
from control.workorders.store import InvalidTransition, NotFound, StatusChange, WorkOrderClosed

router = APIRouter(prefix="/work-orders", tags=["work orders"])

MayRequest = Annotated[
    Requester,
    Depends(
        require(
            lambda r: r.may(Permission.request, Command.create_work_order), "create work orders"
        )
    ),
]
MayExecute = Annotated[
    Requester,
    Depends(
        require(
            lambda r: r.may(Permission.execute, Command.create_work_order), "change work orders"
        )
    ),
]


class WorkOrderPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    symptom: str | None = Field(default=None, min_length=3, max_length=500)
    failure_mode: FailureMode | None = None
    priority: Priority | None = None
    tasks: list[str] | None = Field(default=None, max_length=30)
    parts: list[Part] | None = Field(default=None, max_length=30)
    lockout_required: bool | None = None
    due: datetime | None = None


class Transition(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: WorkOrderStatus
    note: str | None = Field(default=None, max_length=500)


def _not_found(work_order_id: str) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, f"no work order {work_order_id!r}")


async def _audit(
    svc: Services, who: Requester, order: WorkOrder, reason: str, data: dict[str, Any]
) -> None:
    await svc.audit.append(
        kind="work_order", actor=who.user, role=who.role, subject=order.id, reason=reason, data=data
    )


@router.post("", response_model=WorkOrder, status_code=status.HTTP_201_CREATED)
async def create(draft: WorkOrderDraft, svc: ServicesDep, who: MayRequest) -> WorkOrder:
    if svc.plant.asset(draft.asset) is None:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"unknown asset {draft.asset!r}")
    order = await svc.work_orders.create(draft, created_by=who.user)
    await _audit(
        svc, who, order, "work order created", {"asset": order.asset, "priority": order.priority}
    )
    svc.events.publish(
        "work_order", {"id": order.id, "asset": order.asset, "status": order.status.value}
    )
    return order


@router.get("", response_model=list[WorkOrder])
async def list_work_orders(
    svc: ServicesDep,
    who: Authenticated,
    asset: str | None = None,
    status_: Annotated[list[WorkOrderStatus] | None, Query(alias="status")] = None,
    priority: Priority | None = None,
    failure_mode: FailureMode | None = None,
    created_since: datetime | None = None,
    created_until: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[WorkOrder]:
    return await svc.work_orders.list(
        asset=asset,
        status=status_ or None,
        priority=priority,
        failure_mode=failure_mode,
        created_since=created_since,
        created_until=created_until,
        limit=limit,
        offset=offset,
    )


@router.get("/{work_order_id}", response_model=WorkOrder)
async def get(work_order_id: str, svc: ServicesDep, who: Authenticated) -> WorkOrder:
    try:
        return await svc.work_orders.get(work_order_id)
    except NotFound:
        raise _not_found(work_order_id) from None


@router.get("/{work_order_id}/history", response_model=list[StatusChange])
async def history(work_order_id: str, svc: ServicesDep, who: Authenticated) -> list[StatusChange]:
    try:
        return await svc.work_orders.history(work_order_id)
    except NotFound:
        raise _not_found(work_order_id) from None


@router.patch("/{work_order_id}", response_model=WorkOrder)
async def edit(
    work_order_id: str, patch: WorkOrderPatch, svc: ServicesDep, who: MayExecute
) -> WorkOrder:
    changes = patch.model_dump(exclude_unset=True)
    try:
        order = await svc.work_orders.update(work_order_id, changes)
    except NotFound:
        raise _not_found(work_order_id) from None
    except WorkOrderClosed as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    except ValidationError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    await _audit(svc, who, order, "work order edited", {"changed": sorted(changes)})
    return order


@router.post("/{work_order_id}/transition", response_model=WorkOrder)
async def transition(
    work_order_id: str, body: Transition, svc: ServicesDep, who: MayExecute
) -> WorkOrder:
    return await _transition(svc, who, work_order_id, body.status, body.note)


@router.delete("/{work_order_id}", response_model=WorkOrder)
async def cancel(work_order_id: str, svc: ServicesDep, who: MayExecute) -> WorkOrder:
    """Work orders are records: deleting one cancels it, and it stays readable."""
    return await _transition(
        svc, who, work_order_id, WorkOrderStatus.cancelled, "cancelled via DELETE"
    )


async def _transition(
    svc: Services, who: Requester, work_order_id: str, new: WorkOrderStatus, note: str | None
) -> WorkOrder:
    try:
        order = await svc.work_orders.transition(work_order_id, new, who.user, note)
    except NotFound:
        raise _not_found(work_order_id) from None
    except InvalidTransition as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    await _audit(svc, who, order, note or f"status -> {new.value}", {"status": new.value})
    svc.events.publish(
        "work_order", {"id": order.id, "asset": order.asset, "status": order.status.value}
    )
    return order
