"""A request's end and its audit records commit together, once, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from control.actions.models import ActionRequest, Plan, Requester, SetParameter
from control.audit import AuditKind, AuditLog
from control.audit.log import AuditEntry
from control.decisions.models import Decision, Outcome
from control.execution.models import RequestRecord, RequestStatus, StepResult
from control.execution.store import RequestStore, finishing, to_record

from .conftest import Database

DONE = (StepResult(index=0, ok=True, detail="speed_spm = 22.0", readback=22.0),)


async def _executing(store: RequestStore, request_id: str) -> RequestRecord:
    now = datetime.now(UTC)
    action = SetParameter(command="set_parameter", asset="press-3", tag="speed_spm", value=22)
    record = RequestRecord(
        id=request_id,
        status=RequestStatus.executing,
        requester=Requester(user="alice", role="operator"),
        request=ActionRequest(plan=Plan(steps=(action,)), reason="takt time"),
        decision=Decision(outcome=Outcome.allowed),
        created_at=now,
        updated_at=now,
    )
    stored, created = await store.create(record, idempotency_key=None)
    assert created
    return stored


async def _finish(log: AuditLog, request_id: str) -> RequestRecord | None:
    done = await log.append_with_change(
        finishing(request_id, RequestStatus.executed, "executed and verified", DONE),
        [AuditEntry(AuditKind.write, {"step": 0}), AuditEntry(AuditKind.result, {"ok": True})],
        actor="alice",
        role="operator",
        request_id=request_id,
    )
    return None if done is None else to_record(done[0])


async def test_the_end_and_its_records_commit_together_and_only_once(
    engine: AsyncEngine, database: Database
) -> None:
    store, log = RequestStore(engine), AuditLog(engine, database.anchor)
    await _executing(store, "req-1")

    final = await _finish(log, "req-1")
    assert final is not None
    assert (final.status, final.message, final.steps) == (
        RequestStatus.executed,
        "executed and verified",
        DONE,
    )
    assert await store.get("req-1") == final
    assert [r.kind for r in await log.list(request_id="req-1", newest_first=False)] == [
        AuditKind.write,
        AuditKind.result,
    ]

    # Finishing again (a workflow replayed after a crash) changes and appends nothing.
    assert await _finish(log, "req-1") is None
    assert await store.get("req-1") == final
    assert len(await log.list(request_id="req-1")) == 2
    report = await log.verify()
    assert report.ok and report.head_seq == 2, report.problem


async def test_one_group_commit_mixes_changes_replays_and_plain_appends(
    engine: AsyncEngine, database: Database
) -> None:
    store, log = RequestStore(engine), AuditLog(engine, database.anchor)
    for i in range(5):
        await _executing(store, f"req-{i}")
    assert await _finish(log, "req-0") is not None
    head = (await log.verify()).head_seq

    plain = log.append(AuditKind.estop, actor="bob", role="supervisor", subject="line-1")
    outcomes = await asyncio.gather(*(_finish(log, f"req-{i}") for i in range(5)), plain)

    assert outcomes[0] is None  # finished before: skipped, while the others commit
    assert [o.status for o in outcomes[1:5]] == [RequestStatus.executed] * 4
    assert outcomes[5].kind is AuditKind.estop
    stamps = {outcomes[5].ts}
    for i in range(1, 5):
        records = await log.list(request_id=f"req-{i}")
        assert len(records) == 2
        stamps |= {r.ts for r in records}
    assert len(stamps) == 1  # records of one commit share its time: it was one group
    report = await log.verify()
    assert report.ok and report.head_seq == head + 4 * 2 + 1, report.problem
    assert report.anchor is not None and report.anchor.seq == report.head_seq
