"""The effect of one plan step on the plant state, as control/ expects it.

`evaluate` checks each step against the state projected through the steps before it,
and the executor uses the same function to know what it expects to see afterwards.
"""

from __future__ import annotations

from control.actions.models import (
    AcknowledgeAlarm,
    Action,
    CreateWorkOrder,
    LockoutCommand,
    PlaceQualityHold,
    Requester,
    RunCommand,
    SetParameter,
)
from control.plant.models import RunState
from control.state.models import AssetState, PlantState

RUN_STATE_AFTER = {
    "start": RunState.running,
    "resume": RunState.running,
    "stop": RunState.stopped,
    "pause": RunState.paused,
}


def lock_holder(step: LockoutCommand, requester: Requester) -> str:
    """Whose lock a lockout step is about: the named holder, else the requester."""
    return step.holder if step.holder is not None else requester.user


def apply_step(state: PlantState, step: Action, requester: Requester) -> PlantState:
    """A new state with `step` done; `state` itself is left untouched."""
    projected = state.model_copy(deep=True)
    before = projected.asset(step.asset)
    after = _asset_after(before, step, requester)
    # Record only real changes, so a no-op step leaves the state equal to its input.
    if after != before:
        projected.assets[step.asset] = after
    return projected


def _asset_after(asset: AssetState, step: Action, requester: Requester) -> AssetState:
    match step:
        case SetParameter():
            return asset.model_copy(update={"tags": {**asset.tags, step.tag: step.value}})
        case RunCommand():
            return asset.model_copy(update={"run_state": RUN_STATE_AFTER[step.command]})
        case LockoutCommand(command="apply_lockout"):
            holder = lock_holder(step, requester)
            # One lock per person: applying a second time changes nothing.
            if holder in asset.lockouts:
                return asset
            return asset.model_copy(update={"lockouts": (*asset.lockouts, holder)})
        case LockoutCommand():
            holder = lock_holder(step, requester)
            kept = tuple(h for h in asset.lockouts if h != holder)
            return asset.model_copy(update={"lockouts": kept})
        case AcknowledgeAlarm():
            pending = tuple(a for a in asset.unacknowledged_alarms if a != step.alarm)
            return asset.model_copy(update={"unacknowledged_alarms": pending})
        case CreateWorkOrder() | PlaceQualityHold():
            return asset
