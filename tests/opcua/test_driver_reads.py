"""Reading the plant: one batched read, the primed cache, and clear errors when it can't."""

from __future__ import annotations

import pytest

from control.opcua.driver import DriverError, NotConnectedError, PlantDriver
from control.plant.models import PlantModel, RunState
from simulator.server import SimulatedPlant, endpoint_url, free_tcp_port

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_read_state_matches_the_plants_initial_values(
    plant: PlantModel, driver: PlantDriver
) -> None:
    state = await driver.read_state()

    assert state.connected
    assert set(state.assets) == {a.id for a in plant.assets}
    for asset in plant.assets:
        got = state.assets[asset.id]
        assert got.run_state is RunState.stopped
        assert (got.lockouts, got.active_alarms, got.unacknowledged_alarms) == ((), (), ())
        assert got.manual_override is False
        assert got.tags == {t.id: t.initial for t in asset.tags}
    # The cache was primed with the same values when the session opened.
    assert driver.state == state


async def test_read_state_of_some_assets_reads_only_those(driver: PlantDriver) -> None:
    some = await driver.read_state(["press-3", "vision-2"])

    assert set(some.assets) == {"press-3", "vision-2"}
    assert some.assets["vision-2"].tags["reject_threshold"] == 0.6
    with pytest.raises(DriverError, match="unknown asset 'press-9'"):
        await driver.read_state(["press-9"])


async def test_no_reads_without_a_session(plant: PlantModel, simulator: SimulatedPlant) -> None:
    driver = PlantDriver(plant, simulator.url)
    with pytest.raises(NotConnectedError):
        await driver.read_state()

    async with driver:
        await driver.read_state()
    with pytest.raises(NotConnectedError):
        await driver.read_state()
    # The cache is kept, but says it may be stale.
    assert driver.state.connected is False
    assert driver.state.assets["press-3"].tags["speed_spm"] == 20.0


async def test_a_server_of_another_site_is_refused(
    plant: PlantModel, simulator: SimulatedPlant
) -> None:
    other_site = plant.model_copy(
        update={"site": plant.site.model_copy(update={"namespace_uri": "urn:other-plant"})}
    )
    with pytest.raises(DriverError, match="not this site's plant"):
        await PlantDriver(other_site, simulator.url).connect()


async def test_connect_to_no_server_fails_clearly(plant: PlantModel) -> None:
    driver = PlantDriver(plant, endpoint_url("127.0.0.1", free_tcp_port()))
    with pytest.raises(DriverError, match="cannot connect") as raised:
        await driver.connect()
    assert raised.value.status == "BadConnectionClosed"
    assert not driver.connected


async def test_connect_without_waiting_connects_once_the_plant_is_up(plant: PlantModel) -> None:
    port = free_tcp_port()
    driver = PlantDriver(plant, endpoint_url("127.0.0.1", port))
    await driver.connect(wait=False)
    try:
        assert not driver.connected
        async with SimulatedPlant(plant, port=port, tick_s=None):
            await driver.wait_connected(timeout_s=10)
            assert driver.connected
            assert (await driver.read_state(["press-3"])).assets["press-3"].tags
    finally:
        await driver.close()
