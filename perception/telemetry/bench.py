"""Telemetry scoring speed, for `python -m bench perception`: the shipped demo model in an
ONNX Runtime session opened by the perception runtime (the same one the live path uses).

- telemetry_rows_per_s: rows scored per second when a history is replayed in batches (one
  row = one window ending at it);
- telemetry_window_p50_ms / _p99_ms: one live window scored on its own (batch 1).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from perception.registry.artifact import load_artifact
from perception.registry.keys import DEMO_PUBLIC_KEY, trusted_keys
from perception.runtime.providers import Device
from perception.runtime.session import open_session
from perception.telemetry.demo import ARTIFACT_DIR
from perception.telemetry.detector import sliding_windows


def measure_scoring(
    artifact_dir: Path = ARTIFACT_DIR,
    *,
    seconds: float = 3.0,
    batch: int = 1024,
    device: Device = "cpu",
    threads: int = 2,
) -> dict[str, float | str]:
    artifact = load_artifact(artifact_dir, trusted_keys([DEMO_PUBLIC_KEY]))
    session = open_session(artifact, device, threads, warm_batches=(1, batch))
    window, tags = session.sample_shape
    # Scoring cost does not depend on the values; these are plausible ones, not zeros.
    rng = np.random.default_rng(0)
    rows = 20 + rng.normal(0, 1, (batch + window - 1, tags))
    windows = np.ascontiguousarray(sliding_windows(rows, window), dtype=np.float32)

    scored, started = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds / 2:
        session.run(windows)
        scored += len(windows)
    rows_per_s = scored / elapsed

    single = windows[:1]
    latencies = []
    started = time.perf_counter()
    while time.perf_counter() - started < seconds / 2:
        t0 = time.perf_counter()
        session.run(single)
        latencies.append(time.perf_counter() - t0)
    p50, p99 = np.percentile(np.array(latencies) * 1000, [50, 99])
    return {
        "telemetry_rows_per_s": rows_per_s,
        "telemetry_window_p50_ms": float(p50),
        "telemetry_window_p99_ms": float(p99),
        "telemetry_provider": session.provider,
    }
