"""Plant commands: verified by read-back, deduplicated by key, refusals carry the reason."""

from __future__ import annotations

import pytest
from driver_helpers import new_key

from control.opcua.driver import ActuationError, DriverError, PlantDriver
from control.plant.models import Command, RunState
from simulator.server import SimulatedPlant

pytestmark = pytest.mark.asyncio(loop_scope="module")


def actuations(simulator: SimulatedPlant, asset: str) -> int:
    return simulator.process.snapshot(asset).actuation_count


def run_state(simulator: SimulatedPlant, asset: str) -> RunState:
    return simulator.process.snapshot(asset).run_state


async def test_run_commands_take_effect(driver: PlantDriver, simulator: SimulatedPlant) -> None:
    count = actuations(simulator, "press-3")

    assert await driver.call_command("press-3", Command.start, new_key("start")) == "done"
    assert run_state(simulator, "press-3") is RunState.running
    assert await driver.call_command("press-3", Command.pause, new_key("pause")) == "done"
    assert (await driver.read_state(["press-3"])).assets["press-3"].run_state is RunState.paused
    assert await driver.call_command("press-3", Command.resume, new_key("resume")) == "done"
    assert run_state(simulator, "press-3") is RunState.running
    assert await driver.call_command("press-3", Command.stop, new_key("stop")) == "done"
    assert run_state(simulator, "press-3") is RunState.stopped
    assert actuations(simulator, "press-3") == count + 4


async def test_a_repeated_key_does_not_act_again(
    driver: PlantDriver, simulator: SimulatedPlant
) -> None:
    key = new_key("start")
    assert await driver.call_command("conveyor-2", Command.start, key) == "done"
    count = actuations(simulator, "conveyor-2")

    assert await driver.call_command("conveyor-2", Command.start, key) == "duplicate"
    assert actuations(simulator, "conveyor-2") == count
    assert await driver.call_command("conveyor-2", Command.stop, new_key("stop")) == "done"


async def test_the_plant_refuses_with_its_reason_and_nothing_moves(
    driver: PlantDriver, simulator: SimulatedPlant
) -> None:
    lock = new_key("lock")
    assert await driver.call_command("press-1", Command.apply_lockout, lock, "alice") == "done"
    assert simulator.process.snapshot("press-1").lockouts == ("alice",)
    count = actuations(simulator, "press-1")

    with pytest.raises(ActuationError, match="locked out by alice") as refused:
        await driver.call_command("press-1", Command.start, new_key("start"))
    assert refused.value.status == "BadInvalidState"
    assert refused.value.outcome_unknown is False
    assert run_state(simulator, "press-1") is RunState.stopped

    with pytest.raises(ActuationError) as refused:
        await driver.call_command("press-1", Command.remove_lockout, new_key("unlock"), "bob")
    assert refused.value.status == "BadInvalidArgument"
    assert actuations(simulator, "press-1") == count

    unlock = new_key("unlock")
    assert await driver.call_command("press-1", Command.remove_lockout, unlock, "alice") == "done"
    assert simulator.process.snapshot("press-1").lockouts == ()


async def test_requests_the_driver_can_tell_are_wrong_never_reach_the_plant(
    driver: PlantDriver, simulator: SimulatedPlant
) -> None:
    count = actuations(simulator, "press-3")
    with pytest.raises(DriverError, match="does not accept pause"):
        await driver.call_command("vision-2", Command.pause, new_key("pause"))
    with pytest.raises(DriverError, match="not a plant method"):
        await driver.call_command("press-3", Command.set_parameter, new_key("set"))
    with pytest.raises(DriverError, match="takes"):
        await driver.call_command("press-3", Command.apply_lockout, new_key("lock"))
    with pytest.raises(DriverError, match="unknown line"):
        await driver.emergency_stop("line-9", new_key("estop"), "carol")
    assert actuations(simulator, "press-3") == count


async def test_alarm_acknowledgement(driver: PlantDriver, simulator: SimulatedPlant) -> None:
    simulator.process.inject_fault("feeder_jam", "feeder-1", 1.0)
    await simulator.publish()
    assert "feeder_jam" in simulator.process.snapshot("feeder-1").unacknowledged_alarms

    ack = new_key("ack")
    assert await driver.call_command("feeder-1", Command.acknowledge_alarm, ack, "feeder_jam") == (
        "done"
    )
    assert simulator.process.snapshot("feeder-1").unacknowledged_alarms == ()
    # Stop resets the jammed feeder.
    assert await driver.call_command("feeder-1", Command.stop, new_key("stop")) == "done"


async def test_emergency_stop_stops_the_whole_line(
    driver: PlantDriver, simulator: SimulatedPlant
) -> None:
    for asset in ("press-3", "conveyor-2", "vision-2"):
        assert await driver.call_command(asset, Command.start, new_key("start")) == "done"

    key = new_key("estop")
    assert await driver.emergency_stop("line-2", key, "carol") == "done"
    line = await driver.read_state(["feeder-2", "press-3", "conveyor-2", "vision-2"])
    assert {a.run_state for a in line.assets.values()} == {RunState.stopped}
    assert await driver.emergency_stop("line-2", key, "carol") == "duplicate"


async def test_manual_override(driver: PlantDriver, simulator: SimulatedPlant) -> None:
    assert await driver.set_manual_override("press-3", True, new_key("manual")) == "done"
    assert simulator.process.snapshot("press-3").manual_override is True
    assert await driver.set_manual_override("press-3", False, new_key("auto")) == "done"
    assert simulator.process.snapshot("press-3").manual_override is False
