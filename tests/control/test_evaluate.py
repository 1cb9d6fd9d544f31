"""`evaluate`: every denial and approval rule, every interlock both ways, aggregation,
projection order, determinism and purity, on the demo plant."""

from __future__ import annotations

import math

import pytest

from control.actions.models import (
    AcknowledgeAlarm,
    ActionRequest,
    CreateWorkOrder,
    LockoutCommand,
    PlaceQualityHold,
    Plan,
    Requester,
    RunCommand,
    SetParameter,
)
from control.decisions.evaluate import (
    Rule,
    apply_step,
    evaluate,
    evaluate_emergency_stop,
    evaluate_manual_override,
)
from control.decisions.models import Decision, Outcome
from control.plant.loader import load_plant
from control.plant.models import (
    Command,
    NoStartUnderLockout,
    Permission,
    PlantModel,
    RunningBefore,
    RunState,
    SetpointLimitWhileAlarm,
    StopBefore,
    Tag,
)
from control.quality.models import QualityHoldDraft
from control.state.models import AssetState, PlantState
from control.workorders.models import WorkOrderDraft

PLANT = load_plant()
SETPOINTS = [(a.id, t) for a in PLANT.assets for t in a.setpoints()]
SETPOINT_IDS = [f"{a}.{t.id}" for a, t in SETPOINTS]


def interlocks_of(kind: type) -> list:
    return [il for il in PLANT.interlocks if isinstance(il, kind)]


def approvers(command: Command) -> frozenset[str]:
    return frozenset(r.id for r in PLANT.roles if r.may(Permission.approve, command))


def set_(asset: str, tag: str, value: float) -> SetParameter:
    return SetParameter(command="set_parameter", asset=asset, tag=tag, value=value)


def run(command: str, asset: str) -> RunCommand:
    return RunCommand(command=command, asset=asset)


def lock(asset: str, holder: str | None = None) -> LockoutCommand:
    return LockoutCommand(command="apply_lockout", asset=asset, holder=holder)


def unlock(asset: str, holder: str | None = None) -> LockoutCommand:
    return LockoutCommand(command="remove_lockout", asset=asset, holder=holder)


def ack(asset: str, alarm: str) -> AcknowledgeAlarm:
    return AcknowledgeAlarm(command="acknowledge_alarm", asset=asset, alarm=alarm)


def work_order(asset: str, for_asset: str | None = None) -> CreateWorkOrder:
    draft = WorkOrderDraft(asset=for_asset or asset, symptom="bearing runs hot")
    return CreateWorkOrder(command="create_work_order", asset=asset, work_order=draft)


def hold(asset: str) -> PlaceQualityHold:
    draft = QualityHoldDraft(reason="burrs on the last parts")
    return PlaceQualityHold(command="place_quality_hold", asset=asset, hold=draft)


def any_step(command: Command, asset: str):
    """A well-formed step of `command` on `asset`, whatever else it may be denied for."""
    match command:
        case Command.set_parameter:
            return set_(asset, "speed_spm", 20)
        case Command.apply_lockout:
            return lock(asset)
        case Command.remove_lockout:
            return unlock(asset)
        case Command.acknowledge_alarm:
            return ack(asset, "vibration_high")
        case Command.create_work_order:
            return work_order(asset)
        case Command.place_quality_hold:
            return hold(asset)
        case _:
            return run(command, asset)


def only_step(decision: Decision):
    assert len(decision.steps) == 1
    return decision.steps[0]


def assert_denied_by(decision: Decision, rule: str, *words: str) -> None:
    """Denied, the rule fired on some step, and its reason names every word given."""
    assert decision.outcome is Outcome.denied
    fired = [
        reason
        for verdict in decision.steps
        for fired_rule, reason in zip(verdict.rules, verdict.reasons, strict=True)
        if fired_rule == rule
    ]
    assert fired, f"{rule} did not fire: {decision.reasons}"
    for word in words:
        assert any(word in reason for reason in fired), (word, fired)


# --- Plain allowed requests ---------------------------------------------------------------


def test_low_risk_setpoint_within_limits_is_allowed(decide):
    decision = decide(set_("conveyor-2", "speed_mps", 1.0))
    assert decision.outcome is Outcome.allowed
    assert decision.reasons == ()
    assert decision.approver_roles == frozenset()
    assert only_step(decision).outcome is Outcome.allowed
    assert only_step(decision).rules == ()


# --- Denials: the asset, its commands and tags ------------------------------------------------


def test_unknown_asset_is_denied(decide):
    assert_denied_by(decide(run("stop", "press-9")), Rule.unknown_asset, "press-9")


@pytest.mark.parametrize(
    ("command", "asset"),
    [(c, a.id) for a in PLANT.assets for c in Command if c not in a.commands],
)
def test_command_the_asset_does_not_accept_is_denied(decide, command, asset):
    assert_denied_by(decide(any_step(command, asset)), Rule.command_not_accepted, asset, command)


def test_unknown_tag_is_denied(decide):
    assert_denied_by(decide(set_("press-3", "nope", 1)), Rule.unknown_tag, "press-3", "nope")


@pytest.mark.parametrize("tag", ["tonnage_t", "part_count", "vibration_rms_mm_s"])
def test_writing_a_measurement_or_counter_is_denied(decide, tag):
    assert_denied_by(decide(set_("press-3", tag, 1)), Rule.not_a_setpoint, f"press-3.{tag}")


@pytest.mark.parametrize(("asset", "tag"), SETPOINTS, ids=SETPOINT_IDS)
def test_setpoint_above_safe_range_is_denied(decide, make_state, asset, tag: Tag):
    safe = tag.safe_range
    value = safe.high + tag.max_step / 2
    state = make_state({asset: {"tags": {tag.id: safe.high}}})
    decision = decide(set_(asset, tag.id, value), state=state)
    assert only_step(decision).rules == (Rule.outside_safe_range,)
    assert_denied_by(decision, Rule.outside_safe_range, f"{asset}.{tag.id}", f"{value:g}")


@pytest.mark.parametrize(("asset", "tag"), SETPOINTS, ids=SETPOINT_IDS)
def test_setpoint_below_safe_range_is_denied(decide, make_state, asset, tag: Tag):
    safe = tag.safe_range
    value = safe.low - tag.max_step / 2
    state = make_state({asset: {"tags": {tag.id: safe.low}}})
    decision = decide(set_(asset, tag.id, value), state=state)
    assert only_step(decision).rules == (Rule.outside_safe_range,)


@pytest.mark.parametrize(("asset", "tag"), SETPOINTS, ids=SETPOINT_IDS)
def test_safe_range_edges_are_inside(decide, make_state, asset, tag: Tag):
    for edge in (tag.safe_range.low, tag.safe_range.high):
        state = make_state({asset: {"tags": {tag.id: edge}}})
        verdict = only_step(decide(set_(asset, tag.id, edge), state=state))
        assert Rule.outside_safe_range not in verdict.rules


def test_engineering_range_is_not_enough(decide, make_state):
    # 32 strokes/min is within the press's engineering range (0-40) but not its safe range.
    state = make_state({"press-3": {"tags": {"speed_spm": 30}}})
    decision = decide(set_("press-3", "speed_spm", 32), state=state)
    assert_denied_by(decision, Rule.outside_safe_range, "[8, 30]")


@pytest.mark.parametrize(("asset", "tag"), SETPOINTS, ids=SETPOINT_IDS)
@pytest.mark.parametrize("direction", [1, -1])
def test_change_larger_than_max_step_is_denied(decide, asset, tag: Tag, direction):
    value = tag.initial + direction * tag.max_step * 1.01
    decision = decide(set_(asset, tag.id, value))
    assert Rule.step_too_large in only_step(decision).rules
    assert_denied_by(decision, Rule.step_too_large, f"{tag.initial:g}", f"{tag.max_step:g}")


@pytest.mark.parametrize(("asset", "tag"), SETPOINTS, ids=SETPOINT_IDS)
@pytest.mark.parametrize("direction", [1, -1])
def test_change_of_exactly_max_step_passes(decide, asset, tag: Tag, direction):
    value = tag.initial + direction * tag.max_step
    verdict = only_step(decide(set_(asset, tag.id, value)))
    assert Rule.step_too_large not in verdict.rules


@pytest.mark.parametrize("current", [None, math.nan, math.inf])
def test_unknown_current_value_is_denied_never_guessed(decide, make_state, current):
    state = make_state()
    tags = dict(state.assets["press-3"].tags)
    if current is None:
        del tags["speed_spm"]
    else:
        tags["speed_spm"] = current
    state.assets["press-3"] = state.assets["press-3"].model_copy(update={"tags": tags})
    decision = decide(set_("press-3", "speed_spm", 20), state=state)
    assert_denied_by(decision, Rule.current_value_unknown, "press-3.speed_spm")


def test_unknown_asset_state_means_unknown_current_value(decide):
    decision = decide(set_("press-3", "speed_spm", 20), state=PlantState())
    assert_denied_by(decision, Rule.current_value_unknown)


# --- Denials: lockouts, alarms, work orders, roles, connection, override ---------------------


@pytest.mark.parametrize("command", ["start", "resume"])
def test_energizing_a_locked_out_asset_is_denied(decide, make_state, command):
    state = make_state({"press-1": {"lockouts": ["bob"], "run_state": "paused"}})
    decision = decide(run(command, "press-1"), state=state)
    assert_denied_by(decision, Rule.asset_locked_out, "press-1", "bob")
    assert_denied_by(decision, "line-1-lockout")


@pytest.mark.parametrize(
    "step",
    [run("stop", "press-1"), run("pause", "press-1"), set_("press-1", "speed_spm", 32)],
    ids=["stop", "pause", "set_parameter"],
)
def test_non_energizing_commands_are_not_blocked_by_a_lockout(decide, make_state, step):
    state = make_state({"press-1": {"lockouts": ["bob"], "run_state": "running"}})
    verdict = only_step(decide(step, state=state))
    assert verdict.outcome is Outcome.allowed


def test_acknowledging_an_alarm_the_asset_does_not_have_is_denied(decide, make_state):
    # coil_low exists, but on feeder-2, not on press-3.
    state = make_state({"press-3": {"unacknowledged_alarms": ["coil_low"]}})
    decision = decide(ack("press-3", "coil_low"), state=state)
    assert_denied_by(decision, Rule.unknown_alarm, "press-3", "coil_low")


def test_acknowledging_an_alarm_that_is_not_pending_is_denied(decide):
    decision = decide(ack("press-3", "vibration_high"))
    assert_denied_by(decision, Rule.alarm_not_pending, "vibration_high", "press-3")


@pytest.mark.parametrize(
    "fields",
    [
        {"active_alarms": ["vibration_high"]},
        {"unacknowledged_alarms": ["vibration_high"]},
        {"tags": {"vibration_rms_mm_s": 9.0}},
    ],
    ids=["active", "unacknowledged", "measured-past-limit"],
)
def test_acknowledging_a_pending_alarm_is_allowed(decide, make_state, fields):
    state = make_state({"press-3": fields})
    assert decide(ack("press-3", "vibration_high"), state=state).outcome is Outcome.allowed


@pytest.mark.parametrize("holders", [[], ["carol"]])
def test_removing_a_lock_the_holder_does_not_hold_is_denied(decide, make_state, holders):
    state = make_state({"feeder-2": {"lockouts": holders}})
    decision = decide(unlock("feeder-2", "bob"), state=state)
    assert_denied_by(decision, Rule.lock_not_held, "bob", "feeder-2")


def test_removing_own_lock_defaults_the_holder_to_the_requester(decide, make_state):
    state = make_state({"feeder-2": {"lockouts": ["alice"]}})
    decision = decide(unlock("feeder-2"), state=state, user="alice")
    assert decision.outcome is not Outcome.denied
    assert Rule.foreign_lock not in only_step(decision).rules


def test_work_order_for_another_asset_is_denied(decide):
    decision = decide(work_order("press-3", for_asset="feeder-2"))
    assert_denied_by(decision, Rule.work_order_asset_mismatch, "feeder-2", "press-3")


def test_work_order_for_the_step_asset_is_allowed(decide):
    assert decide(work_order("press-3")).outcome is Outcome.allowed


def test_unknown_role_is_denied_on_every_step(decide):
    decision = decide(run("stop", "feeder-2"), work_order("press-3"), role="visitor")
    assert decision.outcome is Outcome.denied
    assert all(Rule.unknown_role in v.rules for v in decision.steps)
    assert_denied_by(decision, Rule.unknown_role, "visitor")


def test_role_without_request_permission_is_denied(decide):
    decision = decide(set_("conveyor-2", "speed_mps", 1.0), role="maintenance")
    assert_denied_by(decision, Rule.role_may_not_request, "maintenance", "set_parameter")


def test_disconnected_plant_denies_everything(decide, make_state):
    state = make_state(connected=False)
    decision = decide(work_order("press-3"), run("stop", "conveyor-2"), state=state)
    assert decision.outcome is Outcome.denied
    assert [v.rules for v in decision.steps] == [(Rule.plant_disconnected,)] * 2
    assert all("connection" in r for r in decision.reasons)


@pytest.mark.parametrize("proposer", ["rule", "model"])
def test_automation_may_not_act_on_an_asset_under_manual_override(decide, make_state, proposer):
    state = make_state({"press-3": {"manual_override": True}})
    decision = decide(work_order("press-3"), state=state, proposer=proposer)
    assert_denied_by(decision, Rule.manual_override, "press-3", proposer)


def test_people_may_act_on_an_asset_under_manual_override(decide, make_state):
    state = make_state({"press-3": {"manual_override": True}})
    assert decide(work_order("press-3"), state=state).outcome is Outcome.allowed


def test_manual_override_of_one_asset_leaves_automation_free_elsewhere(decide, make_state):
    state = make_state({"press-3": {"manual_override": True}})
    decision = decide(work_order("feeder-2"), state=state, proposer="model")
    assert decision.outcome is Outcome.allowed


def test_all_reasons_of_a_step_are_reported(decide, make_state):
    state = make_state({"press-3": {"tags": {"speed_spm": 10}}})
    decision = decide(set_("press-3", "speed_spm", 35), state=state, role="maintenance")
    assert set(only_step(decision).rules) == {
        Rule.role_may_not_request,
        Rule.outside_safe_range,
        Rule.step_too_large,
    }
    assert len(decision.reasons) == 3


# --- Interlocks, each both ways ------------------------------------------------------------


@pytest.mark.parametrize("il", interlocks_of(NoStartUnderLockout), ids=lambda il: il.id)
def test_no_start_under_lockout_fires_for_any_asset_of_the_line(decide, make_state, il):
    line_assets = PLANT.line_assets(il.line)
    locked, *_ = line_assets
    state = make_state({locked.id: {"lockouts": ["bob"]}})
    for asset in line_assets:
        if Command.start in asset.commands:
            decision = decide(run("start", asset.id), state=state)
            assert_denied_by(decision, il.id, asset.id, locked.id, "bob")


@pytest.mark.parametrize("il", interlocks_of(NoStartUnderLockout), ids=lambda il: il.id)
def test_no_start_under_lockout_is_scoped_to_its_line(decide, make_state, il):
    others = [a for a in PLANT.assets if a.line != il.line]
    locked = PLANT.line_assets(il.line)[0]
    state = make_state(
        {locked.id: {"lockouts": ["bob"]}, **{a.id: {"run_state": "running"} for a in others}}
    )
    for asset in others:
        if Command.start in asset.commands:
            verdict = only_step(decide(run("start", asset.id), state=state))
            assert il.id not in verdict.rules
            assert verdict.outcome is not Outcome.denied


def test_lockout_on_line_1_does_not_block_line_2(decide, make_state):
    state = make_state({"press-1": {"lockouts": ["bob"]}})
    assert decide(run("start", "conveyor-2"), state=state).outcome is Outcome.allowed


def alarm_state(make_state, il: SetpointLimitWhileAlarm, current: float, alarm_fields=None):
    """`il.asset`.`il.tag` at `current`; the alarm asset with `alarm_fields` (alarm active
    unless given). Built in two moves because the two assets may be one."""
    fields = {"active_alarms": [il.alarm]} if alarm_fields is None else alarm_fields
    state = make_state({il.alarm_asset: fields})
    asset = state.assets[il.asset]
    state.assets[il.asset] = asset.model_copy(update={"tags": {**asset.tags, il.tag: current}})
    return state


@pytest.mark.parametrize("il", interlocks_of(SetpointLimitWhileAlarm), ids=lambda il: il.id)
class TestSetpointLimitWhileAlarm:
    def test_raising_above_the_limit_while_alarm_active_is_denied(self, decide, make_state, il):
        state = alarm_state(make_state, il, il.max_value)
        decision = decide(set_(il.asset, il.tag, il.max_value + 1), state=state)
        assert only_step(decision).rules == (il.id,)
        assert_denied_by(decision, il.id, il.asset, il.tag, il.alarm, f"{il.max_value:g}")

    def test_measured_value_past_the_alarm_limit_counts_as_active(self, decide, make_state, il):
        tag, alarm = next(
            (t, a) for t in PLANT.asset(il.alarm_asset).tags for a in t.alarms if a.id == il.alarm
        )
        state = alarm_state(make_state, il, il.max_value, {"tags": {tag.id: alarm.high + 1}})
        decision = decide(set_(il.asset, il.tag, il.max_value + 1), state=state)
        assert_denied_by(decision, il.id)

    def test_holding_above_the_limit_is_denied(self, decide, make_state, il):
        value = il.max_value + 2
        state = alarm_state(make_state, il, value)
        assert_denied_by(decide(set_(il.asset, il.tag, value), state=state), il.id)

    def test_lowering_toward_the_limit_is_allowed(self, decide, make_state, il):
        max_step = PLANT.asset(il.asset).tag(il.tag).max_step
        current = il.max_value + max_step + 1
        state = alarm_state(make_state, il, current)
        verdict = only_step(decide(set_(il.asset, il.tag, current - max_step), state=state))
        assert verdict.outcome is Outcome.allowed

    def test_at_the_limit_is_allowed(self, decide, make_state, il):
        state = alarm_state(make_state, il, il.max_value + 1)
        verdict = only_step(decide(set_(il.asset, il.tag, il.max_value), state=state))
        assert verdict.outcome is Outcome.allowed

    def test_without_the_alarm_the_limit_does_not_apply(self, decide, make_state, il):
        state = alarm_state(make_state, il, il.max_value, alarm_fields={})
        verdict = only_step(decide(set_(il.asset, il.tag, il.max_value + 1), state=state))
        assert verdict.outcome is Outcome.allowed


def test_vibration_alarm_on_press_1_does_not_limit_press_3(decide, make_state):
    state = make_state({"press-1": {"active_alarms": ["vibration_high"]}})
    assert decide(set_("press-3", "speed_spm", 24), state=state).outcome is Outcome.allowed


@pytest.mark.parametrize("il", interlocks_of(StopBefore), ids=lambda il: il.id)
@pytest.mark.parametrize("first_state", ["running", "paused"])
def test_stop_before_fires_while_first_still_feeds(decide, make_state, il, first_state):
    state = make_state({il.first: {"run_state": first_state}, il.then: {"run_state": "running"}})
    decision = decide(run("stop", il.then), state=state)
    assert only_step(decision).rules == (il.id,)
    assert_denied_by(decision, il.id, il.first, il.then, first_state)


@pytest.mark.parametrize("il", interlocks_of(StopBefore), ids=lambda il: il.id)
@pytest.mark.parametrize("first_state", ["stopped", "faulted"])
def test_stop_before_does_not_fire_once_first_has_stopped(decide, make_state, il, first_state):
    state = make_state({il.first: {"run_state": first_state}, il.then: {"run_state": "running"}})
    assert decide(run("stop", il.then), state=state).outcome is Outcome.allowed


@pytest.mark.parametrize("il", interlocks_of(StopBefore), ids=lambda il: il.id)
def test_stop_before_lets_first_stop_any_time(decide, make_state, il):
    state = make_state({il.first: {"run_state": "running"}, il.then: {"run_state": "running"}})
    assert decide(run("stop", il.first), state=state).outcome is Outcome.allowed


@pytest.mark.parametrize("il", interlocks_of(RunningBefore), ids=lambda il: il.id)
@pytest.mark.parametrize("required_state", ["stopped", "paused", "faulted"])
def test_start_requires_running_fires(decide, make_state, il, required_state):
    state = make_state({il.required: {"run_state": required_state}})
    decision = decide(run("start", il.asset), state=state)
    assert only_step(decision).rules == (il.id,)
    assert_denied_by(decision, il.id, il.asset, il.required, required_state)


@pytest.mark.parametrize("il", interlocks_of(RunningBefore), ids=lambda il: il.id)
def test_start_requires_running_passes_when_required_runs(decide, make_state, il):
    state = make_state({il.required: {"run_state": "running"}})
    assert decide(run("start", il.asset), state=state).outcome is Outcome.allowed


def test_start_requires_running_covers_resume(decide, make_state):
    state = make_state({"feeder-2": {"run_state": "paused"}, "press-3": {"run_state": "paused"}})
    assert_denied_by(decide(run("resume", "feeder-2"), state=state), "feeder-2-needs-press-3")
    state = make_state({"feeder-2": {"run_state": "paused"}, "press-3": {"run_state": "running"}})
    assert decide(run("resume", "feeder-2"), state=state).outcome is Outcome.allowed


@pytest.mark.parametrize("run_state", ["running", "paused", "faulted"])
def test_lockout_requires_stopped_fires(decide, make_state, run_state):
    state = make_state({"press-3": {"run_state": run_state}})
    decision = decide(lock("press-3"), state=state)
    assert only_step(decision).rules == ("lockout-only-stopped",)
    assert_denied_by(decision, "lockout-only-stopped", "press-3", run_state)


def test_lockout_of_stopped_equipment_passes(decide):
    assert decide(lock("press-3")).outcome is Outcome.allowed


def test_interlocks_absent_from_the_plant_do_not_fire(decide, make_state, plant):
    bare = plant.model_copy(update={"interlocks": ()})
    state = make_state({"press-3": {"run_state": "running"}})
    request = ActionRequest(plan=Plan(steps=(lock("press-3"),)), reason="test")
    decision = evaluate(request, bare, state, Requester(user="alice", role="supervisor"))
    assert decision.outcome is Outcome.allowed


# --- Approvals -----------------------------------------------------------------------------


def test_high_risk_command_needs_approval(decide):
    decision = decide(run("start", "press-3"))
    assert decision.outcome is Outcome.needs_approval
    assert only_step(decision).rules == (Rule.risk_requires_approval,)
    assert decision.approver_roles == approvers(Command.start)
    assert "high" in decision.reasons[0]


@pytest.mark.parametrize(
    ("asset", "tag", "outcome"),
    [
        ("press-3", "shut_height_mm", Outcome.needs_approval),  # tag high, command medium
        ("vision-2", "reject_threshold", Outcome.needs_approval),  # tag high
        ("press-3", "speed_spm", Outcome.allowed),  # both medium
        ("conveyor-2", "speed_mps", Outcome.allowed),  # both low
    ],
)
def test_setpoint_risk_is_the_higher_of_command_and_tag(decide, asset, tag, outcome):
    tag_model = PLANT.asset(asset).tag(tag)
    decision = decide(set_(asset, tag, tag_model.initial + tag_model.max_step / 2))
    assert decision.outcome is outcome


def test_role_that_may_request_but_not_execute_needs_approval(decide):
    decision = decide(lock("press-3"), role="operator")
    assert decision.outcome is Outcome.needs_approval
    assert only_step(decision).rules == (Rule.role_may_not_execute,)
    assert decision.approver_roles == approvers(Command.apply_lockout)
    assert "operator" in decision.reasons[0]
    assert "apply_lockout" in decision.reasons[0]


def test_removing_someone_elses_lock_needs_approval(decide, make_state):
    state = make_state({"feeder-2": {"lockouts": ["bob", "alice"]}})
    decision = decide(unlock("feeder-2", "bob"), state=state, role="maintenance", user="alice")
    assert decision.outcome is Outcome.needs_approval
    assert Rule.foreign_lock in only_step(decision).rules
    assert any("bob" in r and "alice" in r for r in decision.reasons)
    assert decision.approver_roles == approvers(Command.remove_lockout)


def test_removing_own_lock_needs_only_the_risk_approval(decide, make_state):
    state = make_state({"feeder-2": {"lockouts": ["alice"]}})
    decision = decide(unlock("feeder-2", "alice"), state=state, role="maintenance")
    assert only_step(decision).rules == (Rule.risk_requires_approval,)


def test_approval_nobody_may_give_is_denied(decide, make_state, plant):
    trainee = {"id": "trainee", "description": "new hire", "request": ["stop"]}
    dump = plant.model_dump(mode="json")
    trained = PlantModel.model_validate({**dump, "roles": [*dump["roles"], trainee]})
    state = make_state({"conveyor-2": {"run_state": "running"}})
    request = ActionRequest(plan=Plan(steps=(run("stop", "conveyor-2"),)), reason="test")
    decision = evaluate(request, trained, state, Requester(user="tim", role="trainee"))
    assert_denied_by(decision, Rule.no_approver, "stop")
    assert Rule.role_may_not_execute in only_step(decision).rules


# --- Aggregation ---------------------------------------------------------------------------


def test_approvers_of_a_plan_are_those_who_may_approve_every_step(decide):
    decision = decide(run("start", "press-3"), lock("conveyor-2"), role="operator")
    assert decision.outcome is Outcome.needs_approval
    expected = approvers(Command.start) & approvers(Command.apply_lockout)
    assert decision.approver_roles == expected == {"supervisor", "admin"}
    assert [v.approver_roles for v in decision.steps] == [
        approvers(Command.start),
        approvers(Command.apply_lockout),
    ]
    assert [r.split(":")[0] for r in decision.reasons] == [
        "step 1 (start press-3)",
        "step 2 (apply_lockout conveyor-2)",
    ]


def test_no_common_approver_denies_the_plan(decide, make_state, plant):
    dump = plant.model_dump(mode="json")
    roles = [
        {**r, "approve": ["start"]}
        if r["id"] == "engineer"
        else {**r, "approve": ["remove_lockout"]}
        for r in dump["roles"]
    ]
    split = PlantModel.model_validate({**dump, "roles": roles})
    state = make_state({"feeder-2": {"lockouts": ["alice"]}})
    request = ActionRequest(
        plan=Plan(steps=(run("start", "press-1"), unlock("feeder-2"))), reason="test"
    )
    decision = evaluate(request, split, state, Requester(user="alice", role="supervisor"))
    assert decision.outcome is Outcome.denied
    assert decision.reasons[0] == "no single role may approve every step; split the plan"
    assert decision.approver_roles == frozenset()
    assert [v.outcome for v in decision.steps] == [Outcome.needs_approval] * 2
    assert "engineer" in decision.reasons[1]


def test_one_denied_step_denies_the_plan_and_every_step_is_reported(decide):
    decision = decide(run("start", "press-3"), run("stop", "press-9"), work_order("press-3"))
    assert decision.outcome is Outcome.denied
    assert [v.outcome for v in decision.steps] == [
        Outcome.needs_approval,
        Outcome.denied,
        Outcome.allowed,
    ]
    assert [v.index for v in decision.steps] == [0, 1, 2]
    assert decision.reasons == ("step 2 (stop press-9): unknown asset 'press-9'",)
    assert decision.approver_roles == frozenset()


def test_denied_plan_reports_the_reasons_of_every_denied_step(decide):
    decision = decide(run("stop", "press-9"), set_("press-3", "nope", 1))
    assert len(decision.reasons) == 2
    assert decision.reasons[0].startswith("step 1 ")
    assert decision.reasons[1].startswith("step 2 ")


# --- Projection order ----------------------------------------------------------------------


def line_2_running(make_state) -> PlantState:
    """Feeder, press and conveyor of line 2 running."""
    return make_state({a: {"run_state": "running"} for a in ("feeder-2", "press-3", "conveyor-2")})


def test_feeder_then_press_stops_in_order(decide, make_state):
    decision = decide(
        run("stop", "feeder-2"), run("stop", "press-3"), state=line_2_running(make_state)
    )
    assert decision.outcome is Outcome.allowed


def test_press_then_feeder_is_denied(decide, make_state):
    decision = decide(
        run("stop", "press-3"), run("stop", "feeder-2"), state=line_2_running(make_state)
    )
    assert_denied_by(decision, "feeder-2-stops-before-press-3")
    assert [v.outcome for v in decision.steps] == [Outcome.denied, Outcome.allowed]


def test_press_then_feeder_starts_in_order(decide):
    decision = decide(run("start", "press-3"), run("start", "feeder-2"))
    assert [v.outcome for v in decision.steps] == [Outcome.needs_approval, Outcome.allowed]


def test_feeder_before_press_start_is_denied(decide):
    decision = decide(run("start", "feeder-2"), run("start", "press-3"))
    assert_denied_by(decision, "feeder-2-needs-press-3")


def test_stop_then_lockout_in_one_plan(decide, make_state):
    state = make_state({"conveyor-2": {"run_state": "running"}})
    decision = decide(run("stop", "conveyor-2"), lock("conveyor-2"), state=state)
    assert decision.outcome is Outcome.allowed


def test_lockout_then_start_on_the_same_line_is_denied(decide):
    decision = decide(lock("vision-2"), run("start", "conveyor-2"))
    assert_denied_by(decision, "line-2-lockout", "vision-2", "alice")


def test_remove_own_lock_then_start(decide, make_state):
    state = make_state({"conveyor-2": {"lockouts": ["alice"]}})
    decision = decide(unlock("conveyor-2"), run("start", "conveyor-2"), state=state)
    assert [v.outcome for v in decision.steps] == [Outcome.needs_approval, Outcome.allowed]


def test_setpoint_steps_add_up_against_the_projected_value(decide):
    # 20 -> 24 -> 28 is two allowed strides; the projection checks the second against 24.
    steps = (set_("press-3", "speed_spm", 24), set_("press-3", "speed_spm", 28))
    assert decide(*steps).outcome is Outcome.allowed
    decision = decide(set_("press-3", "speed_spm", 24), set_("press-3", "speed_spm", 29))
    assert_denied_by(decision, Rule.step_too_large, "24", "29")


def test_denied_step_is_not_projected(decide, make_state):
    # The first stop is denied, so press-3 is still running when the lockout is checked.
    decision = decide(run("stop", "press-3"), lock("press-3"), state=line_2_running(make_state))
    assert [v.outcome for v in decision.steps] == [Outcome.denied, Outcome.denied]
    assert decision.steps[1].rules == ("lockout-only-stopped",)


def test_denied_setpoint_is_not_projected(decide):
    decision = decide(set_("press-3", "speed_spm", 31), set_("press-3", "speed_spm", 24))
    assert [v.outcome for v in decision.steps] == [Outcome.denied, Outcome.allowed]


def test_acknowledging_twice_is_denied_the_second_time(decide, make_state):
    state = make_state({"press-3": {"unacknowledged_alarms": ["vibration_high"]}})
    decision = decide(
        ack("press-3", "vibration_high"), ack("press-3", "vibration_high"), state=state
    )
    assert decision.steps[1].rules == (Rule.alarm_not_pending,)


def test_removing_the_same_lock_twice_is_denied_the_second_time(decide, make_state):
    state = make_state({"feeder-2": {"lockouts": ["alice"]}})
    decision = decide(unlock("feeder-2"), unlock("feeder-2"), state=state)
    assert decision.steps[1].rules == (Rule.lock_not_held,)


# --- Determinism and purity -----------------------------------------------------------------


def test_same_inputs_same_decision(plant, make_state):
    state = line_2_running(make_state)
    request = ActionRequest(
        plan=Plan(steps=(run("stop", "press-3"), set_("press-3", "speed_spm", 22), lock("x"))),
        reason="test",
    )
    requester = Requester(user="alice", role="operator")
    assert evaluate(request, plant, state, requester) == evaluate(request, plant, state, requester)


def test_evaluate_does_not_mutate_its_inputs(plant, make_state):
    state = make_state({"conveyor-2": {"run_state": "running", "lockouts": ["bob"]}})
    request = ActionRequest(
        plan=Plan(
            steps=(
                run("stop", "conveyor-2"),
                unlock("conveyor-2", "bob"),
                set_("conveyor-2", "speed_mps", 1.0),
                lock("conveyor-2"),
            )
        ),
        reason="test",
    )
    requester = Requester(user="alice", role="supervisor")
    before = (state.model_dump(), plant.model_dump(), request.model_dump(), requester.model_dump())
    evaluate(request, plant, state, requester)
    after = (state.model_dump(), plant.model_dump(), request.model_dump(), requester.model_dump())
    assert after == before


# --- apply_step ----------------------------------------------------------------------------

ALICE = Requester(user="alice", role="operator")


@pytest.mark.parametrize(
    ("command", "run_state"),
    [("start", "running"), ("resume", "running"), ("stop", "stopped"), ("pause", "paused")],
)
def test_apply_run_command(make_state, command, run_state):
    state = make_state({"press-3": {"run_state": "faulted"}})
    after = apply_step(state, run(command, "press-3"), ALICE)
    assert after.asset("press-3").run_state is RunState(run_state)
    assert state.asset("press-3").run_state is RunState.faulted


def test_apply_set_parameter_changes_only_that_tag(make_state):
    state = make_state()
    after = apply_step(state, set_("press-3", "speed_spm", 24), ALICE)
    assert after.asset("press-3").tags == {**state.asset("press-3").tags, "speed_spm": 24}
    assert state.asset("press-3").tags["speed_spm"] == 20
    assert {k: v for k, v in after.assets.items() if k != "press-3"} == {
        k: v for k, v in state.assets.items() if k != "press-3"
    }


def test_apply_lockout_adds_the_holder_once(make_state):
    state = make_state()
    once = apply_step(state, lock("press-3"), ALICE)
    twice = apply_step(once, lock("press-3"), ALICE)
    other = apply_step(twice, lock("press-3", "bob"), ALICE)
    assert once.asset("press-3").lockouts == ("alice",) == twice.asset("press-3").lockouts
    assert other.asset("press-3").lockouts == ("alice", "bob")
    assert state.asset("press-3").lockouts == ()


def test_remove_lockout_removes_only_that_holder(make_state):
    state = make_state({"press-3": {"lockouts": ["bob", "alice"]}})
    after = apply_step(state, unlock("press-3"), ALICE)
    assert after.asset("press-3").lockouts == ("bob",)
    assert apply_step(after, unlock("press-3", "bob"), ALICE).asset("press-3").lockouts == ()


def test_acknowledge_clears_unacknowledged_but_not_active(make_state):
    fields = {"active_alarms": ["vibration_high"], "unacknowledged_alarms": ["vibration_high"]}
    state = make_state({"press-3": fields})
    after = apply_step(state, ack("press-3", "vibration_high"), ALICE).asset("press-3")
    assert after.unacknowledged_alarms == ()
    assert after.active_alarms == ("vibration_high",)


def test_work_order_changes_no_state(make_state):
    state = make_state()
    after = apply_step(state, work_order("press-3"), ALICE)
    assert after == state
    assert after is not state


def test_apply_step_result_does_not_share_mutable_state(make_state):
    state = make_state()
    after = apply_step(state, work_order("press-3"), ALICE)
    after.assets["press-3"].tags["speed_spm"] = 99
    assert state.asset("press-3").tags["speed_spm"] == 20


def test_apply_step_on_an_asset_missing_from_the_state():
    after = apply_step(PlantState(), run("start", "press-3"), ALICE)
    assert after.assets == {"press-3": AssetState(run_state=RunState.running)}


# --- Emergency stop and manual override -----------------------------------------------------


@pytest.mark.parametrize("role", PLANT.roles, ids=lambda r: r.id)
@pytest.mark.parametrize("line", [line.id for line in PLANT.lines])
def test_emergency_stop_follows_the_role_right(plant, role, line):
    decision = evaluate_emergency_stop(plant, line, Requester(user="alice", role=role.id))
    expected = Outcome.allowed if role.emergency_stop else Outcome.denied
    assert decision.outcome is expected
    assert decision.approver_roles == frozenset()


def test_emergency_stop_without_the_right_names_the_role(plant):
    no_rights = plant.model_copy(
        update={"roles": tuple(r.model_copy(update={"emergency_stop": False}) for r in plant.roles)}
    )
    decision = evaluate_emergency_stop(
        no_rights, "line-2", Requester(user="alice", role="operator")
    )
    assert decision.outcome is Outcome.denied
    assert "operator" in decision.reasons[0]


@pytest.mark.parametrize(
    ("line", "role", "word"),
    [("line-9", "operator", "line-9"), ("line-2", "visitor", "visitor")],
)
def test_emergency_stop_denied_for_unknown_line_or_role(plant, line, role, word):
    decision = evaluate_emergency_stop(plant, line, Requester(user="alice", role=role))
    assert decision.outcome is Outcome.denied
    assert word in decision.reasons[0]


@pytest.mark.parametrize("role", PLANT.roles, ids=lambda r: r.id)
@pytest.mark.parametrize("asset", [a.id for a in PLANT.assets])
def test_manual_override_follows_the_role_right(plant, role, asset):
    decision = evaluate_manual_override(plant, asset, Requester(user="alice", role=role.id))
    expected = Outcome.allowed if role.manual_override else Outcome.denied
    assert decision.outcome is expected
    if expected is Outcome.denied:
        assert role.id in decision.reasons[0]


@pytest.mark.parametrize(
    ("asset", "role", "word"),
    [("press-9", "operator", "press-9"), ("press-3", "visitor", "visitor")],
)
def test_manual_override_denied_for_unknown_asset_or_role(plant, asset, role, word):
    decision = evaluate_manual_override(plant, asset, Requester(user="alice", role=role))
    assert decision.outcome is Outcome.denied
    assert word in decision.reasons[0]
