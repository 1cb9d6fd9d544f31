"""Emergency stop and manual override: always available to an authorised person, always audited.

They bypass approvals, the durable workflow queue and other requests' claims on purpose: an
e-stop must not wait for a database or for a request in flight. Instead they preempt: a
step judged before them is not sent after them (claims.py). The audit record is written
right after the plant confirmed.
"""

from __future__ import annotations

import time
import uuid

from control.actions.models import ProposedBy, Requester
from control.decisions.evaluate import evaluate_emergency_stop, evaluate_manual_override
from control.decisions.models import Outcome
from control.execution.runtime import Services
from control.metrics import ESTOP_SECONDS
from control.opcua.driver import ActuationError, DriverError
from control.safety.models import SafetyResult


class SafetyRefused(Exception):
    """The caller may not do this (unknown line/asset or no right)."""


class SafetyNotDelivered(Exception):
    """The plant did not confirm: the person must use the hard-wired stop."""


async def emergency_stop(svc: Services, line: str, who: Requester, reason: str) -> SafetyResult:
    decision = evaluate_emergency_stop(svc.plant, line, who)
    if decision.outcome is Outcome.denied:
        raise SafetyRefused("; ".join(decision.reasons))
    key = f"estop-{uuid.uuid4().hex}"
    started = time.perf_counter()
    svc.claims.preempt(a.id for a in svc.plant.line_assets(line))
    try:
        answer = await svc.driver.emergency_stop(line, key, who.user)
        delivered, detail = True, answer
    except (ActuationError, DriverError) as exc:
        delivered, detail = False, f"EMERGENCY STOP NOT CONFIRMED by the plant: {exc}"
    elapsed = time.perf_counter() - started
    ESTOP_SECONDS.observe(elapsed)
    await svc.audit.append(
        kind="estop",
        actor=who.user,
        role=who.role,
        subject=line,
        request_id=key,
        proposed_by=ProposedBy(),
        reason=reason,
        data={"delivered": delivered, "detail": detail, "elapsed_ms": elapsed * 1000},
    )
    svc.events.publish(
        "estop", {"line": line, "by": who.user, "delivered": delivered, "detail": detail}
    )
    if not delivered:
        raise SafetyNotDelivered(detail + " - use the hard-wired emergency stop")
    return SafetyResult(target=line, done=True, detail=detail, elapsed_ms=elapsed * 1000)


async def manual_override(
    svc: Services, asset: str, enabled: bool, who: Requester, reason: str
) -> SafetyResult:
    decision = evaluate_manual_override(svc.plant, asset, who)
    if decision.outcome is Outcome.denied:
        raise SafetyRefused("; ".join(decision.reasons))
    key = f"override-{uuid.uuid4().hex}"
    started = time.perf_counter()
    svc.claims.preempt([asset])
    try:
        detail = await svc.driver.set_manual_override(asset, enabled, key)
        done = True
    except (ActuationError, DriverError) as exc:
        detail, done = f"manual override not confirmed by the plant: {exc}", False
    elapsed = time.perf_counter() - started
    await svc.audit.append(
        kind="override",
        actor=who.user,
        role=who.role,
        subject=asset,
        request_id=key,
        proposed_by=ProposedBy(),
        reason=reason,
        data={"enabled": enabled, "done": done, "detail": detail},
    )
    svc.events.publish(
        "override", {"asset": asset, "enabled": enabled, "by": who.user, "done": done}
    )
    if not done:
        raise SafetyNotDelivered(detail)
    return SafetyResult(target=asset, done=True, detail=detail, elapsed_ms=elapsed * 1000)
