"""Fixtures for the driver tests: the real simulator on a free loopback port, a connected
driver, and a TCP relay that injects network faults between the two.

Starting the simulator costs seconds (asyncua loads its standard address space), so each
test module shares one plant: its tests run in the module's event loop, use fresh
idempotency keys and assert on changes rather than on absolute counts.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from driver_helpers import FAST_BACKOFF, FaultyLink

from control.opcua.driver import PlantDriver
from control.plant.loader import load_plant
from control.plant.models import PlantModel
from simulator.server import SimulatedPlant, free_tcp_port


@pytest.fixture(scope="session")
def plant() -> PlantModel:
    return load_plant()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def simulator(plant: PlantModel) -> AsyncIterator[SimulatedPlant]:
    # No ticking: values only change when a test acts, so every assertion is exact.
    async with SimulatedPlant(plant, port=free_tcp_port(), tick_s=None) as sim:
        yield sim


@pytest_asyncio.fixture(loop_scope="module")
async def driver(plant: PlantModel, simulator: SimulatedPlant) -> AsyncIterator[PlantDriver]:
    async with PlantDriver(plant, simulator.url, backoff=FAST_BACKOFF) as connected:
        yield connected


@pytest_asyncio.fixture(loop_scope="module")
async def link(simulator: SimulatedPlant) -> AsyncIterator[FaultyLink]:
    relay = FaultyLink(simulator.port)
    await relay.start()
    yield relay
    await relay.stop()
