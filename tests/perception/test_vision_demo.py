"""The shipped demo model (perception/artifacts/vision-demo): it loads with its signature
verified, needs no training, classifies camera renders it never saw, and its reference
statistics flag the camera faults as input drift."""

from __future__ import annotations

import shutil
from itertools import islice
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import perception
from perception.registry.artifact import MODEL_FILE, ArtifactError, load_artifact
from perception.registry.keys import DEMO_PUBLIC_KEY, trusted_keys
from perception.runtime.drift import PSI_SHIFT, input_statistics, psi
from perception.runtime.session import ModelSession, open_session
from perception.vision.evaluation import classify, evaluate_neu, frame_latency
from perception.vision.metrics import classification_report
from perception.vision.preprocess import input_size, to_input
from simulator.camera import CLASSES, Conditions, Frame, InspectionCamera
from simulator.camera.render import NORMAL

DEMO = Path(perception.__file__).parent / "artifacts" / "vision-demo"
TRAINING_SEED = 1  # what the shipped model was trained on (its metadata says so)
FRESH_SEED = 20261126


@pytest.fixture(scope="module")
def session() -> ModelSession:
    return open_session(load_artifact(DEMO, trusted_keys([DEMO_PUBLIC_KEY])), device="cpu")


def frames(conditions: Conditions = NORMAL, count: int = 240) -> list[Frame]:
    camera = InspectionCamera(seed=FRESH_SEED, defect_rate=0.75, conditions=conditions)
    return list(islice(camera, count))


def test_the_demo_model_ships_signed_small_and_described(session: ModelSession) -> None:
    metadata = session.metadata
    assert metadata.kind == "vision" and set(metadata.classes) == set(CLASSES)
    assert f"--seed {TRAINING_SEED}" in metadata.training_data.source
    assert metadata.metrics["accuracy"] >= 0.97
    assert set(metadata.reference_stats) == {"pixel_mean", "pixel_std"}
    assert 0 < metadata.thresholds["min_confidence"] < 1
    assert sum(f.stat().st_size for f in DEMO.iterdir()) < 2_000_000


def test_the_demo_model_is_refused_when_tampered_or_untrusted(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="not in the trust list"):
        load_artifact(DEMO, {})
    copy = Path(shutil.copytree(DEMO, tmp_path / "copy"))
    model = bytearray((copy / MODEL_FILE).read_bytes())
    model[len(model) // 2] ^= 0x01
    (copy / MODEL_FILE).write_bytes(bytes(model))
    with pytest.raises(ArtifactError, match="modified after signing"):
        load_artifact(copy, trusted_keys([DEMO_PUBLIC_KEY]))


def test_the_demo_model_classifies_parts_it_never_saw(session: ModelSession) -> None:
    seen = frames()
    classes = session.metadata.classes
    truth = [classes.index(f.truth.label) for f in seen]
    report = classification_report(truth, classify(session, [f.image for f in seen]), classes)
    assert report.accuracy >= 0.95, report
    for label, scores in report.per_class.items():
        assert scores.recall >= 0.88 and scores.precision >= 0.88, (label, scores)
    # The runtime's reading of the same outputs agrees with the argmax and is confident.
    size = input_size(session.metadata.preprocessing)
    images = [f.image for f in seen[:40]]
    readings = session.read(session.run(to_input(images, size)))
    assert [r.label for r in readings] == [classes[i] for i in classify(session, images)]
    assert np.mean([r.confidence for r in readings]) > 0.8


@pytest.mark.parametrize(
    "fault", [Conditions(lighting_drift=0.6), Conditions(coil_material=0.6)], ids=str
)
def test_camera_faults_show_up_as_input_drift(session: ModelSession, fault: Conditions) -> None:
    size = input_size(session.metadata.preprocessing)
    reference = session.metadata.reference_stats

    def drift(conditions: Conditions) -> float:
        batch = to_input([f.image for f in frames(conditions, 120)], size)
        stats = input_statistics("vision", batch)
        return max(psi(reference[name], values) for name, values in stats.items())

    assert drift(NORMAL) < 0.1
    assert drift(fault) > PSI_SHIFT


def test_frame_latency_helper_reports_percentiles(session: ModelSession) -> None:
    result = frame_latency(session, [f.image for f in frames(count=60)], warmup=5)
    assert 0 < result["p50_ms"] <= result["p99_ms"] and result["frames_per_s"] > 0
    with pytest.raises(ValueError, match="at least one frame"):
        frame_latency(session, [])


def test_neu_evaluation_refuses_a_model_of_other_classes(tmp_path: Path) -> None:
    (tmp_path / "ANNOTATIONS").mkdir()
    (tmp_path / "IMAGES").mkdir()
    for label in ("crazing", "patches"):
        for i in range(5):
            Image.new("L", (8, 8)).save(tmp_path / "IMAGES" / f"{label}_{i}.jpg")
            (tmp_path / "ANNOTATIONS" / f"{label}_{i}.xml").write_text(
                f"<annotation><object><name>{label}</name></object></annotation>"
            )
    with pytest.raises(ValueError, match="labels the model does not know: crazing, patches"):
        evaluate_neu(tmp_path, DEMO, trusted_keys([DEMO_PUBLIC_KEY]))
