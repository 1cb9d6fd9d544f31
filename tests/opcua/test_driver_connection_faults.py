"""Connection failures: lost sessions come back with their subscription, and an actuation
whose answer never arrives is reported as unknown, never as success."""

from __future__ import annotations

import asyncio

import pytest
from driver_helpers import FAST_BACKOFF, FaultyLink, new_key, wait_until

from control.opcua.driver import ActuationError, NotConnectedError, PlantDriver
from control.plant.models import Command, PlantModel, RunState
from simulator.server import SimulatedPlant

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.slow]


def actuations(simulator: SimulatedPlant, asset: str) -> int:
    return simulator.process.snapshot(asset).actuation_count


async def test_reconnects_after_a_restart_and_refuses_writes_while_down(
    driver: PlantDriver, simulator: SimulatedPlant
) -> None:
    transitions: list[bool] = []
    driver.on_connection(transitions.append)
    before = simulator.process.reading("press-3", "speed_spm")

    restart = asyncio.create_task(simulator.restart(down_seconds=1.0))
    await wait_until(lambda: not driver.connected)
    assert driver.state.connected is False
    with pytest.raises(ActuationError, match="nothing was sent") as refused:
        await driver.write_setpoint("press-3", "speed_spm", before + 1)
    assert refused.value.status == "BadNotConnected"
    with pytest.raises(NotConnectedError):
        await driver.read_state()
    # What changes while the link is down is picked up when it comes back.
    simulator.process.start("press-3")
    await simulator.publish()
    await restart

    await driver.wait_connected(timeout_s=10)
    assert transitions == [False, True]
    assert simulator.process.reading("press-3", "speed_spm") == before
    assert driver.state.assets["press-3"].run_state is RunState.running
    # The new subscription delivers again.
    simulator.process.stop("press-3")
    await simulator.publish()
    await wait_until(lambda: driver.state.assets["press-3"].run_state is RunState.stopped)
    assert (await driver.write_setpoint("press-3", "speed_spm", before + 1)).value == before + 1


async def test_reconnects_after_a_full_server_stop_and_start(
    driver: PlantDriver, simulator: SimulatedPlant
) -> None:
    await simulator.stop()
    await wait_until(lambda: not driver.connected)
    await simulator.start()

    await driver.wait_connected(timeout_s=15)
    await driver.write_setpoint("conveyor-2", "speed_mps", 0.5)
    await wait_until(lambda: driver.state.assets["conveyor-2"].tags["speed_mps"] == 0.5)


async def test_a_write_cut_off_mid_call_has_an_unknown_outcome(
    plant: PlantModel, simulator: SimulatedPlant, link: FaultyLink
) -> None:
    async with PlantDriver(plant, link.url, backoff=FAST_BACKOFF) as driver:

        def threshold() -> float:
            return simulator.process.reading("vision-2", "reject_threshold")

        target = threshold() + 0.05
        link.muted = True
        write = asyncio.create_task(driver.write_setpoint("vision-2", "reject_threshold", target))
        # The write reaches the plant, but its answer does not reach the driver.
        await wait_until(lambda: threshold() == target)
        link.cut()
        with pytest.raises(ActuationError, match="outcome unknown") as lost:
            await write
        assert lost.value.outcome_unknown is True
        assert lost.value.status == "BadCommunicationError"

        link.muted = False
        await driver.wait_connected(timeout_s=10)
        state = await driver.read_state(["vision-2"])
        assert state.assets["vision-2"].tags["reject_threshold"] == target


async def test_a_command_without_answer_times_out_and_is_safe_to_retry_with_its_key(
    plant: PlantModel, simulator: SimulatedPlant, link: FaultyLink
) -> None:
    async with PlantDriver(plant, link.url, call_timeout_s=0.5, backoff=FAST_BACKOFF) as driver:
        # The driver may lose and reopen its session between two polls of `connected`:
        # listen for the loss instead of polling for it.
        lost_session = asyncio.Event()
        driver.on_connection(lambda up: None if up else lost_session.set())
        count = actuations(simulator, "conveyor-2")
        key = new_key("start")
        link.muted = True
        with pytest.raises(ActuationError, match="outcome unknown") as lost:
            await driver.call_command("conveyor-2", Command.start, key)
        assert lost.value.status == "BadTimeout"
        assert lost.value.outcome_unknown is True

        link.muted = False
        link.cut()
        await asyncio.wait_for(lost_session.wait(), timeout=5)
        await driver.wait_connected(timeout_s=10)
        # The plant did act; the retry with the same key must not act twice.
        assert await driver.call_command("conveyor-2", Command.start, key) == "duplicate"
        assert actuations(simulator, "conveyor-2") == count + 1
        assert await driver.call_command("conveyor-2", Command.stop, new_key("stop")) == "done"
