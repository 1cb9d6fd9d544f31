"""Detection rules as pure functions: observations in, at most one plan per firing out.

No clock, no I/O: the time is the observation's own, so replaying the same observations
gives the same firings (and the same idempotency keys) however often it runs.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from control.actions.models import (
    Action,
    ActionRequest,
    CreateWorkOrder,
    PlaceQualityHold,
    Plan,
    ProposedBy,
    ProposerKind,
    RunCommand,
)
from control.plant.models import DetectionRule
from control.quality.models import QualityHoldDraft
from control.rules.models import Observation
from control.workorders.models import WorkOrderDraft


@dataclass(frozen=True)
class RuleState:
    """What a rule remembers: its last `window` observations and when it last fired."""

    recent: tuple[Observation, ...] = ()
    last_fired: datetime | None = None


@dataclass(frozen=True)
class Firing:
    rule: DetectionRule
    matched: tuple[Observation, ...]  # the observations that made it fire, oldest first
    trigger: Observation  # the last of them
    request: ActionRequest
    idempotency_key: str


def applies(rule: DetectionRule, observation: Observation) -> bool:
    return observation.source == rule.source and observation.asset == rule.asset


def matches(rule: DetectionRule, observation: Observation) -> bool:
    if rule.match == "degraded":
        return observation.degraded
    # A result the model could not give is no finding: the degraded rules handle it.
    return observation.abnormal and not observation.degraded


def observe(
    rule: DetectionRule, state: RuleState, observation: Observation
) -> tuple[RuleState, Firing | None]:
    """The rule's next state after `observation`, and the firing it causes, if any."""
    if not applies(rule, observation):
        return state, None
    recent = (*state.recent, observation)[-rule.window :]
    matched = tuple(o for o in recent if matches(rule, o))
    cooling = state.last_fired is not None and observation.at < state.last_fired + timedelta(
        seconds=rule.cooldown_s
    )
    if len(matched) < rule.count or not matches(rule, observation) or cooling:
        return RuleState(recent, state.last_fired), None
    # Fired: start counting afresh, so the same burst never fires twice.
    return RuleState((), observation.at), _firing(rule, matched, observation)


def _firing(rule: DetectionRule, matched: tuple[Observation, ...], trigger: Observation) -> Firing:
    evidence = tuple(o.evidence() for o in matched)
    seen = ", ".join(f"{o.subject} {o.label} {o.score:.2f}" for o in matched[-5:])
    reason = f"rule {rule.id}: {len(matched)} of the last {rule.window} at {rule.asset} ({seen})"
    steps: list[Action] = [RunCommand(command="pause", asset=a) for a in rule.pause]
    steps += [RunCommand(command="stop", asset=a) for a in rule.stop]
    if rule.hold_parts:
        counts = [o.part_count for o in matched if o.part_count is not None]
        hold = QualityHoldDraft(
            reason=f"{rule.description.strip()[:400]} ({len(matched)} parts)",
            parts_from=min(counts) if counts else None,
            parts_to=max(counts) if counts else None,
            evidence=evidence,
        )
        steps.append(PlaceQualityHold(command="place_quality_hold", asset=rule.asset, hold=hold))
    if rule.work_order is not None:
        template = rule.work_order
        due = trigger.at + timedelta(hours=template.due_in_hours) if template.due_in_hours else None
        draft = WorkOrderDraft(
            asset=template.asset,
            symptom=f"{template.symptom} [{rule.id}]"[:500],
            failure_mode=template.failure_mode,
            priority=template.priority,
            tasks=list(template.tasks),
            lockout_required=template.lockout_required,
            due=due,
            evidence=list(evidence),
        )
        steps.append(
            CreateWorkOrder(command="create_work_order", asset=template.asset, work_order=draft)
        )
    request = ActionRequest(
        plan=Plan(steps=tuple(steps)),
        reason=reason[:500],
        proposed_by=ProposedBy(kind=ProposerKind.rule, name=rule.id),
    )
    return Firing(rule, matched, trigger, request, idempotency_key(rule, trigger))


def idempotency_key(rule: DetectionRule, trigger: Observation) -> str:
    """Names the firing by what caused it: the same observation never acts twice."""
    cause = f"{rule.id}\0{trigger.asset}\0{trigger.subject}\0{trigger.at.isoformat()}"
    return f"rule-{rule.id}-" + hashlib.sha256(cause.encode()).hexdigest()[:24]
