"""Durable record of action requests: idempotency keys, status, decision and step results."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, String, UniqueConstraint, bindparam, insert, select, update
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import Mapped, mapped_column

from control.actions.models import ActionRequest, Requester
from control.audit.log import Change
from control.db import Base, UTCDateTime, run_transaction, serialized_writes, session_factory
from control.decisions.models import Decision
from control.execution.models import RequestRecord, RequestStatus, StepResult


class IdempotencyConflict(Exception):
    """The idempotency key was already used with a different request body."""


class RequestNotFound(LookupError):
    pass


class RequestRow(Base):
    __tablename__ = "action_requests"
    __table_args__ = (UniqueConstraint("requester_user", "idempotency_key"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    requester_user: Mapped[str] = mapped_column(String(64), index=True)
    requester_role: Mapped[str] = mapped_column(String(32))
    idempotency_key: Mapped[str | None] = mapped_column(String(128))
    body_sha256: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(24), index=True)
    request: Mapped[dict] = mapped_column(JSON)
    decision: Mapped[dict] = mapped_column(JSON)
    steps: Mapped[list] = mapped_column(JSON, default=list)
    approver: Mapped[str | None] = mapped_column(String(64))
    approval_reason: Mapped[str | None] = mapped_column(String(500))
    message: Mapped[str] = mapped_column(String(2000), default="")
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


_INSERT = insert(RequestRow)


def body_hash(request: ActionRequest) -> str:
    canonical = json.dumps(request.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def to_record(row: RequestRow | Row[Any]) -> RequestRecord:
    """The record of a request row (ORM object or a row of its columns)."""
    return RequestRecord(
        id=row.id,
        status=RequestStatus(row.status),
        requester=Requester(user=row.requester_user, role=row.requester_role),
        request=ActionRequest.model_validate(row.request),
        decision=Decision.model_validate(row.decision),
        steps=tuple(StepResult.model_validate(s) for s in row.steps),
        approver=row.approver,
        approval_reason=row.approval_reason,
        expires_at=row.expires_at,
        created_at=row.created_at,
        updated_at=row.updated_at,
        message=row.message,
    )


class RequestStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._sessions = session_factory(engine)

    async def find_by_key(self, user: str, key: str) -> tuple[RequestRecord, str] | None:
        """The request an idempotency key already named, with its body hash."""
        async with self._sessions() as session:
            row = await session.scalar(
                select(RequestRow).where(
                    RequestRow.requester_user == user, RequestRow.idempotency_key == key
                )
            )
            return (to_record(row), row.body_sha256) if row else None

    async def create(
        self,
        record: RequestRecord,
        idempotency_key: str | None,
    ) -> tuple[RequestRecord, bool]:
        """Insert a new request: (record, True); with a key already used, (that request, False).

        Raises IdempotencyConflict when the key was used for a different body.
        """
        digest = body_hash(record.request)
        row = {
            "id": record.id,
            "requester_user": record.requester.user,
            "requester_role": record.requester.role,
            "idempotency_key": idempotency_key,
            "body_sha256": digest,
            "status": record.status.value,
            "request": record.request.model_dump(mode="json"),
            "decision": record.decision.model_dump(mode="json"),
            "steps": [],
            "message": record.message,
            "expires_at": record.expires_at,
            "created_at": record.created_at,
            "updated_at": record.updated_at,
        }
        try:
            # Core in one worker hop, not the ORM: this insert is on every request's path.
            async with serialized_writes(self._engine):
                await run_transaction(self._engine, lambda conn: conn.execute(_INSERT, row))
        except IntegrityError:
            if idempotency_key is None:
                raise
            # A concurrent request with the same key won the race: answer with its record.
            found = await self.find_by_key(record.requester.user, idempotency_key)
            if found is None:
                raise
            existing, existing_digest = found
            if existing_digest != digest:
                raise IdempotencyConflict(idempotency_key) from None
            return existing, False
        return record, True

    async def get(self, request_id: str) -> RequestRecord:
        async with self._sessions() as session:
            row = await session.get(RequestRow, request_id)
            if row is None:
                raise RequestNotFound(request_id)
            return to_record(row)

    async def list(
        self, status: RequestStatus | None = None, limit: int = 100, offset: int = 0
    ) -> list[RequestRecord]:
        query = (
            select(RequestRow).order_by(RequestRow.created_at.desc()).limit(limit).offset(offset)
        )
        if status is not None:
            query = query.where(RequestRow.status == status.value)
        async with self._sessions() as session:
            return [to_record(r) for r in await session.scalars(query)]

    async def record_approval(self, request_id: str, approver: str, reason: str) -> None:
        """Claim the approval decision; exactly one approver can win it."""
        async with serialized_writes(self._engine), self._sessions.begin() as session:
            result = await session.execute(
                update(RequestRow)
                .where(
                    RequestRow.id == request_id,
                    RequestRow.status == RequestStatus.waiting_approval.value,
                    RequestRow.approver.is_(None),
                )
                .values(approver=approver, approval_reason=reason, updated_at=datetime.now(UTC))
            )
            if result.rowcount != 1:
                raise ApprovalAlreadyDecided(request_id)

    async def update(
        self,
        request_id: str,
        *,
        status: RequestStatus,
        message: str | None = None,
        steps: tuple[StepResult, ...] | None = None,
    ) -> RequestRecord:
        values: dict[str, object] = {"status": status.value, "updated_at": datetime.now(UTC)}
        if message is not None:
            values["message"] = message
        if steps is not None:
            values["steps"] = [s.model_dump(mode="json") for s in steps]
        # One UPDATE ... RETURNING: a read-then-write transaction could lose SQLite's
        # write lock to a concurrent writer (SQLITE_BUSY_SNAPSHOT) instead of waiting.
        async with serialized_writes(self._engine), self._sessions.begin() as session:
            row = await session.scalar(
                update(RequestRow)
                .where(RequestRow.id == request_id)
                .values(values)
                .returning(RequestRow)
            )
            if row is None:
                raise RequestNotFound(request_id)
            return to_record(row)


_FINISH = (
    update(RequestRow)
    .where(
        RequestRow.id == bindparam("request_id"),
        RequestRow.status.in_([s.value for s in RequestStatus if not s.final]),
    )
    .values(
        status=bindparam("status"),
        message=bindparam("message"),
        steps=bindparam("steps"),
        updated_at=bindparam("updated_at"),
    )
    .returning(*RequestRow.__table__.c)
)


def finishing(
    request_id: str, status: RequestStatus, message: str, steps: tuple[StepResult, ...]
) -> Change:
    """The UPDATE that gives a request its final status, RETURNING the row; it matches no row
    once the request is final, so running it again (a replayed workflow) changes nothing.

    Run it with `AuditLog.append_with_change`: the request's end and its audit records then
    commit together or not at all.
    """
    return _FINISH, {
        "request_id": request_id,
        "status": status.value,
        "message": message,
        "steps": [s.model_dump(mode="json") for s in steps],
        "updated_at": datetime.now(UTC),
    }


class ApprovalAlreadyDecided(Exception):
    """Another approver answered first, or the request is no longer waiting."""
