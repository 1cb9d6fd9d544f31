from __future__ import annotations

import math
import time
from typing import Annotated

from fastapi import APIRouter, Header, HTTPException, Query, Response, status
from pydantic import BaseModel, ConfigDict, Field

from control.actions.models import Action, ActionRequest, Plan, ProposedBy
from control.deps import Authenticated, ServicesDep
from control.execution.models import RequestRecord, RequestStatus, plant_unreachable
from control.execution.service import ApprovalError, ExecutionService
from control.execution.store import ApprovalAlreadyDecided, IdempotencyConflict, RequestNotFound
from control.metrics import REQUEST_SECONDS
from control.opcua.driver import Backoff

router = APIRouter(tags=["actions"])

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=128,
        description="Same key and body: same result, never actuated twice. Other body: 409.",
    ),
]

# HTTP status per final request status; the body always carries the full record.
_HTTP_STATUS = {
    RequestStatus.executed: status.HTTP_200_OK,
    RequestStatus.waiting_approval: status.HTTP_202_ACCEPTED,
    RequestStatus.executing: status.HTTP_202_ACCEPTED,
    RequestStatus.denied: status.HTTP_403_FORBIDDEN,
    RequestStatus.rejected: status.HTTP_403_FORBIDDEN,
    RequestStatus.expired: status.HTTP_409_CONFLICT,
    RequestStatus.failed: status.HTTP_502_BAD_GATEWAY,
}

# A request the plant could not be read for is answered 503: the driver tries to reconnect
# at least this often, so a retry after it meets a fresh attempt.
RETRY_AFTER_S = math.ceil(Backoff().max_s)
_RESPONSES: dict[int | str, dict[str, object]] = {
    202: {"description": "waiting for approval (Location: the request)"},
    403: {"description": "denied: the body's message says why"},
    409: {"description": "Idempotency-Key reused with another body"},
    502: {"description": "the plant refused, or the read-back disagreed"},
    503: {"description": "plant unreachable, nothing decided or sent; retry after Retry-After"},
}


class SingleAction(BaseModel):
    model_config = ConfigDict(extra="forbid")
    action: Action
    reason: str = Field(min_length=3, max_length=500)
    proposed_by: ProposedBy = ProposedBy()


class ApprovalAnswer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=3, max_length=500)


async def _submit(
    request: ActionRequest,
    svc: ServicesDep,
    who: Authenticated,
    key: str | None,
    response: Response,
) -> RequestRecord:
    started = time.perf_counter()
    try:
        record = await ExecutionService(svc).submit(request, who, key)
    except IdempotencyConflict:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"Idempotency-Key {key!r} was already used with a different request body",
        ) from None
    REQUEST_SECONDS.labels(record.status.value).observe(time.perf_counter() - started)
    response.status_code = _HTTP_STATUS[record.status]
    if record.status is RequestStatus.denied and plant_unreachable(record.decision):
        # Not refused on its merits: the plant could not be read, so ask for a retry.
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
        response.headers["Retry-After"] = str(RETRY_AFTER_S)
    if record.status is RequestStatus.waiting_approval:
        response.headers["Location"] = f"/requests/{record.id}"
    return record


@router.post("/plans", response_model=RequestRecord, responses=_RESPONSES)
async def submit_plan(
    body: ActionRequest,
    svc: ServicesDep,
    who: Authenticated,
    response: Response,
    key: IdempotencyKey = None,
) -> RequestRecord:
    """Submit a plan; answers once it is executed (200), waiting for approval (202), denied (403),
    failed at the plant (502) or not decided because the plant is unreachable (503)."""
    return await _submit(body, svc, who, key, response)


@router.post("/actions", response_model=RequestRecord, responses=_RESPONSES)
async def submit_action(
    body: SingleAction,
    svc: ServicesDep,
    who: Authenticated,
    response: Response,
    key: IdempotencyKey = None,
) -> RequestRecord:
    """Submit one action: a plan of one step."""
    request = ActionRequest(
        plan=Plan(steps=(body.action,)), reason=body.reason, proposed_by=body.proposed_by
    )
    return await _submit(request, svc, who, key, response)


@router.get("/requests", response_model=list[RequestRecord])
async def list_requests(
    svc: ServicesDep,
    who: Authenticated,
    status_: Annotated[RequestStatus | None, Query(alias="status")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[RequestRecord]:
    return await svc.requests.list(status=status_, limit=limit, offset=offset)


@router.get("/requests/{request_id}", response_model=RequestRecord)
async def get_request(request_id: str, svc: ServicesDep, who: Authenticated) -> RequestRecord:
    try:
        return await svc.requests.get(request_id)
    except RequestNotFound:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no request {request_id!r}") from None


@router.get("/approvals", response_model=list[RequestRecord])
async def pending_approvals(svc: ServicesDep, who: Authenticated) -> list[RequestRecord]:
    """Requests waiting for approval that this caller could approve."""
    waiting = await svc.requests.list(status=RequestStatus.waiting_approval, limit=500)
    return [
        r for r in waiting if who.role in r.decision.approver_roles and r.requester.user != who.user
    ]


async def _answer(
    request_id: str,
    approve: bool,
    body: ApprovalAnswer,
    svc: ServicesDep,
    who: Authenticated,
    response: Response,
) -> RequestRecord:
    try:
        record = await ExecutionService(svc).answer_approval(request_id, who, approve, body.reason)
    except RequestNotFound:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no request {request_id!r}") from None
    except ApprovalError as exc:
        code = status.HTTP_403_FORBIDDEN if exc.forbidden else status.HTTP_409_CONFLICT
        raise HTTPException(code, str(exc)) from None
    except ApprovalAlreadyDecided:
        raise HTTPException(
            status.HTTP_409_CONFLICT, f"request {request_id} was already answered"
        ) from None
    response.status_code = _HTTP_STATUS[record.status] if approve else status.HTTP_200_OK
    return record


@router.post("/approvals/{request_id}/approve", response_model=RequestRecord)
async def approve(
    request_id: str, body: ApprovalAnswer, svc: ServicesDep, who: Authenticated, response: Response
) -> RequestRecord:
    """Approve (four eyes: not the requester); answers with the executed or failed request."""
    return await _answer(request_id, True, body, svc, who, response)


@router.post("/approvals/{request_id}/reject", response_model=RequestRecord)
async def reject(
    request_id: str, body: ApprovalAnswer, svc: ServicesDep, who: Authenticated, response: Response
) -> RequestRecord:
    return await _answer(request_id, False, body, svc, who, response)
