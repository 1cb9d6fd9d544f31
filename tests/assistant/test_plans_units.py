"""The planner's parts that need no model: schema, conversion to control's contract, the prompt,
and the re-ask loop driven by a scripted model."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from assistant.grounding import Grounding, PlantFact
from assistant.llm import ChatMessage, LanguageModel, LLMError, StructuredAnswer, Usage
from assistant.llm.base import parse_answer
from assistant.llm.schema import generation_schema
from assistant.plans.convert import action_request, with_own_holders
from assistant.plans.prompt import equipment_summary, system_prompt
from assistant.plans.service import UNUSABLE, Planner, _part_numbers
from control.actions.models import ActionRequest, Requester
from control.plant.models import TagKind
from control.workorders.models import Priority
from guards.models import PlanProposal, as_proposal, constrained_proposal
from retrieval.assets import AssetAliases
from tests.guards.helpers import FACT, PLANT, context, plan, setpoint, state

ALICE = Requester(user="alice", role="operator")


# --- the schema the model fills ----------------------------------------------------------


def test_the_constrained_schema_is_bounded_and_names_only_plant_ids() -> None:
    schema = constrained_proposal(PLANT, citations=["1", "2"], parts=["P400-LUB-FLT10"])
    text = json.dumps(generation_schema(schema))  # raises if any string or list is unbounded
    for asset in PLANT.assets:
        assert f'"{asset.id}"' in text
    assert '"P400-LUB-FLT10"' in text and '"press-9"' not in text
    answer = {
        "kind": "action",
        "steps": [{"command": "start", "asset": "press-3"}],
        "citations": ["2"],
    }
    proposal = as_proposal(schema.model_validate(answer), {"2": FACT})
    assert proposal == PlanProposal(kind="action", steps=proposal.steps, citations=(FACT,))
    with pytest.raises(ValidationError):
        schema.model_validate({**answer, "steps": [{"command": "start", "asset": "press-9"}]})
    with pytest.raises(ValidationError):
        schema.model_validate({**answer, "citations": ["7"]})


def test_the_schema_offers_only_the_commands_the_request_asks_for() -> None:
    schema = constrained_proposal(
        PLANT, citations=["1"], parts=[], commands=["stop", "apply_lockout"]
    )
    text = json.dumps(generation_schema(schema))
    assert '"apply_lockout"' in text and '"stop"' in text
    assert '"start"' not in text and '"remove_lockout"' not in text
    assert '"create_work_order"' not in text and '"acknowledge_alarm"' not in text
    stop = {
        "kind": "action",
        "steps": [{"command": "stop", "asset": "press-3"}],
        "citations": ["1"],
    }
    schema.model_validate(stop)
    with pytest.raises(ValidationError):
        schema.model_validate({**stop, "steps": [{"command": "start", "asset": "press-3"}]})
    only_orders = constrained_proposal(
        PLANT, citations=["1"], parts=[], commands=["create_work_order"]
    )
    assert '"set_parameter"' not in json.dumps(generation_schema(only_orders))


def test_a_plan_of_work_orders_holds_one_order_with_each_part_at_most_once() -> None:
    # The 1.5B model repeated one part five times, then the whole order, until max_tokens.
    order = {
        "command": "create_work_order",
        "asset": "press-3",
        "symptom": "squeal",
        "priority": "medium",
        "tasks": [],
        "parts": [],
        "lockout_required": True,
    }
    schema = constrained_proposal(
        PLANT, citations=["1"], parts=["P400-BRG-23160"], commands=["create_work_order"]
    )
    plan = {"kind": "work_order", "steps": [order], "citations": ["1"]}
    schema.model_validate({**plan, "steps": [{**order, "parts": ["P400-BRG-23160"]}]})
    with pytest.raises(ValidationError):
        schema.model_validate({**plan, "steps": [order, order]})
    with pytest.raises(ValidationError):
        twice = {**order, "parts": ["P400-BRG-23160", "P400-BRG-23160"]}
        schema.model_validate({**plan, "steps": [twice]})
    # Beside other commands an order is one step of several.
    mixed = constrained_proposal(
        PLANT, citations=["1"], parts=[], commands=["stop", "create_work_order"]
    )
    unparted = {k: v for k, v in order.items() if k != "parts"}  # no part known: no field
    mixed.model_validate({**plan, "steps": [{"command": "stop", "asset": "press-3"}, unparted]})


def test_a_re_ask_holds_a_step_for_each_command_the_request_gives() -> None:
    # r067, re-asked for the speed change it had left out, answered with the speed change alone.
    retry = constrained_proposal(
        PLANT,
        citations=["1"],
        parts=[],
        kinds=["action", "work_order"],
        commands=["set_parameter", "create_work_order"],
        min_steps=2,
    )
    assert generation_schema(retry)["properties"]["steps"]["minItems"] == 2
    one = {"kind": "action", "steps": [setpoint("press-3", "speed_spm", 16)], "citations": ["1"]}
    with pytest.raises(ValidationError):
        retry.model_validate(one)
    with pytest.raises(ValueError, match="cannot be asked of kinds"):  # a refusal has no steps
        constrained_proposal(PLANT, citations=["1"], parts=[], min_steps=1)


def test_part_numbers_are_offered_as_the_sources_write_them() -> None:
    # The equipment's own codes are no parts, however the operator writes them.
    request = "Fit a new 6205-2RS on conveyor 2 (TC-2), with the lube filter, like on the VI-2."
    passages = [
        "Replace element P400-LUB-FLT10; seal kit P400-RUN-SEAL. Belt TC2-BELT-PVC-600.",
        # Fault codes, lockout points, procedures, work orders and ranges are no parts.
        "E-204 overload: lock out at E-P3-01 per LOTO-P3 (WO-26-0117), range 350-650 mm.",
        "Defect classes D1-D3 and B1-B4 are logged on sheet P3-TM.",
    ]
    assert _part_numbers(request, passages, AssetAliases(PLANT)) == [
        "6205-2RS",  # the operator names it: offered whatever its form
        "P400-LUB-FLT10",
        "P400-RUN-SEAL",
        "TC2-BELT-PVC-600",
    ]


# --- conversion to control's contract ----------------------------------------------------


def test_a_proposal_becomes_controls_action_request() -> None:
    order = {
        "command": "create_work_order",
        "asset": "press-3",
        "symptom": "lube filter indicator red",
        "priority": "high",
        "tasks": ["Replace the filter element"],
        "parts": ["P400-LUB-FLT10"],
        "lockout_required": True,
        "due_in_hours": 8,
    }
    proposal = plan(
        setpoint("press-3", "speed_spm", 16),
        {"command": "apply_lockout", "asset": "press-3"},
        {"command": "acknowledge_alarm", "asset": "press-3", "alarm": "vibration_high"},
        order,
    )
    now = datetime(2026, 9, 1, 6, 0, tzinfo=UTC)
    request = action_request(proposal, "  Slow press 3,\n lock it out  ", "qwen.gguf", now=now)
    assert isinstance(request, ActionRequest)
    assert request.reason == "Slow press 3, lock it out"
    assert request.proposed_by.kind == "model" and request.proposed_by.name == "qwen.gguf"
    assert request.plan.citations == (FACT,)
    commands = [step.command for step in request.plan.steps]
    assert commands == ["set_parameter", "apply_lockout", "acknowledge_alarm", "create_work_order"]
    draft = request.plan.steps[3].work_order
    assert draft.asset == "press-3" and draft.priority is Priority.high
    assert [p.part_number for p in draft.parts] == ["P400-LUB-FLT10"]
    assert draft.lockout_required and draft.due == now + timedelta(hours=8)


def test_lock_holders_are_named_as_control_knows_them() -> None:
    locked = state({"vision-2": {"lockouts": ("carol",)}})
    proposal = plan(
        {"command": "remove_lockout", "asset": "vision-2", "holder": "Carol"},
        {"command": "apply_lockout", "asset": "press-3", "holder": "Alice"},
    )
    fixed = with_own_holders(proposal, locked, ALICE)
    assert [step.holder for step in fixed.steps] == ["carol", None]


# --- the prompt --------------------------------------------------------------------------


def test_the_prompt_lists_every_setpoint_with_its_limits() -> None:
    summary = equipment_summary(PLANT)
    for asset in PLANT.assets:
        assert f"- {asset.id}: {asset.name}" in summary
        for tag in asset.tags:
            if tag.kind is TagKind.setpoint:
                assert f"{tag.id} (" in summary
                assert f"safe {tag.safe_range.low:g}-{tag.safe_range.high:g}" in summary
    assert "vision-2" in summary and "all except pause, resume" in summary
    # Static: the same text for every request, so llama.cpp reuses its evaluated prefix.
    assert system_prompt(PLANT) == system_prompt(PLANT)


# --- the re-ask loop ---------------------------------------------------------------------


class ScriptedModel(LanguageModel):
    """Answers from a script, in order, and keeps what it was asked.

    A fake, because the real model cannot be made to give a wrong plan three times running
    or to fail outright; everything around it (schema, guards, conversion) is real.
    """

    name = "scripted"

    def __init__(self, *answers: dict | Exception) -> None:
        self.answers = list(answers)
        self.asked: list[list[ChatMessage]] = []

    async def generate_json(
        self, messages: Sequence[ChatMessage], schema: type, *, max_tokens: int, temperature=0.0
    ) -> StructuredAnswer:
        self.asked.append(list(messages))
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        raw = json.dumps(answer)
        value = parse_answer(raw, schema, finish_reason="stop", max_tokens=max_tokens)
        usage = Usage(prompt_tokens=1, completion_tokens=1, wait_s=0, elapsed_s=0)
        return StructuredAnswer(value=value, raw=raw, usage=usage)

    def stream_text(self, messages, *, max_tokens, temperature=0.0) -> AsyncIterator[str]:
        raise NotImplementedError

    async def aclose(self) -> None:
        pass


SHOWN = Grounding(
    question="",
    plant=[
        PlantFact(
            citation_id=FACT,
            asset="press-3",
            name="speed_spm",
            value=20,
            unit="strokes/min",
            text="press-3 speed_spm = 20 strokes/min",
        )
    ],
    abstain=False,
)


def speed(value: float) -> dict:
    step = {"command": "set_parameter", "asset": "press-3", "tag": "speed_spm", "value": value}
    return {"kind": "action", "steps": [step], "citations": ["1"]}


async def ask(model: ScriptedModel, text: str):
    planner = Planner(model, retrieval=None, services=None, plant=PLANT)  # type: ignore[arg-type]
    ctx = context(text, sources={FACT: "press-3 speed_spm = 20 strokes/min"})
    return await planner._ask(SHOWN.model_copy(update={"question": text}), ctx)


async def test_a_plan_the_guards_keep_refusing_is_refused_after_two_re_asks() -> None:
    model = ScriptedModel(speed(35), speed(30), speed(35))
    outcome = await ask(model, "Set press 3 to 35 strokes per minute.")
    assert outcome.status == "refused" and outcome.attempts == 3 and outcome.request is None
    assert any("outside the safe range [8, 30]" in f for f in outcome.guard_failures)
    # The clamp to 30 a re-ask invited was refused too: 35 was asked.
    assert any("30 is not a value the request asked for" in f for f in outcome.guard_failures)
    assert outcome.refusal.startswith("Not planned: step 1 (set press-3.speed_spm to 35)")
    # Each re-ask carried the previous answer and the guards' reasons.
    retry = model.asked[1][-1]
    assert retry.role == "user" and "outside the safe range" in retry.content
    assert model.asked[1][-2].content == json.dumps(speed(35))


async def test_a_plan_fixed_on_re_ask_is_proposed_with_the_earlier_reasons() -> None:
    model = ScriptedModel(speed(26), speed(22))
    outcome = await ask(model, "Raise press 3 by 2 strokes per minute.")
    assert outcome.status == "proposed" and outcome.attempts == 2
    assert outcome.request.plan.steps[0].value == 22
    assert any("26 is not a value the request asked for" in f for f in outcome.guard_failures)
    assert outcome.citations == [FACT]


async def test_questions_and_the_models_own_refusals_are_not_plans() -> None:
    question = await ask(ScriptedModel({"kind": "question", "steps": [], "citations": ["1"]}), "?")
    assert question.status == "answer_only" and question.request is None
    declined = ScriptedModel(
        {"kind": "refuse", "steps": [], "citations": ["1"], "reason": "not safe while locked out"}
    )
    refused = await ask(declined, "Start press 3.")
    assert (
        refused.status == "refused" and refused.refusal == "Not planned: not safe while locked out"
    )


async def test_a_model_that_gives_no_usable_answer_ends_in_a_refusal() -> None:
    broken = LLMError("the answer reached max_tokens=400 before its JSON was complete")
    outcome = await ask(ScriptedModel(broken, broken, broken), "Start press 3.")
    assert outcome.status == "refused" and outcome.attempts == 3
    assert all(f.startswith(UNUSABLE) for f in outcome.guard_failures)


async def test_a_re_ask_must_answer_with_a_plan() -> None:
    """After the guards' reasons the model may not back out with a vague refusal of its own:
    the re-ask's schema allows plans only, so the refusal is the guards', with their reasons."""
    declines = {"kind": "refuse", "steps": [], "citations": ["1"], "reason": "cannot"}
    outcome = await ask(ScriptedModel(speed(28), declines, speed(28)), "Take press 3 to 28 spm.")
    assert outcome.status == "refused" and outcome.attempts == 3
    assert any(f.startswith(UNUSABLE) for f in outcome.guard_failures)
    assert any("larger than the maximum step" in f for f in outcome.guard_failures)
