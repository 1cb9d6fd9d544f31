"""Detection rules decide with plain code: windows, counts, cooldowns, degraded models."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from control.actions.models import CreateWorkOrder, PlaceQualityHold, Requester, RunCommand
from control.decisions.evaluate import evaluate
from control.decisions.models import Outcome
from control.plant.models import DetectionRule, PlantModel
from control.rules.engine import RuleState, observe
from control.rules.models import Observation

T0 = datetime(2026, 11, 26, 6, 0, tzinfo=UTC)


def rule(plant: PlantModel, rule_id: str) -> DetectionRule:
    return next(r for r in plant.detection_rules if r.id == rule_id)


def part(n: int, *, abnormal: bool, degraded: bool = False, asset: str = "vision-2") -> Observation:
    return Observation(
        source="vision",
        asset=asset,
        subject=f"part-{n}",
        label="crack" if abnormal else "ok",
        abnormal=abnormal,
        degraded=degraded,
        score=0.93 if abnormal else 0.04,
        threshold=0.6,
        model="vision-demo@1",
        at=T0 + timedelta(seconds=2 * n),
        sha256="ab" * 32,
        uri=f"frames/part-{n}.png",
        part_count=1000 + n,
    )


def feed(r: DetectionRule, observations: list[Observation], state: RuleState | None = None):
    state = state or RuleState()
    firings = []
    for o in observations:
        state, firing = observe(r, state, o)
        if firing is not None:
            firings.append(firing)
    return state, firings


def test_three_defects_in_twenty_parts_fire_once(plant: PlantModel) -> None:
    burst = rule(plant, "vision-2-defect-burst")
    parts = [part(n, abnormal=n in (3, 9, 15)) for n in range(20)]
    _, firings = feed(burst, parts)
    assert len(firings) == 1
    firing = firings[0]
    assert firing.trigger.subject == "part-15"
    assert [o.subject for o in firing.matched] == ["part-3", "part-9", "part-15"]
    steps = firing.request.plan.steps
    assert steps[0] == RunCommand(command="pause", asset="feeder-2")
    assert isinstance(steps[1], PlaceQualityHold) and steps[1].asset == "vision-2"
    assert (steps[1].hold.parts_from, steps[1].hold.parts_to) == (1003, 1015)
    assert isinstance(steps[2], CreateWorkOrder)
    order = steps[2].work_order
    assert order.asset == "press-3" and order.lockout_required
    assert [e.subject for e in order.evidence] == ["part-3", "part-9", "part-15"]
    assert {e.model for e in order.evidence} == {"vision-demo@1"}
    assert order.due == firing.trigger.at + timedelta(hours=4)
    assert firing.request.proposed_by.kind == "rule"


def test_defects_spread_wider_than_the_window_do_not_fire(plant: PlantModel) -> None:
    burst = rule(plant, "vision-2-defect-burst")
    # Defects 20 parts apart: never three within any twenty consecutive parts.
    parts = [part(n, abnormal=n % 10 == 0) for n in range(1, 60)]
    _, firings = feed(burst, parts)
    assert firings == []


def test_two_defects_are_not_enough(plant: PlantModel) -> None:
    burst = rule(plant, "vision-2-defect-burst")
    _, firings = feed(burst, [part(n, abnormal=n in (1, 2)) for n in range(20)])
    assert firings == []


def test_cooldown_then_fires_again(plant: PlantModel) -> None:
    burst = rule(plant, "vision-2-defect-burst")
    state, firings = feed(burst, [part(n, abnormal=True) for n in range(6)])
    assert len(firings) == 1  # parts 3..5 start a new count but the rule is cooling down
    later = [
        p.model_copy(update={"at": T0 + timedelta(seconds=burst.cooldown_s + 60 + n)})
        for n, p in enumerate(part(100 + n, abnormal=True) for n in range(3))
    ]
    _, again = feed(burst, later, state)
    assert len(again) == 1


def test_other_assets_and_sources_are_ignored(plant: PlantModel) -> None:
    burst = rule(plant, "vision-2-defect-burst")
    _, firings = feed(burst, [part(n, abnormal=True, asset="press-3") for n in range(5)])
    assert firings == []


def test_degraded_results_never_count_as_good_or_as_defects(plant: PlantModel) -> None:
    burst, blind = rule(plant, "vision-2-defect-burst"), rule(plant, "vision-2-model-degraded")
    degraded = [part(n, abnormal=False, degraded=True) for n in range(5)]
    assert feed(burst, degraded)[1] == []
    assert feed(blind, degraded[:2])[1] == []  # an unsure frame or two is routine
    _, firings = feed(blind, degraded)
    assert len(firings) == 1  # cooldown keeps it to one hold
    (step,) = firings[0].request.plan.steps
    assert isinstance(step, PlaceQualityHold)
    assert step.hold.evidence[0].label == "degraded"


def test_idempotency_key_follows_the_cause(plant: PlantModel) -> None:
    burst = rule(plant, "vision-2-defect-burst")
    parts = [part(n, abnormal=True) for n in range(3)]
    _, first = feed(burst, parts)
    _, replay = feed(burst, parts)
    assert first[0].idempotency_key == replay[0].idempotency_key
    shifted = [p.model_copy(update={"at": p.at + timedelta(hours=1)}) for p in parts]
    _, other = feed(burst, shifted)
    assert other[0].idempotency_key != first[0].idempotency_key


def test_firing_plans_pass_control_as_the_rules_role(plant: PlantModel, make_state) -> None:
    """The plan a rule makes is judged by evaluate like anyone's, and the automation role
    may make it without waiting for a person."""
    burst = rule(plant, "vision-2-defect-burst")
    _, (firing,) = feed(burst, [part(n, abnormal=True) for n in range(3)])
    state = make_state({"press-3": {"run_state": "running"}, "feeder-2": {"run_state": "running"}})
    decision = evaluate(firing.request, plant, state, Requester(user="rule:x", role="automation"))
    assert decision.outcome is Outcome.allowed, decision.reasons


def test_the_rules_role_may_not_start_or_change_setpoints(plant: PlantModel, decide) -> None:
    start = RunCommand(command="start", asset="press-3")
    assert decide(start, role="automation").outcome is Outcome.denied


def test_a_rule_that_cannot_act_is_refused_at_load(plant: PlantModel) -> None:
    data = plant.model_dump(mode="json")
    data["detection_rules"][0]["pause"] = ["press-3", "nowhere"]
    data["detection_rules"][0]["hold_parts"] = True
    data["detection_rules"][0]["asset"] = "press-3"  # press-3 does not hold parts
    with pytest.raises(ValidationError) as exc:
        PlantModel.model_validate(data)
    text = str(exc.value)
    assert "unknown asset 'nowhere'" in text
    assert "press-3 does not accept place_quality_hold" in text


def test_a_rule_needs_count_within_window(plant: PlantModel) -> None:
    data = plant.model_dump(mode="json")
    data["detection_rules"][0]["count"] = 30
    with pytest.raises(ValidationError, match="count 30 exceeds window 20"):
        PlantModel.model_validate(data)
