"""Reading and verifying the audit trail over REST (supervisors, engineers, admins)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from control.actions.models import Requester
from control.audit.records import AuditKind, AuditRecord
from control.deps import ServicesDep, require

router = APIRouter(prefix="/audit", tags=["audit"])

# Who may read the trail: anyone who approves others' requests, and admins.
Auditor = Annotated[
    Requester, Depends(require(lambda r: bool(r.approve) or r.admin, "read the audit trail"))
]


class Verification(BaseModel):
    ok: bool
    records: int
    head_seq: int
    head_hash: str
    problem: str | None


@router.get("", response_model=list[AuditRecord])
async def list_records(
    svc: ServicesDep,
    who: Auditor,
    subject: str | None = None,
    kind: AuditKind | None = None,
    request_id: str | None = None,
    since: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[AuditRecord]:
    return await svc.audit.list(
        subject=subject, kind=kind, request_id=request_id, since=since, limit=limit
    )


@router.get("/verify", response_model=Verification)
async def verify(svc: ServicesDep, who: Auditor) -> Verification:
    """Walk the hash chain and compare its head with the anchor."""
    report = await svc.audit.verify()
    return Verification(
        ok=report.ok,
        records=report.records,
        head_seq=report.head_seq,
        head_hash=report.head_hash,
        problem=report.summary() if not report.ok else None,
    )
