"""`andon train telemetry`: fit the detector on recordings of normal operation, measure its
false alarms on a held-out tail of them, export ONNX, sign the artifact.

Each CSV is one continuous recording. Its first (1 - holdout) part, by time, fits the model
and sets the threshold; the rest is never seen by the fit and only counts false alarms,
since anything the detector raises on normal operation is one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from perception.models import ModelMetadata, TensorSpec, TrainingData
from perception.registry.artifact import write_artifact
from perception.runtime.drift import input_statistics, reference_histograms
from perception.telemetry.alarm import alarm_series
from perception.telemetry.config import DetectorConfig
from perception.telemetry.data import file_list_sha256, read_table
from perception.telemetry.detector import FittedDetector, fit, sliding_windows
from perception.telemetry.export import INPUT_NAME, OUTPUT_NAME, export_onnx
from perception.vision.provenance import trainer_version

DEFAULT_NAME = "telemetry-anomaly"
# An anomaly detector's findings ARE input drift: PSI of each tag is reported (metrics,
# status) but must never turn the model's answers into fallbacks, or the model would go
# blind exactly when the plant leaves normal operation. 1000 is above any PSI a 10-bin
# reference can produce (about 8).
PSI_NEVER_DEGRADES = 1000.0


@dataclass(frozen=True)
class TrainResult:
    artifact_dir: Path
    metadata: ModelMetadata
    detector: FittedDetector


def train_telemetry(
    paths: Sequence[Path],
    out_dir: Path,
    signing_key: Ed25519PrivateKey,
    config: DetectorConfig,
    *,
    asset: str | None = None,
    name: str = DEFAULT_NAME,
    version: str | None = None,
    holdout: float = 0.2,
    source: str | None = None,
) -> TrainResult:
    """Fit on `paths` (CSV recordings of normal operation), write the signed artifact.
    `source` describes the data in the metadata (default: the paths)."""
    if not 0 <= holdout < 1:
        raise ValueError("holdout must be in [0, 1)")
    recordings = [read_table(p).select(config.tags) for p in paths]
    cut = [round(len(r) * (1 - holdout)) for r in recordings]
    detector = fit([r[:c] for r, c in zip(recordings, cut, strict=True)], config)
    train_windows = np.concatenate(
        [
            sliding_windows(r[:c], config.window)
            for r, c in zip(recordings, cut, strict=True)
            if c >= config.window
        ]
    )
    held = _held_out_alarms(detector, recordings, cut)
    check = train_windows[np.linspace(0, len(train_windows) - 1, 256).astype(int)]
    onnx_model = export_onnx(detector, check)
    rows = sum(len(r) for r in recordings)
    metadata = ModelMetadata(
        name=name,
        version=version or datetime.now(UTC).strftime("%Y.%m.%d-%H%M%S"),
        kind="telemetry",
        inputs=(TensorSpec(name=INPUT_NAME, shape=(-1, config.window, len(config.tags))),),
        outputs=(TensorSpec(name=OUTPUT_NAME, shape=(-1,)),),
        thresholds={"anomaly": detector.threshold, "psi_max": PSI_NEVER_DEGRADES},
        preprocessing={
            "features": list(config.tags),  # one per input column (the drift monitor's names)
            "asset": asset,
            "method": "pca-t2-q",
            "detector": config.model_dump(mode="json"),
            "feature_names": config.feature_names(),
            "components": int(detector.components.shape[1]),
        },
        training_data=TrainingData(
            source=source or ", ".join(str(p) for p in paths),
            samples=rows,
            split=(
                f"each recording's first {1 - holdout:.0%} by time fits the model and its "
                f"threshold; the last {holdout:.0%} is held out for false alarms"
            ),
            file_list_sha256=file_list_sha256(paths),
        ),
        metrics={
            "train_windows": float(len(train_windows)),
            "components": float(detector.components.shape[1]),
            "train_alarm_fraction": float((detector.training_scores > detector.threshold).mean()),
            **held,
        },
        reference_stats=reference_histograms(
            input_statistics("telemetry", train_windows, config.tags)
        ),
        created_at=datetime.now(UTC),
        trainer=trainer_version(),
    )
    write_artifact(out_dir, onnx_model, metadata, signing_key)
    return TrainResult(out_dir, metadata, detector)


def _held_out_alarms(
    detector: FittedDetector, recordings: Sequence[np.ndarray], cut: Sequence[int]
) -> dict[str, float]:
    """Alarms the detector raises on the held-out normal operation (all of them false)."""
    config = detector.config
    windows, alarms = 0, 0
    for rows, start in zip(recordings, cut, strict=True):
        # Held-out windows end in the held-out part; their first samples may be training's.
        first = max(start - config.window + 1, 0)
        if len(rows) - first < config.window or start >= len(rows):
            continue
        scores = detector.score(sliding_windows(rows[first:], config.window))
        state = alarm_series(scores > detector.threshold, config.alarm_after, config.clear_after)
        windows += len(state)
        alarms += int(np.count_nonzero(np.diff(np.concatenate([[False], state]).astype(int)) == 1))
    if not windows:
        return {}
    hours = windows * config.sample_period_s / 3600
    return {"held_out_windows": float(windows), "held_out_false_alarms_per_hour": alarms / hours}
