"""The shipped demo model (perception/artifacts/telemetry-demo): press 3 of the simulated
plant in normal operation, recorded over OPC-UA by the same sampler as the live monitor,
then fitted by the same code as `andon train telemetry`. Rebuild it with

    python -m perception.telemetry.demo [--minutes 60] [--out perception/artifacts/telemetry-demo]

The simulator is stepped one simulated second per sample and the recorder waits until the
driver's subscription shows the new values: every row is exactly one second of the process,
however loaded the machine is. Normal operation here: press 3 and its feeder running, the
slide speed moved every five minutes among 16-24 strokes/min (inside the safe range), no
fault. The detector therefore knows speed changes as normal; speeds outside that band, a
stopped press (not scored) or a worn bearing are not.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

from control.opcua.driver import PlantDriver
from control.plant.loader import load_plant
from control.plant.models import RunState
from perception.registry.keys import DEMO_SIGNING_KEY, load_signing_key
from perception.telemetry.config import DetectorConfig
from perception.telemetry.record import record
from perception.telemetry.train import TrainResult, train_telemetry
from simulator.server import SimulatedPlant, free_tcp_port

ARTIFACT_DIR = Path(__file__).resolve().parents[1] / "artifacts" / "telemetry-demo"
DEMO_MODEL = "press-3-telemetry"
DEMO_ASSET = "press-3"
DEMO_SPEEDS = (16.0, 18.0, 20.0, 22.0, 24.0)
SPEED_EVERY_S = 300
# Bearing temperature follows the load over minutes and the room over hours: its rate, not
# its level, is scored.
DEMO_CONFIG = DetectorConfig(
    tags=("speed_spm", "vibration_rms_mm_s", "bearing_temp_c"), rate_tags=("bearing_temp_c",)
)


async def start_running(sim: SimulatedPlant, driver: PlantDriver, assets: Sequence[str]) -> None:
    """Start `assets` in the simulator and wait until the driver sees them running."""
    for asset in assets:
        sim.process.start(asset)
    await sim.publish()
    await _until(
        driver, lambda: all(driver.state.assets[a].run_state is RunState.running for a in assets)
    )


async def step_synced(
    sim: SimulatedPlant, driver: PlantDriver, asset: str, tags: Sequence[str], dt: float = 1.0
) -> None:
    """Advance the simulator by `dt` seconds, publish, and wait until the driver's cache
    holds the published values of `tags`."""
    sim.step(dt)
    await sim.publish()
    want = {t: sim.process.reading(asset, t) for t in tags}

    def shown() -> bool:
        seen = driver.state.assets[asset].tags
        return all(seen.get(t) == v for t, v in want.items())

    await _until(driver, shown)


async def _until(driver: PlantDriver, condition: Callable[[], bool], timeout_s: float = 10) -> None:
    """Wait until `condition()` holds, re-checking on every change the subscription brings."""
    changed = asyncio.Event()
    unsubscribe = driver.on_change(lambda *_: changed.set())
    try:
        async with asyncio.timeout(timeout_s):
            while True:
                changed.clear()
                if condition():
                    return
                await changed.wait()
    finally:
        unsubscribe()


async def _paced(
    sim: SimulatedPlant, driver: PlantDriver, schedule: Mapping[int, float]
) -> AsyncIterator[None]:
    step = 0
    while True:
        if step in schedule:
            sim.process.write_setpoint(DEMO_ASSET, "speed_spm", schedule[step])
        await step_synced(sim, driver, DEMO_ASSET, DEMO_CONFIG.tags)
        step += 1
        yield


def speed_schedule(seconds: int, seed: int) -> dict[int, float]:
    """Second -> new speed setpoint, one change every SPEED_EVERY_S."""
    rng = random.Random(seed)
    return {t: rng.choice(DEMO_SPEEDS) for t in range(SPEED_EVERY_S, seconds, SPEED_EVERY_S)}


async def record_normal(out: Path, seconds: int, seed: int) -> int:
    """Record `seconds` of normal operation of press 3 into `out`; returns the rows."""
    plant = load_plant()
    async with (
        SimulatedPlant(plant, port=free_tcp_port(), seed=seed, tick_s=None) as sim,
        PlantDriver(plant, sim.url, publish_interval_ms=10) as driver,
    ):
        await start_running(sim, driver, ["feeder-2", DEMO_ASSET])
        pace = _paced(sim, driver, speed_schedule(seconds, seed))
        return await record(driver, DEMO_ASSET, DEMO_CONFIG.tags, out, samples=seconds, pace=pace)


def build(out: Path, minutes: int = 60, seed: int = 11, version: str | None = None) -> TrainResult:
    with tempfile.TemporaryDirectory() as tmp:
        csv_path = Path(tmp) / "press-3-normal.csv"
        rows = asyncio.run(record_normal(csv_path, minutes * 60, seed))
        source = (
            f"simulated plant (seed {seed}): {DEMO_ASSET} in normal operation, {rows} s "
            f"sampled over OPC-UA, speed among {', '.join(f'{s:g}' for s in DEMO_SPEEDS)} "
            f"strokes/min, changed every {SPEED_EVERY_S} s"
        )
        return train_telemetry(
            [csv_path],
            out,
            load_signing_key(DEMO_SIGNING_KEY),
            DEMO_CONFIG,
            asset=DEMO_ASSET,
            name=DEMO_MODEL,
            version=version or datetime.now(UTC).strftime("%Y.%m.%d-1"),
            source=source,
        )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ARTIFACT_DIR)
    parser.add_argument("--minutes", type=int, default=60)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args(argv)
    result = build(args.out, args.minutes, args.seed)
    meta = result.metadata
    print(f"{meta.name} {meta.version} -> {result.artifact_dir}")
    print({k: round(v, 4) for k, v in meta.metrics.items()})


if __name__ == "__main__":
    main()
