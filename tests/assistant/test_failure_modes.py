"""Failure-mode classification: the shipped model, its checks, its figures, its retraining.

Real components only: the shipped model file, the MiniLM ONNX embedder from the pinned weights,
and the public data set at ../shared/data/failure-modes (tests that need it skip without it).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from andon.cli import app
from assistant.failure_modes import (
    FailureModeClassifier,
    artifact,
    classify,
    default_classifier,
    evaluate,
)
from assistant.failure_modes.classifier import MODEL_PATH, MODEL_SHA256
from assistant.failure_modes.dataset import DEFAULT_DATA_DIR, DatasetError, read_split
from assistant.failure_modes.labels import CLASS_MODES, DATASET_MODES, DESCRIPTIONS
from assistant.failure_modes.plant_records import plant_observations
from assistant.failure_modes.train import train
from control.workorders.models import FailureMode
from retrieval.weights import WeightsError

needs_data = pytest.mark.skipif(
    not (DEFAULT_DATA_DIR / "test.txt").is_file(),
    reason=f"failure-mode data set not found at {DEFAULT_DATA_DIR} "
    "(../shared/data/failure-modes next to the repository)",
)

# The published baseline on test.txt (fine-tuned GPT-3.5): accuracy 0.81, macro F1 0.62. The
# shipped model does NOT reach it (see assistant/failure_modes/README.md for the measured
# figures); these floors hold it at what it measures, so a regression fails.
# Trained on the plant's records too, it lost two test observations (0.710 -> 0.677).
FLOORS = {"dev.txt": (0.74, 0.50), "test.txt": (0.67, 0.49)}


def test_shipped_model_is_the_pinned_file_and_loads() -> None:
    model = artifact.read(MODEL_PATH, MODEL_SHA256)
    assert set(model.labels) <= set(CLASS_MODES)
    assert "Parameter deviation" in model.labels  # learnt from the plant's records alone
    assert model.weights.shape == (len(model.tfidf.terms) + 384, len(model.labels))
    assert default_classifier().model.labels == model.labels


def test_tampered_model_is_refused(tmp_path: Path) -> None:
    tampered = tmp_path / "model.npz"
    data = bytearray(MODEL_PATH.read_bytes())
    data[len(data) // 2] ^= 0x01
    tampered.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="sha256"):
        FailureModeClassifier.load(tampered, MODEL_SHA256)
    with pytest.raises(WeightsError, match="missing"):
        FailureModeClassifier.load(tmp_path / "absent.npz", MODEL_SHA256)


def test_model_trained_on_other_embeddings_is_refused() -> None:
    model = dataclasses.replace(artifact.read(MODEL_PATH, MODEL_SHA256), embedder_id="other")
    with pytest.raises(WeightsError, match="embeddings"):
        FailureModeClassifier(model, default_classifier().embedder)


@pytest.mark.parametrize(
    ("symptom", "mode"),
    [
        ("press 3 bearing running hot", FailureMode.OHE),
        ("hydraulic oil leaking from the cushion", FailureMode.ELU),
        ("feeder stopped by itself", FailureMode.UST),
        ("Press 3 is squealing on the down stroke, check the bearing", FailureMode.NOI),
        ("vibration on press 3 main motor", FailureMode.VIB),
        ("press will not start", FailureMode.FTS),
        ("die cracked", FailureMode.STD),
        # Worded and filed as the plant's own records do.
        ("The feeder 1 feed length is drifting", FailureMode.PDE),
        ("F-01 strip jam on feeder 2", FailureMode.SER),
        ("press 3 main bearing temperature is at 88 °C", FailureMode.OHE),
    ],
)
def test_plant_symptoms(symptom: str, mode: FailureMode) -> None:
    guess = classify(symptom)
    assert guess.mode == mode, guess
    assert guess.label == DESCRIPTIONS[mode]
    assert 0.0 < guess.confidence <= 1.0


def test_text_without_words_is_unknown() -> None:
    guess = classify("  !! ")
    assert (guess.mode, guess.confidence) == (FailureMode.UNK, 0.0)


def test_bad_split_lines_are_named(tmp_path: Path) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_text("leaking,Leaking\nsmoking,On fire\n")
    with pytest.raises(DatasetError, match=r"bad.txt:2: unknown failure mode 'On fire'"):
        read_split(bad)
    with pytest.raises(DatasetError, match="does not exist"):
        read_split(tmp_path / "absent.txt")


def test_the_plant_records_train_fault_classes_only(tmp_path: Path) -> None:
    rows = plant_observations()
    labels = {row.label for row in rows}
    assert len(rows) > 150 and "Other" not in labels  # routine work names no fault
    assert {"Minor in-service problems", "Parameter deviation", "Leaking"} <= labels
    (tmp_path / "maintenance-log.csv").write_text("symptom,failure_mode\nsmoke,FIRE\n")
    (tmp_path / "work-orders.jsonl").write_text("")
    with pytest.raises(DatasetError, match="unknown failure mode 'FIRE'"):
        plant_observations(tmp_path)
    with pytest.raises(DatasetError, match="cannot read"):
        plant_observations(tmp_path / "absent")


def test_cli_reports_a_missing_data_set(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["train", "failure-modes", "--data", str(tmp_path), "--out", str(tmp_path / "m.npz")]
    )
    assert result.exit_code == 2
    assert "train.txt does not exist" in result.output


@needs_data
@pytest.mark.parametrize("split", ["dev.txt", "test.txt"])
def test_figures_on_the_data_set(split: str) -> None:
    result = evaluate(DEFAULT_DATA_DIR / split)
    accuracy_floor, f1_floor = FLOORS[split]
    assert result["n"] == 62
    assert result["accuracy"] >= accuracy_floor, result["accuracy"]
    assert result["macro_f1"] >= f1_floor, result["macro_f1"]
    assert {e["gold"] for e in result["errors"]} <= set(DATASET_MODES)


@needs_data
@pytest.mark.slow
def test_retraining_reproduces_the_shipped_model(tmp_path: Path) -> None:
    data = DEFAULT_DATA_DIR
    out = tmp_path / "model.npz"
    sha256 = artifact.write(train(data / "train.txt", extra=plant_observations()), out)
    retrained_model = artifact.read(out, sha256)
    shipped = artifact.read(MODEL_PATH, MODEL_SHA256)
    # The same model up to where L-BFGS stops: numpy's and ONNX Runtime's vector kernels
    # differ in the last bits of a float between CPU kinds (AVX2, AVX-512, neither), and the
    # optimiser's end point moves with them (seen: weights 1e-7 apart on one host, 3e-4 of
    # a largest weight of 2.6 on another). So the file's bytes match only on the kind of CPU
    # that wrote it; what must match everywhere is the model's data and its answers.
    assert retrained_model.labels == shipped.labels
    assert retrained_model.tfidf.terms == shipped.tfidf.terms
    assert retrained_model.train_sha256 == shipped.train_sha256
    np.testing.assert_allclose(retrained_model.tfidf.idf, shipped.tfidf.idf, rtol=1e-6)
    drift = np.linalg.norm(retrained_model.weights - shipped.weights)
    assert drift / np.linalg.norm(shipped.weights) < 1e-3, drift
    np.testing.assert_allclose(retrained_model.bias, shipped.bias, rtol=0, atol=1e-2)
    retrained = FailureModeClassifier.load(out, sha256)
    for split in ("train.txt", "dev.txt", "test.txt"):
        rows = read_split(data / split)
        texts = [row.text for row in rows]
        np.testing.assert_allclose(
            retrained.probabilities(texts), default_classifier().probabilities(texts), atol=1e-3
        )
        assert retrained.predict(texts) == default_classifier().predict(texts)
        assert evaluate(data / split, retrained)["accuracy"] == evaluate(data / split)["accuracy"]
