"""Live telemetry scoring against the real simulator over OPC-UA, with the shipped demo model
loaded by the real perception runtime: press 3's bearing wear is caught long before its
vibration alarm, and normal operation (an operator's speed change included) raises nothing.

The end-to-end test steps the simulator one simulated second per sample and waits for the
driver's subscription to show the values (perception.telemetry.demo.step_synced), so every
run sees the same plant whatever the machine's load; the monitor's own timer loop is tested
against a ticking simulator.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from control.events.bus import EventBus
from control.opcua.driver import PlantDriver
from control.plant.loader import load_plant
from control.plant.models import PlantModel
from control.rules.models import Observation
from perception.registry.keys import DEMO_PUBLIC_KEY, generate_key_pair, trusted_keys
from perception.registry.store import ModelRegistry
from perception.runtime.service import PerceptionService, RuntimeConfig
from perception.telemetry.data import read_table
from perception.telemetry.demo import (
    ARTIFACT_DIR,
    DEMO_ASSET,
    DEMO_CONFIG,
    DEMO_MODEL,
    start_running,
    step_synced,
)
from perception.telemetry.record import record
from perception.telemetry.stream import EVENT_KIND, TelemetryMonitor
from simulator.server import SimulatedPlant, free_tcp_port

# One event loop per module: the ticking simulator (seconds to start) is shared.
pytestmark = pytest.mark.asyncio(loop_scope="module")
VIBRATION = "vibration_rms_mm_s"


@pytest.fixture(scope="module")
def plant() -> PlantModel:
    return load_plant()


def vibration_limit(plant: PlantModel) -> float:
    asset = plant.asset(DEMO_ASSET)
    assert asset is not None
    tag = asset.tag(VIBRATION)
    assert tag is not None and tag.alarms and tag.alarms[0].high is not None
    return tag.alarms[0].high


@pytest_asyncio.fixture(loop_scope="module")
async def runtime(tmp_path: Path) -> AsyncIterator[PerceptionService]:
    """The perception runtime with the shipped demo models installed (CPU, one thread)."""
    registry = ModelRegistry(tmp_path / "models", trusted_keys([DEMO_PUBLIC_KEY]))
    service = PerceptionService(registry, RuntimeConfig(device="cpu", threads=1))
    await service.start([ARTIFACT_DIR])
    yield service
    await service.aclose()


def drain(queue: asyncio.Queue[dict[str, Any]]) -> list[dict[str, Any]]:
    events = []
    while not queue.empty():
        events.append(queue.get_nowait())
    return [e for e in events if e["kind"] == EVENT_KIND]


async def anomaly_events(
    queue: asyncio.Queue[dict[str, Any]], until: str, timeout_s: float = 30
) -> list[dict[str, Any]]:
    """The monitor's events as they come, up to the first in state `until`."""
    seen: list[dict[str, Any]] = []
    async with asyncio.timeout(timeout_s):
        while not seen or seen[-1]["state"] != until:
            event = await queue.get()
            if event["kind"] == EVENT_KIND:
                seen.append(event)
    return seen


@pytest.mark.slow
async def test_bearing_wear_is_caught_before_the_vibration_alarm(
    plant: PlantModel, runtime: PerceptionService
) -> None:
    limit = vibration_limit(plant)
    events = EventBus()
    observations: list[Observation] = []

    async def observe(observation: Observation) -> None:
        observations.append(observation)

    async with (
        SimulatedPlant(plant, port=free_tcp_port(), seed=23, tick_s=None) as sim,
        PlantDriver(plant, sim.url, publish_interval_ms=10) as driver,
        events.subscribe() as queue,
    ):
        monitor = TelemetryMonitor(driver, runtime, events, DEMO_MODEL, observe=observe)

        async def second() -> None:
            await step_synced(sim, driver, DEMO_ASSET, DEMO_CONFIG.tags)
            await monitor.tick()

        await start_running(sim, driver, ["feeder-2", DEMO_ASSET])
        # Ten minutes of normal operation; after five the operator raises the speed 20 -> 22.
        for t in range(600):
            if t == 300:
                sim.process.write_setpoint(DEMO_ASSET, "speed_spm", 22.0)
            await second()
        assert len(observations) == 600 - DEMO_CONFIG.window + 1
        assert [o for o in observations if o.abnormal or o.degraded] == []
        assert drain(queue) == []

        sim.process.inject_fault("bearing_wear", DEMO_ASSET, 1.0)
        detected_after = 0  # simulated seconds of wear
        while not monitor.alarm_active and detected_after < 300:
            await second()
            detected_after += 1
        assert monitor.alarm_active, "no anomaly within five minutes of bearing wear"
        [raised] = drain(queue)
        assert raised["state"] == "raised"
        assert raised["asset"] == DEMO_ASSET
        assert raised["model"] == DEMO_MODEL and raised["version"]
        assert raised["score"] > raised["threshold"]
        assert raised["window"]["samples"] == DEMO_CONFIG.window
        at_detection = raised["values"][VIBRATION]
        assert at_detection == sim.process.reading(DEMO_ASSET, VIBRATION)
        assert at_detection < limit
        assert "vibration_high" not in sim.process.snapshot(DEMO_ASSET).active_alarms
        # What control's rules got: abnormal windows, named by model version, above threshold.
        abnormal = [o for o in observations if o.abnormal]
        assert len(abnormal) >= DEMO_CONFIG.alarm_after
        assert all(o.score > (o.threshold or 0) and "@" in o.model for o in abnormal)

        # Left alone, the wear reaches the vibration alarm minutes later.
        alarm_after = detected_after
        while "vibration_high" not in sim.process.snapshot(DEMO_ASSET).active_alarms:
            assert alarm_after < 900, "the vibration alarm never tripped"
            await step_synced(sim, driver, DEMO_ASSET, DEMO_CONFIG.tags)
            alarm_after += 1
        assert alarm_after - detected_after > 120  # two minutes and more of warning
        print(
            f"anomaly {detected_after} s after the wear began (vibration {at_detection:.2f} "
            f"mm/s, alarm limit {limit}); vibration alarm after {alarm_after} s"
        )


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def ticking_plant(plant: PlantModel) -> AsyncIterator[tuple[SimulatedPlant, PlantDriver]]:
    """A simulator ticking in real time and the control plane's driver on it."""
    async with (
        SimulatedPlant(plant, port=free_tcp_port(), seed=5, tick_s=0.05) as sim,
        PlantDriver(plant, sim.url, publish_interval_ms=20) as driver,
    ):
        yield sim, driver


@pytest_asyncio.fixture(loop_scope="module")
async def ticking(
    ticking_plant: tuple[SimulatedPlant, PlantDriver],
) -> tuple[SimulatedPlant, PlantDriver]:
    """The shared ticking plant, back to its initial state (stopped, no fault)."""
    sim, driver = ticking_plant
    await sim.reset(seed=5)
    return sim, driver


class Collector:
    """Control's side of the monitor: the observations it hands over, and a wake-up."""

    def __init__(self) -> None:
        self.observations: list[Observation] = []
        self.arrived = asyncio.Event()

    async def __call__(self, observation: Observation) -> None:
        self.observations.append(observation)
        self.arrived.set()

    async def until(self, condition: Callable[[], bool], timeout_s: float = 30) -> None:
        """Wait until `condition()` holds, checked after each observation."""
        async with asyncio.timeout(timeout_s):
            while True:
                self.arrived.clear()
                if condition():
                    return
                await self.arrived.wait()


async def test_monitor_loop_scores_live_and_clears_when_the_press_stops(
    ticking: tuple[SimulatedPlant, PlantDriver], runtime: PerceptionService
) -> None:
    sim, driver = ticking
    events = EventBus()
    collect = Collector()
    async with events.subscribe() as queue:
        # The monitor's own timer samples the subscription-fed cache.
        monitor = TelemetryMonitor(
            driver, runtime, events, DEMO_MODEL, period_s=0.05, observe=collect
        )
        monitor.start()
        try:
            await asyncio.sleep(0.5)
            assert collect.observations == []  # stopped press: nothing sampled
            await start_running(sim, driver, ["feeder-2", DEMO_ASSET])
            await collect.until(lambda: len(collect.observations) >= 5)
            assert all(o.asset == DEMO_ASSET and not o.degraded for o in collect.observations)
            # A bearing failing fast (severity 100: +2 mm/s every simulated second).
            sim.process.inject_fault("bearing_wear", DEMO_ASSET, 100.0)
            await collect.until(lambda: monitor.alarm_active)
            sim.process.stop(DEMO_ASSET)
            await sim.publish()
            seen = await anomaly_events(queue, until="cleared")
            assert not monitor.alarm_active
            scored = len(collect.observations)
            await asyncio.sleep(0.5)
            assert len(collect.observations) == scored  # not running: nothing scored
        finally:
            await monitor.stop()
    states = [(e["state"], e.get("reason")) for e in seen + drain(queue)]
    assert states == [("raised", None), ("cleared", "asset not running or plant unreachable")]


async def test_a_model_the_site_does_not_trust_scores_nothing(
    ticking: tuple[SimulatedPlant, PlantDriver], tmp_path: Path
) -> None:
    sim, driver = ticking
    # A site that trusts only its own key: the shipped demo model is refused at install.
    generate_key_pair(tmp_path / "site.pem", tmp_path / "site.pub")
    registry = ModelRegistry(tmp_path / "models", trusted_keys([tmp_path / "site.pub"]))
    service = PerceptionService(registry, RuntimeConfig(device="cpu", threads=1))
    await service.start([ARTIFACT_DIR])
    events = EventBus()
    collect = Collector()
    monitor = TelemetryMonitor(driver, service, events, DEMO_MODEL, period_s=0.05, observe=collect)
    try:
        async with events.subscribe() as queue:
            await start_running(sim, driver, ["feeder-2", DEMO_ASSET])
            monitor.start()
            await asyncio.sleep(DEMO_CONFIG.window * 0.05 * 2)
            await monitor.stop()
            assert collect.observations == []
            assert drain(queue) == []
    finally:
        await service.aclose()


async def test_recording_is_one_continuous_run(
    ticking: tuple[SimulatedPlant, PlantDriver], tmp_path: Path
) -> None:
    sim, driver = ticking
    out = tmp_path / "normal.csv"
    recording = asyncio.create_task(
        record(driver, DEMO_ASSET, DEMO_CONFIG.tags, out, samples=100_000, period_s=0.02)
    )
    await start_running(sim, driver, ["feeder-2", DEMO_ASSET])
    await asyncio.sleep(1.0)
    sim.process.stop(DEMO_ASSET)  # the run ends: so does the recording
    await sim.publish()
    written = await asyncio.wait_for(recording, 30)
    table = read_table(out)
    assert table.columns == DEMO_CONFIG.tags
    assert 10 < written == len(table.values) < 100_000
    assert table.times is not None
    assert all(a < b for a, b in itertools.pairwise(table.times))
    assert (table.select(["speed_spm"]) == 20.0).all()
