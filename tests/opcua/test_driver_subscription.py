"""The cached state follows the plant through the subscription, and listeners hear it."""

from __future__ import annotations

import pytest
from driver_helpers import new_key, wait_until

from control.opcua.driver import PlantDriver
from control.opcua.nodes import Value
from control.plant.models import Command, RunState
from simulator.server import SimulatedPlant

pytestmark = pytest.mark.asyncio(loop_scope="module")

Change = tuple[str, str, Value]


async def test_a_setpoint_write_reaches_cache_and_listener(driver: PlantDriver) -> None:
    changes: list[Change] = []
    driver.on_change(lambda asset, name, value: changes.append((asset, name, value)))

    await driver.write_setpoint("conveyor-2", "speed_mps", 1.25)

    await wait_until(lambda: ("conveyor-2", "speed_mps", 1.25) in changes)
    assert driver.state.assets["conveyor-2"].tags["speed_mps"] == 1.25
    # Only the value that changed is reported; the snapshot at connect is not a change.
    assert changes == [("conveyor-2", "speed_mps", 1.25)]


async def test_changes_made_by_the_plant_itself_are_streamed(
    driver: PlantDriver, simulator: SimulatedPlant
) -> None:
    changes: list[Change] = []
    driver.on_change(lambda asset, name, value: changes.append((asset, name, value)))

    # A jam the driver did not cause: state, measurement and alarms all move.
    simulator.process.inject_fault("feeder_jam", "feeder-2", 1.0)
    await simulator.publish()

    await wait_until(lambda: driver.state.assets["feeder-2"].run_state is RunState.faulted)
    await wait_until(lambda: driver.state.assets["feeder-2"].unacknowledged_alarms != ())
    feeder = driver.state.assets["feeder-2"]
    assert feeder.tags["jam_detected"] == 1.0
    assert feeder.active_alarms == ("feeder_jam",)
    assert ("feeder-2", "run_state", RunState.faulted) in changes
    assert ("feeder-2", "active_alarms", ("feeder_jam",)) in changes
    assert ("feeder-2", "jam_detected", 1.0) in changes

    assert await driver.call_command("feeder-2", Command.stop, new_key("reset")) == "done"
    await wait_until(lambda: driver.state.assets["feeder-2"].run_state is RunState.stopped)


async def test_listeners_can_leave_and_a_failing_one_harms_no_one(driver: PlantDriver) -> None:
    heard: list[Change] = []
    left: list[Change] = []

    def broken(asset: str, name: str, value: Value) -> None:
        raise RuntimeError("listener bug")

    driver.on_change(broken)
    stop_listening = driver.on_change(lambda a, n, v: left.append((a, n, v)))
    driver.on_change(lambda a, n, v: heard.append((a, n, v)))
    stop_listening()

    await driver.write_setpoint("vision-2", "reject_threshold", 0.7)

    await wait_until(lambda: ("vision-2", "reject_threshold", 0.7) in heard)
    assert left == []
