"""The safety core: decide a plan with plain, deterministic code.

A language model, a rule or a person may only *propose*; `evaluate` decides. It is a pure
function of its inputs (no I/O, no clock, no globals), so the same request against the
same plant and state always gets the same answer.

Steps are checked in order against a projected state: each step that is allowed or
approvable is applied (with `apply_step`) before the next one is checked, so a plan is
judged by the states it would actually pass through.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from control.actions.models import Action, ActionRequest, Requester
from control.decisions.checks import (
    StepContext,
    approver_roles,
    check_alarm_pending,
    check_asset_accepts_command,
    check_foreign_lock,
    check_lock_held,
    check_manual_override,
    check_not_locked_out,
    check_risk,
    check_role_may_execute,
    check_role_may_request,
    check_setpoint,
    check_work_order_asset,
    command_of,
    describe,
)
from control.decisions.interlocks import check_interlocks
from control.decisions.models import Decision, Outcome, StepVerdict
from control.decisions.projection import apply_step
from control.decisions.rules import Finding, Rule
from control.plant.models import Asset, PlantModel
from control.state.models import PlantState

__all__ = [
    "Rule",
    "apply_step",
    "evaluate",
    "evaluate_emergency_stop",
    "evaluate_manual_override",
]

AssetCheck = Callable[[Action, Asset, StepContext], list[Finding]]

DENIAL_CHECKS: tuple[AssetCheck, ...] = (
    check_asset_accepts_command,
    check_manual_override,
    check_setpoint,
    check_not_locked_out,
    check_alarm_pending,
    check_lock_held,
    check_work_order_asset,
    check_interlocks,
)

APPROVAL_CHECKS: tuple[AssetCheck, ...] = (
    check_risk,
    check_role_may_execute,
    check_foreign_lock,
)

NO_COMMON_APPROVER = "no single role may approve every step; split the plan"


def evaluate(
    request: ActionRequest, plant: PlantModel, state: PlantState, requester: Requester
) -> Decision:
    """Decide whether `requester` may carry out `request.plan` on `plant` in `state`."""
    steps = request.plan.steps
    if not state.connected:
        return _aggregate(steps, tuple(_disconnected(i) for i in range(len(steps))))
    role = plant.role(requester.role)
    verdicts: list[StepVerdict] = []
    projected = state
    for index, step in enumerate(steps):
        ctx = StepContext(plant, projected, requester, role, request.proposed_by)
        verdict = _evaluate_step(index, step, ctx)
        verdicts.append(verdict)
        if verdict.outcome is not Outcome.denied:
            projected = apply_step(projected, step, requester)
    return _aggregate(steps, tuple(verdicts))


def evaluate_emergency_stop(plant: PlantModel, line_id: str, requester: Requester) -> Decision:
    """An emergency stop of a whole line: only the role's right counts.

    Interlocks, lockouts and plant state do not: stopping everything is always the safe
    direction, and an emergency stop must never wait on a check.
    """
    if not any(line.id == line_id for line in plant.lines):
        return _denied(f"unknown line {line_id!r}")
    role = plant.role(requester.role)
    if role is None:
        return _denied(f"role {requester.role!r} of user {requester.user!r} is not defined")
    if not role.emergency_stop:
        return _denied(f"role {role.id} has no emergency stop right")
    return Decision(outcome=Outcome.allowed, reasons=(f"emergency stop of {line_id}",))


def evaluate_manual_override(plant: PlantModel, asset_id: str, requester: Requester) -> Decision:
    """Taking an asset over by hand (or handing it back): only the role's right counts."""
    if plant.asset(asset_id) is None:
        return _denied(f"unknown asset {asset_id!r}")
    role = plant.role(requester.role)
    if role is None:
        return _denied(f"role {requester.role!r} of user {requester.user!r} is not defined")
    if not role.manual_override:
        return _denied(f"role {role.id} has no manual override right")
    return Decision(outcome=Outcome.allowed, reasons=(f"manual override of {asset_id}",))


# --- One step --------------------------------------------------------------------------


def _evaluate_step(index: int, step: Action, ctx: StepContext) -> StepVerdict:
    denials = check_role_may_request(step, ctx)
    asset = ctx.plant.asset(step.asset)
    if asset is None:
        unknown = Finding(Rule.unknown_asset, f"unknown asset {step.asset!r}")
        return _verdict(index, Outcome.denied, [*denials, unknown])
    denials += [f for check in DENIAL_CHECKS for f in check(step, asset, ctx)]
    if denials:
        return _verdict(index, Outcome.denied, denials)
    approvals = [f for check in APPROVAL_CHECKS for f in check(step, asset, ctx)]
    if not approvals:
        return StepVerdict(index=index, outcome=Outcome.allowed)
    approvers = approver_roles(ctx.plant, command_of(step))
    if not approvers:
        no_one = Finding(Rule.no_approver, f"no role may approve {step.command}")
        return _verdict(index, Outcome.denied, [*approvals, no_one])
    return _verdict(index, Outcome.needs_approval, approvals, approvers)


def _disconnected(index: int) -> StepVerdict:
    finding = Finding(
        Rule.plant_disconnected,
        "control/ has no connection to the plant, so its state is unknown: nothing is decided",
    )
    return _verdict(index, Outcome.denied, [finding])


def _verdict(
    index: int,
    outcome: Outcome,
    findings: Sequence[Finding],
    approvers: frozenset[str] = frozenset(),
) -> StepVerdict:
    return StepVerdict(
        index=index,
        outcome=outcome,
        reasons=tuple(f.reason for f in findings),
        approver_roles=approvers,
        rules=tuple(f.rule for f in findings),
    )


# --- The whole plan --------------------------------------------------------------------


def _aggregate(steps: Sequence[Action], verdicts: tuple[StepVerdict, ...]) -> Decision:
    denied = [v for v in verdicts if v.outcome is Outcome.denied]
    if denied:
        reasons = _step_reasons(steps, denied)
        return Decision(outcome=Outcome.denied, reasons=reasons, steps=verdicts)
    pending = [v for v in verdicts if v.outcome is Outcome.needs_approval]
    if not pending:
        return Decision(outcome=Outcome.allowed, steps=verdicts)
    reasons = _step_reasons(steps, pending)
    approvers = frozenset.intersection(*(v.approver_roles for v in pending))
    if not approvers:
        return Decision(
            outcome=Outcome.denied,
            reasons=(NO_COMMON_APPROVER, *_approver_sets(steps, pending)),
            steps=verdicts,
        )
    return Decision(
        outcome=Outcome.needs_approval, reasons=reasons, approver_roles=approvers, steps=verdicts
    )


def _step_reasons(steps: Sequence[Action], verdicts: Sequence[StepVerdict]) -> tuple[str, ...]:
    return tuple(
        f"step {v.index + 1} ({describe(steps[v.index])}): {reason}"
        for v in verdicts
        for reason in v.reasons
    )


def _approver_sets(steps: Sequence[Action], verdicts: Sequence[StepVerdict]) -> tuple[str, ...]:
    return tuple(
        f"step {v.index + 1} ({describe(steps[v.index])}) may be approved by "
        f"{', '.join(sorted(v.approver_roles))}"
        for v in verdicts
    )


def _denied(reason: str) -> Decision:
    return Decision(outcome=Outcome.denied, reasons=(reason,))
