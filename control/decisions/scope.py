"""Which assets a decision depends on: what two requests must not decide and act on at once.

`evaluate` judges a step against the state of the step's own asset (its value, lockouts,
alarms, override, run state) and, through interlocks, of a few others. A step's actuation
changes only its own asset. So two requests whose scopes share no asset cannot change each
other's decisions and may run side by side; two that share one must take turns, each
deciding on the state the other left (see control/execution/claims.py). And a decision
needs the plant state of its scope only: that is all control reads before deciding.
"""

from __future__ import annotations

from control.actions.models import Action, Plan
from control.decisions.interlocks import interlock_reads
from control.plant.models import PlantModel


def step_scope(plant: PlantModel, step: Action) -> frozenset[str]:
    """The assets whose state the decision on `step` reads, its own included."""
    scope = {step.asset}
    asset = plant.asset(step.asset)
    if asset is not None:
        for interlock in plant.interlocks:
            scope |= interlock_reads(interlock, step, asset, plant)
    return frozenset(scope)


def plan_scope(plant: PlantModel, plan: Plan) -> frozenset[str]:
    return frozenset().union(*(step_scope(plant, step) for step in plan.steps))
