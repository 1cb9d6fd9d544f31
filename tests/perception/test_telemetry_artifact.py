"""The shipped demo telemetry model: signed, consistent with the plant model it watches, and
scored at a measurable speed by the helper the benchmark calls."""

from __future__ import annotations

import numpy as np

from control.plant.loader import load_plant
from perception.registry.artifact import load_artifact
from perception.registry.keys import DEMO_PUBLIC_KEY, trusted_keys
from perception.runtime.session import open_session
from perception.telemetry.bench import measure_scoring
from perception.telemetry.config import DetectorConfig
from perception.telemetry.demo import ARTIFACT_DIR, DEMO_ASSET, DEMO_CONFIG, DEMO_MODEL
from perception.telemetry.stream import LiveSpec


def test_shipped_model_is_signed_and_fits_the_plant() -> None:
    artifact = load_artifact(ARTIFACT_DIR, trusted_keys([DEMO_PUBLIC_KEY]))
    meta = artifact.metadata
    assert (meta.name, meta.kind) == (DEMO_MODEL, "telemetry")
    spec = LiveSpec.of(meta)
    assert spec.asset == DEMO_ASSET
    # Trained with the configuration the demo module documents.
    assert spec.config == DEMO_CONFIG
    assert spec.config == DetectorConfig.model_validate(meta.preprocessing["detector"])
    asset = load_plant().asset(spec.asset)
    assert asset is not None
    assert all(asset.tag(t) is not None for t in spec.config.tags)
    # The held-out hour fraction of normal operation raised no alarm.
    assert meta.metrics["held_out_false_alarms_per_hour"] == 0.0
    assert meta.thresholds["anomaly"] == spec.threshold > 0


def test_shipped_model_answers_normal_at_design_speed_and_anomaly_on_wear() -> None:
    session = open_session(load_artifact(ARTIFACT_DIR, trusted_keys([DEMO_PUBLIC_KEY])), "cpu", 1)
    window = DEMO_CONFIG.window
    rng = np.random.default_rng(0)
    # press 3 at 20 strokes/min, warm: vibration 2.1 +- 0.05 mm/s, bearing 38 degC
    steady = np.column_stack(
        [np.full(window, 20.0), 2.1 + rng.normal(0, 0.05, window), 38 + rng.normal(0, 0.05, window)]
    )
    worn = steady.copy()
    worn[-15:, 1] += np.linspace(0.05, 0.75, 15)  # the bearing's vibration creeping up
    readings = session.read(session.run(np.stack([steady, worn]).astype(np.float32)))
    assert [r.label for r in readings] == ["normal", "anomaly"]


def test_scoring_speed_is_measured() -> None:
    figures = measure_scoring(seconds=0.4, batch=256, threads=1)
    assert figures["telemetry_rows_per_s"] > 1000
    assert 0 < figures["telemetry_window_p50_ms"] <= figures["telemetry_window_p99_ms"]
    assert figures["telemetry_provider"] == "CPUExecutionProvider"
