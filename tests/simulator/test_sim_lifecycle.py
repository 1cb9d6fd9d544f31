"""Simulators of their own: background ticking, server restarts, start/stop."""

from __future__ import annotations

import asyncio

import pytest
from asyncua import Client

from control.plant.models import PlantModel
from simulator.server import SimulatedPlant, free_tcp_port


async def read(client: Client, node: str) -> object:
    return await client.get_node(node).read_value()


async def test_background_ticks_publish_to_subscribers(plant_model: PlantModel) -> None:
    changes: list[float] = []

    class Handler:
        def datachange_notification(self, node: object, val: float, data: object) -> None:
            changes.append(val)

    async with (
        SimulatedPlant(plant_model, port=free_tcp_port(), tick_s=0.02, sim_dt=1.0) as sim,
        Client(sim.url) as client,
    ):
        sub = await client.create_subscription(20, Handler())
        await sub.subscribe_data_change(client.get_node("ns=2;s=simulator.SimTime"))
        await asyncio.sleep(0.5)
        assert sim.process.sim_time >= 10  # 1 simulated second per 20 ms tick
        assert len(changes) > 3
        assert changes == sorted(changes)


async def test_restart_keeps_state_and_port(plant_model: PlantModel) -> None:
    sim = SimulatedPlant(plant_model, port=free_tcp_port(), tick_s=None)
    async with sim:
        async with Client(sim.url) as client:
            sim_node = client.get_node("ns=2;s=simulator")
            await client.get_node("ns=2;s=press-3").call_method("2:Start", "k-1")
            assert await sim_node.call_method("2:RestartServer", 0.5) == "done"
            await asyncio.sleep(0.3)  # answered, then went down
            with pytest.raises(OSError):
                await asyncio.open_connection(sim.host, sim.port)
        async with asyncio.timeout(5):
            while True:
                try:
                    async with Client(sim.url, timeout=1) as again:
                        assert await read(again, "ns=2;s=press-3.State") == "running"
                        assert await read(again, "ns=2;s=press-3.ActuationCount") == 1
                        press = again.get_node("ns=2;s=press-3")
                        assert await press.call_method("2:Start", "k-1") == "duplicate"
                        break
                except OSError:
                    await asyncio.sleep(0.1)
    with pytest.raises(OSError):  # stopped for good: the port is free again
        await asyncio.open_connection(sim.host, sim.port)
