"""Shared fixtures for the decision tests: the demo plant and states built from it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

import pytest

from control.actions.models import (
    Action,
    ActionRequest,
    Plan,
    ProposedBy,
    ProposerKind,
    Requester,
)
from control.decisions.evaluate import evaluate
from control.decisions.models import Decision
from control.plant.loader import load_plant
from control.plant.models import PlantModel
from control.state.models import AssetState, PlantState

StateOverrides = Mapping[str, Mapping[str, Any]]
MakeState = Callable[..., PlantState]


class Decide(Protocol):
    def __call__(
        self,
        *steps: Action,
        state: PlantState | None = ...,
        role: str = ...,
        user: str = ...,
        proposer: str = ...,
    ) -> Decision: ...


def initial_state(plant: PlantModel) -> PlantState:
    """Every asset stopped, unlocked, without alarms, every tag at its `initial` value."""
    return PlantState(
        assets={
            asset.id: AssetState(tags={tag.id: tag.initial for tag in asset.tags})
            for asset in plant.assets
        }
    )


@pytest.fixture(scope="session")
def plant() -> PlantModel:
    return load_plant()


@pytest.fixture(scope="session")
def make_state(plant: PlantModel) -> MakeState:
    """`make_state({"press-3": {"run_state": "running", "tags": {"speed_spm": 24}}})`:
    the initial state with per-asset fields replaced (tags are merged, not replaced)."""

    def build(overrides: StateOverrides | None = None, *, connected: bool = True) -> PlantState:
        base = initial_state(plant).model_dump()
        for asset_id, fields in (overrides or {}).items():
            asset = base["assets"].setdefault(asset_id, AssetState().model_dump())
            asset.update({k: v for k, v in fields.items() if k != "tags"})
            asset["tags"].update(fields.get("tags", {}))
        return PlantState.model_validate({**base, "connected": connected})

    return build


@pytest.fixture(scope="session")
def decide(plant: PlantModel, make_state: MakeState) -> Decide:
    """Evaluate a plan of `steps` on the demo plant (initial state unless given)."""

    def run(
        *steps: Action,
        state: PlantState | None = None,
        role: str = "supervisor",
        user: str = "alice",
        proposer: str = "human",
    ) -> Decision:
        request = ActionRequest(
            plan=Plan(steps=steps),
            reason="test request",
            proposed_by=ProposedBy(kind=ProposerKind(proposer), name="test"),
        )
        requester = Requester(user=user, role=role)
        return evaluate(request, plant, state or make_state(), requester)

    return run
