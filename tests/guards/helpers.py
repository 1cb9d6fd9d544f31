"""Building proposals and contexts against the demo plant for the guard tests."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from control.actions.models import Requester
from control.plant.loader import load_plant
from control.state.models import AssetState, PlantState
from guards.models import GuardContext, PlanProposal

PLANT = load_plant()
# Sources every context below holds unless told otherwise: a live fact and a manual passage.
FACT = "plant:press-3/speed_spm"
MANUAL = "press-3-manual#8-spare-parts:0"
MANUAL_TEXT = "| P400-LUB-FLT10 | Lube return filter element, 10 µm | 1 | 4 |"


def state(overrides: Mapping[str, Mapping[str, Any]] | None = None) -> PlantState:
    """Every asset at its initial tag values, stopped and unlocked; ``overrides`` per asset."""
    overrides = overrides or {}
    initial = {a.id: {"tags": {t.id: t.initial for t in a.tags}} for a in PLANT.assets}
    return PlantState(
        assets={
            a: AssetState(**(fields | dict(overrides.get(a, {})))) for a, fields in initial.items()
        }
    )


def context(
    request: str,
    *,
    role: str = "operator",
    user: str = "alice",
    plant_state: PlantState | None = None,
    sources: Mapping[str, str] | None = None,
    flagged: frozenset[str] = frozenset(),
) -> GuardContext:
    default_sources = {FACT: "press-3 speed_spm = 20 strokes/min", MANUAL: MANUAL_TEXT}
    return GuardContext(
        plant=PLANT,
        state=plant_state or state(),
        requester=Requester(user=user, role=role),
        request=request,
        sources=default_sources if sources is None else sources,
        flagged=flagged,
    )


def plan(
    *steps: dict[str, Any], kind: str = "action", cite: tuple[str, ...] = (FACT,)
) -> PlanProposal:
    return PlanProposal.model_validate({"kind": kind, "steps": steps, "citations": cite})


def setpoint(asset: str, tag: str, value: float) -> dict[str, Any]:
    return {"command": "set_parameter", "asset": asset, "tag": tag, "value": value}


def run(command: str, asset: str) -> dict[str, Any]:
    return {"command": command, "asset": asset}
