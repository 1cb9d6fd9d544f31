"""Every role of the demo plant against every command, read from the YAML, not copied."""

from __future__ import annotations

from typing import Any

import pytest

from control.actions.models import (
    AcknowledgeAlarm,
    Action,
    CreateWorkOrder,
    LockoutCommand,
    PlaceQualityHold,
    RunCommand,
    SetParameter,
)
from control.decisions.evaluate import Rule
from control.decisions.models import Outcome
from control.plant.loader import load_plant
from control.plant.models import Command, Permission, Role
from control.quality.models import QualityHoldDraft
from control.workorders.models import WorkOrderDraft

PLANT = load_plant()
USER = "alice"

# Per command: a step that every check but the role's lets through, and the state it needs.
SITUATIONS: dict[Command, tuple[Action, dict[str, dict[str, Any]]]] = {
    Command.set_parameter: (
        SetParameter(command="set_parameter", asset="conveyor-2", tag="speed_mps", value=0.9),
        {},
    ),
    Command.start: (RunCommand(command="start", asset="conveyor-2"), {}),
    Command.stop: (
        RunCommand(command="stop", asset="conveyor-2"),
        {"conveyor-2": {"run_state": "running"}},
    ),
    Command.pause: (
        RunCommand(command="pause", asset="conveyor-2"),
        {"conveyor-2": {"run_state": "running"}},
    ),
    Command.resume: (
        RunCommand(command="resume", asset="conveyor-2"),
        {"conveyor-2": {"run_state": "paused"}},
    ),
    Command.apply_lockout: (LockoutCommand(command="apply_lockout", asset="conveyor-2"), {}),
    Command.remove_lockout: (
        LockoutCommand(command="remove_lockout", asset="conveyor-2"),
        {"conveyor-2": {"lockouts": [USER]}},
    ),
    Command.acknowledge_alarm: (
        AcknowledgeAlarm(command="acknowledge_alarm", asset="press-3", alarm="vibration_high"),
        {"press-3": {"unacknowledged_alarms": ["vibration_high"]}},
    ),
    Command.create_work_order: (
        CreateWorkOrder(
            command="create_work_order",
            asset="conveyor-2",
            work_order=WorkOrderDraft(asset="conveyor-2", symptom="belt slips"),
        ),
        {},
    ),
    Command.place_quality_hold: (
        PlaceQualityHold(
            command="place_quality_hold",
            asset="vision-2",
            hold=QualityHoldDraft(reason="three cracks in the last twenty parts"),
        ),
        {},
    ),
}


def approvers(command: Command) -> frozenset[str]:
    return frozenset(r.id for r in PLANT.roles if r.may(Permission.approve, command))


def risky(step: Action) -> bool:
    asset = PLANT.asset(step.asset)
    risks = [asset.commands[Command(step.command)].risk]
    if isinstance(step, SetParameter):
        risks.append(asset.tag(step.tag).risk)
    return max(r.rank for r in risks) >= asset.approval_from.rank


def test_situations_cover_every_command():
    assert set(SITUATIONS) == set(Command)


@pytest.mark.parametrize("role", PLANT.roles, ids=lambda r: r.id)
@pytest.mark.parametrize("command", list(Command))
def test_role_matrix(decide, make_state, role: Role, command: Command):
    step, overrides = SITUATIONS[command]
    decision = decide(step, state=make_state(overrides), role=role.id, user=USER)
    verdict = decision.steps[0]
    if not role.may(Permission.request, command):
        assert decision.outcome is Outcome.denied
        assert verdict.rules == (Rule.role_may_not_request,)
        assert role.id in verdict.reasons[0]
        return
    expected_rules: tuple[str, ...] = ()
    if risky(step):
        expected_rules += (Rule.risk_requires_approval,)
    if not role.may(Permission.execute, command):
        expected_rules += (Rule.role_may_not_execute,)
    assert verdict.rules == expected_rules
    if expected_rules:
        assert decision.outcome is Outcome.needs_approval
        assert decision.approver_roles == approvers(command)
    else:
        assert decision.outcome is Outcome.allowed
        assert decision.approver_roles == frozenset()
