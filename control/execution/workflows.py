"""Durable execution of approved requests (DBOS): wait for approval, actuate, verify, record.

Every actuation is a DBOS step keyed by `<request id>:<step index>`. After a crash DBOS
replays the workflow: finished steps return their recorded result, and the one step that
was in flight runs again with the same key. Commands are deduplicated by the plant on that
key and setpoint writes are absolute, so a replay never actuates twice.
"""

from __future__ import annotations

import os
import signal
from datetime import UTC, datetime
from typing import Any

from dbos import DBOS

from control.actions.models import (
    AcknowledgeAlarm,
    Action,
    ActionRequest,
    CreateWorkOrder,
    LockoutCommand,
    Plan,
    RunCommand,
    SetParameter,
)
from control.decisions.evaluate import evaluate
from control.decisions.models import Outcome
from control.execution.models import RequestRecord, RequestStatus, StepResult
from control.execution.runtime import services
from control.opcua.driver import ActuationError, DriverError
from control.plant.models import Command

APPROVAL_TOPIC = "approval"
# Test-only crash point (see tests/execution/test_crash_recovery.py): SIGKILL this process
# right after the plant acted and before DBOS could record the step, the one failure a
# test cannot otherwise produce on demand.
CRASH_AFTER_ACTUATION = "ANDON_TEST_CRASH_AFTER_ACTUATION"


@DBOS.workflow(name="andon.execute_request")
async def execute_request(request_id: str) -> str:
    record = await _load(request_id)
    approved = record.status is RequestStatus.waiting_approval
    if approved:
        remaining = (
            (record.expires_at - datetime.now(UTC)).total_seconds() if record.expires_at else 0
        )
        verdict = await DBOS.recv_async(APPROVAL_TOPIC, timeout_seconds=max(remaining, 0.01))
        if verdict is None:
            return await _finish(request_id, RequestStatus.expired, "nobody approved in time", ())
        if not verdict["approved"]:
            return await _finish(
                request_id,
                RequestStatus.rejected,
                f"rejected by {verdict['by']}: {verdict['reason']}",
                (),
            )
        await _mark_executing(request_id)
    results: list[StepResult] = []
    for index in range(len(record.request.plan.steps)):
        if approved or index > 0:
            # State may have moved since the plan was judged: judge this step again, now.
            refusal = await _recheck(request_id, index)
            if refusal:
                results.append(StepResult(index=index, ok=False, detail=refusal))
                break
        result = await _actuate(request_id, index)
        results.append(result)
        if not result.ok:
            break
    if all(r.ok for r in results):
        return await _finish(
            request_id, RequestStatus.executed, "executed and verified", tuple(results)
        )
    failed = results[-1]
    done = f"{len(results) - 1} of {len(record.request.plan.steps)} steps executed"
    return await _finish(
        request_id,
        RequestStatus.failed,
        f"step {failed.index + 1} failed: {failed.detail} ({done})",
        tuple(results),
    )


@DBOS.step(name="andon.load_request")
async def _load(request_id: str) -> RequestRecord:
    return await services().requests.get(request_id)


@DBOS.step(name="andon.mark_executing")
async def _mark_executing(request_id: str) -> None:
    await services().requests.update(request_id, status=RequestStatus.executing)


@DBOS.step(name="andon.recheck")
async def _recheck(request_id: str, index: int) -> str | None:
    """Re-evaluate one step against the plant as it is now; the refusal, if any."""
    svc = services()
    record = await svc.requests.get(request_id)
    action = record.request.plan.steps[index]
    try:
        state = await svc.driver.read_state([action.asset])
    except DriverError as exc:
        return f"plant state unavailable: {exc}"
    single = ActionRequest(
        plan=Plan(steps=(action,)),
        reason=record.request.reason,
        proposed_by=record.request.proposed_by,
    )
    decision = evaluate(single, svc.plant, state, record.requester)
    if decision.outcome is Outcome.denied:
        return "; ".join(decision.reasons)
    return None


@DBOS.step(name="andon.actuate")
async def _actuate(request_id: str, index: int) -> StepResult:
    svc = services()
    record = await svc.requests.get(request_id)
    action = record.request.plan.steps[index]
    key = f"{request_id}:{index}"
    common: dict[str, Any] = {
        "actor": record.requester.user,
        "role": record.requester.role,
        "subject": action.asset,
        "request_id": request_id,
        "proposed_by": record.request.proposed_by,
        "reason": record.request.reason,
    }
    await svc.audit.append(
        kind="write", data={"step": index, "key": key, **action.model_dump(mode="json")}, **common
    )
    try:
        result = await _perform(action, key, record)
    except (ActuationError, DriverError) as exc:
        result = StepResult(index=index, ok=False, detail=str(exc))
    if os.environ.get(CRASH_AFTER_ACTUATION) == key:
        os.kill(os.getpid(), signal.SIGKILL)
    await svc.audit.append(
        kind="readback",
        data={
            "step": index,
            "key": key,
            "ok": result.ok,
            "detail": result.detail,
            "readback": result.readback,
        },
        **common,
    )
    svc.events.publish(
        "actuation",
        {
            "request_id": request_id,
            "step": index,
            "asset": action.asset,
            **result.model_dump(mode="json"),
        },
    )
    return result.model_copy(update={"index": index})


async def _perform(action: Action, key: str, record: RequestRecord) -> StepResult:
    svc = services()
    match action:
        case SetParameter():
            written = await svc.driver.write_setpoint(action.asset, action.tag, action.value)
            return StepResult(
                index=0, ok=True, detail=f"{action.tag} = {written.value}", readback=written.value
            )
        case RunCommand():
            answer = await svc.driver.call_command(action.asset, Command(action.command), key)
            return StepResult(index=0, ok=True, detail=answer, readback=answer)
        case LockoutCommand():
            holder = action.holder or record.requester.user
            answer = await svc.driver.call_command(
                action.asset, Command(action.command), key, holder
            )
            return StepResult(index=0, ok=True, detail=answer, readback=answer)
        case AcknowledgeAlarm():
            answer = await svc.driver.call_command(
                action.asset, Command.acknowledge_alarm, key, action.alarm
            )
            return StepResult(index=0, ok=True, detail=answer, readback=answer)
        case CreateWorkOrder():
            order = await svc.work_orders.create(
                action.work_order, created_by=record.requester.user, source_request=key
            )
            return StepResult(
                index=0, ok=True, detail=f"work order {order.id} opened", readback=order.id
            )


@DBOS.step(name="andon.finish")
async def _finish(
    request_id: str, status: RequestStatus, message: str, steps: tuple[StepResult, ...]
) -> str:
    svc = services()
    record = await svc.requests.update(request_id, status=status, message=message, steps=steps)
    await svc.audit.append(
        kind="result",
        actor=record.requester.user,
        role=record.requester.role,
        subject=",".join(sorted({a.asset for a in record.request.plan.steps})),
        request_id=request_id,
        proposed_by=record.request.proposed_by,
        reason=record.request.reason,
        data={"status": status.value, "message": message},
    )
    svc.events.publish(
        "request", {"request_id": request_id, "status": status.value, "message": message}
    )
    return status.value
