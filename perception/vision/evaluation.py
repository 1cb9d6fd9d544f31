"""Evaluate a signed vision artifact with ONNX Runtime only (no torch): accuracy on a
labelled image set, NEU-DET's held-out split, and frame-to-detection latency."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from perception.registry.artifact import Artifact, load_artifact
from perception.registry.keys import trusted_keys
from perception.runtime.providers import Device
from perception.runtime.session import ModelSession, open_session
from perception.vision.dataset import (
    LabelledImage,
    file_list_sha256,
    load_dataset,
    load_voc_validation,
    split_holdout,
)
from perception.vision.metrics import ClassificationReport, classification_report
from perception.vision.preprocess import input_size, load_image, to_input

_BATCH = 64
# Where the project keeps NEU-DET: ../shared/data beside the repository (never inside it).
NEU_DIR = Path(__file__).resolve().parents[3] / "shared" / "data" / "neu-det"


def classify(session: ModelSession, images: Sequence[np.ndarray]) -> np.ndarray:
    """Top class index per image (uint8 arrays, any size: resized as in training)."""
    size = input_size(session.metadata.preprocessing)
    out = [
        session.run(to_input(images[i : i + _BATCH], size)).argmax(axis=1)
        for i in range(0, len(images), _BATCH)
    ]
    return np.concatenate(out) if out else np.empty(0, dtype=np.int64)


def evaluate_samples(
    session: ModelSession, samples: Sequence[LabelledImage]
) -> ClassificationReport:
    classes = session.metadata.classes
    unknown = sorted({s.label for s in samples} - set(classes))
    if unknown:
        raise ValueError(
            f"labels the model does not know: {', '.join(unknown)} (it knows {classes})"
        )
    size = input_size(session.metadata.preprocessing)
    images = [load_image(s.path, size) for s in samples]
    truth = [classes.index(s.label) for s in samples]
    return classification_report(truth, classify(session, images), classes)


def evaluate_neu(
    data_dir: Path,
    artifact_dir: Path,
    trusted: Mapping[str, Ed25519PublicKey] | None = None,
    device: Device = "cpu",
) -> dict[str, Any]:
    """NEU-DET: accuracy and per-class precision/recall on the held-out split of IMAGES/
    (fixed in perception.vision.dataset), plus the 30 Validation_Images as an extra check.
    `trusted`: the trust list (default: ANDON_MODEL_TRUSTED_KEYS)."""
    session = open_session(load_trusted(artifact_dir, trusted), device=device)
    artifact = session.artifact
    samples = load_dataset(data_dir, voc=True)
    _, held_out = split_holdout(samples)
    report = evaluate_samples(session, held_out)
    result: dict[str, Any] = {
        "model": artifact.name,
        "version": artifact.version,
        "accuracy": report.accuracy,
        "samples": report.samples,
        "per_class": {k: v.model_dump() for k, v in report.per_class.items()},
        "confusion": report.confusion,
        # False: the artifact was trained on another file list, so "held out" is not
        # guaranteed to be unseen (or it never saw NEU-DET at all).
        "trained_on_this_split": artifact.metadata.training_data.file_list_sha256
        == file_list_sha256(samples),
    }
    validation = load_voc_validation(data_dir)
    if validation:
        extra = evaluate_samples(session, validation)
        result["validation_accuracy"] = extra.accuracy
        result["validation_samples"] = extra.samples
    return result


def frame_latency(
    session: ModelSession, frames: Sequence[np.ndarray], warmup: int = 20
) -> dict[str, float]:
    """Frame -> detection at batch 1, one frame after another: resize and scale, run, top
    class. Milliseconds per frame (p50, p99, mean) and frames per second."""
    if not frames:
        raise ValueError("need at least one frame")
    size = input_size(session.metadata.preprocessing)
    for frame in frames[:warmup]:
        session.run(to_input([frame], size))
    times = np.empty(len(frames))
    started = time.perf_counter()
    for i, frame in enumerate(frames):
        t0 = time.perf_counter()
        int(session.run(to_input([frame], size))[0].argmax())
        times[i] = time.perf_counter() - t0
    wall = time.perf_counter() - started
    return {
        "p50_ms": float(np.percentile(times, 50) * 1000),
        "p99_ms": float(np.percentile(times, 99) * 1000),
        "mean_ms": float(times.mean() * 1000),
        "frames_per_s": len(frames) / wall,
    }


def load_trusted(
    artifact_dir: Path, trusted: Mapping[str, Ed25519PublicKey] | None = None
) -> Artifact:
    """An artifact verified against `trusted` (default: the site's trust list)."""
    return load_artifact(artifact_dir, trusted if trusted is not None else _site_trust())


def _site_trust() -> dict[str, Ed25519PublicKey]:
    from andon.settings import Settings  # the site's configuration, read when asked for

    return trusted_keys(Settings().model_trusted_keys)
