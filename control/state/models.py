"""A snapshot of the plant as control/ sees it: the input of every decision."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from control.plant.models import RunState


class AssetState(BaseModel):
    model_config = ConfigDict(extra="forbid")
    run_state: RunState = RunState.stopped
    lockouts: tuple[str, ...] = ()  # holders of the locks on the asset, one per person
    active_alarms: tuple[str, ...] = ()  # alarm ids currently active
    unacknowledged_alarms: tuple[str, ...] = ()
    manual_override: bool = False  # automation (rules, models) must leave this asset alone
    tags: dict[str, float] = Field(default_factory=dict)

    @property
    def locked_out(self) -> bool:
        return bool(self.lockouts)


class PlantState(BaseModel):
    model_config = ConfigDict(extra="forbid")
    assets: dict[str, AssetState] = Field(default_factory=dict)
    connected: bool = True

    def asset(self, asset_id: str) -> AssetState:
        return self.assets.get(asset_id) or AssetState()
