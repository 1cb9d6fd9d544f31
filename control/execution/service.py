"""Submitting requests and answering approvals: the imperative shell around `evaluate`."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from datetime import UTC, datetime, timedelta

import structlog
from dbos import DBOS, SetWorkflowID

from control.actions.models import ActionRequest, Requester
from control.audit.log import AuditEntry
from control.decisions.evaluate import evaluate
from control.decisions.models import Decision, Outcome
from control.decisions.scope import plan_scope
from control.execution.models import RequestRecord, RequestStatus, plant_unreachable
from control.execution.reads import read_scope
from control.execution.runtime import Services
from control.execution.store import IdempotencyConflict, body_hash
from control.execution.workflows import APPROVAL_TOPIC, execute_request, run_at_once
from control.metrics import DECISIONS
from control.opcua.driver import DriverError
from control.state.models import PlantState

log = structlog.get_logger()

_STATUS_OF = {
    Outcome.allowed: RequestStatus.executing,
    Outcome.needs_approval: RequestStatus.waiting_approval,
    Outcome.denied: RequestStatus.denied,
}


def request_id_for(user: str, idempotency_key: str | None) -> str:
    """With a key, the id (and so the DBOS workflow id) follows from it: a retry after a
    crash names the same workflow and can never start a second one."""
    if idempotency_key is None:
        return f"req-{uuid.uuid4().hex}"
    return "req-" + hashlib.sha256(f"{user}\0{idempotency_key}".encode()).hexdigest()[:32]


class ApprovalError(Exception):
    """The approval cannot be given: wrong person, wrong role, or nothing to approve."""

    def __init__(self, message: str, *, forbidden: bool) -> None:
        super().__init__(message)
        self.forbidden = forbidden  # True: this person may not; False: the request is not waiting


def _message(decision: Decision) -> str:
    if plant_unreachable(decision):
        return (
            f"plant unreachable: {decision.steps[0].reasons[0]}; nothing was sent. Retry once "
            "it is back: this attempt does not use up an Idempotency-Key"
        )
    match decision.outcome:
        case Outcome.denied:
            return "denied: " + "; ".join(decision.reasons)
        case Outcome.needs_approval:
            roles = ", ".join(sorted(decision.approver_roles))
            return f"waiting for approval by another person with role {roles}: " + "; ".join(
                decision.reasons
            )
        case _:
            return "executing"


class ExecutionService:
    def __init__(self, services: Services, result_timeout_s: float = 30.0) -> None:
        self._svc = services
        self._result_timeout_s = result_timeout_s

    async def submit(
        self, request: ActionRequest, requester: Requester, idempotency_key: str | None
    ) -> RequestRecord:
        svc = self._svc
        if idempotency_key is not None:
            found = await svc.requests.find_by_key(requester.user, idempotency_key)
            if found is not None:
                existing, digest = found
                if digest != body_hash(request):
                    raise IdempotencyConflict(idempotency_key)
                return await self._settled(existing)
        request_id = request_id_for(requester.user, idempotency_key)
        scope = plan_scope(svc.plant, request.plan)
        # From the read the decision stands on until the actuation is done, no other
        # request may act on what this one's decision looks at (see claims.py).
        async with svc.claims.hold(request_id, scope):
            record, ours = await self._decide_and_start(
                request, requester, idempotency_key, request_id, scope
            )
        # A concurrent call with the same key stored it first. Its claims have our owner id
        # (the id follows from the key), so its end is awaited only once ours are let go.
        return record if ours else await self._settled(record)

    async def _decide_and_start(
        self,
        request: ActionRequest,
        requester: Requester,
        idempotency_key: str | None,
        request_id: str,
        scope: frozenset[str],
    ) -> tuple[RequestRecord, bool]:
        """The request's record, and False if a concurrent call with its key stored it."""
        svc = self._svc
        try:
            state = await read_scope(svc, scope)
        except DriverError as exc:
            log.warning("plant state unavailable", error=str(exc))
            state = PlantState(connected=False)
        decision = evaluate(request, svc.plant, state, requester)
        DECISIONS.labels(decision.outcome.value).inc()
        if plant_unreachable(decision):
            # Recorded under an id of its own, without the key: the retry a 503 invites,
            # with the same key, is then judged afresh instead of answered with this denial.
            idempotency_key = None
            request_id = request_id_for(requester.user, None)
        audit_common = {
            "actor": requester.user,
            "role": requester.role,
            "subject": ",".join(sorted({a.asset for a in request.plan.steps})),
            "request_id": request_id,
            "proposed_by": request.proposed_by,
            "reason": request.reason,
        }
        now = datetime.now(UTC)
        status = _STATUS_OF[decision.outcome]
        record = RequestRecord(
            id=request_id,
            status=status,
            requester=requester,
            request=request,
            decision=decision,
            expires_at=now + timedelta(seconds=svc.plant.approval_ttl_s)
            if status is RequestStatus.waiting_approval
            else None,
            created_at=now,
            updated_at=now,
            message=_message(decision),
        )
        stored, created = await svc.requests.create(record, idempotency_key)
        if not created:
            return stored, False
        svc.events.publish(
            "decision",
            {
                "request_id": request_id,
                "outcome": decision.outcome.value,
                "message": record.message,
            },
        )
        if status is not RequestStatus.executing:
            # Allowed requests are audited whole when their workflow finishes.
            await svc.audit.append_many(
                [
                    AuditEntry("request", request.model_dump(mode="json")),
                    AuditEntry("decision", decision.model_dump(mode="json")),
                ],
                **audit_common,
            )
        if status is RequestStatus.denied:
            return stored, True
        if status is RequestStatus.executing and len(request.plan.steps) == 1:
            # A task, so that a caller who goes away does not leave it half done.
            running = asyncio.ensure_future(run_at_once(stored))
            return await asyncio.wait_for(asyncio.shield(running), self._result_timeout_s), True
        with SetWorkflowID(request_id):
            handle = await DBOS.start_workflow_async(execute_request, stored)
        if status is RequestStatus.executing:
            return await asyncio.wait_for(handle.get_result(), self._result_timeout_s), True
        return stored, True

    async def answer_approval(
        self, request_id: str, approver: Requester, approve: bool, reason: str
    ) -> RequestRecord:
        svc = self._svc
        record = await svc.requests.get(request_id)
        # Who may answer first: a person without the right is told so whatever the
        # request's state, instead of learning whether it is still waiting.
        if approver.user == record.requester.user:
            raise ApprovalError(
                "four-eyes rule: the requester cannot approve their own request", forbidden=True
            )
        if approver.role not in record.decision.approver_roles:
            roles = ", ".join(sorted(record.decision.approver_roles))
            raise ApprovalError(
                f"role {approver.role} may not approve this request (needs: {roles})",
                forbidden=True,
            )
        if record.status is not RequestStatus.waiting_approval:
            raise ApprovalError(
                f"request {request_id} is {record.status.value}, not waiting for approval",
                forbidden=False,
            )
        if record.expires_at and record.expires_at <= datetime.now(UTC):
            raise ApprovalError(
                f"request {request_id} expired at {record.expires_at.isoformat()}", forbidden=False
            )
        await svc.requests.record_approval(request_id, approver.user, reason)
        await svc.audit.append(
            kind="approval",
            actor=approver.user,
            role=approver.role,
            subject=",".join(sorted({a.asset for a in record.request.plan.steps})),
            request_id=request_id,
            proposed_by=record.request.proposed_by,
            reason=reason,
            data={"approved": approve},
        )
        await DBOS.send_async(
            request_id, {"approved": approve, "by": approver.user, "reason": reason}, APPROVAL_TOPIC
        )
        handle = await DBOS.retrieve_workflow_async(request_id)
        return await asyncio.wait_for(handle.get_result(), self._result_timeout_s)

    async def _settled(self, record: RequestRecord) -> RequestRecord:
        """The request as it stands once any execution in flight has finished."""
        if record.status is not RequestStatus.executing:
            return record
        if await DBOS.get_workflow_status_async(record.id) is not None:
            handle = await DBOS.retrieve_workflow_async(record.id)
            return await asyncio.wait_for(handle.get_result(), self._result_timeout_s)
        # Run at once (run_at_once): its claim is held from before its row was written
        # until its end is committed, so once we get the claim the end is there to read.
        svc = self._svc
        waiter = f"{record.id}:settle:{uuid.uuid4().hex}"
        scope = plan_scope(svc.plant, record.request.plan)
        async with asyncio.timeout(self._result_timeout_s), svc.claims.hold(waiter, scope):
            return await svc.requests.get(record.id)

    async def resume_unstarted(self) -> tuple[int, int]:
        """At start-up, before serving: requests stored without a workflow.

        An executing one was run at once and the process died before its end was
        committed (or, rarely, between its row and its workflow's start): whether its step
        reached the plant is unknown, so it gets the workflow that judges the step again
        and sends it with the same key. One waiting for approval died before its workflow
        started, its request and decision possibly unaudited, and nothing acted: it is
        closed as failed. Returns (resumed, closed).
        """
        svc = self._svc
        resumed = closed = 0
        executing = await svc.requests.list(status=RequestStatus.executing, limit=10_000)
        for record in reversed(executing):  # oldest first, as they were submitted
            if await DBOS.get_workflow_status_async(record.id) is None:
                with SetWorkflowID(record.id):
                    await DBOS.start_workflow_async(execute_request, record)
                resumed += 1
        for record in await svc.requests.list(status=RequestStatus.waiting_approval, limit=10_000):
            if await DBOS.get_workflow_status_async(record.id) is None:
                await svc.requests.update(
                    record.id,
                    status=RequestStatus.failed,
                    message="interrupted before its approval was awaited; nothing was actuated",
                )
                closed += 1
        return resumed, closed
