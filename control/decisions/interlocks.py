"""The plant's declared interlocks, checked against one step and the projected state.

Each finding carries the interlock's own id from the plant model. `interlock_reads` names
the other assets each check looks at; keep the two in step (a property test holds them).
"""

from __future__ import annotations

from control.actions.models import Action, SetParameter
from control.decisions.checks import StepContext, alarm_active, command_of
from control.decisions.rules import Finding
from control.plant.models import (
    ENERGIZING_COMMANDS,
    Asset,
    Command,
    Interlock,
    LockoutRequiresStopped,
    NoStartUnderLockout,
    PlantModel,
    RunningBefore,
    RunState,
    SetpointLimitWhileAlarm,
    StopBefore,
)

# A `first` asset in these states still moves material, so `then` may not stop yet.
STILL_FEEDING = frozenset({RunState.running, RunState.paused})


def check_interlocks(step: Action, asset: Asset, ctx: StepContext) -> list[Finding]:
    findings: list[Finding] = []
    for interlock in ctx.plant.interlocks:
        finding = _check_one(interlock, step, asset, ctx)
        if finding is not None:
            findings.append(finding)
    return findings


def interlock_reads(
    interlock: Interlock, step: Action, asset: Asset, plant: PlantModel
) -> set[str]:
    """The assets whose state `interlock`'s check of `step` looks at."""
    command = command_of(step)
    match interlock:
        case NoStartUnderLockout() if asset.line == interlock.line and (
            command in ENERGIZING_COMMANDS
        ):
            return {a.id for a in plant.line_assets(interlock.line)}
        case SetpointLimitWhileAlarm() if isinstance(step, SetParameter) and (
            (step.asset, step.tag) == (interlock.asset, interlock.tag)
        ):
            return {interlock.alarm_asset, interlock.asset}
        case StopBefore() if asset.id == interlock.then and command is Command.stop:
            return {interlock.first}
        case RunningBefore() if asset.id == interlock.asset and command in ENERGIZING_COMMANDS:
            return {interlock.required}
    return set()  # LockoutRequiresStopped looks at the step's own asset only


def _check_one(
    interlock: Interlock, step: Action, asset: Asset, ctx: StepContext
) -> Finding | None:
    match interlock:
        case NoStartUnderLockout():
            return _no_start_under_lockout(interlock, step, asset, ctx)
        case SetpointLimitWhileAlarm():
            return _setpoint_limit_while_alarm(interlock, step, asset, ctx)
        case StopBefore():
            return _stop_before(interlock, step, asset, ctx)
        case RunningBefore():
            return _start_requires_running(interlock, step, asset, ctx)
        case LockoutRequiresStopped():
            return _lockout_requires_stopped(interlock, step, asset, ctx)


def _no_start_under_lockout(
    il: NoStartUnderLockout, step: Action, asset: Asset, ctx: StepContext
) -> Finding | None:
    if asset.line != il.line or command_of(step) not in ENERGIZING_COMMANDS:
        return None
    locked = [
        f"{a.id} (by {', '.join(ctx.state.asset(a.id).lockouts)})"
        for a in ctx.plant.line_assets(il.line)
        if ctx.state.asset(a.id).locked_out
    ]
    if not locked:
        return None
    return Finding(
        il.id,
        f"interlock {il.id}: {asset.id} may not {step.command} while {il.line} has a lockout "
        f"on {', '.join(locked)}",
    )


def _setpoint_limit_while_alarm(
    il: SetpointLimitWhileAlarm, step: Action, asset: Asset, ctx: StepContext
) -> Finding | None:
    if not (isinstance(step, SetParameter) and (step.asset, step.tag) == (il.asset, il.tag)):
        return None
    if step.value <= il.max_value:
        return None
    alarm_asset = ctx.plant.asset(il.alarm_asset)
    if alarm_asset is None or not alarm_active(
        alarm_asset, ctx.state.asset(il.alarm_asset), il.alarm
    ):
        return None
    # Lowering the setpoint moves toward the limit; refusing it would leave the
    # operator only the choice of stopping to get below the limit in max_step strides.
    current = ctx.state.asset(il.asset).tags.get(il.tag)
    if current is not None and step.value < current:
        return None
    return Finding(
        il.id,
        f"interlock {il.id}: {il.asset}.{il.tag} may not be raised to or held at "
        f"{step.value:g} (above {il.max_value:g}) while alarm {il.alarm} is active on "
        f"{il.alarm_asset}",
    )


def _stop_before(il: StopBefore, step: Action, asset: Asset, ctx: StepContext) -> Finding | None:
    if asset.id != il.then or command_of(step) is not Command.stop:
        return None
    first_state = ctx.state.asset(il.first).run_state
    if first_state not in STILL_FEEDING:
        return None
    return Finding(
        il.id,
        f"interlock {il.id}: stop {il.first} before {il.then} ({il.first} is {first_state})",
    )


def _start_requires_running(
    il: RunningBefore, step: Action, asset: Asset, ctx: StepContext
) -> Finding | None:
    if asset.id != il.asset or command_of(step) not in ENERGIZING_COMMANDS:
        return None
    required_state = ctx.state.asset(il.required).run_state
    if required_state == RunState.running:
        return None
    return Finding(
        il.id,
        f"interlock {il.id}: {il.asset} may only {step.command} while {il.required} is running "
        f"({il.required} is {required_state})",
    )


def _lockout_requires_stopped(
    il: LockoutRequiresStopped, step: Action, asset: Asset, ctx: StepContext
) -> Finding | None:
    if command_of(step) is not Command.apply_lockout:
        return None
    run_state = ctx.state.asset(asset.id).run_state
    if run_state == RunState.stopped:
        return None
    return Finding(
        il.id,
        f"interlock {il.id}: {asset.id} must be stopped before a lockout ({asset.id} is "
        f"{run_state})",
    )
