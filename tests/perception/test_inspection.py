"""The inspection pipeline with the real perception runtime and the shipped signed vision
model: defective parts are flagged with their frame kept as evidence, good parts pass, a
missing model holds every part for manual inspection (never "nothing seen"), and the
simulated camera's frames follow the station's part counter, across a plant reset.

Control's rules are the one stand-in here (a list that collects what they would be handed):
the whole path through them is tests/perception/test_end_to_end.py.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path

import numpy as np
import pytest_asyncio
from PIL import Image

from control.execution.models import RequestRecord
from control.plant.loader import load_plant
from control.rules.models import Observation
from perception.inspection.camera import simulated_frames
from perception.inspection.evidence import EvidenceStore
from perception.inspection.pipeline import Capture, InspectionPipeline
from perception.registry.keys import DEMO_PUBLIC_KEY, trusted_keys
from perception.registry.store import ModelRegistry
from perception.runtime.service import (
    SHIPPED_ARTIFACTS,
    PerceptionService,
    RuntimeConfig,
    shipped_artifacts,
)
from simulator.camera import InspectionCamera
from simulator.process import ProcessModel

MODEL = "vision-defects"
LINE_2 = ("press-3", "feeder-2", "conveyor-2", "vision-2")


class Rules:
    """Collects what control's RuleEngine.observe would be handed; acts on nothing."""

    def __init__(self) -> None:
        self.seen: list[Observation] = []

    async def __call__(self, observation: Observation) -> Sequence[RequestRecord]:
        self.seen.append(observation)
        return []


async def runtime(models: Path, shipped: list[Path]) -> PerceptionService:
    registry = ModelRegistry(models, trusted_keys([DEMO_PUBLIC_KEY]))
    service = PerceptionService(registry, RuntimeConfig(device="cpu", threads=1))
    await service.start(shipped)
    return service


@pytest_asyncio.fixture
async def shipped(tmp_path: Path) -> AsyncIterator[PerceptionService]:
    service = await runtime(tmp_path / "models", shipped_artifacts(SHIPPED_ARTIFACTS))
    yield service
    await service.aclose()


def capture(frame_image: np.ndarray, part: str, count: int | None = None) -> Capture:
    return Capture("vision-2", part, frame_image, datetime.now(UTC), count)


def test_evidence_is_stored_once_under_its_own_digest(tmp_path: Path) -> None:
    store = EvidenceStore(tmp_path / "evidence")
    image = InspectionCamera(seed=4).capture(0).image
    first = store.put(image)
    again = store.put(image.copy())
    assert first == again and first.uri == f"{first.sha256}.png"
    path = store.path(first.uri)
    assert path is not None
    assert hashlib.sha256(path.read_bytes()).hexdigest() == first.sha256
    with Image.open(path) as png:
        assert np.array_equal(np.asarray(png), image)
    assert [p.name for p in (tmp_path / "evidence").iterdir()] == [first.uri]
    other = store.put(InspectionCamera(seed=4).capture(1).image)
    assert other.sha256 != first.sha256
    for name in ("../evidence.png", first.sha256, "x" * 64 + ".png", "0" * 64 + ".png"):
        assert store.path(name) is None


async def test_the_shipped_model_flags_defective_parts_and_keeps_their_frames(
    shipped: PerceptionService, tmp_path: Path
) -> None:
    session = shipped.session(MODEL)
    assert session is not None, f"no shipped vision model {MODEL!r} loaded"
    rules = Rules()
    store = EvidenceStore(tmp_path / "evidence")
    pipeline = InspectionPipeline(shipped, MODEL, rules, store)
    frames = list(islice(InspectionCamera(seed=21, defect_rate=0.5), 40))
    results = [await pipeline.inspect(capture(f.image, f.part_id, f.index + 1)) for f in frames]

    right = 0
    for frame, result in zip(frames, results, strict=True):
        seen = result.observation
        assert seen == rules.seen[frame.index]
        assert (seen.source, seen.asset, seen.subject) == ("vision", "vision-2", frame.part_id)
        assert seen.model == f"{MODEL}@{session.version}" and seen.part_count == frame.index + 1
        right += seen.abnormal == frame.truth.defective and not seen.degraded
        if seen.abnormal or seen.degraded:  # evidence: the exact frame, by digest
            assert seen.uri is not None and seen.sha256 is not None
            path = store.path(seen.uri)
            assert path is not None
            with Image.open(path) as png:
                assert np.array_equal(np.asarray(png), frame.image)
        else:
            assert seen.uri is None and seen.sha256 is None and seen.label == "ok"
        if seen.abnormal:
            assert seen.label in {"crack", "scratch", "dent"}
            assert seen.threshold is not None and seen.score >= seen.threshold
    defective = sum(f.truth.defective for f in frames)
    assert 10 < defective < 30
    assert right >= 0.9 * len(frames), f"{right} of {len(frames)} parts judged right"


async def test_without_the_model_every_part_is_held_for_manual_inspection(
    tmp_path: Path,
) -> None:
    service = await runtime(tmp_path / "models", [])  # a site with no vision model installed
    try:
        rules = Rules()
        store = EvidenceStore(tmp_path / "evidence")
        pipeline = InspectionPipeline(service, MODEL, rules, store)
        frame = InspectionCamera(seed=3, defect_rate=0.0).capture(0)
        result = await pipeline.inspect(capture(frame.image, frame.part_id))
    finally:
        await service.aclose()
    seen = result.observation
    assert seen.degraded and not seen.abnormal and seen.label == "degraded"
    assert seen.model == MODEL and seen.threshold is None
    assert "no model" in (result.prediction.fallback_reason or "")
    assert seen.uri is not None and store.path(seen.uri) is not None  # kept: a person looks
    assert rules.seen == [seen]


async def test_frames_follow_the_station_counter_across_a_plant_reset() -> None:
    process = ProcessModel(load_plant(), seed=2)
    for asset in LINE_2:
        process.start(asset)
    frames = simulated_frames(process, "vision-2", poll_s=0.001)

    async def next_frames(count: int) -> list[Capture]:
        return [await asyncio.wait_for(anext(frames), 30) for _ in range(count)]

    first = asyncio.create_task(next_frames(1))
    await asyncio.sleep(0.05)  # the camera is there, counting from now
    process.step(12.0)
    inspected = int(process.reading("vision-2", "inspected_count"))
    got = [*await first, *await next_frames(inspected - 1)]
    assert [c.part_count for c in got] == list(range(1, len(got) + 1))
    assert len(got) >= 3 and got[0].part_id == "vision-2-00000000"
    assert all(c.image.shape == (128, 128) and c.image.dtype == np.uint8 for c in got)

    process.reset()
    for asset in LINE_2:
        process.start(asset)
    after = asyncio.create_task(next_frames(1))
    await asyncio.sleep(0.05)  # the counter went back: seen, and counted afresh
    process.step(6.0)
    [again] = await after
    assert (again.part_count, again.part_id) == (1, "vision-2-00000000")
    await frames.aclose()
