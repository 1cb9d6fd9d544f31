"""`andon train vision`: renders or NEU-DET in, a signed ONNX artifact out, with metrics,
reference statistics and a repeatable result. Needs the `train` extra (torch)."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from andon.cli import app
from perception.registry.artifact import MODEL_FILE, load_artifact
from perception.registry.keys import (
    DEMO_PUBLIC_KEY,
    DEMO_SIGNING_KEY,
    load_signing_key,
    trusted_keys,
)
from perception.runtime.session import open_session
from perception.vision.dataset import file_list_sha256, load_dataset
from perception.vision.evaluation import NEU_DIR, evaluate_neu
from simulator.camera import InspectionCamera
from simulator.camera.folder import write_frames

pytest.importorskip("torch", reason="training needs the train extra: pip install 'andon[train]'")

from perception.vision.train import TrainConfig, train_vision

TRUST = trusted_keys([DEMO_PUBLIC_KEY])


@pytest.fixture(scope="module")
def renders(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("renders") / "frames"
    write_frames(InspectionCamera(seed=3, defect_rate=0.75), 80, out)
    return out


def train(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["train", "vision", *args])
    return result.exit_code, result.output


def test_training_writes_a_signed_artifact_that_runs(renders: Path, tmp_path: Path) -> None:
    out = tmp_path / "artifact"
    code, output = train(
        "--data", str(renders), "--out", str(out), "--epochs", "2", "--image-size", "32",
        "--version", "test-1",
    )  # fmt: skip
    assert code == 0, output
    assert "epoch   2/2" in output and "held out: accuracy" in output
    artifact = load_artifact(out, TRUST)
    metadata = artifact.metadata
    assert (metadata.name, metadata.version) == ("vision-defects", "test-1")
    assert metadata.classes == ("crack", "dent", "ok", "scratch")
    assert metadata.inputs[0].shape == (-1, 1, 32, 32)
    assert metadata.training_data.samples == 80
    assert metadata.training_data.file_list_sha256 == file_list_sha256(load_dataset(renders))
    assert 0 <= metadata.metrics["accuracy"] <= 1 and metadata.metrics["samples"] == 16
    for label in metadata.classes:
        assert {f"precision.{label}", f"recall.{label}", f"confusion.{label}.ok"} <= set(
            metadata.metrics
        )
    assert sum(v for k, v in metadata.metrics.items() if k.startswith("confusion.")) == 16
    assert set(metadata.reference_stats) == {"pixel_mean", "pixel_std"}
    session = open_session(artifact, device="cpu", warm_batches=(1, 3))
    probabilities = session.run(np.random.default_rng(0).random((5, 1, 32, 32), np.float32))
    assert probabilities.shape == (5, 4) and np.allclose(probabilities.sum(axis=1), 1, atol=1e-5)


@pytest.mark.slow
def test_training_again_with_the_same_seed_gives_the_same_model(
    renders: Path, tmp_path: Path
) -> None:
    samples = load_dataset(renders)
    key = load_signing_key(DEMO_SIGNING_KEY)
    config = TrainConfig(image_size=32, epochs=1, width=8)
    first = train_vision(samples, tmp_path / "a", key, "renders", config)
    second = train_vision(samples, tmp_path / "b", key, "renders", config)
    assert first.metadata.metrics == second.metadata.metrics | {
        "train_seconds": first.metadata.metrics["train_seconds"]
    }

    def digest(directory: Path) -> str:
        return hashlib.sha256((directory / MODEL_FILE).read_bytes()).hexdigest()

    assert digest(tmp_path / "a") == digest(tmp_path / "b")
    reseeded = TrainConfig(image_size=32, epochs=1, width=8, seed=1)
    other = train_vision(samples, tmp_path / "c", key, "renders", reseeded)
    assert digest(tmp_path / "c") != digest(tmp_path / "a")
    assert other.metadata.training_data == first.metadata.training_data


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--data", "/nonexistent/frames"], "no such directory"),
        (["--name", "Not A Name"], "bad model name or version"),
        (["--signing-key", "/nonexistent/key.pem"], "cannot read signing key"),
        (["--device", "tpu"], "--device must be cpu or cuda"),
        (["--voc"], "not a Pascal VOC layout"),
    ],
)
def test_bad_input_is_refused_with_a_reason(
    renders: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    defaults = {"--data": str(renders), "--out": str(tmp_path / "out")}
    for flag, value in zip(args[::2], args[1::2], strict=False):
        defaults[flag] = value
    flags = [x for pair in defaults.items() for x in pair] + [a for a in args if a == "--voc"]
    code, output = train(*flags, "--epochs", "1")
    assert code == 2 and message in " ".join(output.split()), output  # rich wraps long paths
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
@pytest.mark.skipif(
    not (NEU_DIR / "ANNOTATIONS").is_dir(),
    reason=f"NEU-DET not found at {NEU_DIR} (../shared/data/neu-det next to the repository)",
)
def test_a_short_neu_det_run_learns_well_above_chance(tmp_path: Path) -> None:
    """A subset and a few epochs (CI time); the full run's 98 % is in bench/RESULTS.md."""
    by_class = defaultdict(list)
    for sample in load_dataset(NEU_DIR, voc=True):
        by_class[sample.label].append(sample)
    subset = [s for samples in by_class.values() for s in samples[:100]]
    result = train_vision(
        subset,
        tmp_path / "neu",
        load_signing_key(DEMO_SIGNING_KEY),
        "NEU-DET subset",
        TrainConfig(image_size=64, epochs=8),
    )
    assert result.report.accuracy >= 0.8, result.report  # chance: 1/6
    full = evaluate_neu(NEU_DIR, tmp_path / "neu", TRUST)
    assert full["samples"] == 354 and full["validation_samples"] == 30
    assert not full["trained_on_this_split"]  # trained on a subset: another file list
    assert full["accuracy"] >= 0.7
