"""Setpoint writes: confirmed by read-back, and every refusal surfaces as ActuationError."""

from __future__ import annotations

import math

import pytest

from control.opcua.driver import ActuationError, DriverError, PlantDriver
from control.plant.models import PlantModel
from simulator.server import SimulatedPlant

pytestmark = pytest.mark.asyncio(loop_scope="module")


def actuations(simulator: SimulatedPlant, asset: str) -> int:
    return simulator.process.snapshot(asset).actuation_count


async def test_write_is_read_back_and_refusals_change_nothing(
    driver: PlantDriver, simulator: SimulatedPlant
) -> None:
    before = driver.state.assets["press-3"].tags["speed_spm"]
    result = await driver.write_setpoint("press-3", "speed_spm", 24.0)

    assert (result.asset, result.tag, result.value, result.previous) == (
        "press-3",
        "speed_spm",
        24.0,
        before,
    )
    assert result.source_timestamp is not None
    assert simulator.process.reading("press-3", "speed_spm") == 24.0
    assert (await driver.read_state(["press-3"])).assets["press-3"].tags["speed_spm"] == 24.0

    # Outside the engineering range [0, 40]: the plant refuses, nothing moves.
    count = actuations(simulator, "press-3")
    with pytest.raises(ActuationError) as refused:
        await driver.write_setpoint("press-3", "speed_spm", 41.0)
    assert refused.value.status == "BadOutOfRange"
    assert "BadOutOfRange" in str(refused.value)
    assert refused.value.outcome_unknown is False
    assert simulator.process.reading("press-3", "speed_spm") == 24.0
    assert actuations(simulator, "press-3") == count

    # Measurements and counters are read-only at the plant.
    for tag in ("tonnage_t", "part_count"):
        before = simulator.process.reading("press-3", tag)
        with pytest.raises(ActuationError) as refused:
            await driver.write_setpoint("press-3", tag, 5.0)
        assert refused.value.status == "BadNotWritable"
        assert simulator.process.reading("press-3", tag) == before


async def test_nothing_is_sent_for_bad_requests_or_without_a_session(
    plant: PlantModel, driver: PlantDriver, simulator: SimulatedPlant
) -> None:
    count = actuations(simulator, "press-3")
    with pytest.raises(DriverError, match="has no tag 'speed'"):
        await driver.write_setpoint("press-3", "speed", 20.0)
    with pytest.raises(ActuationError, match="not a finite number"):
        await driver.write_setpoint("press-3", "speed_spm", math.nan)

    closed = PlantDriver(plant, simulator.url)
    with pytest.raises(ActuationError, match="nothing was sent") as refused:
        await closed.write_setpoint("press-3", "speed_spm", 22.0)
    assert refused.value.status == "BadNotConnected"
    assert refused.value.outcome_unknown is False
    assert actuations(simulator, "press-3") == count
