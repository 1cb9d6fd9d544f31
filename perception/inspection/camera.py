"""Frames from the simulated plant's inspection cameras (simulator.camera), one per part a
vision station inspects, and the inspection loops `andon up` runs on them.

The camera renders from the simulator's process model, so it exists only where the simulator
runs in this process; a real site's camera would feed `InspectionLoop` the same `Capture`s.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

from control.events.bus import EventBus
from perception.inspection.evidence import EvidenceStore
from perception.inspection.pipeline import Capture, InspectionLoop, InspectionPipeline, RuleSink
from perception.runtime.service import PerceptionService
from simulator.camera import InspectionCamera
from simulator.process import ProcessModel

STATION_TYPE = "vision_station"
POLL_S = 0.05  # how often the station's part counter is looked at


async def simulated_frames(
    process: ProcessModel, station: str, *, seed: int = 0, poll_s: float = POLL_S
) -> AsyncIterator[Capture]:
    """Each part `station` inspects from now on, as its camera sees it."""

    def counted() -> int:
        return int(process.reading(station, "inspected_count"))

    camera, base, taken = InspectionCamera(process, station, seed=seed), counted(), 0
    while True:
        if counted() < base + taken:
            # The station's counter went back (the plant was reset): count from there.
            camera, base, taken = InspectionCamera(process, station, seed=seed), counted(), 0
        # Rendering takes tens of milliseconds a frame: off the event loop control runs on.
        for frame in await asyncio.to_thread(camera.new_frames):
            taken += 1
            yield Capture(
                station=station,
                part_id=frame.part_id,
                image=frame.image,
                at=datetime.now(UTC),
                part_count=base + frame.index + 1,
            )
        await asyncio.sleep(poll_s)


def simulated_inspection(
    process: ProcessModel,
    perception: PerceptionService,
    model: str,
    observe: RuleSink,
    evidence: EvidenceStore,
    events: EventBus | None = None,
) -> list[InspectionLoop]:
    """One loop per vision station of the simulated plant, each judged by `model`."""
    pipeline = InspectionPipeline(perception, model, observe, evidence, events)
    stations = [a.id for a in process.plant.assets if a.type == STATION_TYPE]
    return [InspectionLoop(pipeline, simulated_frames(process, s)) for s in stations]
