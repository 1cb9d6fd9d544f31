"""Work-order persistence and the status lifecycle.

open -> planned -> in_progress -> completed; planned and in_progress may go on_hold and
come back from it; open, planned and on_hold may be cancelled. completed and cancelled are
final: such an order no longer changes.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Select, insert, select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from control.db import EXCLUSIVE_WRITE, insert_once, serialized_writes
from control.workorders.models import (
    FailureMode,
    Priority,
    WorkOrder,
    WorkOrderDraft,
    WorkOrderStatus,
)
from control.workorders.tables import work_order_transitions as history_t
from control.workorders.tables import work_orders as t

S = WorkOrderStatus
TRANSITIONS: Mapping[WorkOrderStatus, frozenset[WorkOrderStatus]] = {
    S.open: frozenset({S.planned, S.cancelled}),
    S.planned: frozenset({S.in_progress, S.on_hold, S.cancelled}),
    S.in_progress: frozenset({S.completed, S.on_hold}),
    S.on_hold: frozenset({S.planned, S.in_progress, S.cancelled}),
    S.completed: frozenset(),
    S.cancelled: frozenset(),
}
MAX_PAGE = 1000
_ID = re.compile(r"WO-(\d{6,})")


class WorkOrderError(Exception):
    pass


class NotFound(WorkOrderError, LookupError):
    def __init__(self, work_order_id: str) -> None:
        super().__init__(f"work order {work_order_id} not found")
        self.work_order_id = work_order_id


class InvalidTransition(WorkOrderError):
    def __init__(self, work_order_id: str, current: WorkOrderStatus, new: WorkOrderStatus):
        allowed = ", ".join(sorted(TRANSITIONS[current])) or "none, it is closed"
        super().__init__(
            f"work order {work_order_id} cannot go from {current} to {new} (allowed: {allowed})"
        )
        self.work_order_id, self.current, self.new = work_order_id, current, new


class WorkOrderClosed(WorkOrderError):
    def __init__(self, work_order_id: str, status: WorkOrderStatus) -> None:
        super().__init__(f"work order {work_order_id} is {status} and can no longer be edited")
        self.work_order_id, self.status = work_order_id, status


class StatusChange(BaseModel):
    at: datetime
    from_status: WorkOrderStatus | None  # None: created
    to_status: WorkOrderStatus
    actor: str
    note: str | None = None


def format_id(number: int) -> str:
    return f"WO-{number:06d}"


class WorkOrderStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        # Read-modify-write transactions: SQLite takes the write lock up front; PostgreSQL
        # locks the row with SELECT ... FOR UPDATE.
        self._writer = engine.execution_options(**{EXCLUSIVE_WRITE: True})

    async def create(
        self, draft: WorkOrderDraft, created_by: str, source_request: str | None = None
    ) -> WorkOrder:
        """A new open order; the same `source_request` (a plan step run again after a
        crash) returns the order it opened before instead of a second one."""
        now = datetime.now(UTC)
        values = {
            **_draft_columns(draft),
            "status": S.open.value,
            "created_by": created_by,
            "created_at": now,
            "updated_at": now,
            "source_request": source_request,
        }
        async with serialized_writes(self._engine), self._writer.begin() as conn:
            row, created = await insert_once(conn, t, values)
            if created:
                await _record_change(conn, row["number"], None, S.open, created_by, None, now)
        return _to_model(row)

    async def get(self, work_order_id: str) -> WorkOrder:
        async with self._engine.connect() as conn:
            return _to_model(await _fetch(conn, work_order_id))

    async def list(
        self,
        *,
        asset: str | None = None,
        status: WorkOrderStatus | Collection[WorkOrderStatus] | None = None,
        priority: Priority | None = None,
        failure_mode: FailureMode | None = None,
        created_since: datetime | None = None,
        created_until: datetime | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[WorkOrder]:
        """Newest first. `status` takes one status or several; `created_until` is exclusive."""
        query = select(t).order_by(t.c.number.desc())
        query = query.limit(max(0, min(limit, MAX_PAGE))).offset(max(0, offset))
        if asset is not None:
            query = query.where(t.c.asset == asset)
        if isinstance(status, str):
            query = query.where(t.c.status == status)
        elif status is not None:
            query = query.where(t.c.status.in_([S(s).value for s in status]))
        if priority is not None:
            query = query.where(t.c.priority == Priority(priority).value)
        if failure_mode is not None:
            query = query.where(t.c.failure_mode == FailureMode(failure_mode).value)
        if created_since is not None:
            query = query.where(t.c.created_at >= created_since)
        if created_until is not None:
            query = query.where(t.c.created_at < created_until)
        async with self._engine.connect() as conn:
            return [_to_model(row._asdict()) for row in await conn.execute(query)]

    async def update(self, work_order_id: str, changes: Mapping[str, Any]) -> WorkOrder:
        """Change draft fields (asset, symptom, tasks, parts, ...); validated as a draft.

        Raises pydantic.ValidationError (a ValueError) for unknown fields or bad values.
        """
        async with serialized_writes(self._engine), self._writer.begin() as conn:
            row = await _fetch(conn, work_order_id, for_update=True)
            current = _to_model(row)
            if not TRANSITIONS[current.status]:
                raise WorkOrderClosed(work_order_id, current.status)
            draft = WorkOrderDraft.model_validate(
                {**current.model_dump(include=set(WorkOrderDraft.model_fields)), **changes}
            )
            values = {**_draft_columns(draft), "updated_at": datetime.now(UTC)}
            await conn.execute(update(t).where(t.c.number == row["number"]).values(values))
        return _to_model({**row, **values})

    async def transition(
        self,
        work_order_id: str,
        new_status: WorkOrderStatus,
        actor: str,
        note: str | None = None,
    ) -> WorkOrder:
        new_status = S(new_status)
        async with serialized_writes(self._engine), self._writer.begin() as conn:
            row = await _fetch(conn, work_order_id, for_update=True)
            current = S(row["status"])
            if new_status not in TRANSITIONS[current]:
                raise InvalidTransition(work_order_id, current, new_status)
            now = datetime.now(UTC)
            values = {"status": new_status.value, "status_note": note, "updated_at": now}
            await conn.execute(update(t).where(t.c.number == row["number"]).values(values))
            await _record_change(conn, row["number"], current, new_status, actor, note, now)
        return _to_model({**row, **values})

    async def history(self, work_order_id: str) -> list[StatusChange]:
        """Status changes, oldest first, starting with the creation."""
        async with self._engine.connect() as conn:
            number = (await _fetch(conn, work_order_id))["number"]
            rows = await conn.execute(
                select(history_t).where(history_t.c.number == number).order_by(history_t.c.id)
            )
            return [StatusChange.model_validate(row._asdict()) for row in rows]


def allowed_transitions(status: WorkOrderStatus) -> frozenset[WorkOrderStatus]:
    return TRANSITIONS[S(status)]


def _parse_id(work_order_id: str) -> int:
    match = _ID.fullmatch(work_order_id)
    if match is None or format_id(int(match.group(1))) != work_order_id:
        raise NotFound(work_order_id)
    return int(match.group(1))


async def _fetch(
    conn: AsyncConnection, work_order_id: str, *, for_update: bool = False
) -> dict[str, Any]:
    query: Select[Any] = select(t).where(t.c.number == _parse_id(work_order_id))
    if for_update:
        query = query.with_for_update()
    row: Row[Any] | None = (await conn.execute(query)).first()
    if row is None:
        raise NotFound(work_order_id)
    return row._asdict()


async def _record_change(
    conn: AsyncConnection,
    number: int,
    from_status: WorkOrderStatus | None,
    to_status: WorkOrderStatus,
    actor: str,
    note: str | None,
    at: datetime,
) -> None:
    await conn.execute(
        insert(history_t).values(
            number=number,
            at=at,
            from_status=from_status.value if from_status else None,
            to_status=to_status.value,
            actor=actor,
            note=note,
        )
    )


def _draft_columns(draft: WorkOrderDraft) -> dict[str, Any]:
    columns = draft.model_dump(mode="json", exclude={"due"})
    # In UTC, as read back; a naive due date is taken as UTC (as UTCDateTime does).
    due = draft.due
    if due is not None:
        due = due.replace(tzinfo=UTC) if due.tzinfo is None else due.astimezone(UTC)
    columns["due"] = due
    return columns


def _to_model(row: Mapping[str, Any]) -> WorkOrder:
    fields = {key: value for key, value in row.items() if key != "number"}
    return WorkOrder.model_validate({**fields, "id": format_id(row["number"])})
