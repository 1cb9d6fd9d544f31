"""Fixtures: the demo plant model, a simulator on a free port, a client on it.

Starting an asyncua server costs seconds (it builds the whole standard address space), so
a test module shares one simulator and each test gets it reset to the initial plant.
Modules using `sim` or `client` run in one event loop: pytest.mark.asyncio(loop_scope="module").
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from asyncua import Client

from control.plant.loader import load_plant
from control.plant.models import PlantModel
from simulator.server import SimulatedPlant, free_tcp_port


@pytest.fixture(scope="session")
def plant_model() -> PlantModel:
    return load_plant()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def shared_sim(plant_model: PlantModel) -> AsyncIterator[SimulatedPlant]:
    """A started simulator that only moves when a test steps it."""
    async with SimulatedPlant(plant_model, port=free_tcp_port(), seed=7, tick_s=None) as plant:
        yield plant


@pytest_asyncio.fixture(loop_scope="module")
async def sim(shared_sim: SimulatedPlant) -> SimulatedPlant:
    await shared_sim.reset(seed=7)
    return shared_sim


@pytest_asyncio.fixture(loop_scope="module")
async def client(sim: SimulatedPlant) -> AsyncIterator[Client]:
    async with Client(sim.url, timeout=5) as connected:
        yield connected
