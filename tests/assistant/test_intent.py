"""Which messages may ask for an action (the chat sends them to the planner; the planner plans
nothing else): every order of the evaluation set does, every message phrased as a question
stays with the chat."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assistant.intent import asks_for_action

EVAL = Path(__file__).resolve().parents[2] / "bench" / "assistant_eval"


def _texts(name: str, field: str) -> list[str]:
    with (EVAL / f"{name}.jsonl").open() as lines:
        return [json.loads(line)[field] for line in lines if line.strip()]


@pytest.mark.parametrize("text", _texts("requests", "text"))
def test_every_evaluation_request_goes_to_the_planner(text: str) -> None:
    assert asks_for_action(text)


@pytest.mark.parametrize(
    "text",
    [
        q
        for q in _texts("questions", "question")
        if q.rstrip().endswith("?") or q.split()[0].lower() in {"how", "what", "which", "who"}
    ],
)
def test_questions_stay_with_the_chat(text: str) -> None:
    assert not asks_for_action(text)


@pytest.mark.parametrize(
    ("text", "acts"),
    [
        ("Can you stop feeder 2", True),
        ("could you please open a work order for the conveyor belt", True),
        ("Can you tell me which oil goes in the press 3 gearbox", False),
        ("Can I start press 3 with the vibration alarm on", False),
        ("show me the jam clearing steps for feeder 2.", False),
        ("how do i lock out the P-400", False),
        ("Press 3 back to 20 please", True),
        ("The transfer conveyor gearmotor is dead, write it up.", True),
        ("  STOP   PRESS 3  ", True),
    ],
)
def test_polite_orders_and_plain_questions(text: str, acts: bool) -> None:
    assert asks_for_action(text) is acts
