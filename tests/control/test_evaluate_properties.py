"""Property tests: random sequences of random requests against a plant that also changes by
itself. Only steps of allowed or (assumed) approved plans are applied, with `apply_step`,
and whatever is applied must keep the plant inside its limits and interlocks."""

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
    ProposedBy,
    ProposerKind,
    Requester,
    RunCommand,
    SetParameter,
)
from control.decisions.evaluate import apply_step, evaluate
from control.decisions.models import Decision, Outcome
from control.plant.loader import load_plant
from control.plant.models import (
    ENERGIZING_COMMANDS,
    Command,
    Permission,
    RunningBefore,
    RunState,
    SetpointLimitWhileAlarm,
    StopBefore,
)
from control.quality.models import QualityHoldDraft
from control.state.models import PlantState
from control.workorders.models import WorkOrderDraft

PLANT = load_plant()
ASSETS = [a.id for a in PLANT.assets]
ROLES = [r.id for r in PLANT.roles]
USERS = ["alice", "bob"]
ALL_TAGS = sorted({t.id for a in PLANT.assets for t in a.tags})
ALL_ALARMS = sorted({al.id for a in PLANT.assets for t in a.tags for al in t.alarms})
ALARM_SITES = [(a.id, al.id) for a in PLANT.assets for t in a.tags for al in t.alarms]
# Alarms that interlocks watch come up more often, so that those interlocks get exercised.
ALARM_SITES += [
    (il.alarm_asset, il.alarm) for il in PLANT.interlocks if isinstance(il, SetpointLimitWhileAlarm)
] * 3
SETTINGS = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

any_finite = st.floats(allow_nan=False, allow_infinity=False)


def mostly(known: list[str], unknown: str) -> st.SearchStrategy[str]:
    """A known id nine times in ten, else one the plant does not have: a plan with any
    denied step is denied whole, so unknown ids must stay rare for plans to get through."""
    if not known:
        return st.just(unknown)
    return st.integers(0, 9).flatmap(
        lambda i: st.just(unknown) if i == 0 else st.sampled_from(known)
    )


# --- Drawing requests --------------------------------------------------------------------


def draw_value(data: st.DataObject, state: PlantState, asset_id: str, tag_id: str) -> float:
    asset = PLANT.asset(asset_id)
    tag = asset.tag(tag_id) if asset else None
    if tag is None or tag.safe_range is None or tag.max_step is None:
        return data.draw(any_finite)
    current = state.asset(asset_id).tags.get(tag_id, tag.initial)
    step, safe = tag.max_step, tag.safe_range
    return data.draw(
        st.one_of(
            any_finite,
            st.floats(current - 1.5 * step, current + 1.5 * step),
            st.sampled_from([safe.low, safe.high, current + step, current - step]),
            st.floats(tag.engineering_range.low, tag.engineering_range.high),
        )
    )


def draw_step(data: st.DataObject, state: PlantState) -> Action:
    # Setpoint changes weigh triple: walking a value to its limits takes several.
    command = data.draw(st.sampled_from([*Command, Command.set_parameter, Command.set_parameter]))
    asset_id = data.draw(mostly(ASSETS, "press-9"))
    asset = PLANT.asset(asset_id)
    match command:
        case Command.set_parameter:
            own = [t.id for t in asset.setpoints()] if asset else []
            tag = data.draw(mostly(own, data.draw(st.sampled_from([*ALL_TAGS, "nope"]))))
            value = draw_value(data, state, asset_id, tag)
            return SetParameter(command=command, asset=asset_id, tag=tag, value=value)
        case Command.apply_lockout | Command.remove_lockout:
            holder = data.draw(st.sampled_from([None, *USERS]))
            return LockoutCommand(command=command, asset=asset_id, holder=holder)
        case Command.acknowledge_alarm:
            own = [al.id for t in asset.tags for al in t.alarms] if asset else []
            alarm = data.draw(mostly(own, data.draw(st.sampled_from([*ALL_ALARMS, "nope"]))))
            return AcknowledgeAlarm(command=command, asset=asset_id, alarm=alarm)
        case Command.create_work_order:
            target = data.draw(mostly([asset_id], data.draw(st.sampled_from(ASSETS))))
            draft = WorkOrderDraft(asset=target, symptom="noise at the crown")
            return CreateWorkOrder(command=command, asset=asset_id, work_order=draft)
        case Command.place_quality_hold:
            hold = QualityHoldDraft(reason="burrs on the last parts")
            return PlaceQualityHold(command=command, asset=asset_id, hold=hold)
        case _:
            return RunCommand(command=command, asset=asset_id)


def draw_request(data: st.DataObject, state: PlantState) -> tuple[ActionRequest, Requester]:
    length = data.draw(st.sampled_from([1, 1, 1, 2, 2, 3, 4]))
    steps = tuple(draw_step(data, state) for _ in range(length))
    # Mostly people: automation is denied on overridden assets, which hides other checks.
    proposer = data.draw(st.sampled_from([ProposerKind.human] * 3 + list(ProposerKind)))
    request = ActionRequest(
        plan=Plan(steps=steps), reason="property test", proposed_by=ProposedBy(kind=proposer)
    )
    role = data.draw(mostly(ROLES, "visitor"))
    return request, Requester(user=data.draw(st.sampled_from(USERS)), role=role)


# --- The plant changing by itself ----------------------------------------------------------


def plant_event(data: st.DataObject, state: PlantState) -> PlantState:
    """Alarms come and go, equipment faults, people take over, values drift or are lost,
    links drop."""
    events = ["none", "alarm", "alarm", "clear", "fault", "override", "drift", "lost", "disconnect"]
    event = data.draw(st.sampled_from(events))
    if event == "alarm":
        asset_id, alarm = data.draw(st.sampled_from(ALARM_SITES))
    else:
        asset_id = data.draw(st.sampled_from(ASSETS))
    asset = state.asset(asset_id)
    measurements = [t for t in PLANT.asset(asset_id).tags if t.safe_range is None]
    update: dict[str, object] = {}
    if event == "alarm":
        update = {
            "active_alarms": (*asset.active_alarms, alarm),
            "unacknowledged_alarms": (*asset.unacknowledged_alarms, alarm),
        }
    elif event == "clear":
        update = {"active_alarms": ()}
    elif event == "fault":
        update = {"run_state": RunState.faulted}
    elif event == "override":
        update = {"manual_override": not asset.manual_override}
    elif event == "drift" and measurements:
        tag = data.draw(st.sampled_from(measurements))
        rng = tag.engineering_range
        update = {"tags": {**asset.tags, tag.id: data.draw(st.floats(rng.low, rng.high))}}
    elif event == "lost" and asset.tags:
        lost = data.draw(st.sampled_from(sorted(asset.tags)))
        update = {"tags": {k: v for k, v in asset.tags.items() if k != lost}}
    changed = state.model_copy(deep=True)
    changed.assets[asset_id] = asset.model_copy(update=update)
    changed.connected = event != "disconnect"
    return changed


# --- What may never happen ---------------------------------------------------------------


def assert_setpoint_change_safe(state: PlantState, step: SetParameter) -> None:
    tag = PLANT.asset(step.asset).tag(step.tag)
    assert tag is not None and tag.safe_range is not None and tag.max_step is not None
    assert tag.safe_range.contains(step.value), step
    current = state.asset(step.asset).tags[step.tag]
    assert abs(step.value - current) <= tag.max_step, (current, step)


def assert_no_lockout_on_line(state: PlantState, step: Action) -> None:
    line = PLANT.asset(step.asset).line
    for asset in PLANT.line_assets(line):
        assert not state.asset(asset.id).lockouts, (step, asset.id)


def assert_interlocks_hold(state: PlantState, step: Action) -> None:
    command = Command(step.command)
    for il in PLANT.interlocks:
        match il:
            case StopBefore() if command is Command.stop and step.asset == il.then:
                assert state.asset(il.first).run_state not in {RunState.running, RunState.paused}
            case RunningBefore() if command in ENERGIZING_COMMANDS and step.asset == il.asset:
                assert state.asset(il.required).run_state is RunState.running
            case SetpointLimitWhileAlarm() if (
                isinstance(step, SetParameter)
                and (step.asset, step.tag) == (il.asset, il.tag)
                and il.alarm in state.asset(il.alarm_asset).active_alarms
                and step.value > il.max_value
            ):
                # Above the limit under alarm only ever on the way down.
                assert step.value < state.asset(il.asset).tags[il.tag]
    if command is Command.apply_lockout:
        assert state.asset(step.asset).run_state is RunState.stopped


def assert_all_setpoints_in_safe_range(state: PlantState) -> None:
    for asset in PLANT.assets:
        for tag in asset.setpoints():
            value = state.asset(asset.id).tags.get(tag.id)
            assert value is None or tag.safe_range.contains(value), (asset.id, tag.id, value)


def assert_decision_consistent(decision: Decision, request: ActionRequest) -> None:
    steps = decision.steps
    assert [v.index for v in steps] == list(range(len(request.plan.steps)))
    for verdict, step in zip(steps, request.plan.steps, strict=True):
        assert len(verdict.rules) == len(verdict.reasons)
        assert bool(verdict.rules) == (verdict.outcome is not Outcome.allowed)
        if verdict.outcome is Outcome.needs_approval:
            command = Command(step.command)
            assert verdict.approver_roles == {
                r.id for r in PLANT.roles if r.may(Permission.approve, command)
            }
    pending = [v.approver_roles for v in steps if v.outcome is Outcome.needs_approval]
    if any(v.outcome is Outcome.denied for v in steps):
        assert decision.outcome is Outcome.denied
    elif not pending:
        assert decision.outcome is Outcome.allowed
    elif decision.outcome is Outcome.needs_approval:
        assert decision.approver_roles == frozenset.intersection(*pending) != frozenset()
    else:
        assert frozenset.intersection(*pending) == frozenset()


# --- The properties ----------------------------------------------------------------------


def draw_safe_state(data: st.DataObject, make_state) -> PlantState:
    """A safe start: every setpoint inside its safe range (often at its `initial`), any
    equipment stopped, running or paused, no locks, no alarms."""
    overrides = {}
    for asset in PLANT.assets:
        tags = {
            t.id: data.draw(
                st.one_of(st.just(t.initial), st.floats(t.safe_range.low, t.safe_range.high))
            )
            for t in asset.setpoints()
        }
        run_state = data.draw(st.sampled_from(["stopped", "running", "paused"]))
        overrides[asset.id] = {"run_state": run_state, "tags": tags}
    return make_state(overrides)


def run_sequence(data: st.DataObject, make_state, on_applied) -> None:
    """Drive random requests from a safe state; call `on_applied(before, step)` for every
    step actually carried out."""
    state = draw_safe_state(data, make_state)
    for _ in range(data.draw(st.integers(1, 30))):
        state = plant_event(data, state)
        request, requester = draw_request(data, state)
        before = state.model_dump()
        decision = evaluate(request, PLANT, state, requester)
        # A denied plan leaves the plant exactly as it was: evaluate only projects.
        assert state.model_dump() == before
        if decision.outcome is Outcome.denied:
            continue
        for step in request.plan.steps:
            on_applied(state, step)
            state = apply_step(state, step, requester)
        assert_all_setpoints_in_safe_range(state)


@SETTINGS
@given(data=st.data())
def test_applied_setpoints_stay_in_safe_range_and_within_max_step(data, make_state):
    def check(state: PlantState, step: Action) -> None:
        if isinstance(step, SetParameter):
            assert_setpoint_change_safe(state, step)
        assert_interlocks_hold(state, step)

    run_sequence(data, make_state, check)


@SETTINGS
@given(data=st.data())
def test_nothing_starts_while_its_line_has_a_lockout(data, make_state):
    def check(state: PlantState, step: Action) -> None:
        if Command(step.command) in ENERGIZING_COMMANDS:
            assert_no_lockout_on_line(state, step)

    run_sequence(data, make_state, check)


@SETTINGS
@given(data=st.data())
def test_evaluate_has_no_side_effects_and_is_deterministic(data, make_state):
    state = plant_event(data, make_state())
    request, requester = draw_request(data, state)
    before = state.model_dump()
    decision = evaluate(request, PLANT, state, requester)
    assert state.model_dump() == before
    assert evaluate(request, PLANT, state, requester) == decision
    assert_decision_consistent(decision, request)


@SETTINGS
@given(data=st.data())
def test_plan_verdicts_match_single_steps_on_the_projected_states(data, make_state):
    # The projection evaluate uses is exactly apply_step: each non-denied step judged
    # alone against the state the steps before it leave gets the same verdict.
    state = plant_event(data, make_state())
    request, requester = draw_request(data, state)
    decision = evaluate(request, PLANT, state, requester)
    for verdict, step in zip(decision.steps, request.plan.steps, strict=True):
        alone = request.model_copy(update={"plan": Plan(steps=(step,))})
        single = evaluate(alone, PLANT, state, requester).steps[0]
        assert single.model_copy(update={"index": verdict.index}) == verdict
        if verdict.outcome is not Outcome.denied:
            state = apply_step(state, step, requester)
