"""The inspection camera: deterministic renders, ground truth that matches the pixels, the
simulator's camera faults, frames at the plant's pace, and `andon sim render-camera`."""

from __future__ import annotations

import asyncio
import json
from itertools import islice
from pathlib import Path

import numpy as np
import pytest
from asyncua import Client, ua
from PIL import Image
from typer.testing import CliRunner

from control.plant.models import PlantModel
from simulator.camera import CLASSES, Conditions, Defect, InspectionCamera, render_part
from simulator.camera.folder import TRUTH_FILE
from simulator.cli import app
from simulator.process import InvalidArgument, ProcessModel
from simulator.server import SimulatedPlant

LINE_2 = ("press-3", "feeder-2", "conveyor-2", "vision-2")


@pytest.fixture
def process(plant_model: PlantModel) -> ProcessModel:
    return ProcessModel(plant_model, seed=1)


def test_a_part_renders_the_same_every_time_and_seeds_differ() -> None:
    first, box = render_part(5, 17, Defect.crack)
    again, box_again = render_part(5, 17, Defect.crack)
    assert first.dtype == np.uint8 and first.shape == (128, 128)
    assert np.array_equal(first, again) and box == box_again
    assert not np.array_equal(first, render_part(6, 17, Defect.crack)[0])
    assert not np.array_equal(first, render_part(5, 18, Defect.crack)[0])


@pytest.mark.parametrize("defect", list(Defect))
def test_a_defect_changes_the_part_only_inside_its_box(defect: Defect) -> None:
    for index in range(6):
        clean, no_box = render_part(0, index, None)
        marked, box = render_part(0, index, defect)
        assert no_box is None and box is not None
        x0, y0, x1, y1 = box
        assert 0 <= x0 < x1 <= 128 and 0 <= y0 < y1 <= 128
        changed = np.abs(marked.astype(int) - clean.astype(int)) > 3
        assert changed.any(), f"{defect} on part {index} is invisible"
        outside = changed.copy()
        outside[max(y0 - 1, 0) : y1 + 1, max(x0 - 1, 0) : x1 + 1] = False
        assert not outside.any(), f"{defect} on part {index} changed pixels outside {box}"


def test_lighting_drift_darkens_and_a_new_coil_changes_the_texture() -> None:
    normal = np.stack([render_part(0, i, None)[0] for i in range(8)]).astype(float)
    dim = np.stack(
        [render_part(0, i, None, Conditions(lighting_drift=1.0))[0] for i in range(8)]
    ).astype(float)
    galvanised = np.stack(
        [render_part(0, i, None, Conditions(coil_material=1.0))[0] for i in range(8)]
    ).astype(float)
    assert dim.mean() < 0.75 * normal.mean()
    # The part's centre: spangle is brighter metal with cell-to-cell steps.
    centre = np.s_[:, 44:84, 30:98]
    assert galvanised[centre].mean() > normal[centre].mean() + 15
    assert np.abs(galvanised[centre] - normal[centre]).mean() > 10


def test_the_camera_draws_defects_at_its_rate_from_its_own_stream() -> None:
    frames = list(islice(InspectionCamera(seed=2, defect_rate=0.3), 200))
    labels = [f.truth.label for f in frames]
    assert set(labels) == set(CLASSES)
    assert 0.2 < sum(label != "ok" for label in labels) / len(labels) < 0.4  # 3 sigma
    assert [f.part_id for f in frames[:2]] == ["vision-2-00000000", "vision-2-00000001"]
    again = InspectionCamera(seed=2, defect_rate=0.3).capture(7)
    assert np.array_equal(again.image, frames[7].image) and again.truth == frames[7].truth
    none = list(islice(InspectionCamera(seed=2, defect_rate=0.0), 30))
    assert all(not f.truth.defective and f.truth.box is None for f in none)


def test_camera_faults_go_on_the_asset_that_causes_them(process: ProcessModel) -> None:
    camera = InspectionCamera(process, seed=0, defect_rate=0.0)
    process.inject_fault("defect_burst", "press-3", 1.0)
    process.inject_fault("lighting_drift", "vision-2", 0.5)
    process.inject_fault("coil_material", "feeder-2", 1.0)
    frame = camera.capture(0)
    assert frame.truth.defective
    assert frame.truth.conditions == Conditions(lighting_drift=0.5, coil_material=1.0)
    assert all(camera.capture(i).truth.defective for i in range(1, 20))
    process.clear_faults()
    assert camera.capture(0).truth == type(frame.truth)("ok", None, Conditions())

    with pytest.raises(InvalidArgument, match="lighting_drift goes on a vision_station"):
        process.inject_fault("lighting_drift", "press-3", 0.5)
    with pytest.raises(InvalidArgument, match="coil_material goes on a coil_feeder"):
        process.inject_fault("coil_material", "vision-2", 1.0)
    with pytest.raises(InvalidArgument, match=r"severity in \(0, 1\]"):
        process.inject_fault("defect_burst", "press-3", 1.5)
    with pytest.raises(ValueError, match="not a vision station"):
        InspectionCamera(process, station="press-3")
    with pytest.raises(ValueError, match="defect_rate"):
        InspectionCamera(defect_rate=1.5)


def test_frames_arrive_as_the_station_inspects_parts(process: ProcessModel) -> None:
    camera = InspectionCamera(process, seed=0)
    assert camera.new_frames() == []
    for asset in LINE_2:
        process.start(asset)
    seen = 0
    for _ in range(30):
        process.step(1.0)
        seen += len(camera.new_frames())
    inspected = int(process.reading("vision-2", "inspected_count"))
    assert inspected > 3 and seen == inspected


@pytest.mark.asyncio(loop_scope="module")
async def test_the_async_stream_follows_the_plant(process: ProcessModel) -> None:
    camera = InspectionCamera(process, seed=0)
    for asset in LINE_2:
        process.start(asset)

    async def run_plant() -> None:
        while True:
            process.step(1.0)
            await asyncio.sleep(0.005)

    plant = asyncio.create_task(run_plant())
    try:
        stream = camera.frames(poll_s=0.005)
        frames = [await asyncio.wait_for(anext(stream), 10) for _ in range(3)]
    finally:
        plant.cancel()
    assert [f.index for f in frames] == [0, 1, 2]


@pytest.mark.asyncio(loop_scope="module")
async def test_camera_faults_are_injected_over_opc_ua(sim: SimulatedPlant, client: Client) -> None:
    simulator = client.get_node("ns=2;s=simulator")
    await simulator.call_method("2:InjectFault", "lighting_drift", "vision-2", 0.8)
    assert sim.process.active_faults() == ("lighting_drift:vision-2:0.8",)
    assert InspectionCamera(sim.process).capture(0).truth.conditions.lighting_drift == 0.8
    with pytest.raises(ua.uaerrors.BadInvalidArgument):
        await simulator.call_method("2:InjectFault", "defect_burst", "vision-2", 0.5)


def test_render_camera_writes_a_training_folder(tmp_path: Path) -> None:
    out = tmp_path / "renders"
    result = CliRunner().invoke(app, ["render-camera", str(out), "--count", "24", "--seed", "4"])
    assert result.exit_code == 0, result.output
    truth = [json.loads(line) for line in (out / TRUTH_FILE).read_text().splitlines()]
    assert len(truth) == 24
    for record in truth:
        with Image.open(out / record["label"] / f"{record['part_id']}.png") as image:
            assert image.size == (128, 128) and image.mode == "L"
    again = CliRunner().invoke(app, ["render-camera", str(out), "--count", "2"])
    assert again.exit_code == 1 and "is not empty" in again.output
