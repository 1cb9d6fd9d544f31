"""A decision's scope must name every asset the decision reads, so that two requests with
disjoint scopes may be decided and carried out side by side (control/execution/claims.py)."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from control.actions.models import (
    AcknowledgeAlarm,
    Action,
    ActionRequest,
    CreateWorkOrder,
    LockoutCommand,
    PlaceQualityHold,
    Plan,
    Requester,
    RunCommand,
    SetParameter,
)
from control.decisions.evaluate import apply_step, evaluate
from control.decisions.scope import plan_scope, step_scope
from control.plant.models import Command, PlantModel
from control.quality.models import QualityHoldDraft
from control.state.models import PlantState
from control.workorders.models import WorkOrderDraft

from .test_evaluate_properties import PLANT, draw_safe_state, plant_event


def every_step() -> list[Action]:
    """One step of each kind every asset accepts, each setpoint tag at its initial value."""
    steps: list[Action] = []
    for asset in PLANT.assets:
        for command in asset.commands:
            match command:
                case Command.set_parameter:
                    steps += [
                        SetParameter(command=command, asset=asset.id, tag=t.id, value=t.initial)
                        for t in asset.setpoints()
                    ]
                case Command.apply_lockout | Command.remove_lockout:
                    steps.append(LockoutCommand(command=command, asset=asset.id))
                case Command.acknowledge_alarm:
                    steps += [
                        AcknowledgeAlarm(command=command, asset=asset.id, alarm=al.id)
                        for t in asset.tags
                        for al in t.alarms
                    ]
                case Command.create_work_order:
                    draft = WorkOrderDraft(asset=asset.id, symptom="noise at the crown")
                    steps.append(CreateWorkOrder(command=command, asset=asset.id, work_order=draft))
                case Command.place_quality_hold:
                    hold = QualityHoldDraft(reason="burrs on the last parts")
                    steps.append(PlaceQualityHold(command=command, asset=asset.id, hold=hold))
                case _:
                    steps.append(RunCommand(command=command, asset=asset.id))
    return steps


STEPS = every_step()


def with_lockouts(data: st.DataObject, state: PlantState) -> PlantState:
    """Some assets locked out (by alice, who asks, or by carol), so that lockout interlocks
    and lock checks have something to find."""
    locked = state.model_copy(deep=True)
    for asset_id, asset in state.assets.items():
        holders = data.draw(st.sampled_from([(), (), ("carol",), ("alice",)]))
        locked.assets[asset_id] = asset.model_copy(update={"lockouts": holders})
    return locked


ADMIN = Requester(user="alice", role="admin")  # may request everything: no role hides a check


def single(step: Action) -> ActionRequest:
    return ActionRequest(plan=Plan(steps=(step,)), reason="scope test")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_a_step_outside_a_scope_never_changes_that_decision(data, make_state):
    # Every pair of steps with disjoint scopes, from a drawn state: carrying out the first
    # leaves the second's decision exactly as it was. A scope that forgot an asset an
    # interlock reads fails here (a lockout elsewhere on the line, the press a feeder
    # needs running, the feeder that must stop before its press).
    state = with_lockouts(data, plant_event(data, draw_safe_state(data, make_state)))
    scopes = [step_scope(PLANT, step) for step in STEPS]
    before = [evaluate(single(step), PLANT, state, ADMIN) for step in STEPS]
    for first, first_scope in zip(STEPS, scopes, strict=True):
        after = apply_step(state, first, ADMIN)
        for second, second_scope, decision in zip(STEPS, scopes, before, strict=True):
            if not first_scope & second_scope:
                assert evaluate(single(second), PLANT, after, ADMIN) == decision, (first, second)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_a_decision_needs_the_state_of_its_scope_only(data, make_state):
    # Control reads only the scope before deciding; every other asset then looks like a
    # default one (stopped, unlocked, no alarms). That must never change a decision.
    state = with_lockouts(data, plant_event(data, draw_safe_state(data, make_state)))
    steps = tuple(data.draw(st.sampled_from(STEPS)) for _ in range(data.draw(st.integers(1, 3))))
    request = ActionRequest(plan=Plan(steps=steps), reason="scope test")
    scope = plan_scope(PLANT, request.plan)
    seen = state.model_copy(
        update={"assets": {a: s for a, s in state.assets.items() if a in scope}}
    )
    assert evaluate(request, PLANT, seen, ADMIN) == evaluate(request, PLANT, state, ADMIN)
    for step in STEPS:
        alone = step_scope(PLANT, step)
        seen = state.model_copy(
            update={"assets": {a: s for a, s in state.assets.items() if a in alone}}
        )
        assert evaluate(single(step), PLANT, seen, ADMIN) == evaluate(
            single(step), PLANT, state, ADMIN
        ), step


def test_a_start_claims_its_whole_line_and_the_press_it_needs(plant: PlantModel) -> None:
    start_feeder = RunCommand(command="start", asset="feeder-2")
    assert step_scope(plant, start_feeder) == {"feeder-2", "press-3", "conveyor-2", "vision-2"}
    lockout = LockoutCommand(command="apply_lockout", asset="conveyor-2")
    assert step_scope(plant, lockout) == {"conveyor-2"}
    assert step_scope(plant, lockout) <= step_scope(plant, start_feeder)


def test_stopping_a_press_claims_its_feeder(plant: PlantModel) -> None:
    assert step_scope(plant, RunCommand(command="stop", asset="press-3")) == {
        "press-3",
        "feeder-2",
    }


def test_setpoints_on_different_assets_do_not_wait_for_each_other(plant: PlantModel) -> None:
    speeds = [
        SetParameter(command="set_parameter", asset="press-3", tag="speed_spm", value=20),
        SetParameter(command="set_parameter", asset="conveyor-2", tag="speed_mps", value=0.8),
        SetParameter(command="set_parameter", asset="feeder-2", tag="feed_length_mm", value=420),
        SetParameter(command="set_parameter", asset="press-1", tag="speed_spm", value=30),
    ]
    scopes = [step_scope(plant, s) for s in speeds]
    assert scopes == [{"press-3"}, {"conveyor-2"}, {"feeder-2"}, {"press-1"}]
    assert plan_scope(plant, Plan(steps=tuple(speeds))) == {
        "press-3",
        "conveyor-2",
        "feeder-2",
        "press-1",
    }


def test_an_unknown_asset_claims_just_its_name(plant: PlantModel) -> None:
    assert step_scope(plant, RunCommand(command="start", asset="press-9")) == {"press-9"}
