"""Per-step checks that hold for every plant: roles, the asset's commands, setpoint
limits, lockouts, alarms and work orders. Each returns the findings that fired.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from control.actions.models import (
    AcknowledgeAlarm,
    Action,
    CreateWorkOrder,
    LockoutCommand,
    ProposedBy,
    ProposerKind,
    Requester,
    SetParameter,
)
from control.decisions.projection import lock_holder
from control.decisions.rules import Finding, Rule
from control.plant.models import (
    ENERGIZING_COMMANDS,
    Asset,
    Command,
    Permission,
    PlantModel,
    Risk,
    Role,
)
from control.state.models import AssetState, PlantState

AUTOMATED_PROPOSERS = frozenset({ProposerKind.rule, ProposerKind.model})


@dataclass(frozen=True)
class StepContext:
    """Everything a check may look at for one step; `state` is the projected state."""

    plant: PlantModel
    state: PlantState
    requester: Requester
    role: Role | None
    proposed_by: ProposedBy


def command_of(step: Action) -> Command:
    return Command(step.command)


def describe(step: Action) -> str:
    """A short human label for a step, used to prefix its reasons."""
    match step:
        case SetParameter():
            return f"set {step.asset}.{step.tag} to {step.value:g}"
        case LockoutCommand(holder=str(holder)):
            return f"{step.command} on {step.asset} for {holder}"
        case AcknowledgeAlarm():
            return f"acknowledge {step.alarm} on {step.asset}"
        case _:
            return f"{step.command} {step.asset}"


def alarm_active(asset: Asset, asset_state: AssetState, alarm_id: str) -> bool:
    """Active if the state says so or a measured value is past the alarm's limit.

    The second half is deliberately conservative: a missed alarm update must not relax
    an interlock.
    """
    if alarm_id in asset_state.active_alarms:
        return True
    return any(
        alarm.id == alarm_id and alarm.is_active(asset_state.tags[tag.id])
        for tag in asset.tags
        if tag.id in asset_state.tags
        for alarm in tag.alarms
    )


def approver_roles(plant: PlantModel, command: Command) -> frozenset[str]:
    return frozenset(r.id for r in plant.roles if r.may(Permission.approve, command))


# --- Denials ---------------------------------------------------------------------------


def check_role_may_request(step: Action, ctx: StepContext) -> list[Finding]:
    command = command_of(step)
    if ctx.role is None:
        return [
            Finding(
                Rule.unknown_role,
                f"role {ctx.requester.role!r} of user {ctx.requester.user!r} is not defined "
                "for this site",
            )
        ]
    if not ctx.role.may(Permission.request, command):
        return [Finding(Rule.role_may_not_request, f"role {ctx.role.id} may not request {command}")]
    return []


def check_asset_accepts_command(step: Action, asset: Asset, ctx: StepContext) -> list[Finding]:
    command = command_of(step)
    if command in asset.commands:
        return []
    accepted = ", ".join(sorted(asset.commands))
    return [
        Finding(
            Rule.command_not_accepted,
            f"{asset.id} does not accept {command} (it accepts: {accepted})",
        )
    ]


def check_manual_override(step: Action, asset: Asset, ctx: StepContext) -> list[Finding]:
    # Manual override means a person has taken the asset over; automation keeps off it.
    kind = ctx.proposed_by.kind
    if kind in AUTOMATED_PROPOSERS and ctx.state.asset(asset.id).manual_override:
        return [
            Finding(
                Rule.manual_override,
                f"{asset.id} is under manual override: a {kind} proposal may not act on it",
            )
        ]
    return []


def check_setpoint(step: Action, asset: Asset, ctx: StepContext) -> list[Finding]:
    if not isinstance(step, SetParameter):
        return []
    tag = asset.tag(step.tag)
    if tag is None:
        return [Finding(Rule.unknown_tag, f"{asset.id} has no tag {step.tag!r}")]
    if tag.safe_range is None or tag.max_step is None:
        return [
            Finding(Rule.not_a_setpoint, f"{asset.id}.{tag.id} is a {tag.kind}, not a setpoint")
        ]
    findings: list[Finding] = []
    name, unit, safe = f"{asset.id}.{tag.id}", tag.unit, tag.safe_range
    if not safe.contains(step.value):
        findings.append(
            Finding(
                Rule.outside_safe_range,
                f"{name} = {step.value:g} {unit} is outside the safe range "
                f"[{safe.low:g}, {safe.high:g}] {unit}",
            )
        )
    current = ctx.state.asset(asset.id).tags.get(tag.id)
    # The size of a change is only known against a known, finite current value.
    if current is None or not math.isfinite(current):
        findings.append(
            Finding(
                Rule.current_value_unknown,
                f"current value of {name} is unknown, so the size of the change cannot be checked",
            )
        )
    elif abs(step.value - current) > tag.max_step:
        findings.append(
            Finding(
                Rule.step_too_large,
                f"{name}: change from {current:g} to {step.value:g} {unit} is larger than the "
                f"maximum step of {tag.max_step:g} {unit}",
            )
        )
    return findings


def check_not_locked_out(step: Action, asset: Asset, ctx: StepContext) -> list[Finding]:
    # Explicit on the asset itself, whatever interlocks the plant file declares.
    holders = ctx.state.asset(asset.id).lockouts
    if command_of(step) in ENERGIZING_COMMANDS and holders:
        return [
            Finding(
                Rule.asset_locked_out,
                f"{asset.id} is locked out by {', '.join(holders)}: it may not {step.command}",
            )
        ]
    return []


def check_alarm_pending(step: Action, asset: Asset, ctx: StepContext) -> list[Finding]:
    if not isinstance(step, AcknowledgeAlarm):
        return []
    if step.alarm not in {alarm.id for tag in asset.tags for alarm in tag.alarms}:
        return [Finding(Rule.unknown_alarm, f"{asset.id} has no alarm {step.alarm!r}")]
    asset_state = ctx.state.asset(asset.id)
    if alarm_active(asset, asset_state, step.alarm):
        return []
    if step.alarm in asset_state.unacknowledged_alarms:
        return []
    return [
        Finding(
            Rule.alarm_not_pending,
            f"alarm {step.alarm} on {asset.id} is neither active nor unacknowledged",
        )
    ]


def check_lock_held(step: Action, asset: Asset, ctx: StepContext) -> list[Finding]:
    if not (isinstance(step, LockoutCommand) and step.command == Command.remove_lockout):
        return []
    holder = lock_holder(step, ctx.requester)
    holders = ctx.state.asset(asset.id).lockouts
    if holder in holders:
        return []
    held = f"locks held by {', '.join(holders)}" if holders else "no locks"
    return [Finding(Rule.lock_not_held, f"{holder} holds no lock on {asset.id} (it has {held})")]


def check_work_order_asset(step: Action, asset: Asset, ctx: StepContext) -> list[Finding]:
    if not isinstance(step, CreateWorkOrder) or step.work_order.asset == asset.id:
        return []
    return [
        Finding(
            Rule.work_order_asset_mismatch,
            f"work order is for {step.work_order.asset} but the step targets {asset.id}",
        )
    ]


# --- Approvals -------------------------------------------------------------------------


def step_risk(step: Action, asset: Asset) -> Risk:
    """The asset's risk for the command; for a setpoint, the higher of that and the tag's."""
    risk = asset.commands[command_of(step)].risk
    if isinstance(step, SetParameter) and (tag := asset.tag(step.tag)) is not None:
        return max(risk, tag.risk, key=lambda r: r.rank)
    return risk


def check_risk(step: Action, asset: Asset, ctx: StepContext) -> list[Finding]:
    risk = step_risk(step, asset)
    if risk.rank < asset.approval_from.rank:
        return []
    return [
        Finding(
            Rule.risk_requires_approval,
            f"{step.command} on {asset.id} is {risk} risk; {asset.id} needs approval from "
            f"{asset.approval_from} risk",
        )
    ]


def check_role_may_execute(step: Action, asset: Asset, ctx: StepContext) -> list[Finding]:
    command = command_of(step)
    if ctx.role is None or ctx.role.may(Permission.execute, command):
        return []
    return [
        Finding(
            Rule.role_may_not_execute,
            f"role {ctx.role.id} may request but not execute {command} on its own",
        )
    ]


def check_foreign_lock(step: Action, asset: Asset, ctx: StepContext) -> list[Finding]:
    # Lockout/tagout: a lock is its holder's; removing someone else's needs a second person.
    if not (isinstance(step, LockoutCommand) and step.command == Command.remove_lockout):
        return []
    holder = lock_holder(step, ctx.requester)
    if holder == ctx.requester.user:
        return []
    return [
        Finding(
            Rule.foreign_lock,
            f"the lock on {asset.id} belongs to {holder}, not to {ctx.requester.user}",
        )
    ]
