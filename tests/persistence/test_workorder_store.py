"""Work orders: CRUD, filters, lifecycle and history on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncEngine

from control.workorders.models import (
    FailureMode,
    Part,
    Priority,
    WorkOrderDraft,
    WorkOrderStatus,
)
from control.workorders.store import (
    InvalidTransition,
    NotFound,
    WorkOrderClosed,
    WorkOrderStore,
    allowed_transitions,
)

S = WorkOrderStatus


def _draft(asset: str = "press-1", **fields: object) -> WorkOrderDraft:
    return WorkOrderDraft.model_validate({"asset": asset, "symptom": "bearing runs hot", **fields})


@pytest.fixture
def store(engine: AsyncEngine) -> WorkOrderStore:
    return WorkOrderStore(engine)


async def test_create_and_get(store: WorkOrderStore) -> None:
    draft = _draft(
        failure_mode=FailureMode.OHE,
        priority=Priority.high,
        tasks=["lock out", "replace bearing"],
        parts=[Part(part_number="SKF-6205", description="bearing", quantity=2)],
        lockout_required=True,
        due=datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC),
    )
    created = await store.create(draft, created_by="carol", source_request="req-1")
    assert created.id == "WO-000001" and created.status == S.open
    assert created.created_at.tzinfo is UTC and created.created_at == created.updated_at
    fetched = await store.get(created.id)
    assert fetched == created
    assert fetched.parts[0].part_number == "SKF-6205" and fetched.tasks[1] == "replace bearing"
    assert (await store.create(_draft(), "carol")).id == "WO-000002"


async def test_not_found(store: WorkOrderStore) -> None:
    for missing in ("WO-000042", "WO-42", "WO-0000001", "nonsense"):
        with pytest.raises(NotFound, match=f"work order {missing} not found"):
            await store.get(missing)
    with pytest.raises(NotFound):
        await store.transition("WO-000042", S.planned, "bob")
    with pytest.raises(NotFound):
        await store.update("WO-000042", {"symptom": "noise"})


async def test_list_filters(store: WorkOrderStore) -> None:
    a = await store.create(_draft("press-1", priority=Priority.high), "carol")
    b = await store.create(_draft("press-1", failure_mode=FailureMode.VIB), "carol")
    await asyncio.sleep(0.01)
    middle = datetime.now(UTC)
    c = await store.create(_draft("oven-2", priority=Priority.high), "dave")
    await store.transition(b.id, S.planned, "bob")

    async def ids(**filters: Any) -> list[str]:
        return [wo.id for wo in await store.list(**filters)]

    assert await ids() == [c.id, b.id, a.id]
    assert await ids(asset="press-1") == [b.id, a.id]
    assert await ids(status=S.open) == [c.id, a.id]
    assert await ids(status=[S.planned, S.in_progress]) == [b.id]
    assert await ids(priority=Priority.high) == [c.id, a.id]
    assert await ids(failure_mode=FailureMode.VIB) == [b.id]
    assert await ids(created_since=middle) == [c.id]
    assert await ids(created_until=middle) == [b.id, a.id]
    assert await ids(created_since=middle + timedelta(hours=1)) == []
    assert await ids(limit=1, offset=1) == [b.id]


async def test_update_draft_fields(store: WorkOrderStore) -> None:
    wo = await store.create(_draft(), "carol")
    updated = await store.update(wo.id, {"symptom": "bearing noise", "tasks": ["inspect"]})
    assert (updated.symptom, updated.tasks) == ("bearing noise", ["inspect"])
    assert updated.asset == "press-1"
    assert updated.updated_at > wo.updated_at
    assert await store.get(wo.id) == updated
    with pytest.raises(ValidationError):
        await store.update(wo.id, {"status": "completed"})  # not a draft field
    with pytest.raises(ValidationError):
        await store.update(wo.id, {"symptom": ""})


async def test_lifecycle_and_history(store: WorkOrderStore) -> None:
    wo = await store.create(_draft(), "carol")
    for status in (S.planned, S.on_hold, S.in_progress, S.on_hold, S.planned, S.in_progress):
        wo = await store.transition(wo.id, status, "bob", note=f"to {status}")
        assert wo.status == status and wo.status_note == f"to {status}"
    wo = await store.transition(wo.id, S.completed, "carol", note="bearing replaced")
    assert await store.get(wo.id) == wo

    history = await store.history(wo.id)
    assert [(h.from_status, h.to_status) for h in history[:2]] == [
        (None, S.open),
        (S.open, S.planned),
    ]
    assert (history[-1].to_status, history[-1].actor, history[-1].note) == (
        S.completed,
        "carol",
        "bearing replaced",
    )
    with pytest.raises(WorkOrderClosed, match="completed"):
        await store.update(wo.id, {"symptom": "again"})


@pytest.mark.parametrize(
    ("path", "bad"),
    [
        ([], S.completed),
        ([], S.in_progress),
        ([], S.on_hold),
        ([], S.open),
        ([S.planned], S.open),
        ([S.planned, S.in_progress], S.cancelled),
        ([S.planned, S.in_progress, S.completed], S.cancelled),
        ([S.cancelled], S.open),
    ],
)
async def test_invalid_transitions(
    store: WorkOrderStore, path: list[WorkOrderStatus], bad: WorkOrderStatus
) -> None:
    wo = await store.create(_draft(), "carol")
    for status in path:
        await store.transition(wo.id, status, "bob")
    with pytest.raises(InvalidTransition, match=f"cannot go from .* to {bad}"):
        await store.transition(wo.id, bad, "bob")
    assert (await store.get(wo.id)).status == (path[-1] if path else S.open)


async def test_cancel_from_open_planned_and_on_hold(store: WorkOrderStore) -> None:
    for path in ([], [S.planned], [S.planned, S.on_hold]):
        wo = await store.create(_draft(), "carol")
        for status in path:
            await store.transition(wo.id, status, "bob")
        assert (await store.transition(wo.id, S.cancelled, "bob")).status == S.cancelled


def test_terminal_states_allow_nothing() -> None:
    assert allowed_transitions(S.completed) == allowed_transitions(S.cancelled) == frozenset()
    assert allowed_transitions(S.on_hold) == {S.planned, S.in_progress, S.cancelled}


async def test_concurrent_transitions_apply_once(store: WorkOrderStore) -> None:
    wo = await store.create(_draft(), "carol")
    results = await asyncio.gather(
        *(store.transition(wo.id, S.planned, f"user-{i}") for i in range(5)),
        return_exceptions=True,
    )
    assert sum(not isinstance(r, Exception) for r in results) == 1
    assert all(isinstance(r, InvalidTransition) for r in results if isinstance(r, Exception))
    assert len(await store.history(wo.id)) == 2
