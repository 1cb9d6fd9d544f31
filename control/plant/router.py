"""Plant model and live state for the MES: lines, assets, tags, alarms, lockouts."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel

from control.deps import Authenticated, ServicesDep
from control.opcua.driver import DriverError
from control.plant.models import Asset, Line, PlantModel
from control.state.models import AssetState, PlantState

router = APIRouter(tags=["plant"])


class AssetView(BaseModel):
    asset: Asset
    state: AssetState


class LineView(BaseModel):
    line: Line
    assets: list[AssetView]


async def _state(svc: ServicesDep, assets: list[str]) -> PlantState:
    try:
        return await svc.driver.read_state(assets)
    except DriverError as exc:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, f"plant not reachable: {exc}"
        ) from None


@router.get("/plant", response_model=PlantModel)
async def plant_model(svc: ServicesDep, who: Authenticated) -> PlantModel:
    """The plant model this control plane enforces (assets, limits, interlocks, roles)."""
    return svc.plant


@router.get("/lines", response_model=list[LineView])
async def lines(svc: ServicesDep, who: Authenticated) -> list[LineView]:
    state = await _state(svc, [a.id for a in svc.plant.assets])
    return [
        LineView(
            line=line,
            assets=[
                AssetView(asset=a, state=state.asset(a.id)) for a in svc.plant.line_assets(line.id)
            ],
        )
        for line in svc.plant.lines
    ]


@router.get("/lines/{line_id}", response_model=LineView)
async def line(line_id: str, svc: ServicesDep, who: Authenticated) -> LineView:
    found = next((line for line in svc.plant.lines if line.id == line_id), None)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no line {line_id!r}")
    assets = svc.plant.line_assets(line_id)
    state = await _state(svc, [a.id for a in assets])
    return LineView(
        line=found, assets=[AssetView(asset=a, state=state.asset(a.id)) for a in assets]
    )


@router.get("/assets/{asset_id}", response_model=AssetView)
async def asset(asset_id: str, svc: ServicesDep, who: Authenticated) -> AssetView:
    found = svc.plant.asset(asset_id)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no asset {asset_id!r}")
    state = await _state(svc, [asset_id])
    return AssetView(asset=found, state=state.asset(asset_id))
