"""A validated proposal as control's `ActionRequest`: the only shape control/ accepts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from control.actions.models import (
    AcknowledgeAlarm,
    Action,
    ActionRequest,
    CreateWorkOrder,
    LockoutCommand,
    Plan,
    ProposedBy,
    ProposerKind,
    Requester,
    RunCommand,
    SetParameter,
)
from control.state.models import PlantState
from control.workorders.models import FailureMode, Part, WorkOrderDraft
from guards.models import (
    AcknowledgeStep,
    LockoutStep,
    PlanProposal,
    ProposedStep,
    RunStep,
    SetParameterStep,
    WorkOrderStep,
)

REASON_CHARS = 500  # ActionRequest.reason's bound


def action_request(
    proposal: PlanProposal, text: str, model_name: str, *, now: datetime | None = None
) -> ActionRequest:
    """``proposal``'s steps as a plan, asked for with the operator's own words as the reason."""
    at = now or datetime.now(UTC)
    return ActionRequest(
        plan=Plan(
            steps=tuple(action(step, at) for step in proposal.steps),
            citations=proposal.citations,
        ),
        reason=" ".join(text.split())[:REASON_CHARS],
        proposed_by=ProposedBy(kind=ProposerKind.model, name=model_name),
    )


def action(step: ProposedStep, now: datetime) -> Action:
    match step:
        case SetParameterStep():
            return SetParameter(
                command="set_parameter", asset=step.asset, tag=step.tag, value=step.value
            )
        case RunStep():
            return RunCommand(command=step.command, asset=step.asset)
        case LockoutStep():
            return LockoutCommand(command=step.command, asset=step.asset, holder=step.holder)
        case AcknowledgeStep():
            return AcknowledgeAlarm(command="acknowledge_alarm", asset=step.asset, alarm=step.alarm)
        case WorkOrderStep():
            return CreateWorkOrder(
                command="create_work_order", asset=step.asset, work_order=work_order(step, now)
            )
    raise TypeError(f"no action for step {step!r}")


def work_order(step: WorkOrderStep, now: datetime) -> WorkOrderDraft:
    due = now + timedelta(hours=step.due_in_hours) if step.due_in_hours else None
    return WorkOrderDraft(
        asset=step.asset,
        symptom=step.symptom,
        failure_mode=failure_mode(step.symptom),
        priority=step.priority,
        tasks=list(step.tasks),
        parts=[Part(part_number=number) for number in step.parts],
        lockout_required=step.lockout_required,
        due=due,
    )


def failure_mode(symptom: str) -> FailureMode:
    """The ISO 14224 failure mode of a symptom, from the shipped classifier."""
    from assistant.failure_modes import classify  # loads its artifact once, on first use

    return classify(symptom).mode


def with_own_holders(
    proposal: PlanProposal, state: PlantState, requester: Requester
) -> PlanProposal:
    """Lock holders as control knows them: the requester's own lock needs no holder, and a
    name written as the model heard it ("Carol") becomes the holder id on that asset ("carol")."""
    steps = []
    for step in proposal.steps:
        if isinstance(step, LockoutStep) and step.holder is not None:
            wanted = step.holder.strip().lower()
            holders = {h.lower(): h for h in state.asset(step.asset).lockouts}
            if wanted == requester.user.lower():
                step = step.model_copy(update={"holder": None})
            elif wanted in holders:
                step = step.model_copy(update={"holder": holders[wanted]})
        steps.append(step)
    return proposal.model_copy(update={"steps": tuple(steps)})
