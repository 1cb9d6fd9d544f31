"""Durable execution of approved requests (DBOS): wait for approval, actuate, verify, record.

Every plan step is one DBOS step keyed by `<request id>:<step index>`: judge it on the plant
as it is now, then act. After a crash DBOS replays the workflow: finished steps return their
recorded result, and the one step that was in flight runs again, judged afresh (the plant
may have moved while Andon was down) and sent with the same key. Commands are deduplicated
by the plant on that key and setpoint writes are absolute, so a replay never actuates twice;
a step whose effect the plant already shows is not sent again (it reached the plant before
the crash, or someone else did it). A one-step request allowed at once skips the workflow
(`run_at_once`) and is given one only if a crash interrupts it.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from dbos import DBOS

from control.actions.models import (
    AcknowledgeAlarm,
    Action,
    ActionRequest,
    CreateWorkOrder,
    LockoutCommand,
    PlaceQualityHold,
    Plan,
    RunCommand,
    SetParameter,
)
from control.audit.log import AuditEntry
from control.decisions.evaluate import evaluate
from control.decisions.models import Outcome
from control.decisions.projection import apply_step
from control.decisions.scope import step_scope
from control.execution.models import RequestRecord, RequestStatus, StepResult
from control.execution.reads import read_scope
from control.execution.runtime import on_service_loop, services
from control.execution.store import finishing, to_record
from control.opcua.driver import ActuationError, DriverError
from control.plant.models import Command

APPROVAL_TOPIC = "approval"
# How long a step judged again waits for the plant session before calling the plant unreadable.
RECONNECT_WAIT_S = 10.0
# Steps that act on the plant itself (work orders and quality holds only write records).
PLANT_ACTIONS = (SetParameter, RunCommand, LockoutCommand, AcknowledgeAlarm)
# Test-only crash points (see tests/execution/test_crash_recovery.py): SIGKILL this process
# when the step with the given key is about to be judged and sent, or right after the plant
# acted and before DBOS could record the step: failures a test cannot otherwise produce on
# demand.
CRASH_BEFORE_ACTING = "ANDON_TEST_CRASH_BEFORE_ACTING"
CRASH_AFTER_ACTUATION = "ANDON_TEST_CRASH_AFTER_ACTUATION"


@DBOS.workflow(name="andon.execute_request")
async def execute_request(record: RequestRecord) -> RequestRecord:
    """Run one request to its end; `record` is the request as stored when it was submitted."""
    request_id, steps = record.id, record.request.plan.steps
    approved = record.status is RequestStatus.waiting_approval
    if approved:
        remaining = (
            (record.expires_at - datetime.now(UTC)).total_seconds() if record.expires_at else 0
        )
        verdict = await DBOS.recv_async(APPROVAL_TOPIC, timeout_seconds=max(remaining, 0.01))
        if verdict is None:
            return await _finish(record, RequestStatus.expired, "nobody approved in time", ())
        if not verdict["approved"]:
            message = f"rejected by {verdict['by']}: {verdict['reason']}"
            return await _finish(record, RequestStatus.rejected, message, ())
        await _mark_executing(request_id)
    results: list[StepResult] = []
    for index, action in enumerate(steps):
        async with _claimed(record.id, action) as inherited:
            # Only the first step of a request allowed at once was judged on the plant as it
            # is: under the claim of the call that submitted it, still held. Any other step,
            # and any step run after a restart, is judged again (see _act_now).
            judged = inherited and index == 0 and not approved
            result = await _act(record, index, judged)
        results.append(result)
        if not result.ok:
            break
    return await _finish(record, *_ending(record, results), tuple(results))


async def run_at_once(record: RequestRecord) -> RequestRecord:
    """Carry out a one-step request allowed at once, judged by the calling submit under
    the claim it still holds, without a DBOS workflow.

    A workflow's bookkeeping (its start, the step's record, its end: over a quarter of
    the API's CPU per action) buys such a request nothing its own row does not: the row, committed
    as `executing` before anything is sent, is the durable intent. If the process dies
    before the end is committed, the row is still `executing` with no workflow, and
    `ExecutionService.resume_unstarted` starts one for it at the next start-up: it judges
    the step again on the plant as it finds it and sends it with the same key, exactly as
    DBOS replays a workflow's step that was in flight. Plans of several steps keep their
    workflow, whose step records stop a replay from sending a finished step again.
    """
    svc = services()
    action = record.request.plan.steps[0]
    # Held (re-entrantly) until the end is committed, even if the submitting call is gone:
    # a retry with the same key waits on this claim for the end (see `_settled`).
    async with svc.claims.hold(record.id, step_scope(svc.plant, action)):
        result = await _act_now(record, 0, judged=True)
        return await _finish_now(record, *_ending(record, [result]), (result,))


def _ending(record: RequestRecord, results: list[StepResult]) -> tuple[RequestStatus, str]:
    if all(r.ok for r in results):
        return RequestStatus.executed, "executed and verified"
    failed = results[-1]
    done = f"{len(results) - 1} of {len(record.request.plan.steps)} steps executed"
    return RequestStatus.failed, f"step {failed.index + 1} failed: {failed.detail} ({done})"


# Each DBOS step hands its body to the services' loop (see runtime.on_service_loop).


@asynccontextmanager
async def _claimed(request_id: str, action: Action) -> AsyncIterator[bool]:
    """Hold the step's decision scope from its judgement through its actuation; yields
    whether the request held it already (the submitting call's claim)."""
    svc = services()
    scope = step_scope(svc.plant, action)
    inherited = await on_service_loop(_acquire(request_id, scope))
    try:
        yield inherited
    finally:
        await on_service_loop(_release(request_id, scope))


async def _acquire(request_id: str, scope: frozenset[str]) -> bool:
    claims = services().claims
    inherited = claims.holds(request_id, scope)
    await claims.acquire(request_id, scope)
    return inherited


async def _release(request_id: str, scope: frozenset[str]) -> None:
    services().claims.release(request_id, scope)


@DBOS.step(name="andon.mark_executing")
async def _mark_executing(request_id: str) -> None:
    await on_service_loop(services().requests.update(request_id, status=RequestStatus.executing))


@DBOS.step(name="andon.act")
async def _act(record: RequestRecord, index: int, judged: bool) -> StepResult:
    return await on_service_loop(_act_now(record, index, judged))


async def _finish(
    record: RequestRecord, status: RequestStatus, message: str, steps: tuple[StepResult, ...]
) -> RequestRecord:
    # Not a DBOS step: one transaction records the end and its audit trail, and it changes
    # nothing when a replay runs it again, so a step's own bookkeeping would only add cost.
    return await on_service_loop(_finish_now(record, status, message, steps))


async def _act_now(record: RequestRecord, index: int, judged: bool) -> StepResult:
    """Judge step `index` on the plant as it is now (unless `judged`), then carry it out."""
    action = record.request.plan.steps[index]
    _crash_point(CRASH_BEFORE_ACTING, f"{record.id}:{index}")
    if not judged:
        verdict = await _judge_again(record, action)
        if verdict is not None:
            return verdict.model_copy(update={"index": index})
    return await _actuate_now(record, index)


async def _judge_again(record: RequestRecord, action: Action) -> StepResult | None:
    """None if the step may go ahead; else the result that stands instead of sending it."""
    svc = services()
    if not svc.driver.connected:
        # Recovered at start-up (before the plant session is open) or approved during a
        # reconnect: give the session a moment rather than fail a step that could go ahead.
        with contextlib.suppress(TimeoutError):
            await svc.driver.wait_connected(RECONNECT_WAIT_S)
    try:
        state = await read_scope(svc, step_scope(svc.plant, action))
    except DriverError as exc:
        return StepResult(index=0, ok=False, sent=False, detail=f"plant state unavailable: {exc}")
    single = ActionRequest(
        plan=Plan(steps=(action,)),
        reason=record.request.reason,
        proposed_by=record.request.proposed_by,
    )
    decision = evaluate(single, svc.plant, state, record.requester)
    if decision.outcome is not Outcome.denied:
        return None
    if isinstance(action, PLANT_ACTIONS) and apply_step(state, action, record.requester) == state:
        # Nothing left to do: this step reached the plant before a restart (its replay
        # lands here), or someone else did the same. Judged now it may be refused (a lock
        # already removed cannot be removed), so it is not sent, and not failed either.
        detail = "already in effect: the plant shows this step done; nothing sent now"
        return StepResult(index=0, ok=True, sent=False, detail=detail)
    return StepResult(index=0, ok=False, sent=False, detail="; ".join(decision.reasons))


async def _actuate_now(record: RequestRecord, index: int) -> StepResult:
    action = record.request.plan.steps[index]
    key = f"{record.id}:{index}"
    svc = services()
    if isinstance(action, PLANT_ACTIONS) and svc.claims.preempted(record.id, action.asset):
        detail = (
            f"an emergency stop or manual takeover of {action.asset} came after this step "
            "was judged; not sent (submit it again to have it judged anew)"
        )
        return StepResult(index=index, ok=False, sent=False, detail=detail)
    try:
        result = await _perform(action, key, record)
    except (ActuationError, DriverError) as exc:
        result = StepResult(index=index, ok=False, detail=str(exc))
    result = result.model_copy(update={"index": index})
    _crash_point(CRASH_AFTER_ACTUATION, key)
    svc.events.publish(
        "actuation",
        {"request_id": record.id, "asset": action.asset, **result.model_dump(mode="json")},
    )
    return result


def _crash_point(variable: str, key: str) -> None:
    if os.environ.get(variable) == key:
        os.kill(os.getpid(), signal.SIGKILL)


def _audit_context(record: RequestRecord, subject: str) -> dict[str, Any]:
    return {
        "actor": record.requester.user,
        "role": record.requester.role,
        "subject": subject,
        "request_id": record.id,
        "proposed_by": record.request.proposed_by,
        "reason": record.request.reason,
    }


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
        case PlaceQualityHold():
            asset = svc.plant.asset(action.asset)
            line = asset.line if asset is not None else ""
            hold = await svc.quality_holds.place(
                action.asset, line, action.hold, placed_by=record.requester.user, source_request=key
            )
            return StepResult(
                index=0, ok=True, detail=f"quality hold {hold.id} placed", readback=hold.id
            )


async def _finish_now(
    record: RequestRecord, status: RequestStatus, message: str, steps: tuple[StepResult, ...]
) -> RequestRecord:
    svc = services()
    subject = ",".join(sorted({a.asset for a in record.request.plan.steps}))
    done = await svc.audit.append_with_change(
        finishing(record.id, status, message, steps),
        audit_entries(record, status, message, steps),
        **_audit_context(record, subject=subject),
    )
    if done is None:  # a replay after a crash: the request was already finished, and told
        return await svc.requests.get(record.id)
    svc.events.publish(
        "request", {"request_id": record.id, "status": status.value, "message": message}
    )
    return to_record(done[0])


def audit_entries(
    record: RequestRecord, status: RequestStatus, message: str, steps: tuple[StepResult, ...]
) -> list[AuditEntry]:
    """The records a finished request adds to the audit trail, in the commit of its end.

    A request that ran at once is recorded whole here: one durable commit per action
    instead of one per phase, while DBOS already holds its intent durably. A request that
    waited for approval had its request and decision recorded when it was submitted.
    """
    entries: list[AuditEntry] = []
    if record.status is RequestStatus.executing:
        entries += [
            AuditEntry("request", record.request.model_dump(mode="json")),
            AuditEntry("decision", record.decision.model_dump(mode="json")),
        ]
    for result in steps:
        step = {"step": result.index, "key": f"{record.id}:{result.index}"}
        if result.sent:
            action = record.request.plan.steps[result.index]
            entries += [
                AuditEntry("write", {**step, **action.model_dump(mode="json")}),
                AuditEntry("readback", {**step, **result.model_dump(mode="json")}),
            ]
        elif result.ok:  # judged again and found already done: nothing sent now
            entries.append(AuditEntry("readback", {**step, **result.model_dump(mode="json")}))
        else:  # judged again (or preempted) before acting, and refused: nothing sent
            entries.append(
                AuditEntry("decision", {**step, "recheck": "denied", "reasons": result.detail})
            )
    entries.append(AuditEntry("result", {"status": status.value, "message": message}))
    return entries
